"""The duplicates review's view-model: pairs of contacts or companies that are probably
one record, reviewed one at a time. A manager lists the pairs (score, reasons, names),
selects one to see both records side by side, chooses per field which value survives
(crm_core's defaults first) and which record survives, merges, and can undo the merge
(the last one, or any of the recent merges listed). Tested without a browser; laid out
by :mod:`widgets.duplicates_review`.

The work is ``ws.duplicates`` (:mod:`crm_core.duplicates`): ``find``, ``compare``,
``merge``, ``undo`` and ``merges``. The review chooses their arguments and shows their
results; a refusal (a record changed meanwhile, gone, not the user's to merge) is said
in its message, never raised. Merging writes the whole team's records: only managers
and admins may (the Data quality page's rule, :func:`widgets.import_model.may_import`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import param

from crm_core import CrmError, ValidationError, Workspace
from crm_core.duplicates import DEFAULT_MIN_SCORE
from crm_core.duplicates.scoring import REASON_SEPARATOR
from widgets.base import ViewModel
from widgets.field_labels import FIELD_LABELS
from widgets.i18n import N_, _, format_number, ngettext
from widgets.import_model import may_import
from widgets.reasons import field_reasons, refusal

#: What may be reviewed, by the names ``ws.duplicates`` takes, with their labels.
ENTITIES = {"contacts": N_("Contacts"), "companies": N_("Companies")}
#: The most pairs one listing holds (the view pages through them).
PAIR_LIMIT = 500
#: How many recent merges are listed.
MERGES_SHOWN = 20
PAIR_COLUMNS = ["id_a", "name_a", "id_b", "name_b", "score", "reasons"]
COMPARE_COLUMNS = ["field", "a", "b", "differs", "choice"]
MERGE_COLUMNS = ["merge_id", "entity", "kept", "dropped", "at", "user", "undone"]
SIDES = ("a", "b")
#: The field holding a record's tags (a merge keeps both records' unless told).
TAGS = "tags"
#: A custom field's prefix (a compared field is named by widgets.field_labels; a custom
#: field by its label).
CUSTOM = "custom."
#: The reasons crm_core gives a pair (crm_core.duplicates.scoring: FACTS, CONFLICTS,
#: REASONS), as the app says them; ``{n}`` is a number.
REASON_TITLES = {
    "same VAT number": N_("same VAT number"),
    "same e-mail": N_("same e-mail"),
    "same phone": N_("same phone"),
    "same company": N_("same company"),
    "same e-mail domain": N_("same e-mail domain"),
    "same city": N_("same city"),
    "different e-mails": N_("different e-mails"),
    "different phones": N_("different phones"),
    "same e-mail, as more than {n} records have": N_("same e-mail, as more than {n} records have"),
    "same phone, as more than {n} records have": N_("same phone, as more than {n} records have"),
    "no name to compare": N_("no name to compare"),
    "same name": N_("same name"),
    "same name, words in another order": N_("same name, words in another order"),
    "names {n}% alike across scripts": N_("names {n}% alike across scripts"),
    "names {n}% alike": N_("names {n}% alike"),
}
_REASON_PATTERNS = [
    (re.compile(re.escape(template).replace(re.escape("{n}"), r"(?P<n>\d+)")), template)
    for template in REASON_TITLES
]


def reason_text(reasons: str) -> str:
    """A pair's reasons (``"same phone; names 92% alike"``) in the session's language;
    a reason the app does not know stays as crm_core wrote it."""
    said = []
    for reason in str(reasons).split(REASON_SEPARATOR) if reasons else []:
        for pattern, template in _REASON_PATTERNS:
            found = pattern.fullmatch(reason)
            if found:
                n = found.groupdict().get("n")
                text = _(REASON_TITLES[template])
                said.append(text.format(n=format_number(int(n))) if n is not None else text)
                break
        else:
            said.append(reason)
    return REASON_SEPARATOR.join(said)


def field_title(field: str, custom: Mapping[str, str] | None = None) -> str:
    """``field`` of a comparison as people read it, in the session's language; a
    custom field by its label (``custom``: name -> label), else by its name."""
    if field in FIELD_LABELS:
        return _(FIELD_LABELS[field])
    name = field.removeprefix(CUSTOM)
    return (custom or {}).get(name) or name


class DuplicatesReviewModel(ViewModel):
    """The duplicates review's state and actions.

    :meth:`load` lists the pairs; :meth:`select` compares one pair's records;
    :meth:`choose` and :meth:`swap` decide what survives; :meth:`merge` merges and
    :meth:`undo` takes a merge back. After a merge or an undo the pairs and the recent
    merges are listed again.
    """

    entity = param.Selector(
        default="contacts", objects=list(ENTITIES), doc="What the pairs are: contacts or companies."
    )
    min_score = param.Integer(
        default=DEFAULT_MIN_SCORE, bounds=(0, 100), doc="The lowest score of a listed pair."
    )
    pairs = param.DataFrame(
        default=None,
        doc="The pairs found, best first: id_a, name_a, id_b, name_b, score, reasons.",
    )
    selected = param.Integer(
        default=None, allow_None=True, doc="The row of ``pairs`` under review (None: none)."
    )
    comparison = param.DataFrame(
        default=None,
        doc="The selected pair field by field: field, a, b (record a's and b's values), "
        "differs, choice (whose value survives: 'a' or 'b').",
    )
    keep = param.Selector(
        default="a", objects=list(SIDES), doc="Which record of the pair survives: 'a' or 'b'."
    )
    last_merge = param.Dict(
        default=None, allow_None=True, doc="What the last merge here returned (merge_id, ...)."
    )
    chosen = param.List(
        default=[],
        item_type=str,
        doc="The fields whose value was chosen here (the rest keep compare's default).",
    )
    loaded = param.Boolean(
        default=False, doc="The pairs have been looked for (by :meth:`load`) at least once."
    )
    merges = param.DataFrame(
        default=None,
        doc="Recent merges, newest first: merge_id, entity, kept, dropped, at, user, undone.",
    )

    def __init__(self, ws: Workspace, **params: Any):
        super().__init__(ws, **params)
        self.pairs = _frame(PAIR_COLUMNS)
        self.comparison = _frame(COMPARE_COLUMNS)
        self.merges = _frame(MERGE_COLUMNS)
        #: (field, id) -> the company's or user's name, for the pair compared.
        self._display_names: dict[tuple[str, int], str] = {}
        if not self.may_merge:
            self._say(self._refusal(), "danger")

    @property
    def may_merge(self) -> bool:
        """Whether the acting user may review and merge (managers, admins, the owner)."""
        return may_import(self.ws)

    @property
    def pair(self) -> dict[str, Any] | None:
        """The pair under review as a dict (None when none is selected)."""
        if self.selected is None or self.selected not in self.pairs.index:
            return None
        return dict(self.pairs.loc[self.selected])

    @property
    def keep_id(self) -> int | None:
        """The id of the record that survives the merge (None without a pair)."""
        pair = self.pair
        return None if pair is None else int(pair["id_" + self.keep])

    @property
    def drop_id(self) -> int | None:
        """The id of the record merged away (None without a pair)."""
        pair = self.pair
        return None if pair is None else int(pair["id_" + _other(self.keep)])

    # -- listing -------------------------------------------------------------------------
    def load(self) -> bool:
        """List the pairs and the recent merges again; the selection is cleared."""
        if not self._allowed():
            return False
        if not self.attempt(self._load):
            return False
        self._say(self._found(), "info")
        return True

    def _load(self) -> bool:
        found = self.ws.duplicates.find(self.entity, min_score=self.min_score, limit=PAIR_LIMIT)
        self.param.update(
            pairs=found[PAIR_COLUMNS].reset_index(drop=True),
            selected=None,
            comparison=_frame(COMPARE_COLUMNS),
            chosen=[],
            keep="a",
            loaded=True,
        )
        recent = self.ws.duplicates.merges(limit=MERGES_SHOWN)
        self.merges = recent.reindex(columns=MERGE_COLUMNS).reset_index(drop=True)
        return True

    @param.depends("entity", "min_score", watch=True)
    def _criteria_changed(self) -> None:
        if self.may_merge and self.loaded:
            self.load()

    def _found(self) -> str:
        return ngettext(
            "{n} pair of {entity} to review.", "{n} pairs of {entity} to review.", len(self.pairs)
        ).format(n=format_number(len(self.pairs)), entity=_(ENTITIES[self.entity]))

    # -- one pair ------------------------------------------------------------------------
    def select(self, row: int | None) -> bool:
        """Review the pair in row ``row`` of ``pairs``: compare its records field by
        field (None: review none). True when the records were compared."""
        if not self._allowed():
            return False
        if row is None or row not in self.pairs.index:
            self.param.update(
                selected=None, comparison=_frame(COMPARE_COLUMNS), chosen=[], keep="a"
            )
            return False
        pair = self.pairs.loc[row]
        compared = self.attempt(
            lambda: self.ws.duplicates.compare(self.entity, int(pair["id_a"]), int(pair["id_b"]))
        )
        if compared is None:
            return False
        frame = compared.reindex(columns=COMPARE_COLUMNS).reset_index(drop=True)
        frame["choice"] = [c if c in SIDES else "a" for c in frame["choice"]]
        self._display_names = self._names(frame)
        self.param.update(selected=int(row), comparison=frame, chosen=[], keep="a")
        self._say(
            _("{a} and {b}: choose the value that stays for each field that differs.").format(
                a=pair["name_a"], b=pair["name_b"]
            ),
            "info",
        )
        return True

    def custom_labels(self) -> dict[str, str]:
        """The custom fields of the records reviewed: name -> label."""
        kind = {"contacts": "contact", "companies": "company"}.get(self.entity, self.entity)
        defined = self.ws.custom_fields.list(kind)
        return dict(zip(defined["name"], defined["label"], strict=True))

    def choose(self, field: str, side: str) -> bool:
        """Keep record ``side``'s ('a' or 'b') value of ``field``. True when changed."""
        if not self._allowed() or self.pair is None:
            return False
        frame = self.comparison.copy()
        found = frame.index[frame["field"] == field].tolist()
        if side not in SIDES or not found:
            self._say(
                _("{field} cannot be chosen here.").format(
                    field=field_title(field, self.custom_labels())
                ),
                "danger",
            )
            return False
        frame.loc[found, "choice"] = side
        self.param.update(comparison=frame, chosen=[*(f for f in self.chosen if f != field), field])
        value = frame.loc[found[0], side]
        self._say(
            _("{field} keeps {value}.").format(
                field=field_title(field, self.custom_labels()), value=self.shown(field, value)
            ),
            "info",
        )
        return True

    def swap(self) -> bool:
        """The other record survives (the values chosen stay chosen)."""
        if not self._allowed() or self.pair is None:
            return False
        self.keep = _other(self.keep)
        self._say(_("Record #{id} survives the merge.").format(id=self.keep_id), "info")
        return True

    def choices(self) -> dict[str, str]:
        """The values chosen as ``ws.duplicates.merge`` takes them: each field that
        differs, "keep" (the surviving record's value) or "drop" (the other's). Tags
        are named only when chosen here: otherwise the kept record has both's."""
        differs = self.comparison[self.comparison["differs"].astype(bool)]
        return {
            str(field): ("keep" if side == self.keep else "drop")
            for field, side in zip(differs["field"], differs["choice"], strict=True)
            if field != TAGS or field in self.chosen
        }

    def shown(self, field: str, value: Any) -> str:
        """``value`` of ``field`` as the review shows it: a company or an owner by
        name (the record holds their ids), anything else as :func:`shown` gives it."""
        if (
            field in ("company_id", "owner_id")
            and isinstance(value, int | float)
            and not pd.isna(value)
            and (field, int(value)) in self._display_names
        ):
            return f"{self._display_names[field, int(value)]} (#{int(value)})"
        return shown(value)

    def _names(self, c: pd.DataFrame) -> dict[tuple[str, int], str]:
        """Company and user names by id, for the pair ``c`` compares (read once)."""
        wanted = {
            (f, int(v))
            for f, a, b in zip(c["field"], c["a"], c["b"], strict=True)
            if f in ("company_id", "owner_id")
            for v in (a, b)
            if isinstance(v, int | float) and not pd.isna(v)
        }
        if not wanted:
            return {}
        users = {}
        if any(f == "owner_id" for f, _ in wanted):
            listed = self.ws.users.list()
            users = dict(zip(listed["id"], listed["login"], strict=True))
        out: dict[tuple[str, int], str] = {}
        for field, ident in wanted:
            if field == "owner_id":
                if ident in users:
                    out[field, ident] = str(users[ident])
                continue
            with contextlib.suppress(CrmError):  # gone since: the id alone
                out[field, ident] = str(self.ws.companies.get(ident)["name"])
        return out

    def stays(self, field: str) -> Any:
        """The value ``field`` will have after the merge as chosen (both records' tags
        when the tags were not chosen)."""
        row = self.comparison.set_index("field").loc[field]
        if field == TAGS and field not in self.chosen and bool(row["differs"]):
            both = [*(row["a"] or []), *(row["b"] or [])]
            return sorted(set(both), key=both.index)
        return row[row["choice"]]

    # -- merge and undo ------------------------------------------------------------------
    def merge(self) -> dict[str, Any] | None:
        """Merge the pair under review as chosen. Returns what crm_core returns
        (merge_id, kept, dropped, record), or None when refused."""
        if not self._allowed():
            return None
        if self.pair is None:
            self._say(_("Select a pair first."), "warning")
            return None
        keep, drop, choose = self.keep_id, self.drop_id, self.choices()
        result = self._act(
            lambda: self.ws.duplicates.merge(self.entity, keep, drop, choose=choose),
            lambda r: _("Merged #{drop} into #{keep} (merge {merge_id}).").format(
                drop=r["dropped"], keep=r["kept"], merge_id=r["merge_id"]
            ),
        )
        if result is not None:
            self.last_merge = dict(result)
        return result

    def undo(self, merge_id: Any = None) -> dict[str, Any] | None:
        """Take back merge ``merge_id`` (None: the last merge made here): both records
        are restored as they were. Returns what crm_core returns, or None when refused."""
        if not self._allowed():
            return None
        if merge_id is None:
            if not self.last_merge:
                self._say(_("Nothing to undo."), "warning")
                return None
            merge_id = self.last_merge["merge_id"]
        result = self._act(
            lambda: self.ws.duplicates.undo(merge_id),
            lambda _r: _("Merge {merge_id} undone: both records are back.").format(
                merge_id=merge_id
            ),
        )
        if result is not None and self.last_merge and self.last_merge["merge_id"] == merge_id:
            self.last_merge = None
        return result

    # -- internals -----------------------------------------------------------------------
    def attempt(self, action: Callable[[], Any], done: str = "") -> Any:
        """As :meth:`ViewModel.attempt`, but a refused merge or undo names the record
        (``contact 12``, ``merge 7``) beside the field and the reason: the review
        acts on two records at once."""
        refused: list[ValidationError] = []

        def run() -> Any:
            try:
                return action()
            except ValidationError as exc:
                refused.append(exc)
                return None

        result = super().attempt(run, done)
        if refused:
            errors = refused[0].errors
            self.field_errors = field_reasons(errors)
            self._say("; ".join(f"{e.record}, {refusal(e)}" for e in errors), "danger")
            return None
        return result

    def _refusal(self) -> str:
        return _(
            "Only managers and admins may review duplicates; you are signed in as {who}."
        ).format(who=f"{self.ws.login} ({self.ws.role})")

    def _allowed(self) -> bool:
        if self.may_merge:
            return True
        self._say(self._refusal(), "danger")
        return False


def _other(side: str) -> str:
    return "b" if side == "a" else "a"


def shown(value: Any) -> str:
    """A field's value as the review shows it: '' for none, else its text."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, list | tuple | set):  # tags
        return ", ".join(str(v) for v in value)
    return str(value)


def _frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=columns)
