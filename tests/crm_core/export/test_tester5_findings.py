"""An independent tester's findings on the workbooks and the RFM report, each fixed and
checked with its values: a bad target path, "Chart data" formats by currency and kind,
words of Urdu/Sindhi workbooks, an unknown language, long chart labels, and RFM scores
of a customer alone in their currency."""

from __future__ import annotations

import io
import os
import re
import zipfile
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest

from crm_core.errors import CrmError, ValidationError
from crm_core.export.workbook import WorkbookBuilder
from crm_core.reports import Chart, Column
from crm_core.reports.charts import CATEGORY_LABEL_MAX, chart_data, short_label
from tests.crm_core.reports.books import posted

D = Decimal


# -- 1. the target path ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("missing/x.xlsx", "the folder {tmp}/missing does not exist"),
        ("sub", "is a folder; give a file name in it, such as report.xlsx"),
        ("sub/", "is a folder; give a file name in it, such as report.xlsx"),
        ("", "the path is empty; give a file name such as report.xlsx"),
        ("file.txt/x.xlsx", "{tmp}/file.txt is not a folder"),
    ],
)
def test_a_bad_target_is_refused_before_anything_is_written(tmp_path, monkeypatch, target, reason):
    (tmp_path / "sub").mkdir()
    (tmp_path / "file.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    before, above = sorted(os.listdir(tmp_path)), sorted(os.listdir(tmp_path.parent))
    with pytest.raises(ValidationError) as caught:
        WorkbookBuilder(target, title="T")
    assert isinstance(caught.value, CrmError)
    (error,) = caught.value.errors
    assert (error.record, error.field, error.value) == ("workbook", "target", target)
    assert error.reason == reason.format(tmp=tmp_path)
    assert sorted(os.listdir(tmp_path)) == before
    assert sorted(os.listdir(tmp_path.parent)) == above
    assert os.listdir(tmp_path / "sub") == []


def test_ws_export_refuses_a_bad_path_with_a_crm_error(ws, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    with pytest.raises(ValidationError, match=f"the folder {out}/nope does not exist"):
        ws.export.xlsx(out / "nope" / "x.xlsx", "contacts")
    with pytest.raises(ValidationError, match="is a folder"):
        ws.export.xlsx(out, "contacts")
    with pytest.raises(ValidationError, match="the path is empty"):
        ws.export.xlsx("", "contacts")
    assert os.listdir(out) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_folder_one_may_not_write_to_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ValidationError, match=f"cannot write in {locked}: Permission denied"):
            WorkbookBuilder(locked / "x.xlsx", title="T")
    finally:
        locked.chmod(0o700)


# -- 5. "Chart data": formats by currency and kind --------------------------------------------
def _book(build) -> bytes:
    out = io.BytesIO()
    with WorkbookBuilder(out, title="T", grouping="western") as book:
        build(book)
    return out.getvalue()


def _chart_data_formats(data: bytes, sheet: str = "Chart data") -> dict[str, list[tuple]]:
    """Chart title -> (category, value, number format) of its rows on the sheet."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    out: dict[str, list[tuple]] = {}
    title = None
    for row in wb[sheet].iter_rows(min_row=1):
        first = row[0]
        if first.value is None:
            title = None
            continue
        if title is None:
            title = first.value
            out[title] = []
            continue
        if len(row) > 1 and isinstance(row[1].value, int | float):
            out[title].append((first.value, row[1].value, row[1].number_format))
    return out


def _axes(data: bytes) -> list[dict[str, str]]:
    """Each chart's value axis: its number format and major unit (when set)."""
    found = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in sorted(n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)):
            xml = z.read(name).decode()
            val = re.search(r"<c:valAx>.*?</c:valAx>", xml, re.S).group(0)
            fmt = re.search(r'<c:numFmt formatCode="([^"]*)"', val)
            unit = re.search(r'<c:majorUnit val="([^"]*)"', val)
            found.append(
                {"format": fmt.group(1) if fmt else "", "unit": unit.group(1) if unit else ""}
            )
    return found


AMOUNTS = [Column("customer", "text"), Column("currency", "text"), Column("revenue", "money")]


def test_chart_amounts_take_their_currency_s_decimals():
    frame = pd.DataFrame(
        [
            ("Osaka", "JPY", D("1500")),
            ("Kobe", "JPY", D("250000")),
            ("Kuwait Trading", "KWD", D("1.235")),
            ("Gulf", "KWD", D("10.5")),
        ],
        columns=["customer", "currency", "revenue"],
    )
    data = _book(
        lambda b: b.add_frame("Sales", frame, AMOUNTS, Chart("bar", "customer", ("revenue",)))
    )
    got = _chart_data_formats(data)
    assert got == {
        "Sales (JPY)": [("Osaka", 1500, "#,##0"), ("Kobe", 250000, "#,##0")],
        "Sales (KWD)": [("Kuwait Trading", 1.235, "#,##0.000"), ("Gulf", 10.5, "#,##0.000")],
    }


COUNTS = [Column("reason", "text"), Column("count", "int")]


def test_chart_counts_are_whole_numbers_with_whole_ticks():
    frame = pd.DataFrame([("Too expensive", 1), ("No budget", 2)], columns=["reason", "count"])
    data = _book(
        lambda b: b.add_frame(
            "Closed", frame, COUNTS, Chart("bar", "reason", ("count",), "Deals closed")
        )
    )
    assert _chart_data_formats(data) == {
        "Deals closed": [("Too expensive", 1, "#,##0"), ("No budget", 2, "#,##0")]
    }
    # ticks 0, 1, 2: never 0.5
    assert _axes(data) == [{"format": "#,##0", "unit": "1"}]


def test_chart_of_days_is_not_money_nor_whole():
    columns = [Column("stage", "text"), Column("median_days", "number")]
    frame = pd.DataFrame([("New", 2.5), ("Won", 10.25)], columns=["stage", "median_days"])
    data = _book(
        lambda b: b.add_frame("Days", frame, columns, Chart("column", "stage", ("median_days",)))
    )
    assert _chart_data_formats(data) == {
        "Days": [("New", 2.5, "#,##0.00"), ("Won", 10.25, "#,##0.00")]
    }
    assert _axes(data) == [{"format": "General", "unit": ""}]


def test_a_money_chart_over_many_counts_keeps_large_count_ticks_automatic():
    frame = pd.DataFrame([("a", 10), ("b", 400)], columns=["reason", "count"])
    data = _book(lambda b: b.add_frame("C", frame, COUNTS, Chart("bar", "reason", ("count",))))
    assert _axes(data) == [{"format": "#,##0", "unit": ""}]


# -- 5. words in the workbook's language ------------------------------------------------------
@pytest.fixture
def closed_deals(ws):
    for name, outcome in (("uniforms", "won"), ("towels", "lost")):
        deal = ws.pipeline.create(name, expected_revenue="1000.00", currency="PKR")
        if outcome == "won":
            ws.pipeline.win(deal["id"])
        else:
            ws.pipeline.lose(deal["id"], "Too expensive")
    return ws


@pytest.mark.parametrize(
    ("language", "chart_sheet", "contents", "won", "lost"),
    [
        ("ur", "چارٹ کا ڈیٹا", "مشمولات", "جیتے", "ہارے"),
        ("sd", "چارٽ جو ڊيٽا", "مواد", "کٽيا", "هاريا"),
        ("en", "Chart data", "contents", "won", "lost"),
    ],
)
def test_chart_sheet_cover_and_outcomes_in_the_workbook_s_language(
    closed_deals, language, chart_sheet, contents, won, lost
):
    out = closed_deals.export.xlsx(io.BytesIO(), "win_loss", language=language)
    wb = openpyxl.load_workbook(io.BytesIO(out.getvalue()))
    assert wb.sheetnames[-1] == chart_sheet and wb[chart_sheet].sheet_state == "hidden"
    cover = wb.worksheets[0]
    keys = [row[0] for row in cover.iter_rows(min_row=7, max_col=2, values_only=True)]
    assert keys[0] == contents
    table = wb.worksheets[1]
    header = [c.value for c in table[1]]
    outcomes = sorted(
        row[header.index("outcome")] for row in table.iter_rows(min_row=3, values_only=True)
    )
    assert outcomes == sorted([won, lost])


def test_an_unknown_language_is_refused_naming_the_languages(ws, tmp_path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    with pytest.raises(ValidationError) as caught:
        ws.export.xlsx(tmp_path / "x.xlsx", "contacts", language="xx")
    message = str(caught.value)
    assert "'xx'" in message
    for code in ("en (English)", "ur (اردو)", "sd (سنڌي)", "bn (", "ta (", "ru ("):
        assert code in message
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValidationError, match="'xx'"):
        WorkbookBuilder(io.BytesIO(), title="T", language="xx")
    # a region is still read as its language
    assert ws.export.xlsx(io.BytesIO(), "contacts", language="ur-PK").getvalue()


# -- 5. long category labels --------------------------------------------------------------------
LONG = ("Karachi Export Processing Zone Garment Manufacturers Association " * 5).strip()


def test_long_labels_are_cut_at_a_word_with_an_ellipsis():
    assert len(LONG) > 290
    assert short_label(LONG) == "Karachi Export Processing Zone Garment…"
    assert len(short_label(LONG)) <= CATEGORY_LABEL_MAX
    assert short_label("Indus Textiles") == "Indus Textiles"
    assert short_label("x" * 60) == "x" * 39 + "…"  # one long word: cut inside it


def test_chart_categories_are_short_and_distinct_the_table_whole():
    frame = pd.DataFrame(
        [(LONG, 3), (LONG + " North", 2), ("Short", 1)], columns=["reason", "count"]
    )
    (drawn,) = chart_data(
        Chart("bar", "reason", ("count",)), frame, {"reason": "text", "count": "int"}
    )
    assert drawn.categories == [
        "Karachi Export Processing Zone Garment…",
        "Karachi Export Processing Zone… (2)",
        "Short",
    ]
    assert drawn.integer is True
    data = _book(lambda b: b.add_frame("Long", frame, COUNTS, Chart("bar", "reason", ("count",))))
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb["Long"]["A3"].value == LONG  # the table keeps the whole name


# -- 3. RFM: a customer alone in their currency -------------------------------------------------
def _invoices(ws, customers):
    """customers: (name, currency, [(invoice date, untaxed)]); returns name -> id."""
    ids = {}
    n = 0
    for name, _currency, _rows in customers:
        ids[name] = ws.companies.create(name=name)["id"]
    with ws.transaction() as s:
        for name, currency, rows in customers:
            for day, amount in rows:
                n += 1
                s.add(posted(n, day, amount, currency, company=ids[name], payment_state="paid"))
    return ids


PKR_FIVE = [
    ("Alpha", "PKR", [("2026-01-10", "100000")]),
    ("Bravo", "PKR", [("2026-02-10", "200000"), ("2026-03-10", "200000")]),
    ("Charlie", "PKR", [("2026-03-01", "50000")]),
    ("Delta", "PKR", [("2026-04-01", "300000"), ("2026-04-05", "10000")]),
    ("Echo", "PKR", [("2026-04-20", "20000")]),
]
SOLO = ("Solo Imports", "USD", [(f"2026-05-{d:02d}", "1000") for d in (1, 3, 5, 7, 9, 11)])


def _scores(frame):
    return {
        (r.customer, r.currency): (r.r_score, r.f_score, r.m_score, r.segment)
        for r in frame.itertuples()
    }


def test_rfm_a_lone_recent_frequent_customer_is_ranked_across_currencies(ws):
    """Solo Imports, the only USD customer, bought most recently, most often and the
    most (6,000 USD; each invoice converted at 0.0036 and rounded once, 6 x 277,777.78 =
    1,666,666.68 PKR, as every report adds them): ranked among all six customers it
    is a Champion (rank 6 of 6: 1 + floor(5 * 5 / 6) = 5), not "Lost" (1/1/1 alone).
    The five PKR customers are still scored among themselves."""
    ws.set_setting("currency", "PKR")
    ws.rates.set("USD", "2026-01-01", "0.0036", base="PKR")
    _invoices(ws, [*PKR_FIVE, SOLO])
    frame = ws.reports.rfm(period_to="2026-05-15")
    got = _scores(frame)
    assert got[("Solo Imports", "USD")] == (5, 5, 5, "Champions")
    assert frame.loc[frame.currency == "USD", "monetary_converted"].iloc[0] == D("1666666.68")
    # PKR, among five: recency days 125, 66, 75, 40, 25 -> r 1, 3, 2, 4, 5
    assert got[("Alpha", "PKR")] == (1, 1, 3, "Lost")
    assert got[("Bravo", "PKR")] == (3, 4, 5, "Loyal")
    assert got[("Charlie", "PKR")] == (2, 1, 2, "Others")
    assert got[("Delta", "PKR")] == (4, 4, 4, "Champions")
    assert got[("Echo", "PKR")] == (5, 1, 1, "New")


def test_rfm_without_a_rate_a_lone_customer_is_not_scored(ws):
    """Round 6: its segment blamed too few customers, not the missing rate."""
    ws.set_setting("currency", "PKR")
    _invoices(ws, [*PKR_FIVE, SOLO])
    frame = ws.reports.rfm(period_to="2026-05-15")
    got = _scores(frame)
    assert got[("Solo Imports", "USD")] == (
        None,
        None,
        None,
        "Not scored: too few customers in USD, and no rate to rank among all currencies'",
    )
    assert got[("Delta", "PKR")] == (4, 4, 4, "Champions")


def test_rfm_with_too_few_customers_anywhere_nobody_is_scored(ws):
    ws.set_setting("currency", "PKR")
    ws.rates.set("USD", "2026-01-01", "0.0036", base="PKR")
    _invoices(ws, [PKR_FIVE[0], SOLO])
    got = _scores(ws.reports.rfm(period_to="2026-05-15"))
    assert got == {
        ("Alpha", "PKR"): (None, None, None, "Not scored: too few customers in PKR"),
        ("Solo Imports", "USD"): (None, None, None, "Not scored: too few customers in USD"),
    }


def test_rfm_docs_say_how_few_customers_are_scored(ws):
    spec = ws.reports.spec("rfm")
    text = " ".join(c.doc for c in spec.columns) + spec.doc
    assert "fewer than 3" in text and "Not scored: too few customers in" in text
