"""Exchange rates from the ERP on sync: the in-memory ERP's ``res.currency.rate`` read
the way the Odoo adapter reads it (erp_bridge.odoo.rates), pulled into the workspace's
rate table, counted in the run's report, idempotent, on SQLite and PostgreSQL."""

import datetime as dt
from decimal import Decimal

import pytest

from erp_bridge import sync
from erp_bridge.rates import CURSOR
from tests.erp_bridge import test_odoo_json2 as json2
from tests.erp_bridge.fake_odoo import FakeOdoo

#: The loopback server answering as Odoo 19 does over JSON-2 (a fixture).
server = json2.server
D = Decimal
FEB15 = dt.date(2026, 2, 15)


@pytest.fixture
def odoo():
    """A USD company with rates for EUR (shared by every company) and LKR (its own and a
    shared one), and another company's rate that is not ours."""
    erp = FakeOdoo()
    cur = {code: erp.add("res.currency", name=code) for code in ("USD", "EUR", "LKR", "PKR")}
    erp.cur = cur
    erp.company = erp.add("res.company", name="Indus Textiles", currency_id=cur["USD"])
    erp.other = erp.add("res.company", name="Indus Europe", currency_id=cur["EUR"])

    def rate(day, value, code, company=False):
        return erp.add(
            "res.currency.rate", name=day, rate=value, currency_id=cur[code], company_id=company
        )

    erp.rate = rate
    erp.eur_feb = rate("2026-02-01", 0.92, "EUR")
    rate("2026-01-01", 0.9, "EUR")
    rate("2026-01-01", 305.0, "LKR")  # shared: the company's own one (next) wins
    rate("2026-01-01", 300.0, "LKR", erp.company)
    rate("2026-02-10", 310.0, "LKR", erp.company)
    rate("2026-01-01", 999.0, "PKR", erp.other)  # another company's
    return erp


def run(ws, erp, **kw):
    return sync(ws, erp, xmlid_prefix="crmbook_test", **kw)


def table(ws):
    frame = ws.rates.list()
    return [(r.currency, r.base, r.day.isoformat(), r.rate, r.source) for r in frame.itertuples()]


def test_a_sync_pulls_the_companys_rates_and_converts_across_them(ws, odoo):
    report = run(ws, odoo)
    assert report.errors == [] and report.status == "done"
    rep = report.models["exchange_rate"]
    assert (rep.created, rep.updated, rep.skipped) == (4, 0, 0)
    assert table(ws) == [
        ("EUR", "USD", "2026-01-01", D("0.9"), "erp"),
        ("LKR", "USD", "2026-01-01", D("300"), "erp"),
        ("EUR", "USD", "2026-02-01", D("0.92"), "erp"),
        ("LKR", "USD", "2026-02-10", D("310"), "erp"),
    ]
    assert report.to_frame().set_index("model").loc["exchange_rate", "created"] == 4
    ws.set_setting("currency", "EUR")
    rates = ws.rates.load()
    # 1,000,000 LKR on 15 Feb = 1,000,000 x 0.92 / 310 = 2,967.741935... EUR
    assert rates.convert(D("1000000"), "LKR", FEB15) == D("2967.74")
    # on 5 Feb LKR falls back to its 1 Jan rate: 920,000 / 300 = 3,066.67
    assert rates.convert(D("1000000"), "LKR", dt.date(2026, 2, 5)) == D("3066.67")
    assert rates.try_convert(D("1"), "LKR", dt.date(2025, 12, 31)) is None
    assert rates.missing_text() == "no rate for LKR on or before 2025-12-31 (to EUR)"


def test_a_second_sync_adds_nothing_and_a_changed_rate_is_updated(ws, odoo):
    run(ws, odoo)
    before = table(ws)
    odoo.tick(1000)
    again = run(ws, odoo).models["exchange_rate"]
    # the rewind window re-reads the rates stamped at the last run's start: unchanged
    assert (again.created, again.updated, again.skipped) == (0, 0, 4)
    assert table(ws) == before
    odoo.tick(1000)
    odoo.set("res.currency.rate", odoo.eur_feb, rate=0.93)
    odoo.rate("2026-03-01", 0.95, "EUR")
    odoo.calls.clear()
    third = run(ws, odoo).models["exchange_rate"]
    # only what changed since the last run is read
    assert (third.created, third.updated, third.skipped) == (1, 1, 0)
    after = dict(((c, d), r) for c, _, d, r, _ in table(ws))
    assert after[("EUR", "2026-02-01")] == D("0.93")
    assert after[("EUR", "2026-03-01")] == D("0.95")
    assert len(after) == 5
    fourth = run(ws, odoo, full=True).models["exchange_rate"]
    assert (fourth.created, fourth.updated, fourth.skipped) == (0, 0, 5)


def test_rates_people_set_are_kept_over_the_erps(ws, odoo):
    ws.rates.set("EUR", "2026-02-01", "0.95", base="USD")
    report = run(ws, odoo)
    rep = report.models["exchange_rate"]
    assert (rep.created, rep.updated, rep.skipped) == (3, 0, 1)
    assert "exchange_rate: 1 rate(s) set by hand or imported kept over the ERP's" in report.notes
    rows = {(c, d): (r, s) for c, _, d, r, s in table(ws)}
    assert rows[("EUR", "2026-02-01")] == (D("0.95"), "manual")


def test_a_reference_currency_other_than_the_companys_is_divided_out(ws, odoo):
    """Rates relative to a reference currency whose rate is 1 (here: not USD): Odoo's
    company_rate divides by the company currency's rate of the day."""
    odoo.rate("2026-01-01", 2.0, "USD")  # 1 reference unit = 2 USD
    report = run(ws, odoo)
    assert report.errors == []
    rows = {(c, d): r for c, _, d, r, _ in table(ws)}
    assert "USD" not in {c for c, _ in rows}
    assert rows[("EUR", "2026-01-01")] == D("0.45")  # 0.9 / 2
    assert rows[("LKR", "2026-02-10")] == D("155")  # 310 / 2
    # a later change of the USD rate re-reads every rate against it
    odoo.tick(1000)
    odoo.rate("2026-02-01", 4.0, "USD")
    again = run(ws, odoo).models["exchange_rate"]
    assert again.updated == 2  # EUR 1 Feb: 0.92 / 4; LKR 10 Feb: 310 / 4
    rows = {(c, d): r for c, _, d, r, _ in table(ws)}
    assert rows[("EUR", "2026-02-01")] == D("0.23")
    assert rows[("LKR", "2026-02-10")] == D("77.5")
    assert rows[("EUR", "2026-01-01")] == D("0.45")


def test_a_dry_run_counts_and_writes_nothing(ws, odoo):
    report = run(ws, odoo, dry_run=True)
    assert report.models["exchange_rate"].created == 4
    assert ws.rates.list().empty
    with ws.transaction() as s:
        from erp_bridge.pages import get_state

        assert get_state(s, odoo.backend, CURSOR) is None


def test_only_the_models_asked_for_and_an_erp_without_rates(ws, odoo):
    run(ws, odoo, models=["company"])
    assert ("res.currency.rate", "search_read") not in odoo.calls
    assert ws.rates.list().empty

    class NoRates(FakeOdoo):
        exchange_rates = None  # an adapter that serves no rates

    report = run(ws, NoRates())
    assert "exchange_rate: this ERP's adapter gives no exchange rates; skipped" in report.notes
    assert "exchange_rate" not in report.models


def test_an_erp_currency_crmbook_does_not_know_is_kept_and_a_bad_rate_reported(ws, odoo):
    odoo.cur["XBT"] = odoo.add("res.currency", name="XBT")
    odoo.rate("2026-01-01", 0.00001, "XBT")
    odoo.rate("2026-01-02", 0.0, "EUR")  # Odoo refuses it; one that slipped in is skipped
    report = run(ws, odoo)
    assert report.errors == []
    rows = {(c, d): r for c, _, d, r, _ in table(ws)}
    assert rows[("XBT", "2026-01-01")] == D("0.00001")
    assert ("EUR", "2026-01-02") not in rows


def test_the_odoo_adapter_reads_res_currency_rate_over_the_wire(server):
    """OdooAdapter.exchange_rates against a loopback server answering as Odoo 19 does
    over JSON-2: the company, its currency, then the rates of the company or of none,
    changed since the cursor; Odoo's floats come out as the decimals typed."""
    state, url = server
    state.answers = [
        (200, [{"id": 1, "currency_id": [2, "USD"]}], 0),
        (200, [{"id": 2, "name": "USD"}, {"id": 3, "name": "LKR"}, {"id": 4, "name": "EUR"}], 0),
        (
            200,
            [
                {
                    "id": 10,
                    "name": "2026-02-10",
                    "rate": 310.25,
                    "currency_id": [3, "LKR"],
                    "company_id": [1, "Indus"],
                    "write_date": "2026-02-10 08:00:00",
                },
                {
                    "id": 11,
                    "name": "2026-02-10",
                    "rate": 0.923,
                    "currency_id": [4, "EUR"],
                    "company_id": False,
                    "write_date": "2026-02-10 08:00:01",
                },
            ],
            0,
        ),
        (200, [], 0),  # the company currency's own rates: none (it is the reference)
    ]
    odoo, _ = json2.adapter(url)
    rows = odoo.exchange_rates("2026-02-10 07:55:00")
    assert rows == [
        {"currency": "LKR", "base": "USD", "day": dt.date(2026, 2, 10), "rate": D("310.25"),
         "changed": "2026-02-10 08:00:00"},
        {"currency": "EUR", "base": "USD", "day": dt.date(2026, 2, 10), "rate": D("0.923"),
         "changed": "2026-02-10 08:00:01"},
    ]  # fmt: skip
    company, currencies, rates, own = state.seen
    assert company["path"] == "/json/2/res.company/search_read"
    assert company["body"]["limit"] == 1 and company["body"]["fields"] == ["currency_id"]
    assert currencies["path"] == "/json/2/res.currency/search_read"
    assert rates["path"] == "/json/2/res.currency.rate/search_read"
    assert rates["body"]["domain"] == [
        "|",
        ["company_id", "=", False],
        ["company_id", "=", 1],
        ["write_date", ">=", "2026-02-10 07:55:00"],
        ["id", ">", 0],
    ]
    assert rates["body"]["context"] == {"active_test": False}
    assert own["body"]["domain"][3] == ["currency_id", "=", 2]
