"""A report wider than the terminal prints in blocks of columns, each led by the row's
names and the currency of its amounts (a tester saw ``customer`` and ``currency``
shrunk to nothing and amounts without their customer)."""

from __future__ import annotations

import os
from decimal import Decimal as D

import pandas as pd
import pytest
from rich.console import Console

from crm_core import cli_reports
from crm_core.reports import Reports


def _printed(monkeypatch, name: str, rows: list[dict], width: int) -> str:
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    monkeypatch.setattr(cli_reports, "console", console)
    spec = Reports(None).spec(name)  # type: ignore[arg-type]
    frame = pd.DataFrame(
        [{c.name: row.get(c.name) for c in spec.columns} for row in rows],
        columns=spec.column_names,
    )
    frame.attrs["reporting_currency"] = "PKR"
    cli_reports._print_report(spec, frame)
    text = console.export_text()
    console.file.close()
    return text


def _blocks(text: str) -> list[list[list[str]]]:
    """Each block's header (joined over its lines) and row cells."""
    out = []
    for block in text.split("┏")[1:]:
        lines = block.splitlines()
        heads = [line.strip("┃").split("┃") for line in lines if line.startswith("┃")]
        header = ["".join(h[i].strip() for h in heads) for i in range(len(heads[0]))]
        rows = [
            [c.strip() for c in line.strip("│").split("│")]
            for line in lines
            if line.startswith("│")
        ]
        out.append([header, *rows])
    return out


_CUSTOMERS = [
    {"customer": "Haji Yousuf Cloth House", "customer_type": "company", "customer_id": 192},
    {"customer": "مدینہ ہوزری", "customer_type": "company", "customer_id": 103},
]


@pytest.mark.parametrize("width", [80, 100, 160, 200])
def test_every_block_names_the_customer_and_the_currency(monkeypatch, width):
    rows = []
    for n, who in enumerate(_CUSTOMERS, start=1):
        row = {c: D("12240000.00") * n for c in ("revenue", "average_ticket", "age_0_30")}
        row |= {c + "_converted": D("61200000.00") * n for c in ("revenue", "age_0_30")}
        rows.append(who | row | {"currency": "PKR", "reporting_currency": "PKR", "rank": n})
    text = _printed(monkeypatch, "sales_per_customer", rows, width)
    blocks = _blocks(text)
    assert len(blocks) > 1  # 22 columns never fit in 200 cells
    shown = set()
    for header, *cells in blocks:
        assert header[:2] == ["customer", "customer_type"], header
        assert "currency" in header
        assert len(cells) == 2
        assert cells[0][0] == "Haji Yousuf Cloth House"  # never shrunk or folded
        assert cells[1][0] == "مدینہ ہوزری"
        assert cells[0][header.index("currency")] == "PKR"
        if any(h.endswith("_converted") for h in header):
            assert cells[0][header.index("reporting_currency")] == "PKR"
        shown |= set(header)
        assert all(len(line) <= width for line in text.splitlines())
    assert shown == set(Reports(None).spec("sales_per_customer").column_names)  # type: ignore[arg-type]
    assert text.count("12,240,000.00") == 3  # each amount once: revenue, ticket, age


def test_headers_wrap_at_underscores_and_stage_names_stay_whole(monkeypatch):
    row = {
        "pipeline": "Sales",
        "stage": "Proposition",
        "sequence": 30,
        "currency": "BDT",
        "count": 7,
        "value": D("14960000.00"),
        "weighted_value": D("8976000.00"),
        "reporting_currency": "PKR",
        "value_converted": D("35498284.78"),
        "weighted_value_converted": D("21298970.87"),
    }
    text = _printed(monkeypatch, "pipeline_by_stage", [row], 100)
    headers = [h for block in _blocks(text) for h in block[0]]
    assert "reporting_currency" in headers
    assert "weighted_value_converted" in headers
    assert "reporting_" in text and "rep\n" not in text  # split at underscores only
    for header, *cells in _blocks(text):
        assert cells[0][header.index("stage")] == "Proposition"
        assert cells[0][header.index("currency")] == "BDT"


def test_a_table_that_fits_is_one_block_and_texts_are_not_cut(monkeypatch):
    row = {"customer": "A customer whose name is longer than twenty-four"}
    row |= {"currency": "PKR", "monetary": D("5"), "segment": "champions"}
    text = _printed(monkeypatch, "rfm", [row], 250)
    blocks = _blocks(text)
    assert len(blocks) == 1
    assert blocks[0][1][0] == "A customer whose name is longer than twenty-four"
