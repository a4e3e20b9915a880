"""ContactBook: find, page through, edit, create and archive companies and contacts.

:class:`ContactBookModel` holds the state and the actions and is tested without a
browser; :class:`ContactBook` lays it out. Only one page of records is ever loaded
(crm_core's indexed search with limit/offset, and a count), so the book stays fast on a
base of a million contacts. Every write goes through crm_core with the version of the
row the user saw: a stale edit is refused and reported, never silently applied.

Names, notes and subjects are user content and may contain HTML: the table uses
Tabulator's default (escaping) formatter, and everything put into HTML here goes
through :func:`html.escape`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn
import param

from crm_core import FieldError, ValidationError, Workspace
from crm_core.validation import format_phone
from widgets import i18n
from widgets.base import ComponentView, ViewModel, message_alert
from widgets.i18n import N_, _, ngettext
from widgets.record_model import RecordModel, blank, company_ref
from widgets.record_page import RecordPage, error_html
from widgets.routes import record_hash
from widgets.row_clicks import RowClicks

ENTITIES = ("contact", "company")
#: The columns of a page, per entity (crm_core's listing, trimmed to what the table shows).
COLUMNS = {
    "contact": [
        "id",
        "name",
        "email",
        "phone",
        "city",
        "country",
        "company",
        "job_title",
        "tags",
        "active",
        "version",
    ],
    "company": [
        "id",
        "name",
        "email",
        "phone",
        "city",
        "country",
        "website",
        "vat",
        "tags",
        "active",
        "version",
    ],
}
#: Columns the table holds for its own work (which record a row is, its version for
#: conflict checks) but never shows.
HIDDEN = ["id", "version"]
#: The table's headers (translated where the table is built).
TITLES = {
    "name": N_("Name"),
    "email": N_("E-mail"),
    "phone": N_("Phone"),
    "city": N_("City"),
    "country": N_("Country"),
    "company": N_("Company"),
    "job_title": N_("Job title"),
    "tags": N_("Tags"),
    "active": N_("Active"),
    "website": N_("Website"),
    "vat": N_("VAT"),
}
#: The table's column widths (px). Given, not measured: Tabulator measured the cells
#: while the page was still hidden on its first visit, and squeezed every column into
#: the width of its header. The last column stretches to the table's full width.
WIDTHS = {
    "name": 200,
    "email": 240,
    "phone": 140,
    "city": 120,
    "country": 100,
    "company": 200,
    "job_title": 150,
    "tags": 130,
    "active": 70,
    "website": 200,
    "vat": 120,
}
#: Table cells: a name in mixed scripts reads in the direction of its first letter;
#: phones and e-mails read left to right whatever the page's direction.
LTR_CELLS = ".tabulator-cell, .tabulator-cell > div { unicode-bidi: plaintext; }" + "".join(
    f'.tabulator-cell[tabulator-field="{c}"] {{ direction: ltr; unicode-bidi: isolate; }}'
    for c in ("phone", "mobile", "email", "website", "vat")
)
#: Columns holding phone numbers, shown the way their country writes them.
PHONE_COLUMNS = ("phone", "mobile")


def table_rows(rows: pd.DataFrame, links: str | None = None) -> pd.DataFrame:
    """What the table shows of a page: phones in international format with their
    country code (``+92 300 1234567``; a phone kept as its source wrote it, as it is).
    Editing a phone cell sends what was typed, read like any other input. Whether the
    record is active reads as a word of the page's language. ``links``
    (``contact`` or ``company``): each name becomes a link to its record page (the
    name escaped, for Tabulator's HTML formatter)."""
    shown = rows.copy()
    for column in PHONE_COLUMNS:
        if column in shown.columns:
            shown[column] = [format_phone(x) if isinstance(x, str) else x for x in shown[column]]
    if "active" in shown.columns:  # a word, not Tabulator's "true"/"false"
        shown["active"] = [_("yes") if bool(a) else _("no") for a in shown["active"]]
    if links and not shown.empty:
        shown["name"] = [
            f'<a href="{record_hash(links, int(i))}" dir="auto">{html.escape(str(n))}</a>'
            for i, n in zip(shown["id"], shown["name"], strict=True)
        ]
    return shown


#: What may be changed in a table cell; the rest (id, version, company, tags, ...) may not.
EDITABLE = {
    "contact": ("name", "email", "phone", "city", "country", "job_title"),
    "company": ("name", "email", "phone", "city", "country", "website", "vat"),
}
#: The fields of the New form.
NEW_FIELDS = {
    "contact": ("name", "email", "phone", "city", "country", "company"),
    "company": ("name", "email", "phone", "city", "country"),
}
#: The New form's labels (a refusal names its field by them, see widgets.reasons).
NEW_LABELS = {
    "name": N_("Name"),
    "email": N_("E-mail"),
    "phone": N_("Phone"),
    "city": N_("City"),
    "country": N_("Country"),
    "company": N_("Company (name or id)"),
}
ORDERS = ("name", "city", "email", "country", "created", "updated", "id")
#: How the sort orders are shown (translated where the Select is built).
ORDER_LABELS = {
    "name": N_("name"),
    "city": N_("city"),
    "email": N_("email"),
    "country": N_("country"),
    "created": N_("created"),
    "updated": N_("updated"),
    "id": N_("id"),
}
#: Parameters that define the search: changing one runs it again from page 1.
CRITERIA = (
    "entity",
    "query",
    "city",
    "country",
    "tag",
    "include_archived",
    "order_by",
    "descending",
    "page_size",
)


class ContactBookModel(ViewModel):
    """State and actions of the contact book (companies or contacts), browser-free.

    Changing a search parameter (entity, query, filters, order, page size) runs the
    search again from the first page. Writes report through ``message`` and
    ``field_errors`` (see :class:`widgets.base.ViewModel`).
    """

    entity = param.Selector(
        default="contact", objects=list(ENTITIES), doc="Which records: contacts or companies."
    )
    query = param.String(
        default="", doc="Name search: each word must start a word of the name (any script)."
    )
    city = param.String(default="", doc="Only records in this city (any case).")
    country = param.String(default="", doc="Only records in this country (ISO code or name).")
    tag = param.String(default="", doc="Only records carrying this tag (any case).")
    include_archived = param.Boolean(default=False, doc="Show archived records too.")
    order_by = param.Selector(default="name", objects=list(ORDERS), doc="Sort order of pages.")
    descending = param.Boolean(default=False, doc="Sort descending.")
    page = param.Integer(default=0, bounds=(0, None), doc="The page shown, 0-based.")
    page_size = param.Integer(default=50, bounds=(1, 1000), doc="Records per page.")
    total = param.Integer(default=0, bounds=(0, None), doc="Records matching, all pages.")
    rows = param.DataFrame(
        default=pd.DataFrame(columns=COLUMNS["contact"]),
        doc="The current page only (id, name, email, phone, city, country, ..., version).",
    )
    selected_id = param.Integer(
        default=None, allow_None=True, doc="The record shown in the detail pane."
    )
    detail = param.Dict(
        default={},
        doc=(
            "The selected record and its context: entity, record, timeline, activities "
            "(open), opportunities, contacts (of a company), synced, invoices, "
            "open_balance ({currency: Decimal}), timezone. Empty when none is selected."
        ),
    )
    error_source = param.Selector(
        default="",
        objects=["", "search", "edit", "create", "record"],
        doc=(
            "Which action field_errors belong to: 'search' (the filters), 'edit' (a "
            "table cell), 'create' (the New form) or 'record' (an action on the selected "
            "record), so a view shows each reason beside the input it is about."
        ),
    )

    def field_labels(self) -> dict[str, str]:
        """The New form's labels (the table's columns name the same fields)."""
        return {**NEW_LABELS, "company_id": NEW_LABELS["company"]}

    def __init__(self, ws: Workspace, **params: Any):
        super().__init__(ws, **params)
        #: The selected record's page (its detail and daily actions).
        self.record = RecordModel(ws)
        self.param.watch(self._criteria_changed, list(CRITERIA))
        self.search()

    # -- derived state ------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        """The columns of :attr:`rows` for the current entity."""
        return list(COLUMNS[self.entity])

    @property
    def editable(self) -> tuple[str, ...]:
        """The columns that can be edited in the table for the current entity."""
        return EDITABLE[self.entity]

    @property
    def new_fields(self) -> tuple[str, ...]:
        """The fields of the New form for the current entity."""
        return NEW_FIELDS[self.entity]

    @property
    def pages(self) -> int:
        """How many pages the search has (at least 1, the empty page)."""
        return max(1, math.ceil(self.total / self.page_size))

    @param.depends("page", "page_size", "total")
    def at_first_page(self) -> bool:
        """Whether there is no previous page."""
        return self.page <= 0

    @param.depends("page", "page_size", "total")
    def at_last_page(self) -> bool:
        """Whether there is no next page."""
        return self.page >= self.pages - 1

    @param.depends("page", "page_size", "total", "entity")
    def summary(self) -> str:
        """The pager's text: ``page 2 of 7 · 340 contacts``."""
        if self.entity == "company":
            text = ngettext(
                "page {page} of {pages} · {total} company",
                "page {page} of {pages} · {total} companies",
                self.total,
            )
        else:
            text = ngettext(
                "page {page} of {pages} · {total} contact",
                "page {page} of {pages} · {total} contacts",
                self.total,
            )
        return text.format(
            page=i18n.format_number(self.page + 1),
            pages=i18n.format_number(self.pages),
            total=i18n.format_number(self.total),
        )

    @param.depends("detail")
    def selected_active(self) -> bool | None:
        """Whether the selected record is active (None when nothing is selected)."""
        record = self.detail.get("record")
        return None if record is None else bool(record["active"])

    # -- searching and paging -----------------------------------------------------
    def search(self) -> bool:
        """Run the search from the first page, counting every match. Returns False
        (and an empty page) when a filter value is refused; the reason is in
        ``field_errors``."""
        self.error_source = "search"
        found = self.attempt(lambda: self._fetch(0, count=True))
        if found is None:
            self._show_page(0, 0, self._frame([]))
            return False
        self._show_page(*found)
        return True

    def _show_page(self, page: int, total: int, frame: pd.DataFrame) -> None:
        """Show ``frame`` as the page. A selected record the new page does not list is
        let go: Archive and the other actions act only on a record the user sees."""
        gone = self.selected_id is not None and self.selected_id not in set(frame["id"].tolist())
        cleared: dict[str, Any] = {"selected_id": None, "detail": {}} if gone else {}
        self.param.update(page=page, total=total, rows=frame, **cleared)

    def goto(self, page: int) -> bool:
        """Show page ``page`` (0-based) of the current search; False when there is no
        such page (nothing changes then)."""
        if not 0 <= page < self.pages:
            return False
        self.error_source = "search"
        found = self.attempt(lambda: self._fetch(page, count=False))
        if found is None:
            return False
        self._show_page(*found)
        return True

    def next_page(self) -> bool:
        """Show the next page; False on the last one."""
        return self.goto(self.page + 1)

    def prev_page(self) -> bool:
        """Show the previous page; False on the first one."""
        return self.goto(self.page - 1)

    def _criteria_changed(self, *events: param.parameterized.Event) -> None:
        if any(e.name == "entity" for e in events):
            self.param.update(selected_id=None, detail={}, field_errors={})
        self.search()

    def _service(self) -> Any:
        return self.ws.contacts if self.entity == "contact" else self.ws.companies

    def _filters(self) -> dict[str, Any]:
        return {
            "city": self.city.strip() or None,
            "country": self.country.strip() or None,
            "tag": self.tag.strip() or None,
            "include_archived": self.include_archived,
        }

    def _fetch(self, page: int, count: bool) -> tuple[int, int, pd.DataFrame]:
        """One page from crm_core (and the count of all matches when ``count``)."""
        service, q, filters = self._service(), self.query.strip() or None, self._filters()
        total = service.count(q, **filters) if count else self.total

        def read(page: int) -> pd.DataFrame:
            offset, size = page * self.page_size, self.page_size
            if total // 2 < offset < total:
                # A page in the second half is read from the other end, in reverse
                # order (the exact mirror, ties included): an OFFSET costs as many rows
                # as it skips, so the last of 20,000 pages is as quick as the first.
                size = min(size, total - offset)
                found = service.search(
                    q,
                    order_by=self.order_by,
                    descending=not self.descending,
                    limit=size,
                    offset=total - offset - size,
                    **filters,
                )
                return self._frame(found.iloc[::-1])
            found = service.search(
                q,
                order_by=self.order_by,
                descending=self.descending,
                limit=size,
                offset=offset,
                **filters,
            )
            return self._frame(found)

        frame = read(page)
        if frame.empty and page > 0:
            # Records went away since the count (archived by someone else): recount
            # and show the last page there is.
            total = service.count(q, **filters)
            page = max(0, math.ceil(total / self.page_size) - 1)
            frame = read(page)
        return page, total, frame

    def _frame(self, records: pd.DataFrame | list[dict[str, Any]]) -> pd.DataFrame:
        """A page with exactly this entity's columns and a fresh 0..n-1 index."""
        if isinstance(records, pd.DataFrame):
            records = records.to_dict("records")
        frame = pd.DataFrame(records, columns=self.columns)
        return frame.astype({"id": "int64", "version": "int64"}) if len(frame) else frame

    def _row(self, record_id: int) -> dict[str, Any] | None:
        found = self.rows[self.rows["id"] == record_id]
        return None if found.empty else found.iloc[0].to_dict()

    def _refresh_row(self, record_id: int) -> None:
        """Re-read one row of the page from the database, in place."""
        fresh = self._service().search(id=record_id, include_archived=True, limit=1)
        records = []
        for row in self.rows.to_dict("records"):
            if row["id"] != record_id:
                records.append(row)
            elif not fresh.empty:
                records.append(fresh.iloc[0].to_dict())
        self.rows = self._frame(records)

    def _reload(self) -> None:
        """Re-read the current page and the count after a write (quietly: the write's
        own outcome stays in ``message``)."""
        try:
            page, total, frame = self._fetch(self.page, count=True)
        except ValidationError:
            page, total, frame = 0, 0, self._frame([])
        self.param.update(page=page, total=total, rows=frame)

    # -- writing --------------------------------------------------------------------
    def edit(self, record_id: int, field: str, value: Any) -> bool:
        """Change one field of a record shown on this page (an edited table cell).

        The write carries the version of the row shown: if someone changed the record
        since, nothing is written and ``message`` says so. Either way the row is then
        re-read, so the table shows what is stored. Returns whether it was saved.
        """
        record_id = int(record_id)
        self.error_source = "edit"
        row = self._row(record_id)
        if row is None:
            self.field_errors = {}
            gone = {
                "contact": _("contact #{id} is not on this page: search again."),
                "company": _("company #{id} is not on this page: search again."),
            }[self.entity]
            self._say(gone.format(id=record_id), "warning")
            return False
        if field not in self.editable:
            reason = _("cannot be changed in the table")
            self.field_errors = {field: reason}
            self._say(f"{field}: {reason}", "danger")
            self._refresh_row(record_id)
            return False
        value = blank(value)
        service = self._service()
        saved = self.attempt(
            lambda: service.update(record_id, {field: value}, expected_version=int(row["version"])),
            done=_("Saved the {field} of {name!r}.").format(field=field, name=row["name"]),
        )
        if saved is None:
            what = _("Your {field} {value!r} for {name!r} was not saved").format(
                field=field, value=value, name=row["name"]
            )
            if self.field_errors:
                self._say(f"{what}: {self.message}", "danger")
            else:
                self._say(
                    _("{reason} {what}; the row shows the current values.").format(
                        reason=self.message, what=what
                    ),
                    "warning",
                )
        self._refresh_row(record_id)
        if self.selected_id == record_id:
            self._refresh_detail()
        return saved is not None

    def create(self, **values: Any) -> dict[str, Any] | None:
        """Create a record of the current entity from the New form's values (empty
        ones are left out); ``company`` may be a company's id or its exact name.

        Refused values are reported per field in ``field_errors`` and nothing is
        written. On success the new record is selected; returns it (or None).
        """
        self.error_source = "create"
        values = {k: blank(v) for k, v in values.items()}
        values = {k: v for k, v in values.items() if v is not None}
        service = self._service()

        def run() -> dict[str, Any]:
            why = None
            if self.entity == "contact" and "company" in values:
                values["company"], why = company_ref(self.ws, values["company"])
            try:
                created: dict[str, Any] = service.create(**values)
            except ValidationError as exc:
                # One report for every field: an unknown company name goes to crm_core
                # as it is (refused there, so nothing is written) and its reason is
                # said in the form's terms.
                raise ValidationError(
                    [
                        FieldError(e.record, "company", e.value, why or e.reason)
                        if e.field == "company_id"
                        else e
                        for e in exc.errors
                    ]
                ) from None
            return created

        created = self.attempt(run)
        if created is None:
            return None
        self._reload()
        self._show(created["id"])
        said = {
            "contact": _("Created contact {name!r}."),
            "company": _("Created company {name!r}."),
        }[self.entity]
        self._say(said.format(name=created["name"]), "success")
        return created

    # -- the daily actions on the selected record ------------------------------------
    def _on_selected(self, action: Callable[[RecordModel], Any]) -> Any:
        """Run one of the record page's actions on the selected record and report its
        outcome here (the record model says what was done or refused)."""
        self.error_source = "record"
        if self.selected_id is None or not self.detail.get("record"):
            first = {
                "contact": _("Select a contact first."),
                "company": _("Select a company first."),
            }[self.entity]
            self._say(first, "warning")
            return None
        result = action(self.record)
        self.param.update(
            detail=self.record.detail,
            field_errors=self.record.field_errors,
            message=self.record.message,
            message_kind=self.record.message_kind,
        )
        return result

    def log_interaction(
        self, channel: str, direction: str, subject: str | None = None, summary: str | None = None
    ) -> dict[str, Any] | None:
        """Log a call, meeting, e-mail, message or note (in or out) on the selected
        record (see :meth:`RecordModel.log_interaction`)."""
        return self._on_selected(lambda r: r.log_interaction(channel, direction, subject, summary))

    def schedule_activity(
        self, kind: str, subject: str, due: Any, assignee: str | None = None
    ) -> dict[str, Any] | None:
        """Plan a follow-up on the selected record (see :meth:`RecordModel.schedule_activity`)."""
        return self._on_selected(lambda r: r.schedule_activity(kind, subject, due, assignee))

    def create_deal(
        self,
        name: str,
        expected_revenue: Any = None,
        currency: str | None = None,
        expected_close: Any = None,
    ) -> dict[str, Any] | None:
        """Open a deal for the selected contact or company (see
        :meth:`RecordModel.create_deal`)."""
        return self._on_selected(
            lambda r: r.create_deal(name, expected_revenue, currency, expected_close)
        )

    def archive(self, record_id: int | None = None) -> bool:
        """Archive a record (default: the selected one); it leaves the searches
        unless archived records are included. Uses the version shown."""
        return self._set_active(record_id, active=False)

    def restore(self, record_id: int | None = None) -> bool:
        """Bring back an archived record (default: the selected one)."""
        return self._set_active(record_id, active=True)

    def toggle_archived(self) -> bool:
        """Archive the selected record, or restore it if it is archived."""
        return self.restore() if self.selected_active() is False else self.archive()

    def _set_active(self, record_id: int | None, active: bool) -> bool:
        self.error_source = ""
        if record_id is None:
            record_id = self.selected_id
        if record_id is None:
            self.field_errors = {}
            self._say(_("Select a record first."), "warning")
            return False
        record_id = int(record_id)
        service = self._service()
        action = service.restore if active else service.archive
        version = self._version_shown(record_id)
        done = self.attempt(lambda: action(record_id, expected_version=version))
        self._reload()
        if self.selected_id == record_id:
            self._refresh_detail()
        if done is None:
            return False
        said = {
            ("contact", True): _("Restored contact {name!r}."),
            ("contact", False): _("Archived contact {name!r}."),
            ("company", True): _("Restored company {name!r}."),
            ("company", False): _("Archived company {name!r}."),
        }[self.entity, active]
        self._say(said.format(name=done["name"]), "success")
        return True

    def _version_shown(self, record_id: int) -> int | None:
        row = self._row(record_id)
        if row is not None:
            return int(row["version"])
        record = self.detail.get("record")
        if self.selected_id == record_id and record is not None:
            return int(record["version"])
        return None

    # -- the detail pane ----------------------------------------------------------
    def select(self, record_id: int | None) -> bool:
        """Show a record in the detail pane (None clears it)."""
        if record_id is None:
            self.param.update(selected_id=None, detail={})
            return True
        return self._show(int(record_id))

    def _show(self, record_id: int) -> bool:
        if not self.record.open(self.entity, record_id):
            self.param.update(selected_id=None, detail={}, field_errors={})
            self._say(self.record.message, "danger")
            return False
        self.param.update(selected_id=record_id, detail=self.record.detail)
        return True

    def _refresh_detail(self) -> None:
        if self.selected_id is not None:
            self._show(self.selected_id)


# -- the view ---------------------------------------------------------------------------
class ContactBook(ComponentView):
    """The contact book: search and filters, one page of records in an editable table,
    a pager, a New form, Archive/Restore and the detail pane of the selected record.

    ``ContactBook(ws)`` builds its own :class:`ContactBookModel`; pass ``model=`` to
    share one. Layout only: every action is the model's.
    """

    model = param.ClassSelector(class_=ContactBookModel, doc="The view-model shown.")
    model_class = ContactBookModel
    #: Set by the staff app: each name links to its record page, which takes the place
    #: of the detail pane. Unset (a notebook), the selected record shows beside the table.
    opener: Callable[[str, int], None] | None = None

    def _build(self) -> pn.viewable.Viewable:
        m = self.model
        linked = self.opener is not None

        def links() -> str | None:
            return m.entity if linked else None

        entity = pn.widgets.RadioButtonGroup.from_param(
            m.param.entity,
            label="",
            options={_("Contacts"): "contact", _("Companies"): "company"},
            css_classes=["crm-contact-entity"],
        )
        search = pn.widgets.TextInput(
            value=m.query,
            value_input=m.query,
            label=_("Search"),
            placeholder=_("Name words, any script…"),
            css_classes=["crm-contact-search"],
        )
        # Search as you type; the box is only written back when the query changed
        # elsewhere, so the text being typed is never pushed under the cursor.
        search.param.watch(lambda e: m.param.update(query=e.new), "value_input")
        m.param.watch(
            # both: ``value`` alone leaves ``value_input`` (what the box shows, and
            # what this compares with) at the old query, and a query emptied later
            # (an address without one) then looked already shown
            lambda e: (
                None
                if search.value_input == e.new
                else search.param.update(value=e.new, value_input=e.new)
            ),
            "query",
        )
        filters = [
            pn.widgets.TextInput.from_param(
                m.param.city, label=_("City"), css_classes=["crm-contact-city"], width=140
            ),
            pn.widgets.TextInput.from_param(
                m.param.country, label=_("Country"), css_classes=["crm-contact-country"], width=110
            ),
            pn.widgets.TextInput.from_param(
                m.param.tag, label=_("Tag"), css_classes=["crm-contact-tag"], width=110
            ),
            pn.widgets.Select.from_param(
                m.param.order_by,
                label=_("Order by"),
                options={_(ORDER_LABELS.get(o, o)): o for o in ORDERS},
                width=110,
            ),
            pn.widgets.Checkbox.from_param(m.param.descending, label=_("Descending")),
            pn.widgets.Checkbox.from_param(
                m.param.include_archived,
                label=_("Archived too"),
                css_classes=["crm-contact-archived"],
            ),
        ]
        alert = message_alert(m)

        def editors() -> dict[str, Any]:
            fixed = {c: None for c in m.columns if c not in m.editable}
            return {**fixed, "name": None} if linked else fixed

        table = pn.widgets.Tabulator(
            table_rows(m.rows, links()),
            formatters={"name": {"type": "html"}} if linked else {},
            show_index=False,
            pagination=None,
            selectable=1,
            # A header sorts the whole search, not just the page: see sorted_by below.
            sortable={c: c in ORDERS for c in {*COLUMNS["contact"], *COLUMNS["company"]}},
            editors=editors(),
            hidden_columns=HIDDEN,
            # The name stays in view while a narrow screen scrolls the other columns.
            frozen_columns=["name"],
            # Phones and e-mails read left to right on a right-to-left page too.
            stylesheets=[LTR_CELLS],
            titles={column: _(title) for column, title in TITLES.items()},
            widths=WIDTHS,
            layout="fit_data_stretch",
            height=480,
            sizing_mode="stretch_width",
            css_classes=["crm-contact-table"],
        )

        def show_rows(_: Any) -> None:
            # The rows first, then the selection in them: set together, Tabulator would
            # map the new selection through the old rows (an IndexError when they were
            # fewer, say none after a search that found nothing).
            table.param.update(value=table_rows(m.rows, links()), editors=editors())
            at = m.rows.reset_index(drop=True)
            table.selection = at.index[at["id"] == m.selected_id].tolist()[:1]

        m.param.watch(show_rows, "rows")
        table.on_edit(lambda e: m.edit(int(table.value["id"].iloc[e.row]), e.column, e.value))

        def selected(event: Any) -> None:
            if event.new:
                record_id = int(table.value["id"].iloc[event.new[0]])
                if record_id != m.selected_id:
                    m.select(record_id)

        table.param.watch(selected, "selection")

        def sorted_by(event: Any) -> None:
            # A header click asks the search for that order (the same column again: the
            # other way); the table's own sorters are then cleared, or Panel would sort
            # the rows again by the cells' text (the name's link: the record's id; code
            # points), over the search's alphabetical order.
            if not event.new:
                return
            field, way = event.new[0].get("field"), event.new[0].get("dir")
            if field in ORDERS:
                again = field == m.order_by
                m.param.update(
                    order_by=field, descending=not m.descending if again else way == "desc"
                )
            table.sorters = []

        table.param.watch(sorted_by, "sorters")
        empty = pn.pane.HTML(
            pn.bind(
                lambda total, entity: (
                    ""
                    if total
                    else '<p class="crm-empty">'
                    + html.escape(
                        _("No contacts match.") if entity == "contact" else _("No companies match.")
                    )
                    + "</p>"
                ),
                m.param.total,
                m.param.entity,
            ),
            css_classes=["crm-contact-empty"],
        )
        prev = pn.widgets.Button(
            label=_("‹ Prev"), disabled=m.at_first_page, css_classes=["crm-contact-prev"]
        )
        prev.on_click(lambda _: m.prev_page())
        nxt = pn.widgets.Button(
            label=_("Next ›"), disabled=m.at_last_page, css_classes=["crm-contact-next"]
        )
        nxt.on_click(lambda _: m.next_page())
        pager = pn.Row(
            prev,
            pn.pane.HTML(
                pn.bind(
                    lambda *_: html.escape(m.summary()),
                    m.param.page,
                    m.param.total,
                    m.param.page_size,
                    m.param.entity,
                ),
                css_classes=["crm-contact-pager"],
            ),
            nxt,
        )
        restore_label, archive_label = _("Restore"), _("Archive")
        archive = pn.widgets.Button(
            label=pn.bind(
                lambda _: restore_label if m.selected_active() is False else archive_label,
                m.param.detail,
            ),
            disabled=pn.bind(lambda d: not d, m.param.detail),
            color="warning",
            css_classes=["crm-contact-archive"],
        )
        archive.on_click(lambda _: m.toggle_archived())
        listing = pn.Column(table, empty, pn.Row(pager, archive), sizing_mode="stretch_width")
        return pn.Column(
            pn.FlexBox(entity, search, *filters, sizing_mode="stretch_width"),
            alert,
            listing,
            # In a notebook the selected record's page shows under the table.
            pn.Column() if linked else RecordPage(model=m.record),
            self._new_form(),
            sizing_mode="stretch_width",
            css_classes=["crm-contact-book"],
        )

    def _new_form(self) -> pn.viewable.Viewable:
        m = self.model
        labels = {field: _(label) for field, label in NEW_LABELS.items()}
        inputs = {
            field: pn.widgets.TextInput(
                label=label,
                css_classes=[f"crm-contact-new-{field}"],
                visible=pn.bind(lambda e, f=field: f in NEW_FIELDS[e], m.param.entity),
            )
            for field, label in labels.items()
        }

        # Each kind's form its own values: what was typed for a new contact is kept
        # for it, not offered as the new company (one click created it so).
        typed: dict[str, dict[str, str]] = {}

        def switch_form(event: Any) -> None:
            typed[event.old] = {f: w.value for f, w in inputs.items()}
            kept = typed.get(event.new, {})
            for field, widget in inputs.items():
                # both: the box shows value_input, which setting value leaves as it was
                widget.param.update(value=kept.get(field, ""), value_input=kept.get(field, ""))

        m.param.watch(switch_form, "entity")

        def reason(field: str) -> Callable[[dict[str, str], str], str]:
            return lambda errors, source: error_html(
                errors.get(field) if source == "create" else None
            )

        fields = [
            pn.Column(
                widget,
                pn.pane.HTML(
                    pn.bind(reason(field), m.param.field_errors, m.param.error_source),
                    css_classes=[f"crm-contact-new-error-{field}"],
                    margin=(0, 10),
                ),
                visible=widget.param.visible,
            )
            for field, widget in inputs.items()
        ]
        create = pn.widgets.Button(
            label=_("Create"), color="primary", css_classes=["crm-contact-new"]
        )

        # A double click's second half finds the form emptied by the first's record:
        # ignored, rather than refused as a record without a name.
        clicks = RowClicks()

        def submit(_: Any) -> None:
            values = {f: w.value for f, w in inputs.items() if f in m.new_fields}

            def create_it() -> None:
                if m.create(**values) is not None:
                    for widget in inputs.values():
                        widget.value = ""

            clicks.run(0, tuple(values.items()), create_it)

        create.on_click(submit)
        card = pn.Card(
            title=pn.bind(
                {"contact": _("New contact"), "company": _("New company")}.get, m.param.entity
            ),
            collapsed=True,
            css_classes=["crm-contact-new-form"],
            sizing_mode="stretch_width",
        )

        def fill(event: Any) -> None:
            # The form is drawn when first opened: a closed card costs the first render
            # nothing (its dozen widgets took a quarter of the book's server time).
            if not event.new and not len(card):
                card[:] = [pn.FlexBox(*fields), create]

        card.param.watch(fill, "collapsed")
        return card
