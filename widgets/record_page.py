"""A record's page: a contact, a company or a deal, drawn from :class:`RecordModel`.

The page is built once per session and filled in place when another record opens (the
staff app shows it at ``#/contacts/123``, ``#/companies/7`` and ``#/deals/45``; see
:mod:`widgets.routes`). The lists on it (timeline, activities, deals, contacts,
invoices, history, journal) are one HTML element each, with links to the records they
name; every value in them is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import panel as pn
import param

from crm_core.journal import NOT_JOURNALED
from crm_core.models import ACTIVITY_KINDS, CHANNELS
from widgets import i18n
from widgets.base import ComponentView, message_alert
from widgets.board_view import status_word
from widgets.compose import ComposeForm
from widgets.i18n import N_, _
from widgets.reasons import field_label
from widgets.record_model import FIELDS, FORM_LABELS, RecordModel, journal_id, shown
from widgets.routes import record_hash

#: Inputs whose values read left to right whatever the page's direction.
LEFT_TO_RIGHT = ("email", "phone", "money", "percent", "currency", "number", "date")
#: Columns of the page's lists whose values read left to right (isolated on an Urdu page).
LEFT_TO_RIGHT_COLUMNS = ("email", "phone", "mobile", "website", "vat")
#: The look of the page's HTML parts (light and dark theme alike).
STYLE = (Path(__file__).parent / "static" / "record.css").read_text(encoding="utf-8")
#: How the choices of the log and plan forms are shown (crm_core's channels, activity
#: kinds and directions; the value sent stays crm_core's): value -> label.
WORDS = {
    "call": N_("call"),
    "meeting": N_("meeting"),
    "email": N_("email"),
    "message": N_("message"),
    "note": N_("note"),
    "todo": N_("todo"),
    "in": N_("in"),
    "out": N_("out"),
}


def labelled(values: Any) -> dict[str, str]:
    """``values`` as a Select's options: the label shown (translated) -> the value."""
    return {_(WORDS.get(v, v)): v for v in values}


def esc(value: Any, tz: str = "UTC") -> str:
    """``value`` as HTML-escaped text: dates and money formatted, missing as ''."""
    if value is None or (not isinstance(value, (str, list, dict)) and pd.isna(value)):
        return ""
    if isinstance(value, (dt.date, Decimal, int, float)) and not isinstance(value, bool):
        # Dates, times and amounts read left to right on a right-to-left page too.
        return f'<span dir="ltr">{html.escape(_figure(value, tz))}</span>'
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return html.escape(str(value), quote=True)


def _figure(value: Any, tz: str) -> str:
    """A date, time or amount as the session's language writes it (``4 Dec 2026``,
    ``12,34,567.00`` where lakh and crore are the custom)."""
    if isinstance(value, dt.datetime):
        local = value.astimezone(ZoneInfo(tz))
        return f"{i18n.format_date(local.date())} {local:%H:%M}"
    if isinstance(value, dt.date):
        return i18n.format_date(value)
    if isinstance(value, Decimal):
        return i18n.format_number(value, 2)
    return str(value)


def amount_html(value: Decimal, currency: str, *, code: bool = True) -> str:
    """An amount in ``currency``'s own decimals (KWD 3, JPY none), grouped as the
    workspace asks (i18n.format_amount), after its currency code unless ``code`` is
    false (a table with a currency column), as HTML that reads left to right."""
    if not currency.strip():
        return esc(value)
    write = i18n.format_amount if code else i18n.format_amount_number
    return f'<span dir="ltr">{html.escape(write(value, currency))}</span>'


def link(kind: str, record_id: Any, text: Any, tz: str = "UTC") -> str:
    """``text`` (escaped) as a link to the page of record ``record_id`` of ``kind``;
    plain text when there is no such id."""
    label = esc(text, tz) or f"#{esc(record_id)}"
    if record_id is None or pd.isna(record_id):
        return esc(text, tz)
    return f'<a href="{record_hash(kind, int(record_id))}" dir="auto">{label}</a>'


def table_html(
    frame: pd.DataFrame | None,
    columns: Mapping[str, str],
    tz: str,
    empty: str,
    links: Mapping[str, tuple[str, str]] | None = None,
) -> str:
    """``frame``'s ``columns`` (column -> header) as an HTML table; ``links`` maps a
    column to (kind, id column): its cells link to that record's page."""
    if frame is None or frame.empty:
        return '<p class="crm-empty">' + html.escape(_(empty)) + "</p>"
    links = links or {}
    head = "".join("<th>" + html.escape(_(label)) + "</th>" for label in columns.values())

    def cell(row: Mapping[str, Any], column: str) -> str:
        if column in links:
            kind, id_column = links[column]
            return link(kind, row.get(id_column), row.get(column), tz)
        value = row.get(column)
        if isinstance(value, Decimal) and isinstance(row.get("currency"), str):
            return amount_html(value, row["currency"], code=False)
        if column in ("channel", "direction", "kind") and isinstance(value, str):
            value = _(WORDS.get(value, value))  # crm_core's word, as the forms label it
        elif column == "status" and isinstance(value, str):
            value = status_word(value)  # a deal's: open, won, lost in the page's language
        if (
            isinstance(value, str)
            and value
            and (column in LEFT_TO_RIGHT_COLUMNS or (column in ("old", "new") and row.get("ltr")))
        ):
            # a phone's "+" in front, an address whole, on a right-to-left page too
            return f'<span dir="ltr">{esc(value, tz)}</span>'
        return esc(value, tz)

    body = "".join(
        "<tr>" + "".join(f"<td>{cell(row, c)}</td>" for c in columns) + "</tr>"
        for row in frame.to_dict("records")
    )
    return f'<table class="crm-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def heading_html(detail: Mapping[str, Any]) -> str:
    """The page's title: the record's name, what it is, and its company and contact."""
    if not detail:
        return '<p class="crm-empty">' + html.escape(_("Nothing to show.")) + "</p>"
    record, kind = detail["record"], detail["kind"]
    parts = [f'<h2 class="crm-record-name" dir="auto">{esc(record["name"])}</h2>']
    what = {"contact": N_("Contact"), "company": N_("Company"), "deal": N_("Deal")}[kind]
    facts = [html.escape(_(what))]
    if kind == "deal":
        if record["status"] in ("won", "lost"):
            # a closed deal is in its won or lost stage: the stage says it again
            # ("Deal · Lost · Lost"), so the status in the page's language alone
            facts.append(esc(status_word(record["status"])))
        else:
            facts.append(f"{esc(record['stage'])} · {esc(status_word(record['status']))}")
        amount = record.get("expected_revenue")
        if amount is not None:
            money = i18n.format_amount(amount, record["currency"])
            facts.append(f'<span dir="ltr">{html.escape(money)}</span>')
        if record.get("lost_reason"):
            facts.append(html.escape(_("lost: {reason}").format(reason=record["lost_reason"])))
    if record.get("company_id"):
        facts.append(link("company", record["company_id"], record.get("company")))
    if kind == "deal" and record.get("contact_id"):
        facts.append(link("contact", record["contact_id"], record.get("contact")))
    if not record.get("active", True):
        facts.append('<span class="crm-archived">' + html.escape(_("archived")) + "</span>")
    parts.append(f'<p class="crm-record-facts">{" · ".join(facts)}</p>')
    return "".join(parts)


#: The lists of a record page: (title, detail key, columns, empty text, links).
SECTIONS: list[tuple[str, str, dict[str, str], str, dict[str, tuple[str, str]]]] = [
    (
        N_("Timeline"),
        "timeline",
        {
            "occurred_at": N_("When"),
            "channel": N_("Channel"),
            "direction": N_("In/out"),
            "subject": N_("Subject"),
            "summary": N_("Summary"),
            "contact": N_("Contact"),
            "user": N_("By"),
        },
        N_("No interactions yet."),
        {"contact": ("contact", "contact_id")},
    ),
    (
        N_("Open activities"),
        "activities",
        {
            "due_date": N_("Due"),
            "kind": N_("Kind"),
            "subject": N_("Subject"),
            "assignee": N_("Assignee"),
        },
        N_("No open activities."),
        {},
    ),
    (
        N_("Done"),
        "done",
        {"done_at": N_("Done"), "kind": N_("Kind"), "subject": N_("Subject"), "assignee": N_("By")},
        N_("Nothing done yet."),
        {},
    ),
    (
        N_("Deals"),
        "opportunities",
        {
            "name": N_("Deal"),
            "stage": N_("Stage"),
            "status": N_("Status"),
            "expected_revenue": N_("Amount"),
            "currency": N_("Cur."),
            "expected_close": N_("Close"),
            "owner": N_("Owner"),
        },
        N_("No deals."),
        {"name": ("deal", "id")},
    ),
    (
        N_("Contacts"),
        "contacts",
        {
            "name": N_("Name"),
            "job_title": N_("Job title"),
            "email": N_("E-mail"),
            "phone": N_("Phone"),
        },
        N_("No contacts."),
        {"name": ("contact", "id")},
    ),
    (
        N_("Stage history"),
        "history",
        {"changed_at": N_("When"), "from_stage": N_("From"), "to_stage": N_("To"), "by": N_("By")},
        N_("No stage changes."),
        {},
    ),
]


def sections_html(detail: Mapping[str, Any]) -> str:
    """The record's lists, invoices (when synced) and journal, as HTML."""
    if not detail:
        return ""
    tz = detail.get("timezone") or "UTC"
    out = []
    for title, key, columns, empty, links in SECTIONS:
        if detail.get(key) is not None:
            body = table_html(detail[key], columns, tz, empty, links)
            heading = html.escape(_(title))
            out.append(f'<section class="crm-section-{key}"><h4>{heading}</h4>{body}</section>')
    invoices = detail.get("invoices")
    if detail.get("synced") or (invoices is not None and not invoices.empty):
        balance = detail.get("open_balance") or {}
        owed = ", ".join(amount_html(amount, cur) for cur, amount in balance.items())
        columns = {
            "number": N_("Number"),
            "invoice_date": N_("Date"),
            "due_date": N_("Due"),
            "amount_total": N_("Total"),
            "amount_residual": N_("Open"),
            "currency": N_("Cur."),
            "payment_state": N_("Payment"),
        }
        out.append(
            '<section class="crm-section-invoices"><h4>'
            + html.escape(_("Invoices"))
            + '</h4><p class="crm-balance">'
            + html.escape(_("Open balance:"))
            + " <strong>"
            + (owed or html.escape(_("none")))
            + "</strong></p>"
            + table_html(invoices, columns, tz, N_("No invoices."))
            + "</section>"
        )
    journal = detail.get("journal")
    if journal is not None and not journal.empty:
        # the latest 50 edits, newest first: internal fields are left out before the
        # limit, so that they neither show nor push a real edit out of it
        edits = journal[journal["field"].notna() & ~journal["field"].isin(INTERNAL_FIELDS)]
        rows = changes_shown(edits.tail(50).iloc[::-1], detail["kind"], detail)
        columns = {
            "at": N_("When"),
            "user": N_("By"),
            "field": N_("Field"),
            "old": N_("Was"),
            "new": N_("Now"),
        }
        out.append(
            '<section class="crm-section-journal"><h4>'
            + html.escape(_("Changes"))
            + "</h4>"
            + table_html(rows, columns, tz, N_("No changes."))
            + "</section>"
        )
    return "\n".join(out)


#: Journal fields nobody typed: crm_core's own bookkeeping, not journaled any more
#: (an older journal holds a ``sort_key`` row with each rename).
INTERNAL_FIELDS = NOT_JOURNALED

#: Journal fields that are not a form's field, as people name them.
JOURNAL_FIELDS = {
    "company_id": N_("Company"),
    "contact_id": N_("Contact"),
    "owner_id": N_("Owner"),
    "stage_id": N_("Stage"),
    "status": N_("Status"),
    "active": N_("Active"),
    "lost_reason": N_("Lost reason"),
    "lost_reason_id": N_("Lost reason"),
    "lost_note": N_("Note"),
    "closed_at": N_("Closed on"),
    "pipeline_id": N_("Pipeline"),
    "campaign_id": N_("Campaign"),
    "source": N_("Source"),
    "priority": N_("Priority"),
    "custom": N_("Custom fields"),
}


def changes_shown(
    rows: pd.DataFrame, kind: str, detail: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """The journal's rows as a person reads them: each field by its label (the form's,
    in the session's language; a custom field by its own label) and each value as the
    rest of the page writes it, not as the journal keeps it (JSON: ``"1000.00"`` is
    1000.00, a list its items): a stage, owner, company or contact by its name (from
    ``detail["journal_names"]``), a status in words, amounts, percentages and dates in
    the session's language, a time in the workspace's time zone."""
    detail = detail or {}
    custom = detail.get("custom_fields") or {}
    labels = {f: label for f, label, _t in FIELDS.get(kind, [])} | JOURNAL_FIELDS
    labels |= {f"custom.{name}": label for name, (label, _t) in custom.items()}
    out = rows.copy()
    out["field"] = [_(labels[f]) if f in labels else str(f).replace("_", " ") for f in out["field"]]
    fields = rows["field"].tolist()
    kinds = {f: t for f, _label, t in FIELDS.get(kind, [])}
    kinds |= {f"custom.{name}": t for name, (_label, t) in custom.items()}
    # values that read left to right whatever the page's direction (a phone's "+")
    out["ltr"] = [
        kinds.get(str(f)) in LEFT_TO_RIGHT or str(f).endswith("_at") or str(f) in ("website", "vat")
        for f in fields
    ]
    for column in ("old", "new"):
        out[column] = [
            change_value(f, raw, kind, detail) for f, raw in zip(fields, rows[column], strict=True)
        ]
    return out


def change_value(field: Any, raw: Any, kind: str, detail: Mapping[str, Any]) -> str | None:
    """One journal value of ``field`` as the page writes it (see :func:`changes_shown`)."""
    text = journal_value(raw)
    if text is None:
        return None
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return text
    field = str(field)
    named = (detail.get("journal_names") or {}).get(field)
    if named is not None:
        ref = journal_id(raw)
        return named.get(ref, f"#{ref}") if ref is not None else text
    if field == "status":
        return status_word(value)
    kinds = {f: t for f, _label, t in FIELDS.get(kind, [])}
    kinds |= {f"custom.{n}": t for n, (_label, t) in (detail.get("custom_fields") or {}).items()}
    shape = kinds.get(field) or ("time" if field.endswith("_at") else None)
    try:
        if shape == "time" and isinstance(value, str):
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return _figure(moment, detail.get("timezone") or "UTC")
        if shape == "date" and isinstance(value, str):
            return i18n.format_date(dt.date.fromisoformat(value[:10]))
        if shape == "money" and not isinstance(value, bool):
            currency = (detail.get("record") or {}).get("currency")
            if currency:
                return i18n.format_amount_number(Decimal(str(value)), currency)
            return i18n.format_number(Decimal(str(value)), 2)
        if shape in ("percent", "number") and not isinstance(value, bool):
            return i18n.format_number(Decimal(str(value)))
    except (ValueError, ArithmeticError):
        return text  # not the shape its field has (a value the ERP wrote): as it is
    return text


def journal_value(raw: Any) -> str | None:
    """A journal value (JSON text) as text: a string as it is, a list joined, a
    mapping as ``key: value`` pairs, nothing as None."""
    if raw is None or (isinstance(raw, float) and raw != raw):
        return None
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return str(raw)
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def error_html(reason: str | None) -> str:
    """A field's refusal reason, escaped, for under its input ('' when none)."""
    if not reason:
        return ""
    return f'<span class="crm-field-error">{html.escape(reason)}</span>'


class RecordPage(ComponentView):
    """A record's page: its title, a form to edit it, the daily actions, its lists."""

    model = param.ClassSelector(class_=RecordModel, doc="The view-model shown.")
    model_class = RecordModel

    def _build(self) -> pn.viewable.Viewable:
        m = self.model
        self._forms: dict[tuple[Any, ...], tuple[pn.Column, dict[str, Any]]] = {}
        self._form_area = pn.Column(sizing_mode="stretch_width", css_classes=["crm-record-form"])
        m.param.watch(lambda _e: self._show_form(), "detail")
        self._show_form()
        return pn.Column(
            pn.pane.HTML(
                pn.bind(heading_html, m.param.detail),
                stylesheets=[STYLE],
                sizing_mode="stretch_width",
                css_classes=["crm-record-heading"],
            ),
            message_alert(m),
            self._deal_actions(),
            pn.FlexBox(
                pn.Column(
                    self._form_area,
                    self._write(),
                    self._actions(),
                    styles={"flex": "1 1 340px", "min-width": "0"},
                ),
                pn.pane.HTML(
                    pn.bind(sections_html, m.param.detail),
                    stylesheets=[STYLE],
                    css_classes=["crm-record-sections"],
                    styles={"flex": "2 1 480px", "min-width": "0", "overflow-x": "auto"},
                ),
                flex_wrap="wrap",
                gap="16px",
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
            css_classes=["crm-record-page"],
        )

    # -- the edit form ------------------------------------------------------------------
    def _show_form(self) -> None:
        m = self.model
        if not m.detail:
            self._form_area[:] = []
            return
        fields = m.fields()
        key = (m.kind, tuple((f, label, t, tuple(c or ())) for f, label, t, c in fields))
        if key not in self._forms:
            self._forms[key] = self._form(fields)
        form, inputs = self._forms[key]
        for field, widget in inputs.items():
            value = m.value(field)
            if isinstance(widget, pn.widgets.DatePicker):
                widget.value = value if isinstance(value, dt.date) else None
            elif isinstance(widget, pn.widgets.Select):
                options = widget.options
                choices = options.values() if isinstance(options, dict) else options
                widget.value = value if value in choices else ""
            else:
                widget.value = shown(value)
        if len(self._form_area) != 1 or self._form_area[0] is not form:
            self._form_area[:] = [form]

    def _form(self, fields: list[tuple[str, str, str, list[str] | None]]) -> tuple[Any, Any]:
        m = self.model
        inputs: dict[str, Any] = {}
        rows = []
        for field, label, kind, choices in fields:
            css = [f"crm-record-field-{field.replace('.', '-')}"]
            widget: Any
            label = _(label)
            if kind == "multiline":
                widget = pn.widgets.TextAreaInput(label=label, height=80, css_classes=css)
            elif kind == "date":
                widget = pn.widgets.DatePicker(label=label, css_classes=css)
            elif kind == "owner":
                widget = pn.widgets.Select(label=label, options=["", *m.logins()], css_classes=css)
            elif kind == "choice":
                widget = pn.widgets.Select(
                    label=label, options=["", *(choices or [])], css_classes=css
                )
            elif kind == "bool":
                widget = pn.widgets.Select(
                    name=label, options={"": "", _("yes"): True, _("no"): False}, css_classes=css
                )
            else:
                widget = pn.widgets.TextInput(label=label, css_classes=css)
            widget.sizing_mode = "stretch_width"
            if kind in LEFT_TO_RIGHT:  # a phone's "+" stays in front on an Urdu page
                widget.stylesheets = [".bk-input { direction: ltr; }"]
            inputs[field] = widget
            rows.append(
                pn.Column(
                    widget,
                    pn.pane.HTML(
                        pn.bind(
                            self._reason(field, "edit"), m.param.field_errors, m.param.error_source
                        ),
                        css_classes=[f"crm-record-error-{field.replace('.', '-')}"],
                        stylesheets=[STYLE],
                        margin=(0, 10),
                    ),
                    sizing_mode="stretch_width",
                )
            )
        save = pn.widgets.Button(label=_("Save"), color="primary", css_classes=["crm-record-save"])
        save.on_click(lambda _e: m.save({f: w.value for f, w in inputs.items()}))
        return pn.Column(*rows, save, sizing_mode="stretch_width"), inputs

    def _close_error(self, field: str, css: str) -> pn.pane.HTML:
        """Why a field of the "lost" question was refused, for under that field."""
        m = self.model
        return pn.pane.HTML(
            pn.bind(self._reason(field, "close"), m.param.field_errors, m.param.error_source),
            css_classes=[css],
            stylesheets=[STYLE],
            margin=(0, 10),
        )

    def _form_error(self, field: str, source: str, named: bool = False) -> pn.pane.HTML:
        """Why ``field`` of the small form ``source`` (log, plan, deal) was refused,
        in red under its input: the same pane as under the edit form's fields;
        ``named``: after the field's label (a list under the whole form)."""
        m = self.model
        label = FORM_LABELS.get(source, {})

        def text(errors: dict[str, str], given: str) -> str:
            reason = errors.get(field) if given == source else None
            if reason and named:
                reason = _("{field}: {reason}").format(
                    field=field_label(field, label), reason=reason
                )
            return error_html(reason)

        return pn.pane.HTML(
            pn.bind(text, m.param.field_errors, m.param.error_source),
            css_classes=[f"crm-{source}-error-{field}"],
            stylesheets=[STYLE],
            margin=(0, 10),
        )

    @staticmethod
    def _reason(field: str, source: str) -> Callable[[dict[str, str], str], str]:
        return lambda errors, given: error_html(errors.get(field) if given == source else None)

    # -- a deal's stage and outcome ---------------------------------------------------
    def _deal_actions(self) -> pn.viewable.Viewable:
        m = self.model
        is_deal = pn.bind(lambda d: bool(d) and d.get("kind") == "deal", m.param.detail)

        def status(detail: Mapping[str, Any]) -> str:
            return (detail.get("record") or {}).get("status", "") if detail else ""

        is_open = pn.bind(lambda d: status(d) == "open", m.param.detail)
        is_closed = pn.bind(lambda d: status(d) in ("won", "lost"), m.param.detail)
        stage = pn.widgets.Select(label=_("Stage"), css_classes=["crm-record-stage"], width=180)

        def stages(detail: Mapping[str, Any]) -> None:
            if detail and detail.get("kind") == "deal":
                names = m.open_stages()
                current = detail["record"]["stage"]
                # a won or lost deal is in no open stage: the choice is where to reopen it
                label = _("Stage") if status(detail) == "open" else _("Reopen in")
                stage.param.update(
                    options=names, value=current if current in names else names[0], name=label
                )

        m.param.watch(lambda e: stages(e.new), "detail")
        stages(m.detail)
        move = pn.widgets.Button(label=_("Move"), css_classes=["crm-record-move"], align="end")
        move.on_click(lambda _e: m.move(stage.value))
        won = pn.widgets.Button(
            label=_("Won…"), color="success", css_classes=["crm-record-won"], align="end"
        )
        lost = pn.widgets.Button(
            label=_("Lost…"), color="danger", css_classes=["crm-record-lost"], align="end"
        )
        confirm_win = pn.widgets.Button(
            label=_("Yes, mark it won"), color="success", css_classes=["crm-record-confirm-won"]
        )
        cancel = pn.widgets.Button(label=_("Cancel"), css_classes=["crm-record-cancel"])
        reason = pn.widgets.AutocompleteInput(
            label=_("Why was it lost?"),
            options=self.model.ws.pipeline.lost_reasons(),
            restrict=False,
            min_characters=0,
            css_classes=["crm-record-lost-reason"],
        )
        # A suggestion picked (Enter or a click) sets ``value`` only: the fragment typed
        # before it stays in ``value_input``. The box shows the pick: so does the reason.
        reason.param.watch(lambda e: reason.param.update(value_input=e.new), "value")
        note = pn.widgets.TextInput(label=_("Note"), css_classes=["crm-record-lost-note"])
        confirm_lost = pn.widgets.Button(
            label=_("Mark it lost"), color="danger", css_classes=["crm-record-confirm-lost"]
        )
        asking = pn.Column(visible=False, css_classes=["crm-record-confirm"])

        def ask(what: str) -> None:
            if what == "won":
                asking[:] = [
                    pn.pane.HTML("<b>" + html.escape(_("Mark this deal won?")) + "</b>"),
                    pn.Row(confirm_win, cancel),
                ]
            else:
                asking[:] = [
                    reason,
                    # under the field it is about, the note's own under the note
                    self._close_error("reason", "crm-record-lost-reason-error"),
                    note,
                    self._close_error("note", "crm-record-lost-note-error"),
                    pn.Row(confirm_lost, cancel),
                ]
            asking.visible = True

        def finish(result: Any) -> None:
            if result is not None:
                asking.visible = False
                reason.value = note.value = ""

        won.on_click(lambda _e: ask("won"))
        lost.on_click(lambda _e: ask("lost"))
        cancel.on_click(lambda _e: asking.param.update(visible=False))
        confirm_win.on_click(lambda _e: finish(m.win()))
        confirm_lost.on_click(
            lambda _e: finish(m.lose(reason.value_input or reason.value, note.value))
        )
        reopen = pn.widgets.Button(
            label=_("Reopen"), color="primary", css_classes=["crm-record-reopen"], align="end"
        )
        reopen.on_click(lambda _e: m.reopen(stage.value))
        m.param.watch(lambda _e: asking.param.update(visible=False), "record_id")
        return pn.Column(
            # Wraps on a phone: the stage above, the buttons under it.
            pn.FlexBox(
                stage,
                pn.Row(move, won, lost, visible=is_open),
                pn.Row(reopen, visible=is_closed),
                flex_wrap="wrap",
                align_items="end",
                sizing_mode="stretch_width",
            ),
            asking,
            visible=is_deal,
            css_classes=["crm-record-deal-actions"],
            sizing_mode="stretch_width",
        )

    # -- write an e-mail -----------------------------------------------------------------
    def _write(self) -> pn.viewable.Viewable:
        """ "Write e-mail" on a contact with an address: opens the form
        (:mod:`widgets.compose`) under it; another record closes it. "Reply" answers
        the e-mail of the timeline chosen beside it in the same form."""
        m = self.model
        button = pn.widgets.Button(
            label=_("Write e-mail"), color="primary", css_classes=["crm-write-email"]
        )
        form = pn.Column(sizing_mode="stretch_width", visible=False, css_classes=["crm-write"])

        def toggle(_event: Any) -> None:
            if not form.objects:
                form.objects = [ComposeForm(model=m.compose)]
            form.visible = not form.visible

        button.on_click(toggle)
        m.param.watch(lambda _e: form.param.update(visible=False), "record_id")
        # Reply to an e-mail of the timeline: the same form, answering that message.
        answered = pn.widgets.Select(
            label=_("Reply to"),
            options={},
            sizing_mode="stretch_width",
            css_classes=["crm-reply-to"],
        )
        reply = pn.widgets.Button(label=_("Reply"), css_classes=["crm-reply"], align="end")

        def replied(_event: Any) -> None:
            if m.reply(answered.value):
                if not form.objects:
                    form.objects = [ComposeForm(model=m.compose)]
                form.visible = True

        reply.on_click(replied)
        replies = pn.Row(answered, reply, visible=False, sizing_mode="stretch_width")

        def offer(*_events: Any) -> None:
            options = m.reply_choices()
            answered.options = options
            answered.value = next(iter(options.values()), None)
            replies.visible = bool(options)

        m.param.watch(offer, "detail")
        offer()
        return pn.Column(
            button,
            replies,
            form,
            visible=pn.bind(lambda _d: m.writable, m.param.detail),
            sizing_mode="stretch_width",
        )

    # -- log, plan, open a deal -----------------------------------------------------
    def _actions(self) -> pn.viewable.Viewable:
        m = self.model
        channel = pn.widgets.Select(
            options=labelled(CHANNELS), value="call", width=110, css_classes=["crm-log-channel"]
        )
        direction = pn.widgets.Select(
            options=labelled(("out", "in")), width=70, css_classes=["crm-log-direction"]
        )
        subject = pn.widgets.TextInput(placeholder=_("Subject"), css_classes=["crm-log-subject"])
        summary = pn.widgets.TextAreaInput(
            placeholder=_("What was said"), height=70, css_classes=["crm-log-summary"]
        )
        log = pn.widgets.Button(label=_("Log"), color="primary", css_classes=["crm-log-save"])
        # The next step, planned in the same click when it is given.
        then_kind = pn.widgets.Select(
            options=labelled(ACTIVITY_KINDS),
            value="call",
            width=110,
            css_classes=["crm-log-next-kind"],
        )
        then_subject = pn.widgets.TextInput(
            placeholder=_("Then: next step (optional)"), css_classes=["crm-log-next-subject"]
        )
        then_due = pn.widgets.DatePicker(
            value=m.ws.today() + dt.timedelta(days=1), width=130, css_classes=["crm-log-next-due"]
        )

        def logged(_: Any) -> None:
            if m.log_interaction(
                channel.value,
                direction.value,
                subject.value,
                summary.value,
                then_kind.value,
                then_subject.value,
                then_due.value,
            ):
                subject.value = summary.value = then_subject.value = ""

        log.on_click(logged)
        kind = pn.widgets.Select(
            options=labelled(ACTIVITY_KINDS), value="call", width=110, css_classes=["crm-plan-kind"]
        )
        plan_subject = pn.widgets.TextInput(
            placeholder=_("Next step"), css_classes=["crm-plan-subject"]
        )
        due = pn.widgets.DatePicker(
            value=m.ws.today() + dt.timedelta(days=1), width=130, css_classes=["crm-plan-due"]
        )
        assignee = pn.widgets.Select(
            options=["", *m.logins()], value="", width=120, css_classes=["crm-plan-assignee"]
        )
        plan_note = pn.widgets.TextInput(placeholder=_("Note"), css_classes=["crm-plan-note"])
        plan = pn.widgets.Button(
            label=_("Schedule"), color="primary", css_classes=["crm-plan-save"]
        )

        def planned(_: Any) -> None:
            if m.schedule_activity(
                kind.value, plan_subject.value, due.value, assignee.value, plan_note.value
            ):
                plan_subject.value = plan_note.value = ""

        plan.on_click(planned)
        deal_name = pn.widgets.TextInput(placeholder=_("Deal name"), css_classes=["crm-deal-name"])
        # an amount and a currency code read left to right on an Urdu page too
        ltr = [".bk-input { direction: ltr; }"]
        amount = pn.widgets.TextInput(
            placeholder=_("Amount"), width=120, css_classes=["crm-deal-amount"], stylesheets=ltr
        )
        currency = pn.widgets.TextInput(
            value=m.ws.setting("currency"),
            width=70,
            css_classes=["crm-deal-currency"],
            stylesheets=ltr,
        )
        close = pn.widgets.DatePicker(
            label=_("Close date"), width=130, css_classes=["crm-deal-close"]
        )
        deal = pn.widgets.Button(
            label=_("Create deal"), color="primary", css_classes=["crm-deal-save"]
        )

        def opened(_: Any) -> None:
            if m.create_deal(deal_name.value, amount.value, currency.value, close.value):
                deal_name.value = amount.value = ""

        deal.on_click(opened)

        def errors(source: str, fields: tuple[str, ...]) -> pn.Column:
            """Why the form's fields were refused, each on its own line under the form,
            named by the form's labels (see :meth:`_form_error` for under one input)."""
            return pn.Column(
                *(self._form_error(f, source, named=True) for f in fields),
                css_classes=[f"crm-{source}-errors"],
                sizing_mode="stretch_width",
            )

        def under(widget: Any, field: str, **kwargs: Any) -> pn.Column:
            return pn.Column(widget, self._form_error(field, "deal"), **kwargs)

        new_deal = pn.Column(
            pn.pane.HTML("<b>" + html.escape(_("New deal")) + "</b>"),
            under(deal_name, "name", sizing_mode="stretch_width"),
            pn.Row(
                under(amount, "expected_revenue", width=130),
                under(currency, "currency", width=80),
                under(close, "expected_close", width=140),
            ),
            deal,
            visible=pn.bind(lambda d: bool(d) and d.get("kind") != "deal", m.param.detail),
            sizing_mode="stretch_width",
        )
        return pn.Column(
            pn.pane.HTML("<b>" + html.escape(_("Log a call, meeting, e-mail or note")) + "</b>"),
            pn.Row(channel, direction),
            subject,
            summary,
            self._form_error("summary", "log"),
            pn.Row(then_kind, then_due),
            then_subject,
            errors("log", ("channel", "direction", "subject", "kind", "due_date")),
            log,
            pn.pane.HTML("<b>" + html.escape(_("Schedule a follow-up")) + "</b>"),
            pn.Row(kind, due, assignee),
            plan_subject,
            plan_note,
            errors("plan", ("kind", "subject", "due_date", "due", "assignee", "note")),
            plan,
            new_deal,
            visible=pn.bind(bool, m.param.detail),
            sizing_mode="stretch_width",
            css_classes=["crm-record-actions"],
        )
