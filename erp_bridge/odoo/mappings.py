"""Field maps between crm_core and Odoo 16-18.

Odoo 19 differences: ``res.partner.mobile`` is gone (only ``phone``), and the JSON-2
API (``protocol="json2"``) with an API key replaces XML/JSON-RPC; drop the mobile map
for 19 with :func:`partner_maps` ``(mobile=False)``.
"""

from __future__ import annotations

import html
import re
from decimal import Decimal
from typing import Any

from crm_core import text
from crm_core.models.base import money_value
from erp_bridge.mapper import Action, Context, EntityMap, FieldMap, Fields, Later, same

_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|div|li|h\d)>|<br\s*/?>", re.I)


def flag(value: Any, _ctx: Context) -> bool:
    """A boolean field (Odoo's False is a value here, not "empty")."""
    return bool(value)


def html_to_text(value: Any, _ctx: Context) -> str | None:
    """Odoo's HTML notes as plain text (paragraphs become lines)."""
    if not value:
        return None
    text = _BLOCK_END.sub("\n", str(value))
    text = html.unescape(_TAG.sub("", text))
    return "\n".join(line.strip() for line in text.strip().splitlines()).strip() or None


def text_to_html(value: Any, _ctx: Context) -> Any:
    """Plain text as Odoo HTML: one escaped paragraph per line."""
    if not value:
        return False
    return "".join(f"<p>{html.escape(line)}</p>" for line in str(value).splitlines())


#: The heading above a prospect's details in a deal's description (see
#: :func:`lead_description`).
PROSPECT = "Prospect in Odoo (no customer linked yet; change these in Odoo):"
#: A lead's own fields about a prospect that has no partner, and how they are labelled.
PROSPECT_FIELDS = (
    ("contact_name", "Contact"),
    ("partner_name", "Company"),
    ("email_from", "E-mail"),
    ("phone", "Phone"),
)


def lead_description(record: dict[str, Any], ctx: Context) -> str | None:
    """A lead's notes and, for a lead with no partner, what Odoo holds of the prospect
    (its contact and company names, e-mail and phone) under :data:`PROSPECT`: shown
    on the deal, without creating a partner in Odoo behind the user's back."""
    notes = html_to_text(record.get("description"), ctx)
    if record.get("partner_id"):
        return notes
    return _with_block(notes, PROSPECT, PROSPECT_FIELDS, record)


def _with_block(
    notes: str | None, heading: str, fields: tuple[tuple[str, str], ...], record: dict[str, Any]
) -> str | None:
    """``notes`` followed by the block under ``heading`` of ``record``'s ``fields``
    (field, label) that hold a value; the notes alone when none does."""
    lines = [f"{label}: {record[f]}" for f, label in fields if record.get(f)]
    if not lines:
        return notes
    block = "\n".join([heading, *lines])
    return f"{notes}\n\n{block}" if notes else block


def description_out(value: Any, ctx: Context) -> Any:
    """A deal's description as Odoo's lead notes: without the prospect's details,
    which are Odoo's own fields (see :func:`lead_description`)."""
    return text_to_html(_without(value, PROSPECT), ctx)


def _without(value: Any, heading: str) -> str:
    """Notes without the block under ``heading`` that shows Odoo's own fields."""
    written = str(value or "")
    notes, found, _ = written.partition(heading)
    return notes.rstrip() if found else written


#: The heading above what Odoo holds of a company that crmbook's companies have no
#: field for (see :func:`company_notes`).
ODOO_ONLY = "In Odoo (no field for it here; change it in Odoo):"
#: A company partner's fields that only Odoo holds, and how they are labelled.
ODOO_ONLY_FIELDS = (("mobile", "Mobile"),)


def company_notes(record: dict[str, Any], ctx: Context) -> str | None:
    """A company's notes and, under :data:`ODOO_ONLY`, what Odoo holds of it that a
    crmbook company has no field for (its mobile): shown, never dropped. Like a
    prospect's details on a deal, the block stays Odoo's: notes edited here go to
    Odoo's notes without it (see :func:`company_notes_out`)."""
    notes = html_to_text(record.get("comment"), ctx)
    return _with_block(notes, ODOO_ONLY, ODOO_ONLY_FIELDS, record)


def company_notes_out(value: Any, ctx: Context) -> Any:
    """A company's notes as Odoo's partner notes, without the block of Odoo's own
    fields (see :func:`company_notes`)."""
    return text_to_html(_without(value, ODOO_ONLY), ctx)


def country_code(value: Any, ctx: Context) -> str | None:
    """res.country many2one -> ISO code."""
    if not value:
        return None
    return ctx.reference("res.country").get(value[0], {}).get("code") or None


def country_id(code: Any, ctx: Context) -> Any:
    """ISO code -> res.country id (False when unknown)."""
    if not code:
        return False
    for rid, rec in ctx.reference("res.country").items():
        if rec.get("code") == code:
            return rid
    return False


def m2o_name(value: Any, _ctx: Context) -> str | None:
    """A many2one's display name."""
    return value[1] if value else None


def state_name(value: Any, ctx: Context) -> str | None:
    """res.country.state many2one -> the state's own name (``Tamil Nadu``), as a
    person types it, not Odoo's display name (``Tamil Nadu (IN)``): a state pushed
    from here comes back as it went."""
    if not value:
        return None
    row = ctx.reference("res.country.state").get(value[0]) or {}
    return str(row.get("name") or value[1])


def _ref_id(value: Any) -> Any:
    """A many2one as read (``[id, name]``, an id, or False) -> the id."""
    return value[0] if isinstance(value, list | tuple) and value else (value or None)


def state_id(values: Any, ctx: Context) -> Any:
    """A record's state (``{"state": name, "country": code}``) -> res.country.state id,
    looked up within the record's country: "Amazonas" of Colombia is not Brazil's. A
    record without a country takes the one state of that name, if only one country
    has it. Empty: False (no state).

    A state Odoo does not know there is not sent as another one: the record's push
    fails naming it, is listed by ``sync status`` and tried again by every later run,
    as a deal in another currency is (see :func:`amounts_in_erp_currency`)."""
    name = values.get("state")
    if not name:
        return False
    states = ctx.reference("res.country.state")
    wanted = text.fold(str(name))
    found = [rid for rid, row in states.items() if text.fold(str(row.get("name") or "")) == wanted]
    country = values.get("country")
    if country:
        cid = country_id(country, ctx)
        found = [rid for rid in found if _ref_id(states[rid].get("country_id")) == cid]
        where = f"of the country {country}"
    else:
        where = "of one country only (the record has no country)"
    if len(found) == 1:
        return found[0]
    raise ValueError(
        f"state: Odoo has no state {name!r} {where}; it is not sent as another one. "
        "Correct the state (or the country) here, and the next run sends it"
    )


def tag_names(model: str) -> Any:
    """Converter: many2many ids of a tag model -> sorted tag names."""

    def convert(ids: Any, ctx: Context) -> list[str]:
        ref = ctx.reference(model)
        return sorted(ref[i]["name"] for i in ids or [] if i in ref)

    return convert


def tag_ids(model: str) -> Any:
    """Converter: tag names -> many2many ids, creating missing tags in the ERP."""

    def convert(names: Any, ctx: Context) -> list[Any]:
        ids = [ctx.ensure_reference(model, name, {"name": name}) for name in names or []]
        return [[6, 0, sorted(ids)]]

    return convert


def money(value: Any, _ctx: Context) -> Decimal:
    """An Odoo float amount as the Decimal it prints as, written as a Money column
    keeps it (``1500.50``, ``1.235``); crm_core rounds it to the record's currency
    (KWD keeps 3 places, JPY none)."""
    return money_value(Decimal(str(value or 0)))


#: Odoo's companies; the first (in id order) is the syncing user's main company, as
#: for exchange rates (:mod:`erp_bridge.odoo.rates`).
COMPANY = "res.company"


def erp_currency(ctx: Context) -> str | None:
    """The currency Odoo keeps amounts in: its main company's (read once per run, as a
    reference table); None when Odoo shows no company."""
    companies = ctx.reference(COMPANY)
    if not companies:
        return None
    currency = companies[min(companies)].get("currency_id")
    return str(currency[1]) if isinstance(currency, list | tuple) and currency else None


#: Each lead's currency as Odoo computes it (``company_currency``: its company's, or for
#: a lead with no company the syncing user's company's), read whole once per run, and
#: only where Odoo's companies keep their amounts in different currencies.
LEAD_CURRENCY = "crm.lead"


def _code(currency: Any) -> str | None:
    return str(currency[1]) if isinstance(currency, list | tuple) and currency else None


def lead_currency(record: Any, ctx: Context) -> str | None:
    """The currency of a lead's ``expected_revenue``: its own company's (Odoo 16-18
    keep a lead's amounts in ``company_currency``), never the workspace's.

    Where every company Odoo shows keeps one currency, that one. Where they keep
    several, Odoo's ``company_currency`` of the lead (:data:`LEAD_CURRENCY`; a lead
    created since is read alone): a lead of "Euro Branch" is in EUR, whatever the
    main company keeps. A lead Odoo gives no currency is refused naming why: its
    amount is never taken in a guessed currency."""
    companies = ctx.reference(COMPANY)
    codes = {_code(row.get("currency_id")) for row in companies.values()}
    if len(codes) <= 1:
        return erp_currency(ctx)
    rid = record.get("id")
    row = ctx.reference(LEAD_CURRENCY).get(rid) if rid else None
    if row is None and rid:
        row = next(iter(ctx.read(LEAD_CURRENCY, [rid], ["company_currency"])), None)
    code = _code((row or {}).get("company_currency"))
    if code is None:
        kept = ", ".join(sorted(c for c in codes if c))
        raise ValueError(
            f"currency: Odoo gives the lead no currency, and its companies keep amounts "
            f"in {kept}; its amount is not taken in a guessed currency. Set the lead's "
            "company in Odoo, and the next run reads it"
        )
    return code


def amounts_in_erp_currency(value: Any, ctx: Context) -> Fields:
    """Pushing a deal: nothing to write (Odoo derives the currency from the company),
    but a deal in another currency is refused: its amount sent as Odoo's currency
    would be a different sum of money."""
    erp = erp_currency(ctx)
    if value and erp and value != erp:
        raise ValueError(
            f"currency: the deal is in {value} but Odoo keeps lead amounts in its "
            f"company's currency {erp}; it is not sent (its {value} amount would arrive "
            f"as {erp}). Change the deal to {erp} here, and the next run sends it"
        )
    return Fields()


def percent(value: Any, _ctx: Context) -> Decimal:
    """An Odoo float percentage as an exact 2-place Decimal."""
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def money_out(value: Any, _ctx: Context) -> float:
    """A Decimal amount as Odoo's float."""
    return float(value or 0)


def priority_in(value: Any, _ctx: Context) -> int:
    """Odoo's priority selection ('0'..'3') -> int."""
    return int(value or 0)


def priority_out(value: Any, _ctx: Context) -> str:
    """int -> Odoo's priority selection."""
    return str(int(value or 0))


def date_in(value: Any, _ctx: Context) -> Any:
    """An Odoo date string -> date."""
    import datetime as dt

    return dt.date.fromisoformat(value) if value else None


def date_out(value: Any, _ctx: Context) -> Any:
    """A date -> Odoo's string (False when empty)."""
    return value.isoformat() if value else False


#: How Odoo writes a datetime: UTC, whole seconds.
ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"


def datetime_in(value: Any, _ctx: Context) -> Any:
    """An Odoo datetime string (UTC) -> an aware datetime."""
    import datetime as dt

    if not value:
        return None
    return dt.datetime.strptime(str(value), ODOO_DATETIME).replace(tzinfo=dt.UTC)


def closed_out(value: Any, _ctx: Context) -> Later:
    """A deal's close time -> Odoo's ``date_closed``, written after the lead's other
    fields: Odoo stamps it with the time of a write that wins or archives the lead,
    which would replace ours (see :class:`erp_bridge.mapper.Later`). An open deal
    sends nothing (Odoo clears it when the lead reopens)."""
    import datetime as dt

    if not value:
        return Later()
    when = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return Later(date_closed=when.astimezone(dt.UTC).strftime(ODOO_DATETIME))


def lead_outcome(record: dict[str, Any], ctx: Context) -> str:
    """A crm.lead's state as crmbook's outcome: open, won, lost or archived."""
    if not record.get("active", True):
        return (
            "lost" if record.get("lost_reason_id") or not record.get("probability") else "archived"
        )
    stage = record.get("stage_id")
    if stage and ctx.reference("crm.stage").get(stage[0], {}).get("is_won"):
        return "won"
    return "open"


def outcome_active(value: Any, _ctx: Context) -> bool:
    """crmbook's outcome -> crm.lead.active (lost and archived leads are inactive)."""
    return value not in ("lost", "archived")


def partner_name(record: dict[str, Any], _ctx: Context) -> str:
    """A partner's name; a partner without one (Odoo's delivery and invoice addresses)
    takes Odoo's display name, which names its parent and its address type
    ("Deco Addict, Delivery Address")."""
    for value in (record.get("name"), record.get("display_name")):
        if isinstance(value, str) and value.strip():
            return value
    return f"Partner #{record['id']}"


#: A contact's address fields, local name -> Odoo's (``res.partner._address_fields``).
ADDRESS = {
    "street": "street",
    "street2": "street2",
    "zip": "zip",
    "city": "city",
    "state": "state_id",
    "country": "country_id",
}


def own_address(remote: dict[str, Any], values: dict[str, Any], ctx: Context) -> str | None:
    """A contact about to be created under a company, whose own address differs from
    the company's: created as an "Other Address" of the company (``type`` ``other``).
    Odoo gives a partner of type ``contact`` with a parent that parent's address, on
    create and whenever the parent's address changes (``res.partner._fields_sync``;
    its form shows the address read-only there): sent as a contact, the address typed
    here would be replaced by the company's and come back with the next pull. A
    contact with no address, or its company's, stays a contact. Returns the sentence
    for the run report."""
    parent = remote.get("parent_id")
    if not parent or remote.get("type", "contact") != "contact":
        return None
    mine = {k: _plain(values.get(k)) for k in ADDRESS}
    if not any(mine.values()):
        return None  # it takes its company's, as in Odoo
    rows = ctx.read("res.partner", [int(parent)], [*ADDRESS.values(), "name"])
    if not rows:
        return None
    row = rows[0]
    theirs = {
        **{k: _plain(same(row.get(f), ctx)) for k, f in ADDRESS.items()},
        "state": _plain(state_name(row.get("state_id"), ctx)),
        "country": _plain(country_code(row.get("country_id"), ctx)),
    }
    if not any(theirs.values()):
        return None  # Odoo keeps a contact's address when its company has none
    if all(v is None or v == theirs[k] for k, v in mine.items()):
        return None  # nothing typed here is lost (what is not filled in, Odoo fills)
    remote["type"] = "other"
    return (
        f"{values.get('name')!r}: its own address differs from its company's "
        f"{row.get('name')!r}; created in Odoo as an Other Address of the company, which "
        "keeps it (a Contact there takes its company's address)"
    )


def _plain(value: Any) -> str | None:
    """An address value compared as typed: case and spacing aside, empty as None."""
    return text.fold(str(value)).strip() or None if value not in (None, False, "") else None


def partner_maps(mobile: bool = True) -> tuple[EntityMap, EntityMap]:
    """res.partner as Company (is_company) and as Contact (the rest)."""
    common = [
        FieldMap("name", "name", partner_name, reads=("name", "display_name")),
        FieldMap("email", "email"),
        FieldMap("phone", "phone"),
        FieldMap("street", "street"),
        FieldMap("street2", "street2"),
        FieldMap("city", "city"),
        FieldMap("zip", "zip"),
        FieldMap("state", "state_id", state_name, state_id, writes_with=("country",)),
        FieldMap("country", "country_id", country_code, country_id),
        FieldMap(
            "tags",
            "category_id",
            tag_names("res.partner.category"),
            tag_ids("res.partner.category"),
        ),
        FieldMap("active", "active", flag),
        # Odoo's salesperson, as a deal's owner is.
        FieldMap("owner_id", "user_id", link="user", owner="crm"),
    ]
    notes = FieldMap("notes", "comment", html_to_text, text_to_html)
    # A company here has no mobile: Odoo's shows in its notes (see company_notes).
    company_notes_map = (
        FieldMap(
            "notes",
            "comment",
            company_notes,
            company_notes_out,
            reads=("comment", *(f for f, _ in ODOO_ONLY_FIELDS)),
            reads_optional=tuple(f for f, _ in ODOO_ONLY_FIELDS),
        )
        if mobile
        else notes
    )
    company = EntityMap(
        "company",
        "res.partner",
        [
            *common,
            company_notes_map,
            FieldMap("vat", "vat", owner="erp"),
            FieldMap("website", "website"),
        ],
        domain=[["is_company", "=", True]],
        defaults={"is_company": True},
    )
    contact_fields = [
        *common,
        notes,
        FieldMap("job_title", "function"),
        FieldMap("company_id", "parent_id", link="company"),
    ]
    if mobile:
        contact_fields.append(FieldMap("mobile", "mobile"))
    contact = EntityMap(
        "contact",
        "res.partner",
        contact_fields,
        domain=[["is_company", "=", False]],
        defaults={"is_company": False, "type": "contact"},
        depends_on=("company",),
        on_create=own_address,
    )
    return company, contact


def lead_map() -> EntityMap:
    """crm.lead as Opportunity. Pipeline fields belong to the CRM, revenue is shared."""
    fields = [
        FieldMap("name", "name"),
        FieldMap("type", "type"),
        FieldMap("partner", "partner_id", link=("contact", "company")),
        FieldMap("owner_id", "user_id", link="user", owner="crm"),
        # A stage taken from Odoo brings Odoo's probability (crm_core would give the
        # deal the stage's default): see EntityMap.taken_along.
        FieldMap("stage_id", "stage_id", link="stage", owner="crm", brings=("probability",)),
        FieldMap("probability", "probability", percent, money_out, owner="crm"),
        # The currency expected_revenue is in: the Odoo company's. A deal pulled takes
        # it; a deal in another currency is not pushed (see amounts_in_erp_currency).
        FieldMap(
            "currency",
            "expected_revenue",
            lead_currency,
            amounts_in_erp_currency,
            "erp",
            reads=("expected_revenue",),
        ),
        FieldMap("expected_revenue", "expected_revenue", money, money_out),
        FieldMap("expected_close", "date_deadline", date_in, date_out, owner="crm"),
        FieldMap("priority", "priority", priority_in, priority_out, owner="crm"),
        FieldMap("tags", "tag_ids", tag_names("crm.tag"), tag_ids("crm.tag")),
        FieldMap("lost_reason_id", "lost_reason_id", link="lost_reason", owner="crm"),
        # An outcome taken from Odoo brings Odoo's stage: a lost deal restored there
        # (active again, in its stage) leaves the local Lost stage, which Odoo has not.
        # And it is not taken when the stage kept is this side's (a stage conflict the
        # CRM wins): a lead won in Odoo while moved here stays open here, in the stage
        # kept, with that stage's status, close date and probability.
        FieldMap(
            "outcome",
            "active",
            lead_outcome,
            outcome_active,
            owner="crm",
            reads=("active", "lost_reason_id", "probability", "stage_id"),
            brings=("stage_id",),
            needs=("stage_id",),
        ),
        # When a won or lost deal closed: Odoo's date, not the time of the pull.
        FieldMap("closed_at", "date_closed", datetime_in, closed_out, owner="crm"),
        FieldMap(
            "description",
            "description",
            lead_description,
            description_out,
            reads=("description", "partner_id", *(f for f, _ in PROSPECT_FIELDS)),
        ),
    ]
    return EntityMap("opportunity", "crm.lead", fields, depends_on=("company", "contact"))


_ACTIVITY_ENTITIES = {"crm.lead": ("opportunity",), "res.partner": ("company", "contact")}
_ACTIVITY_MODELS = {"opportunity": "crm.lead", "company": "res.partner", "contact": "res.partner"}
#: Words in an activity type's name that give crmbook's kind (Odoo's "To-Do" is a todo).
_KIND_WORDS = {"call": ("call",), "meeting": ("meeting",), "email": ("email", "mail")}


def activity_record(record: dict[str, Any], ctx: Context) -> str | None:
    """The local record an activity is on, as ``entity:id`` (None if not synced)."""
    for entity in _ACTIVITY_ENTITIES.get(record.get("res_model") or "", ()):
        local = ctx.local_id(entity, record.get("res_id") or None)
        if local is not None:
            return f"{entity}:{local}"
    return None


def activity_document(value: Any, ctx: Context) -> Fields:
    """``entity:id`` -> the activity's document in Odoo (``res_model_id``, ``res_id``)."""
    entity, _, raw = str(value or "").partition(":")
    remote = ctx.remote_id(entity, int(raw)) if raw.isdigit() else None
    if remote is None:
        raise ValueError(f"the activity is on {value!r}, which is not in the ERP")
    model = _ACTIVITY_MODELS[entity]
    model_id = next(i for i, r in ctx.reference("ir.model").items() if r["model"] == model)
    return Fields(res_model_id=model_id, res_id=remote)


def activity_pushable(act: Any, ctx: Context) -> bool:
    """Create a local activity in Odoo while it is open and its document is synced."""
    if act.done_at is not None:
        return False
    for entity in ("opportunity", "company", "contact"):
        local = getattr(act, f"{entity}_id")
        if local is not None:
            return ctx.remote_id(entity, local) is not None
    return False


def activity_kind(value: Any, _ctx: Context) -> str:
    """An activity type as crmbook's kind: call, meeting, email or todo."""
    words = str(value[1]).lower().replace("-", "") if value else ""
    for kind, names in _KIND_WORDS.items():
        if any(name in words for name in names):
            return kind
    return "todo"


def activity_type(kind: Any, ctx: Context) -> Fields:
    """crmbook's kind -> the first generic Odoo activity type of that kind (none found:
    Odoo's default type applies)."""
    types = ctx.reference("mail.activity.type")
    for rid, row in sorted(types.items()):
        if not row.get("res_model") and activity_kind([rid, row["name"]], ctx) == kind:
            return Fields(activity_type_id=rid)
    return Fields()


def activity_subject(record: dict[str, Any], _ctx: Context) -> str:
    """The summary, or the activity type's name when there is none."""
    kind = record.get("activity_type_id")
    return str(record.get("summary") or (kind[1] if kind else "") or "Activity")


def activity_done(active: Any, _ctx: Context) -> bool:
    """An archived activity in Odoo is a done one (types that keep done activities)."""
    return not active


def activity_done_out(done: Any, _ctx: Context) -> Any:
    """Done here -> Odoo's own "mark as done" (logs it on the document, then removes or
    archives the activity); reopened -> active again."""
    return Action("action_feedback") if done else True


def activity_map() -> EntityMap:
    """mail.activity on leads and partners as Activity, both ways. Done in Odoo, an
    activity disappears (or is archived) there and is marked done here; done here, it is
    marked done in Odoo with ``action_feedback``, which logs it on the document."""
    fields = [
        FieldMap(
            "record",
            "res_id",
            activity_record,
            activity_document,
            reads=("res_model", "res_id"),
            owner="erp",
        ),
        FieldMap("kind", "activity_type_id", activity_kind, activity_type),
        FieldMap("subject", "summary", activity_subject, reads=("summary", "activity_type_id")),
        FieldMap("note", "note", html_to_text, text_to_html),
        FieldMap("due_date", "date_deadline", date_in, date_out),
        # Odoo requires an assignee: an unassigned activity goes to the syncing user.
        FieldMap("assignee_id", "user_id", link="user", omit_empty=True),
        FieldMap("done", "active", activity_done, activity_done_out),
    ]
    return EntityMap(
        "activity",
        "mail.activity",
        fields,
        domain=[["res_model", "in", sorted(_ACTIVITY_ENTITIES)]],
        depends_on=("company", "contact", "opportunity"),
        vanished="done",
        deletions_every_run=True,
        push_if=activity_pushable,
    )
