"""What a report's run says beside its rows: what it left out, and why.

A run leaves in its frame's ``attrs`` the figures it could not give: the campaigns
whose ROI it left empty (``roi_not_computed``, see ``campaign_results``) and the
forecast methods it left out (``not_forecast``, see ``revenue_forecast``).
:func:`left_out` words them in the reader's language (labels.toml); the workbook's
cover, ``crmbook report`` and the staff app's Reports page show the same notes, so a
reader never takes an empty cell for a zero without being told why.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from crm_core.reports import labels
from crm_core.reports.forecast_methods import METHODS, needed_history


def left_out(frame: pd.DataFrame, language: str | None = None) -> list[str]:
    """The notes of the figures ``frame``'s run left out, in ``language``."""
    attrs = frame.attrs
    notes: list[str] = []
    campaigns = attrs.get("roi_not_computed") or {}
    if campaigns:
        notes.append(labels.word("note_roi_not_computed", language, campaigns=", ".join(campaigns)))
    notes += _not_forecast(frame, attrs.get("not_forecast") or {}, language)
    return notes


def _not_forecast(frame: pd.DataFrame, methods: dict[str, Any], language: str | None) -> list[str]:
    if not methods:
        return []
    if frame.attrs.get("missing_rates"):
        return [labels.word("note_not_forecast_rates", language)]
    if not frame.attrs.get("history_from"):
        return [labels.word("note_not_forecast_no_invoice", language)]
    months = int((frame["kind"] == "actual").sum()) if "kind" in frame.columns else 0
    return [
        labels.word(
            "note_not_forecast_history",
            language,
            method=labels.value_label(name, language),
            needed=needed_history(METHODS[name]),
            months=months,
        )
        for name in methods
        if name in METHODS
    ]
