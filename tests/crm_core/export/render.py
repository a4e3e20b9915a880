"""Render a workbook as LibreOffice prints it (headless, to PDF) and read the PDF back:
its text with pdftotext, its pages as PNG with pdftoppm."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def _tools() -> str:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None or shutil.which("pdftotext") is None:
        why = "LibreOffice (soffice) and poppler (pdftotext) are needed to render"
        if os.environ.get("CI"):  # .ci/run installs both: never skipped there
            pytest.fail(why)
        pytest.skip(why)
    return soffice


def to_pdf(xlsx: bytes, folder: Path, name: str = "book") -> Path:
    """``xlsx`` printed to ``folder/<name>.pdf`` by LibreOffice headless (its own
    profile in ``folder``, so renders running at once do not share one)."""
    soffice = _tools()
    source = folder / f"{name}.xlsx"
    source.write_bytes(xlsx)
    profile = (folder / "lo-profile").as_uri()
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(folder),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = folder / f"{name}.pdf"
    assert pdf.exists(), "LibreOffice wrote no PDF"
    return pdf


def pdf_text(pdf: Path) -> str:
    """The PDF's text, laid out as printed."""
    out = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, timeout=60
    )
    return out.stdout.decode("utf-8")


def pdf_pages(pdf: Path) -> int:
    """How many pages the PDF has."""
    out = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, timeout=60)
    for line in out.stdout.decode().splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise AssertionError("pdfinfo gave no page count")


def pdf_png(pdf: Path, page: int, resolution: int = 60) -> Path:
    """Page ``page`` (1-based) of the PDF as a PNG beside it."""
    stem = pdf.with_name(f"{pdf.stem}-p{page}")
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(resolution), "-f", str(page), "-l", str(page),
         "-singlefile", str(pdf), str(stem)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return stem.with_suffix(".png")
