"""The activity inbox's view-model: overdue / today / upcoming by the workspace's
clock, the reminder shown on opening, complete / snooze / reassign persisted and
refusals reported with nothing written; and its view."""

import datetime as dt

import pandas as pd
import panel as pn
import pytest
from panel.models.tabulator import CellClickEvent

from widgets import i18n
from widgets.activity_inbox import ActivityInbox, ActivityInboxModel
from widgets.activity_list import about_html, list_rows
from widgets.base import md_text

TODAY = dt.date(2026, 5, 15)  # the conftest clock: 2026-05-15 09:30 UTC


@pytest.fixture
def work(ws):
    """Bilal's activities around 2026-05-15, and one of Olga's."""
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    indus = ws.companies.create(name="Indus Textiles", country="PK")["id"]
    karim = ws.contacts.create(name="Karim Uddin", company=indus)["id"]
    bilal = ws.as_user("bilal")
    deal = bilal.pipeline.create("Uniforms 2027", company=indus)["id"]
    acts = bilal.activities

    def plan(kind, subject, due, **links):
        return acts.schedule(kind, subject, due, **(links or {"opportunity": deal}))["id"]

    ids = {
        "oldest": plan("call", "Call Indus", "2026-05-10"),
        "quote": plan("email", "Send quote", "2026-05-14", company=indus),
        "karim": plan("call", "Call Karim", "2026-05-15", contact=karim, opportunity=deal),
        "visit": plan("meeting", "Visit the mill", "2026-05-18"),
        "later": plan("todo", "Renewal", "2026-06-30"),
        "olga": ws.as_user("olga").activities.schedule(
            "call", "Olga's call", "2026-05-12", company=indus
        )["id"],
    }
    return ids


def subjects(frame):
    return frame["subject"].tolist()


def journal_size(ws):
    return ws.info()["journal"]


def test_the_inbox_sorts_my_work_by_the_workspace_today(ws, work):
    inbox = ActivityInboxModel(ws.as_user("bilal"))
    assert inbox.user == "bilal"
    assert subjects(inbox.overdue) == ["Call Indus", "Send quote"]
    assert subjects(inbox.today) == ["Call Karim"]
    assert subjects(inbox.upcoming) == ["Visit the mill"]  # Renewal is beyond 7 days
    assert inbox.today["due_date"].tolist() == [TODAY]
    assert inbox.message == ""
    inbox.upcoming_days = 60
    assert subjects(inbox.upcoming) == ["Visit the mill", "Renewal"]


def test_the_reminder_is_there_on_opening(ws, work, clock):
    inbox = ActivityInboxModel(ws.as_user("bilal"))
    assert inbox.reminder == (
        "Time to call: 2 overdue, 1 due today; the oldest, 'Call Indus', is 5 days late"
    )
    assert inbox.reminder_kind == "danger"
    clock.advance(days=1)  # tomorrow Call Karim is late too
    inbox.refresh()
    assert subjects(inbox.overdue) == ["Call Indus", "Send quote", "Call Karim"]
    assert inbox.today.empty
    assert inbox.reminder.startswith("Time to call: 3 overdue, 0 due today; ")
    assert "6 days late" in inbox.reminder
    olga = ActivityInboxModel(ws.as_user("olga"))
    assert (
        olga.reminder
        == 'Time to call: 1 overdue, 0 due today; the oldest, "Olga\'s call", is 4 days late'
    )
    ayesha = ActivityInboxModel(ws.as_user("ayesha"))
    assert (ayesha.reminder, ayesha.reminder_kind) == ("", "info")


def test_the_reminder_for_todays_work_only_is_a_warning(ws, work):
    bilal = ws.as_user("bilal")
    for key in ("oldest", "quote"):
        bilal.activities.complete(work[key])
    inbox = ActivityInboxModel(bilal)
    assert inbox.reminder == "Time to call: 0 overdue, 1 due today"
    assert inbox.reminder_kind == "warning"


def test_without_a_user_the_inbox_is_everyones_or_the_one_chosen(ws, work):
    inbox = ActivityInboxModel(ws)
    assert inbox.user == ""
    assert subjects(inbox.overdue) == ["Call Indus", "Olga's call", "Send quote"]
    inbox.user = "olga"
    assert subjects(inbox.overdue) == ["Olga's call"]
    assert inbox.today.empty and inbox.upcoming.empty
    inbox.user = "nobody"
    assert inbox.field_errors == {"user": "is not a known user"}


def test_complete_snooze_and_reassign_are_persisted(ws, work, clock):
    inbox = ActivityInboxModel(ws.as_user("bilal"))
    inbox.complete(work["karim"], note="Wants 500 shirts")
    done = ws.activities.get(work["karim"])
    assert done["done_at"] == clock.now
    assert done["note"] == "Wants 500 shirts"
    assert inbox.message == "Done: 'Call Karim'." and inbox.message_kind == "success"
    assert inbox.today.empty
    assert inbox.reminder.startswith("Time to call: 2 overdue, 0 due today")

    inbox.snooze(work["oldest"], 1)
    assert ws.activities.get(work["oldest"])["due_date"] == TODAY + dt.timedelta(days=1)
    assert inbox.message == "Snoozed 'Call Indus' to 2026-05-16."
    inbox.snooze(work["quote"], 7)
    assert ws.activities.get(work["quote"])["due_date"] == dt.date(2026, 5, 22)
    assert inbox.overdue.empty
    assert subjects(inbox.upcoming) == ["Call Indus", "Visit the mill", "Send quote"]
    assert inbox.reminder == ""

    inbox.reassign(work["quote"], "olga")  # on a company: anyone may take it over
    assert ws.activities.get(work["quote"])["assignee_id"] == ws.users.get("olga")["id"]
    assert inbox.message == "Gave 'Send quote' to olga."
    assert subjects(inbox.upcoming) == ["Call Indus", "Visit the mill"]
    assert "Send quote" in subjects(ActivityInboxModel(ws.as_user("olga")).upcoming)

    # On his deal: not to another rep, who may not see the deal; to a manager, yes.
    inbox.reassign(work["visit"], "olga")
    assert inbox.message_kind == "danger" and "may not give activity" in inbox.message
    assert ws.activities.get(work["visit"])["assignee_id"] == ws.users.get("bilal")["id"]
    inbox.reassign(work["visit"], "ayesha")
    assert inbox.message == "Gave 'Visit the mill' to ayesha."
    assert subjects(inbox.upcoming) == ["Call Indus"]


def test_a_sales_user_cannot_act_on_someone_elses_activity(ws, work):
    inbox = ActivityInboxModel(ws.as_user("bilal"))
    before, journal = ws.activities.get(work["olga"]), journal_size(ws)
    for act in (
        lambda: inbox.complete(work["olga"]),
        lambda: inbox.snooze(work["olga"], 3),
        lambda: inbox.reassign(work["olga"], "bilal"),
    ):
        act()
        assert inbox.message_kind == "danger"
        assert "'bilal' (sales) may not" in inbox.message
    assert ws.activities.get(work["olga"]) == before
    assert journal_size(ws) == journal
    inbox.user = "olga"  # nor look into her inbox
    assert "may not list the activities of" in inbox.message
    assert subjects(inbox.overdue) == ["Call Indus", "Send quote"]  # still his own


def test_refused_values_and_stale_versions_write_nothing(ws, work):
    inbox = ActivityInboxModel(ws.as_user("bilal"))
    journal = journal_size(ws)
    inbox.snooze(work["visit"], 0)
    assert inbox.field_errors == {"days": "must be at least 1"}
    inbox.reassign(work["visit"], "nobody")
    assert inbox.field_errors == {"assignee_id": "is not a known user"}
    assert journal_size(ws) == journal
    assert ws.activities.get(work["visit"])["due_date"] == dt.date(2026, 5, 18)

    ws.activities.update(work["visit"], subject="Visit the new mill")  # meanwhile
    inbox.complete(work["visit"])
    assert inbox.message_kind == "warning" and inbox.message.startswith("Not saved:")
    assert ws.activities.get(work["visit"])["done_at"] is None
    assert subjects(inbox.upcoming) == ["Visit the new mill"]  # reloaded
    inbox.complete(work["visit"])
    assert ws.activities.get(work["visit"])["done_at"] is not None


def test_linked_records_are_links_to_their_pages():
    row = {
        "opportunity": "Uniforms 2027",
        "opportunity_id": 45,
        "contact": "<b>Karim</b>",
        "contact_id": 7,
        "company": None,
    }
    assert about_html(row) == (
        'Deal: <a href="#/deals/45" dir="auto">Uniforms 2027</a> · '
        'Contact: <a href="#/contacts/7" dir="auto">&lt;b&gt;Karim&lt;/b&gt;</a>'
    )
    assert about_html({"opportunity": float("nan"), "company": "Indus", "company_id": 3}) == (
        'Company: <a href="#/companies/3" dir="auto">Indus</a>'
    )


def test_due_dates_are_shown_in_the_users_locale():
    frame = pd.DataFrame(
        [{"id": 1, "due_date": dt.date(2026, 11, 7), "kind": "call", "subject": "Call back"}]
    )
    with i18n.speaking("en"):
        assert list_rows(frame)["due"].tolist() == ["Nov 7, 2026"]
    with i18n.speaking("ur"):
        assert list_rows(frame)["due"].tolist() == ["7 نومبر، 2026"]
    with i18n.speaking("bn"):
        assert list_rows(frame)["due"].tolist() == ["7 নভে, 2026"]


# -- the view -----------------------------------------------------------------------


def with_css(layout, css):
    return [o for o in layout.select() if css in getattr(o, "css_classes", [])]


def table(layout, name):
    return with_css(layout, f"crm-inbox-{name}")[0]


def click(table, subject, column):
    """Click ``column``'s button in the row of ``subject`` (as Tabulator reports it)."""
    row = table.value["subject"].tolist().index(subject)
    table._process_event(CellClickEvent(model=None, column=column, row=row))


def test_the_view_opens_with_the_reminder_and_three_light_lists(ws, work):
    view = ActivityInbox(ws.as_user("bilal"))
    layout = view.__panel__()
    assert view.__panel__() is layout  # drawn once per session
    assert len(with_css(layout, "crm-inbox")) == 1
    reminder = with_css(layout, "crm-reminder")[0]
    assert reminder.visible and reminder.alert_type == "danger"
    assert reminder.object == md_text(ActivityInboxModel(ws.as_user("bilal")).reminder)
    assert reminder.object.startswith("Time to call\\: 2 overdue, 1 due today; ")
    overdue, today = table(layout, "overdue"), table(layout, "today")
    assert overdue.value["subject"].tolist() == ["Call Indus", "Send quote"]
    assert today.value["subject"].tolist() == ["Call Karim"]
    assert len(table(layout, "upcoming").value) == 1
    switch = with_css(layout, "crm-inbox-switch")[0]
    assert list(switch.options) == ["Overdue (2)", "Today (1)", "Upcoming (1)"]
    assert switch.value == "overdue" and overdue.visible and not today.visible
    about = today.value["about"].iloc[0]
    assert ">Uniforms 2027</a> · Contact: <a href=" in about and ">Karim Uddin</a>" in about
    click(today, "Call Karim", "done")
    assert ws.activities.get(work["karim"])["done_at"] is not None
    assert today.value.empty and list(switch.options)[1] == "Today (0)"
    alert = with_css(layout, "crm-alert")[0]
    assert alert.visible and alert.object == md_text("Done: 'Call Karim'.")
    click(overdue, "Call Indus", "snooze7")
    assert ws.activities.get(work["oldest"])["due_date"] == dt.date(2026, 5, 22)
    assert overdue.value["subject"].tolist() == ["Send quote"]
    # Reassign from the bar of the selected row.
    bar = with_css(layout, "crm-inbox-bar")[0]
    assert not bar.visible
    overdue.selection = [0]
    assert bar.visible and "Send quote" in with_css(bar, "crm-inbox-chosen")[0].object
    with_css(bar, "crm-activity-reassign")[0].value = "olga"
    assert ws.activities.get(work["quote"])["assignee_id"] == ws.users.get("olga")["id"]
    assert overdue.value.empty and not bar.visible
    switch.value = "upcoming"  # the lists reload on the list the user is on
    upcoming = table(layout, "upcoming")
    click(upcoming, "Call Indus", "snooze1")
    assert switch.value == "upcoming" and upcoming.visible and not overdue.visible
    assert list(switch.options) == ["Overdue (0)", "Today (0)", "Upcoming (2)"]


def test_a_managers_everyone_inbox_is_a_few_elements_not_a_few_per_row(ws, work):
    manager = ws.as_user("ayesha")
    for i in range(150):
        manager.activities.schedule("call", f"Call {i}", "2026-05-01", company=1)
    view = ActivityInbox(manager)
    layout = view.__panel__()
    view.model.user = ""
    assert len(table(layout, "overdue").value) == 153  # 150 + Bilal's 2 + Olga's 1
    models = len(list(layout.get_root().references()))
    assert models < 120, models


def test_done_and_next_plans_the_follow_up_in_the_same_click(ws, work):
    layout = ActivityInbox(ws.as_user("bilal")).__panel__()
    bar = with_css(layout, "crm-inbox-bar")[0]
    today = table(layout, "today")
    today.selection = [0]
    assert bar.visible
    with_css(bar, "crm-next-kind")[0].value = "meeting"
    with_css(bar, "crm-next-subject")[0].value = "Show the new samples"
    with_css(bar, "crm-next-due")[0].value = dt.date(2026, 5, 19)
    with_css(bar, "crm-next-save")[0].clicks += 1
    assert ws.activities.get(work["karim"])["done_at"] is not None
    upcoming = ws.activities.upcoming("bilal", days=30)
    follow = upcoming[upcoming["subject"] == "Show the new samples"].iloc[0]
    assert (follow["kind"], follow["due_date"]) == ("meeting", dt.date(2026, 5, 19))
    assert follow["opportunity"] == "Uniforms 2027"  # the same deal as the call
    alert = with_css(layout, "crm-alert")[0]
    assert alert.object == md_text(
        "Done: 'Call Karim'; next: 'Show the new samples' on 2026-05-19."
    )
    # A refusal names the field and writes neither.
    overdue = table(layout, "overdue")
    overdue.selection = [0]
    with_css(bar, "crm-next-subject")[0].value = "   "
    with_css(bar, "crm-next-save")[0].clicks += 1
    assert ws.activities.get(work["oldest"])["done_at"] is None
    assert "Subject" in with_css(layout, "crm-alert")[0].object  # named by its label


def test_subjects_with_html_are_shown_as_text(ws, work):
    ws.as_user("bilal").activities.schedule(
        "call",
        "<script>alert(1)</script>",
        "2026-05-01",
        company=int(ws.companies.search()["id"][0]),
    )
    layout = ActivityInbox(ws.as_user("bilal")).__panel__()
    overdue = table(layout, "overdue")
    assert "<script>alert(1)</script>" in overdue.value["subject"].tolist()  # a text cell
    assert "subject" not in overdue.formatters  # Tabulator escapes plain cells
    assert not any("<script>" in str(v) for v in overdue.value["about"])
    overdue.selection = [overdue.value["subject"].tolist().index("<script>alert(1)</script>")]
    chosen = with_css(layout, "crm-inbox-chosen")[0].object
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in chosen and "<script>" not in chosen
    reminder = with_css(layout, "crm-reminder")[0]  # the oldest overdue is named
    assert "<script>" not in reminder.object and "&lt;script&gt;" in reminder.object


def test_the_view_converts_to_an_ipywidget(ws, work):
    widget = pn.ipywidget(ActivityInbox(ws))
    assert type(widget).__name__ == "BokehModel"
