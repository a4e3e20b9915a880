"""What the fifth round's tester found on the staff app's displays, fixed, tested
without a browser: a deal's Changes list names stages, writes times, amounts and
percentages as the page does and labels custom fields by their label; the pipeline's
cards write close dates as the rest of the app."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from widgets import i18n
from widgets.board_view import status_word
from widgets.record_model import RecordModel
from widgets.record_page import changes_shown, sections_html


@pytest.fixture
def won_deal(ws):
    """bilal's deal: moved, its amount and Incoterm edited, then won (tester's steps)."""
    ws.set_setting("timezone", "Asia/Karachi")
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.custom_fields.define("opportunity", "incoterm", "choice", choices=["EXW", "FOB"])
    bilal = ws.as_user("bilal")
    deal = bilal.pipeline.create("Good deal T3", expected_revenue="1250000.50", currency="PKR")
    bilal.pipeline.move(deal["id"], "Qualified")
    bilal.pipeline.update(deal["id"], expected_revenue="2000000", custom={"incoterm": "FOB"})
    bilal.pipeline.win(deal["id"])
    model = RecordModel(bilal)
    assert model.open("deal", deal["id"])
    return model


def _changes(model: RecordModel) -> list[list[str | None]]:
    journal = model.detail["journal"]
    shown = changes_shown(journal[journal["field"].notna()], "deal", model.detail)
    return [[f, None if o != o else o, n] for f, o, n in shown[["field", "old", "new"]].values]


def test_a_deals_changes_read_as_the_page_writes_them(won_deal):
    """They read 'Stage 1 → 2', 'closed at 2026-12-05T20:42:44.535536+00:00',
    'custom.incoterm', '30.00' beside '100'."""
    closed = won_deal.detail["record"]["closed_at"]
    local = closed.astimezone(ZoneInfo("Asia/Karachi"))
    with i18n.speaking("en"):
        when = f"{i18n.format_date(local.date())} {local:%H:%M}"
        rows = _changes(won_deal)
    assert rows == [
        ["Stage", "New", "Qualified"],
        ["Probability %", "10", "30"],
        ["Amount", "1,250,000.50", "2,000,000.00"],
        ["Incoterm", None, "FOB"],
        ["Stage", "Qualified", "Won"],
        ["Probability %", "30", "100"],
        ["Status", "Open", "Won"],
        ["Closed on", None, when],
    ]
    assert "T" not in when and "+00:00" not in when


def test_a_deals_changes_speak_the_pages_language(won_deal):
    urdu = i18n.translator("ur")[0]
    with i18n.speaking("ur"):
        rows = _changes(won_deal)
        page = sections_html(won_deal.detail)
        closed = won_deal.detail["record"]["closed_at"].astimezone(ZoneInfo("Asia/Karachi"))
        day = i18n.format_date(closed.date())
        status = [status_word("open"), status_word("won")]
    fields = [r[0] for r in rows]
    assert fields == [
        urdu("Stage"),
        urdu("Probability %"),
        urdu("Amount"),
        "Incoterm",
        urdu("Stage"),
        urdu("Probability %"),
        urdu("Status"),
        urdu("Closed on"),
    ]
    assert urdu("Closed on") != "Closed on" and urdu("Stage") != "Stage"
    assert rows[6][1:] == status and status != ["Open", "Won"]
    assert rows[7][2] == f"{day} {closed:%H:%M}"
    assert not any(c.isascii() and c.isalpha() for c in day)  # the month in Urdu
    assert "custom.incoterm" not in page and "closed at" not in page and "+00:00" not in page


def test_a_journal_value_the_field_cannot_hold_is_shown_as_written(won_deal):
    """A value the ERP wrote that is not its field's shape is kept, not dropped."""
    rows = pd.DataFrame(
        {
            "field": ["expected_revenue", "closed_at", "stage_id", "owner_id"],
            "old": ['"n/a"', '"yesterday"', "999", None],
            "new": ['"1e3x"', None, "1", "12345"],
        }
    )
    with i18n.speaking("en"):
        shown = changes_shown(rows, "deal", won_deal.detail)
    assert shown["old"].tolist()[:3] == ["n/a", "yesterday", "#999"]
    assert [None if v != v else v for v in shown["new"]] == ["1e3x", None, "New", "#12345"]


def test_journal_times_without_a_zone_are_utc(won_deal):
    rows = pd.DataFrame({"field": ["closed_at"], "old": [None], "new": ['"2026-12-05T20:42:44"']})
    with i18n.speaking("en"):
        shown = changes_shown(rows, "deal", won_deal.detail)
        expected = i18n.format_date(dt.date(2026, 12, 6)) + " 01:42"
    assert shown["new"].tolist() == [expected]


def test_cards_write_close_dates_in_the_pages_language(ws):
    """The board's cards read '2026-11-10' in every language."""
    from widgets.board_view import card_json

    card = {
        "id": 1,
        "version": 1,
        "name": "Looms",
        "company": "Indus",
        "owner": "bilal",
        "expected_revenue": "100",
        "currency": "PKR",
        "expected_close": dt.date(2026, 11, 10),
    }
    with i18n.speaking("ur"):
        assert card_json(card)["close"] == "10 نومبر، 2026"
    with i18n.speaking("ru"):
        assert card_json(card)["close"] == i18n.format_date(dt.date(2026, 11, 10))
        assert "нояб" in card_json(card)["close"]
    with i18n.speaking("en"):
        assert card_json(card)["close"] == "Nov 10, 2026"


def test_a_contacts_changes_name_its_companies(ws):
    """A contact moved from one company to another: the companies by name, not id."""
    indus = ws.companies.create(name="Indus Textiles")
    kazan = ws.companies.create(name="Казань Текстиль")
    imran = ws.contacts.create(name="Imran Khan", company=indus["id"])
    ws.contacts.update(imran["id"], {"company": kazan["id"]})
    model = RecordModel(ws)
    assert model.open("contact", imran["id"])
    journal = model.detail["journal"]
    with i18n.speaking("en"):
        shown = changes_shown(journal[journal["field"].notna()], "contact", model.detail)
    assert shown[["field", "old", "new"]].values.tolist() == [
        ["Company", "Indus Textiles", "Казань Текстиль"]
    ]


def test_a_deal_lost_twice_names_both_reasons(ws):
    """Lost for one reason, reopened, lost for another: the Changes list named only
    the reason the deal holds now and wrote '#1' for the first."""
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    bilal = ws.as_user("bilal")
    deal = bilal.pipeline.create("Twice lost", expected_revenue="100", currency="EUR")
    bilal.pipeline.lose(deal["id"], "Too expensive")
    bilal.pipeline.reopen(deal["id"])
    bilal.pipeline.lose(deal["id"], "Went silent")
    model = RecordModel(bilal)
    assert model.open("deal", deal["id"])
    with i18n.speaking("en"):
        reasons = [
            [None if v != v else v for v in r[1:]] for r in _changes(model) if r[0] == "Lost reason"
        ]
    assert reasons == [[None, "Too expensive"], ["Too expensive", None], [None, "Went silent"]]
