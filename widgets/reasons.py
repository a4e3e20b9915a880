"""crm_core's refusals in the page's language.

crm_core speaks English: a refused value is a :class:`~crm_core.errors.FieldError`
(record, field, value, reason), a refused permission an
:class:`~crm_core.errors.AccessDenied` (login, role, action, record). The staff app
shows them in the page's language: the field by the label of the form it was typed
in (else by :data:`FIELD_LABELS`), the reason by matching it against :data:`REASONS`,
the patterns of the reasons crm_core writes (``crm_core/validation.py``,
``crm_core/services``, ``crm_core/access.py``), each a catalogue entry whose
``{placeholders}`` carry the reason's own values (a limit, a currency, an example).

A reason no pattern matches (a new one, or one naming the ERP's words) is shown as
crm_core wrote it. In English the reason is shown exactly as written too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache

from crm_core import AccessDenied, NotFoundError
from crm_core.errors import FieldError
from widgets import field_labels
from widgets.i18n import N_, _

#: A placeholder's pattern when the table names none: anything, as little as possible.
ANY = ".+?"

#: The reasons crm_core gives, most specific first: (catalogue entry, the pattern of
#: each placeholder when it is not :data:`ANY`). The entry, with its placeholders
#: filled in from the reason, is the reason as crm_core writes it.
REASONS: list[tuple[str, dict[str, str]]] = [
    (N_("is required: it holds only invisible characters or lone accents"), {}),
    (N_("is required: a percentage from 0 to 100"), {}),
    (N_("is required"), {}),
    (N_("must be at least {n} characters"), {"n": r"\d+"}),
    (N_("must be at least {minimum}"), {}),
    (N_("must be at most {maximum}"), {}),
    (N_("must be more than 0"), {}),
    (N_("is longer than {n} characters"), {"n": r"\d+"}),
    (N_("is not a valid e-mail address ({detail})"), {"detail": ".*"}),
    (N_("is not a phone number ({detail})"), {"detail": ".*"}),
    (N_("is not a valid phone number for region {region}"), {}),
    (N_("is not an ISO 4217 currency code"), {}),
    (N_("is not an ISO 3166 country code"), {}),
    (N_("is not an ISO 639 language code"), {}),
    (N_("is not a date in YYYY-MM-DD form"), {}),
    (N_("is no day of the calendar"), {}),
    (N_("is not an ISO date and time"), {}),
    (N_("is out of range: dates run from {first} to {last}"), {}),
    (N_("is not a number"), {}),
    (N_("is not a finite number"), {}),
    (N_("must be a whole number"), {}),
    (N_("must be true or false"), {}),
    (N_("must be one of {choices}"), {}),
    (N_("has more than {places} decimal places"), {"places": r"\d+"}),
    (N_("is too large (more than 28 significant digits)"), {}),
    (
        N_("is too large: amounts are kept exactly only below {limit} (15 significant digits)"),
        {"limit": r"[\d,]+"},
    ),
    (
        N_("is too large: {currency} amounts are kept exactly only below {limit}"),
        {"currency": "[A-Z]{3}", "limit": r"[\d,]+"},
    ),
    (
        N_("is written with an exponent; write the number in full ({number})"),
        {"number": r"[-\d.]+"},
    ),
    (N_("is in the past"), {}),
    (N_("is already taken"), {}),
    (N_("is already done"), {}),
    (N_("is done; cannot snooze"), {}),
    (N_("is given twice"), {}),
    (N_("is not a known user"), {}),
    (N_("must be an open stage"), {}),
    (N_("is not a stage of pipeline {pipeline}"), {}),
    (N_("link the activity to at least one record"), {}),
    (N_("link the interaction to at least one record"), {}),
    # why a permission was refused (crm_core/access.py)
    (N_("a sales user works only on their own deals and activities"), {}),
    (N_("only a manager or an admin may (it is the whole team's)"), {}),
    (N_("another user owns it; only a manager or an admin reassigns it"), {}),
]

#: The details in parentheses crm_core passes on from its e-mail and phone libraries
#: (English): the common ones translated; any other is left out of a translated
#: reason (it would be English inside the page's language), leaving the entry of
#: :data:`WITHOUT_DETAIL`.
DETAILS: dict[str, str] = {
    "There must be something after the @-sign.": N_("There must be something after the @-sign."),
    "There must be something before the @-sign.": N_("There must be something before the @-sign."),
    "An email address must have an @-sign.": N_("An e-mail address must have an @-sign."),
    "The part after the @-sign is not valid. It should have a period.": N_(
        "The part after the @-sign should have a period."
    ),
    "An email address cannot have two periods in a row.": N_(
        "An e-mail address cannot have two periods in a row."
    ),
}
WITHOUT_DETAIL: dict[str, str] = {
    "is not a valid e-mail address ({detail})": N_("is not a valid e-mail address"),
    "is not a phone number ({detail})": N_("is not a phone number"),
}

#: Reasons worded by crm_core in a shape a single entry cannot follow (English
#: plurals): rewritten into an entry of :data:`REASONS` before matching.
_REWORDED: list[tuple[re.Pattern[str], str]] = [
    (
        # "has 1 decimal place, but PKR amounts have none (such as 1500)"
        re.compile(
            r"has (?P<given>\d+) decimal places?, but (?P<currency>[A-Z]{3}) amounts have "
            r"(?P<places>none|\d+)(?: decimal places?)? \(such as (?P<example>[^)]+)\)"
        ),
        N_("has {given} decimals, but {currency} amounts have {places} (such as {example})"),
    ),
    (
        # the sizes of an amount's currency, after "is too large: PKR amounts ... below N"
        re.compile(
            r"is too large: (?P<currency>[A-Z]{3}) amounts are kept exactly only below "
            r"(?P<limit>[\d,]+) \(15 significant digits with the \d+ decimals\)"
        ),
        N_("is too large: {currency} amounts are kept exactly only below {limit}"),
    ),
    (
        re.compile(
            r"is too large: amounts are kept exactly only below (?P<limit>[\d,]+) "
            r"\(15 significant digits with the cents\)"
        ),
        N_("is too large: amounts are kept exactly only below {limit} (15 significant digits)"),
    ),
]

#: A field's name when the form that refused it has no label of its own for it (the
#: lost reason by a name, as the other refusals name their field: the form's question
#: "Why was it lost?" read "Why was it lost?: is required").
FIELD_LABELS: dict[str, str] = {**field_labels.FIELD_LABELS, "reason": N_("Lost reason")}

#: What crm_core's permission refusals say the user may not do, and to what.
ACTIONS: dict[str, str] = {
    "see": N_("see"),
    "change": N_("change"),
    "edit": N_("change"),
    "update": N_("change"),
    "delete": N_("delete"),
    "archive": N_("archive"),
    "create": N_("create"),
    "move": N_("move"),
    "give": N_("give"),
    "merge": N_("merge"),
    "undo": N_("undo"),
    "send": N_("send"),
    "import": N_("import"),
    "log an interaction on": N_("log an interaction on"),
    "link an activity to": N_("link an activity to"),
}
RECORDS: dict[str, str] = {
    "opportunity": N_("deal"),
    "deal": N_("deal"),
    "contact": N_("contact"),
    "company": N_("company"),
    "activity": N_("activity"),
    "interaction": N_("interaction"),
}


@cache
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    compiled = []
    for entry, shapes in REASONS:
        parts = re.split(r"\{(\w+)\}", entry)
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>{shapes.get(part, ANY)})"
            for i, part in enumerate(parts)
        )
        compiled.append((re.compile(regex), entry))
    return compiled


def _entry_of(reason: str) -> tuple[str, dict[str, str]] | None:
    """The catalogue entry ``reason`` is written from, with its placeholders' values."""
    for pattern, entry in _REWORDED:
        found = pattern.fullmatch(reason)
        if found:
            values = found.groupdict()
            if values.get("places") == "none":
                values["places"] = "0"
            return entry, values
    for pattern, entry in _patterns():
        found = pattern.fullmatch(reason)
        if found:
            return entry, found.groupdict()
    return None


def reason_text(reason: str) -> str:
    """``reason`` (as crm_core writes it) in the page's language; as written when no
    pattern matches or the language has no words for it."""
    found = _entry_of(reason)
    if found is None:
        return reason
    entry, values = found
    if "detail" in values:
        known = DETAILS.get(values["detail"].strip())
        if known is not None and _(known) != known:
            values["detail"] = _(known)
        elif entry in WITHOUT_DETAIL:
            entry = WITHOUT_DETAIL[entry]
            del values["detail"]
    translated = _(entry)
    if translated == entry:  # English, or not translated: crm_core's own words
        return reason
    try:
        return translated.format(**values)
    except (KeyError, IndexError, ValueError):  # a catalogue entry mistyped
        return reason


def field_label(field: str, labels: Mapping[str, str] | None = None) -> str:
    """The field's name as the user read it: the form's label (``labels``, catalogue
    entries) or the usual one; a field nobody labelled keeps its name."""
    label = (labels or {}).get(field) or FIELD_LABELS.get(field)
    return _(label) if label else field


def refusal(error: FieldError, labels: Mapping[str, str] | None = None) -> str:
    """One refused value for the page: "Field: why"."""
    return _("{field}: {reason}").format(
        field=field_label(error.field, labels), reason=reason_text(error.reason)
    )


def refusals(errors: Iterable[FieldError], labels: Mapping[str, str] | None = None) -> str:
    """Every refused value of an action, for the page's message."""
    return "; ".join(refusal(e, labels) for e in errors)


def field_reasons(errors: Iterable[FieldError]) -> dict[str, str]:
    """Field -> why, in the page's language (what the forms show under each field)."""
    return {e.field: reason_text(e.reason) for e in errors}


def _record_text(record: str) -> str:
    kind, sep, rest = record.partition(" ")
    word = RECORDS.get(kind)
    if not word or not rest.startswith("#"):
        return record
    return _(word) + sep + rest


def denied(exc: AccessDenied) -> str:
    """A refused permission for the page: what may not be done to which record, and
    the rule that says so."""
    why = getattr(exc, "rule", None) or RULE
    action = ACTIONS.get(exc.action)
    record = _record_text(exc.record)
    if action is None or _(N_("You may not {action} {record}: {why}")) == (
        "You may not {action} {record}: {why}"
    ):
        return str(exc)
    return _("You may not {action} {record}: {why}").format(
        action=_(action), record=record, why=reason_text(why)
    )


def missing(exc: NotFoundError) -> str:
    """A record that does not exist (or no longer), for the page."""
    word = RECORDS.get(exc.entity)
    if word is None or _(N_("{record} {key} does not exist")) == "{record} {key} does not exist":
        return str(exc)
    return _("{record} {key} does not exist").format(record=_(word), key=repr(exc.key))


def refused(exc: AccessDenied | NotFoundError) -> str:
    """What the page says when crm_core refused a permission or found no record."""
    return denied(exc) if isinstance(exc, AccessDenied) else missing(exc)


#: The rule every permission refusal names unless it says another (crm_core.access).
RULE = "a sales user works only on their own deals and activities"
