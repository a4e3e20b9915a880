"""The sixth round's tester on the staff app's displays, tested without a browser:
report charts keep their legend on a right-to-left page, phones in a Changes list read
left to right, the pipeline's "+N more" counts only the folded currencies, field
choices and custom fields show their labels."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_core.reports import Chart
from crm_core.reports.charts import chart_data
from widgets import i18n
from widgets.reports_page import report_figure


@pytest.mark.parametrize("kind", ["column", "bar", "line"])
def test_report_charts_draw_left_to_right_so_the_legend_shows(kind):
    """On an Urdu page the canvas inherited ``direction: rtl`` and the legend under
    the chart vanished; the figure now lays out left to right, legend below."""
    frame = pd.DataFrame({"stage": ["New", "Won"], "a": [1.0, 2.0], "b": [3.0, 4.0]})
    with i18n.speaking("ur"):
        [data] = chart_data(Chart(kind, "stage", ("a", "b")), frame, {"a": "number", "b": "number"})
        fig = report_figure(data)
    assert fig.styles["direction"] == "ltr"
    [legend] = fig.below[-1:]
    assert legend.visible and legend.orientation == "horizontal"


def test_a_phone_in_the_changes_list_reads_left_to_right(ws):
    """Urdu showed ``923001234567+``: the phone, an e-mail and amounts in the Changes
    list are isolated left to right, like the page's other phones."""
    from widgets.record_model import RecordModel
    from widgets.record_page import sections_html

    contact = ws.contacts.create(name="Sana Tariq", phone="+923001234567")
    ws.contacts.update(
        contact["id"], phone="+923001234568", email="sana@example.com", city="Multan"
    )
    model = RecordModel(ws)
    with i18n.speaking("ur"):
        assert model.open("contact", contact["id"])
        page = sections_html(model.detail)
    journal = page[page.index("crm-section-journal") :]
    assert '<span dir="ltr">+923001234567</span>' in journal
    assert '<span dir="ltr">+923001234568</span>' in journal
    assert '<span dir="ltr">sana@example.com</span>' in journal
    assert '<span dir="ltr">Multan</span>' not in journal  # a city follows the page


def test_an_email_refusal_holds_no_english_in_urdu():
    """``درست ای میل پتہ نہیں (There must be something after the @-sign.)``: the
    library's common details are translated, any other left out; English unchanged."""
    from widgets.reasons import reason_text

    common = "is not a valid e-mail address (There must be something after the @-sign.)"
    other = "is not a valid e-mail address (The email address contains invalid characters.)"
    phone = "is not a phone number ((1) The string supplied did not seem to be a phone number.)"
    with i18n.speaking("en"):
        assert reason_text(common) == common and reason_text(phone) == phone
    for language in ("ur", "ru", "bn", "ta", "sd"):
        with i18n.speaking(language):
            said = [reason_text(common), reason_text(other), reason_text(phone)]
            bare = i18n._("is not a valid e-mail address")
            detail = i18n._("There must be something after the @-sign.")
            phone_bare = i18n._("is not a phone number")
        english = ("There must", "email address contains", "string supplied")
        assert not any(word in text for word in english for text in said), said
        if language != "ru":  # Russian writes "e-mail" in Latin letters
            assert not any(c.isascii() and c.isalpha() for text in said for c in text), said
        assert detail != "There must be something after the @-sign." and detail in said[0]
        assert said[1] == bare and said[2] == phone_bare


def test_a_merge_review_names_a_custom_field_by_its_label(sqlite_ws):
    from widgets.duplicates_model import DuplicatesReviewModel
    from widgets.duplicates_review import DuplicatesReview

    ws = sqlite_ws
    ws.users.add("Ayesha", "ayesha", role="manager")
    ws.custom_fields.define("contact", "customer_tier", "choice", choices=["Gold", "Silver"])
    ws.contacts.create(name="Imran Khan", phone="+923001234567", custom={"customer_tier": "Gold"})
    ws.contacts.create(name="Imran Khan", phone="+923001234567", custom={"customer_tier": "Silver"})
    view = DuplicatesReview(model=DuplicatesReviewModel(ws.as_user("ayesha")))
    model = view.model
    assert model.load() and model.select(0)
    rows = view._field_rows()
    tier = rows.set_index("field").loc["custom.customer_tier"]
    assert tier["label"] == "Customer tier"
    assert model.choose("custom.customer_tier", "b")
    assert model.message == "Customer tier keeps Silver."


@pytest.mark.parametrize("language", ["en", "ur"])
def test_the_import_wizard_offers_fields_by_their_labels(sqlite_ws, language):
    """The mapping's field list read ``name``, ``email``... even in Urdu; the values
    set stay crm_core's names."""
    from widgets.import_model import ImportWizardModel

    ws = sqlite_ws
    ws.custom_fields.define("contact", "customer_tier", "text")
    model = ImportWizardModel(ws)
    with i18n.speaking(language):
        labels = model.choice_labels()
        expected = {f: i18n._(t) for f, t in [("name", "Name"), ("email", "E-mail")]}
    assert set(labels) == set(model.choices) and labels["custom.customer_tier"] == "Customer tier"
    assert labels["name"] == expected["name"] and labels["email"] == expected["email"]
    assert labels["first_name"] != "first_name" and labels["city"] != "city"
    if language == "ur":
        assert not any(c.isascii() and c.isalpha() for c in labels["city"] + labels["first_name"])
    assert len(set(labels.values())) == len(labels)


def test_every_field_the_import_wizard_offers_has_a_label(sqlite_ws):
    """Whatever the rows are, no field is offered by crm_core's own name (a deal's
    ``closed_at`` and ``lost_reason`` were, once closed deals could be imported)."""
    from widgets.import_model import ENTITIES, ImportWizardModel

    model = ImportWizardModel(sqlite_ws)
    for entity in ENTITIES:
        model.entity = entity
        with i18n.speaking("ur"):
            labels = model.choice_labels()
        raw = [f for f, label in labels.items() if label == f or label.startswith(f"{f} ")]
        assert raw == [], (entity, raw)


def test_more_counts_only_the_currencies_besides_the_headline():
    """bilal's New: PKR deals and one EUR deal, converted to PKR: "+1 more" (the EUR),
    not "+2 more" (the breakdown lists PKR's own share too)."""
    from decimal import Decimal as D

    from widgets.board_view import column_json

    column = {
        "stage_id": 1,
        "stage": "New",
        "rev": 1,
        "count": 3,
        "more": 0,
        "counts": {"PKR": 2, "EUR": 1},
        "value": {"PKR": D("1000000"), "EUR": D("1000")},
        "weighted": {"PKR": D("100000"), "EUR": D("100")},
        "value_converted": D("1300000"),
        "weighted_converted": D("130000"),
        "unconverted": [],
        "cards": pd.DataFrame(),
    }
    with i18n.speaking("en"):
        shown = column_json(column, "PKR")
        assert [t["currency"] for t in shown["totals"]] == ["PKR", "PKR", "EUR"]
        assert shown["others_text"] == "+1 more"
        # no rate: each currency on its own, the other one folded
        unconverted = column | {"value_converted": None, "weighted_converted": None}
        assert column_json(unconverted, "PKR")["others_text"] == "+1 more"
        # only the main currency: nothing folded
        alone = column | {
            "counts": {"PKR": 2},
            "value": {"PKR": D("1")},
            "weighted": {"PKR": D("1")},
        }
        assert column_json(alone, "PKR")["others_text"] == "+0 more"
