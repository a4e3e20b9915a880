"""The pipeline board's view: the whole board (filters, columns, cards, closed deals) is
one browser element, :class:`BoardElement`, a ``ReactiveHTML`` whose script and style
ship in ``widgets/static/`` (served by the app inside the page, no CDN; it runs under
the app's Content-Security-Policy, see :mod:`widgets.headers`).

:class:`PipelineBoard` keeps the element in step with the view-model
(:class:`~widgets.pipeline_board.PipelineBoardModel`): the model's state is turned into
plain JSON here, and every click, drop or form in the browser comes back as one message
that :meth:`PipelineBoard.act` runs on the model. A column's JSON is made again only
when the model reloaded that column (its ``rev``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import panel as pn
import param
from panel.reactive import ReactiveHTML

from widgets import i18n
from widgets.base import ComponentView
from widgets.i18n import N_
from widgets.pipeline_board import PipelineBoardModel, column_totals

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
#: The filters the browser may set, as the model's parameters.
FILTERS = ("owner", "tag", "close_month", "show_closed")
#: How the board names a refused field in its message (the field shows its reason too).
LABELS = {
    "name": N_("Name"),
    "expected_revenue": N_("Amount"),
    "expected_close": N_("Expected close"),
    "reason": N_("Lost reason"),
    "note": N_("Note"),
    "close_month": N_("Close month"),
    "owner": N_("Owner"),
    "tag": N_("Tag"),
    "stage": N_("Stage"),
}
#: Every word board.js draws, by key (translated once per board, see :func:`words`).
#: ``{stage}`` and ``{amount}`` are filled in by board.js, each value isolated (a
#: ``<bdi>``, or U+2068/U+2069 in an attribute) so that it keeps its own direction.
WORDS = {
    "owner": N_("Owner"),
    "everyone": N_("Everyone"),
    "tag": N_("Tag"),
    "any_tag": N_("any tag"),
    "close_month": N_("Close month"),
    "closed_deals": N_("Closed deals"),
    "reload": N_("Reload the board"),
    "new_deal": N_("+ New deal"),
    "name": N_("Name"),
    "amount": N_("Amount"),
    "expected_close": N_("Expected close"),
    "create": N_("Create"),
    "cancel": N_("Cancel"),
    "nothing_yet": N_("Nothing yet"),
    "weighted": N_("Weighted"),
    "of_amount": N_("of {amount}"),
    "confirm_won": N_("Confirm won"),
    "confirm_lost": N_("Confirm lost"),
    "lost_reason": N_("Lost reason"),
    "choose_reason": N_("Choose a reason…"),
    "note_optional": N_("Note (optional)"),
    "note": N_("Note"),
    "move_back_to": N_("Move back to {stage}"),
    "move_back": N_("Move back"),
    "move_forward_to": N_("Move forward to {stage}"),
    "move_forward": N_("Move forward"),
    "won": N_("Won"),
    "lost": N_("Lost"),
    "reopen": N_("Reopen"),
    "recent_first": N_("(most recently closed first)"),
    "no_closed": N_("No closed deal."),
}


def words() -> dict[str, str]:
    """:data:`WORDS` in the session's language (what board.js shows)."""
    return {key: i18n._(text) for key, text in WORDS.items()}


def status_word(status: Any) -> str:
    """A deal's status (``open``, ``won``, ``lost``) as the app shows it, in the
    session's language (the deal page's header too); anything else as it is."""
    words = {
        "open": i18n.pgettext("deal status", "Open"),
        "won": i18n.pgettext("deal status", "Won"),
        "lost": i18n.pgettext("deal status", "Lost"),
    }
    return words.get(str(status), str(status))


def _text(value: Any) -> str | None:
    """A non-empty string, or None for None, NaN (pandas' empty cell) and ''."""
    return value if isinstance(value, str) and value else None


def amount(currency: Any, value: Any) -> str:
    """``PKR 1,500,000.00``, grouped as the session's language does (``PKR 15,00,000.00``
    in Bengali, ``PKR 1 500 000,00`` in Russian) or the workspace asks (lakh and crore):
    see :func:`widgets.i18n.format_amount`."""
    return i18n.format_amount(Decimal(str(value)), str(currency))


def card_json(card: dict[str, Any]) -> dict[str, Any]:
    """What a card shows, as plain JSON; a missing company or owner is a dash, never
    'nan'."""
    close = card.get("expected_close")
    return {
        "id": int(card["id"]),
        "version": int(card["version"]),
        "name": str(card["name"]),
        "company": _text(card.get("company")) or "—",
        "owner": _text(card.get("owner")) or "—",
        "amount": amount(card["currency"], card["expected_revenue"]),
        # As the rest of the app writes a date, in the session's language.
        "close": i18n.format_date(close) if isinstance(close, dt.date) else i18n._("no close date"),
    }


def column_json(column: dict[str, Any], reporting_currency: str) -> dict[str, Any]:
    """A column as plain JSON: its header (count and :func:`column_totals`: the total in
    the reporting currency first, the per-currency totals after it for the header's
    "more" details), the note on missing exchange rates ('' when none) and cards."""
    totals = column_totals(column, reporting_currency)
    missing = ", ".join(column.get("unconverted") or [])
    # "+N more": the currencies besides the headline's (under a converted total the
    # breakdown lists the headline's own currency too, which is no other currency)
    others = len({t["currency"] for t in totals[1:]} - {t["currency"] for t in totals[:1]})
    return {
        "stage_id": column["stage_id"],
        "stage": str(column["stage"]),
        "rev": column["rev"],
        "count": column["count"],
        "more": column["more"],
        # the counts' words, in the language's own plural forms
        "count_text": i18n.ngettext("{n} deal", "{n} deals", column["count"]).format(
            n=i18n.format_number(column["count"])
        ),
        "more_text": i18n.ngettext("+ {n} more", "+ {n} more", column["more"]).format(
            n=i18n.format_number(column["more"])
        ),
        "others_text": i18n.ngettext("+{n} more", "+{n} more", others).format(
            n=i18n.format_number(others)
        ),
        "note": (
            i18n._("Not converted to {currency}: no rate for {missing}").format(
                currency=reporting_currency, missing=missing
            )
            if missing
            else ""
        ),
        "totals": [
            {
                "currency": t["currency"],
                "weighted": amount(t["currency"], t["weighted"]),
                "value": amount(t["currency"], t["value"]),
                "count": t["count"],
            }
            for t in totals
        ],
        "cards": [card_json(c) for c in column["cards"].to_dict("records")],
    }


def closed_json(deal: dict[str, Any]) -> dict[str, Any]:
    """A closed deal's line: name, won or lost (with the reason), amount, owner."""
    won = deal.get("status") == "won"
    reason = _text(deal.get("lost_reason"))
    if won:
        status = i18n._("Won")
    elif reason:
        status = i18n._("Lost: {reason}").format(reason=reason)
    else:
        status = i18n._("Lost")
    return {
        "id": int(deal["id"]),
        "version": int(deal["version"]),
        "name": str(deal["name"]),
        "status": status,
        "amount": amount(deal["currency"], deal["expected_revenue"]),
        "owner": _text(deal.get("owner")) or "",
    }


#: Gives board.js its ``model`` (the element's properties as plain JS values) and runs
#: it. Structured values travel as lists and dicts: Panel sanitizes a ReactiveHTML's
#: string properties as HTML (``&`` would arrive as ``&amp;``).
_START = """
const handlers = {}
state.notify = (name) => { for (const callback of handlers[name] || []) callback() }
const plain = (value) => value instanceof Map
  ? Object.fromEntries([...value].map(([k, v]) => [k, plain(v)]))
  : Array.isArray(value) ? value.map(plain)
  : value
const adapter = {
  on(names, callback) {
    for (const name of [].concat(names)) (handlers[name] = handlers[name] || []).push(callback)
  },
  send_msg(msg) { data.request = [JSON.stringify(msg)] },
}
for (const name of %(names)s) {
  Object.defineProperty(adapter, name, { get: () => plain(data[name]) })
}
renderBoard({ model: adapter, el: boardmount })
"""
_SHOWN = (
    "words",
    "columns",
    "closed",
    "filters",
    "users",
    "pick_owner",
    "reasons",
    "status",
    "errors",
    "ack",
)


class BoardElement(ReactiveHTML):
    """The board in the browser (``widgets/static/board.js``): everything it shows is
    in these parameters; what the user does comes back as a ``request`` (one JSON
    text) passed to ``on_action``.

    A ReactiveHTML element, not a ``JSComponent``: Panel loads a JSComponent's module
    by fetching a ``blob:`` URL, which the app's ``connect-src 'self'`` forbids; a
    ReactiveHTML script runs through ``new Function``, which it allows.
    """

    words = param.Dict(default={}, doc="What the board's words read (:func:`words`).")
    columns = param.List(default=[], doc="The columns as :func:`column_json` makes them.")
    closed = param.List(default=[], doc="The closed deals (:func:`closed_json`).")
    filters = param.Dict(default={}, doc="owner, tag, close_month and show_closed.")
    users = param.List(default=[], doc="{'login', 'name'} of the owners to pick from.")
    pick_owner = param.Boolean(default=True, doc="Whether the owner filter is offered.")
    reasons = param.List(default=[], doc="The lost reasons offered.")
    status = param.Dict(
        default={"message": "", "kind": "info"},
        doc="The outcome of the last action: message, kind (info|success|warning|danger).",
    )
    errors = param.Dict(default={}, doc="{'form': ..., 'fields': {field: reason}}.")
    ack = param.Integer(default=0, doc="The last action answered (its seq).")
    request = param.List(default=[], doc="The browser's last action: [JSON text].")

    _template = '<div id="boardmount" class="crm-board-mount"></div>'
    _scripts: ClassVar[dict[str, Any]] = {
        "render": (STATIC / "board.js").read_text(encoding="utf-8")
        + _START % {"names": json.dumps(_SHOWN)},
        **{name: f"state.notify({name!r})" for name in _SHOWN},
    }
    _stylesheets: ClassVar[list[str]] = [(STATIC / "board.css").read_text(encoding="utf-8")]

    def __init__(self, **params: Any):
        self.on_action: Callable[[Any], None] | None = None
        super().__init__(**params)

    @param.depends("request", watch=True)
    def _requested(self) -> None:
        if not self.request or self.on_action is None:
            return
        try:
            msg = json.loads(self.request[0])
        except (TypeError, ValueError):
            log.warning("pipeline board: a request that is not JSON: %.200r", self.request)
            return
        self.on_action(msg)


def _message(model: PipelineBoardModel) -> str:
    """The model's message; a refusal names its fields as the board labels them."""
    if model.message_kind == "danger" and model.field_errors:
        return "; ".join(
            f"{i18n._(LABELS[field]) if field in LABELS else field}: {reason}"
            for field, reason in model.field_errors.items()
        )
    return model.message


class PipelineBoard(ComponentView):
    """The pipeline board: ``PipelineBoard(ws)`` in a notebook or the staff app."""

    model = param.ClassSelector(class_=PipelineBoardModel, doc="The board's view-model.")

    model_class = PipelineBoardModel

    def __init__(self, ws: Any = None, *args: Any, **params: Any):
        super().__init__(ws, *args, **params)
        self._json: dict[int, tuple[int, dict[str, Any]]] = {}
        self._currency = self.board.ws.setting("currency")  # the reporting currency
        self.element = BoardElement(
            words=words(), sizing_mode="stretch_width", css_classes=["crm-board"], margin=(5, 10)
        )
        self.element.on_action = self.act
        self._push()
        self._acting = False
        self.board.param.watch(
            self._changed,
            [
                "columns",
                "closed",
                "users",
                "lost_reasons",
                "message",
                "message_kind",
                "field_errors",
                "error_form",
                *FILTERS,
            ],
        )

    @property
    def board(self) -> PipelineBoardModel:
        """The view-model (``model``, typed)."""
        assert isinstance(self.model, PipelineBoardModel)
        return self.model

    def _build(self) -> pn.viewable.Viewable:
        return self.element

    def _changed(self, *_events: Any) -> None:
        if not self._acting:  # an action pushes once, at its end
            self._push()

    def _push(self) -> None:
        """Show the model's state in the element (only what changed reaches the page)."""
        model, currency = self.board, self._currency
        columns = []
        for column in model.columns:
            cached = self._json.get(column["stage_id"])
            if cached is None or cached[0] != column["rev"]:
                cached = (column["rev"], column_json(column, currency))
                self._json[column["stage_id"]] = cached
            columns.append(cached[1])
        closed = model.closed
        self.element.param.update(
            columns=columns,
            closed=[] if closed is None else [closed_json(d) for d in closed.to_dict("records")],
            filters={name: getattr(model, name) for name in FILTERS},
            users=list(model.users),
            pick_owner=model.ws.role != "sales",
            reasons=list(model.lost_reasons),
            status={"message": _message(model), "kind": model.message_kind},
            errors={"form": model.error_form, "fields": dict(model.field_errors)},
        )

    def act(self, msg: Any) -> None:
        """Run one message from the browser on the model, then answer it (``ack``)."""
        seq = msg.get("seq") if isinstance(msg, dict) else None
        self._acting = True
        try:
            self._run(msg)
        except (KeyError, TypeError, ValueError):
            log.warning("pipeline board: a message it does not understand: %r", msg)
        finally:
            self._acting = False
            self._push()
            if isinstance(seq, int):
                self.element.ack = seq

    def _run(self, msg: dict[str, Any]) -> None:
        model, what = self.board, msg["action"]
        if what == "open":
            model.open(int(msg["id"]))
        elif what == "filter":
            model.param.update(
                owner=str(msg["owner"]),
                tag=str(msg["tag"]),
                close_month=str(msg["close_month"]),
                show_closed=bool(msg["show_closed"]),
            )
        elif what == "refresh":
            model.refresh()
        elif what == "move":
            model.move(int(msg["id"]), int(msg["stage"]), expected_version=int(msg["version"]))
        elif what in ("forward", "back"):
            getattr(model, what)(int(msg["id"]))
        elif what == "win":
            model.win(int(msg["id"]), expected_version=int(msg["version"]))
        elif what == "lose":
            model.lose(
                int(msg["id"]),
                str(msg["reason"]),
                expected_version=int(msg["version"]),
                note=str(msg.get("note") or "") or None,
            )
        elif what == "reopen":
            model.reopen(int(msg["id"]), expected_version=int(msg["version"]))
        elif what == "create":
            model.create(
                int(msg["stage"]),
                str(msg["name"]),
                expected_revenue=str(msg.get("expected_revenue") or ""),
                expected_close=str(msg.get("expected_close") or ""),
            )
        else:
            raise ValueError(what)
