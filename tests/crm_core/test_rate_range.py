"""A rate outside 10^-8 .. 10^8 is refused with why (a tester's 1E-12 turned 1000 GBP
into 10^15 USD, beyond the 10^13 an amount may be, without a word)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from crm_core.errors import ValidationError

RANGE = r"no currency is worth 100 million \(10\^8\) of another"


@pytest.mark.parametrize("tiny", ["0.000000000001", "0.0000000099"])
def test_a_tiny_rate_is_refused_naming_the_range(ws, tiny):
    with pytest.raises(ValidationError, match=r"is too small: a rate must be at least 0\.00000001"):
        ws.rates.set("GBP", "2026-01-01", tiny, base="USD")
    assert ws.rates.list().empty


def test_a_huge_rate_is_refused_naming_the_range(ws):
    with pytest.raises(ValidationError, match=f"is too large: .*: {RANGE}"):
        ws.rates.set("GBP", "2026-01-01", "1000000000000", base="USD")
    assert ws.rates.list().empty


def test_a_files_tiny_rate_is_refused_too(ws, tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text("currency,date,rate\nGBP,2026-01-01,1E-12\nEUR,2026-01-01,0.9\n")
    with pytest.raises(ValidationError, match=RANGE) as caught:
        ws.rates.import_file(path, base="USD")
    assert [e.record for e in caught.value.errors] == ["rates.csv line 2"]
    assert ws.rates.list().empty


def test_the_widest_real_pairs_still_convert_in_range(ws):
    """Iranian rials per Kuwaiti dinar (some 3 x 10^6) and its inverse are kept."""
    ws.rates.set("IRR", "2026-01-01", "3300000", base="KWD")
    ws.rates.set("KWD", "2026-01-02", "0.000000303", base="IRR")
    day = dt.date(2026, 1, 3)
    assert ws.rates.load("KWD").convert(D("3300000"), "IRR", day) == D("1.000")
    assert ws.rates.load("IRR").convert(D("1"), "KWD", day) == D("3300330.03")
