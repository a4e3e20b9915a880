"""The own-records rule on every path: rep A (bilal, sales) calls every public method of
every service on the Workspace against rep B's (olga, sales) records.

Each method has one entry in :data:`TABLE`, with its expectation:

- ``Refused``: every attempt raises AccessDenied (or NotFoundError), names no secret
  in its message, and writes nothing (row counts and journal as they were);
- ``Filtered``: the call answers with A's records only (its check asserts which rows
  came back);
- ``Unmoved``: a list or figure whose value is asserted, and which does not move when
  B's records change (while the manager's does: the check is not vacuous);
- ``Allowed``: safe for everyone, with the reason (companies and contacts are
  everyone's, configuration holds no deal, ...); its values are asserted too.

Every record of B's (and the two "crossed" records: an activity a manager assigned to
bilal on olga's deal, a call bilal logged on it before the rule) carries the token
:data:`SECRET` in its name, subject or summary; no answer to A may contain it.
``test_every_public_method_has_an_entry`` enumerates the services' public methods by
introspection and fails on one without an entry: a new method needs a thought about
access before the suite passes again.
"""

from __future__ import annotations

import datetime as dt
import inspect
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import select

from crm_core import AccessDenied, NotFoundError, Workspace, access
from crm_core.models import (
    Activity,
    Company,
    Contact,
    ContactProposal,
    EmailMessage,
    ExternalLink,
    Mailbox,
    MailSkip,
    Opportunity,
    OutboxMessage,
    Pipeline,
    SalesOrder,
    Setting,
    Stage,
    User,
)
from crm_core.reports import Reports
from tests.crm_core.reports.books import posted

SECRET = "SECRET-B"
TODAY = "2026-05-15"  # the conftest clock's day


# -- the two reps and their records --------------------------------------------------
@dataclass
class Reps:
    """The workspace (as its owner), bilal (rep A), ayesha (a manager) and the ids."""

    ws: Workspace
    a: Workspace
    mgr: Workspace
    ids: dict[str, int] = field(default_factory=dict)

    def __getattr__(self, name: str) -> int:
        try:
            return self.__dict__["ids"][name]
        except KeyError:
            raise AttributeError(name) from None


def build(ws: Workspace) -> Reps:
    """Rep A (bilal) and rep B (olga) on one shared customer, each with a deal, an
    activity on it, an interaction on it and journal history; B also has a won deal
    with its own customer. Crossed records: an activity assigned to bilal on B's deal
    (a manager's), a call bilal logged on B's deal (from before the rule)."""
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    a, b, mgr = ws.as_user("bilal"), ws.as_user("olga"), ws.as_user("ayesha")
    ids: dict[str, int] = {"bilal": int(a.user_id or 0), "olga": int(b.user_id or 0)}
    ws.custom_fields.define("opportunity", "region", "text")
    ids["indus"] = ws.companies.create(name="Indus Textiles", country="PK", owner="bilal")["id"]
    ids["kazan"] = ws.companies.create(name="Kazan Textil", country="RU", owner="olga")["id"]
    ids["imran"] = ws.contacts.create(name="Imran Khan", company=ids["indus"], owner="bilal")["id"]
    ids["irina"] = ws.contacts.create(name="Irina Petrova", company=ids["kazan"], owner="olga")[
        "id"
    ]
    ids["spring"] = ws.campaigns.create(name="Spring push", cost="100.00", currency="PKR")["id"]
    ws.campaigns.add_contacts(ids["spring"], [ids["imran"], ids["irina"]])
    shared = {
        "company": ids["indus"],
        "contact": ids["imran"],
        "currency": "PKR",
        "expected_close": "2026-06-30",
        "tags": ["vip"],
        "source": "web",
        "campaign_id": ids["spring"],
    }
    ids["a_deal"] = a.pipeline.create(
        "Mine: uniforms", expected_revenue="1000.00", custom={"region": "Mine: Sindh"}, **shared
    )["id"]
    ids["b_deal"] = b.pipeline.create(
        f"{SECRET} towels", expected_revenue="7777.77", custom={"region": SECRET}, **shared
    )["id"]
    b.pipeline.move(ids["b_deal"], "Qualified")
    b.pipeline.update(ids["b_deal"], {"description": f"{SECRET} notes"})
    ids["b_won"] = b.pipeline.create(
        f"{SECRET} won",
        **{**shared, "company": ids["kazan"], "contact": ids["irina"]},
        expected_revenue="3333.33",
    )["id"]
    b.pipeline.win(ids["b_won"])
    for who, rep, deal, word in (("a", a, "a_deal", "Mine:"), ("b", b, "b_deal", SECRET)):
        for when, due in (("today", TODAY), ("late", "2026-05-10"), ("soon", "2026-05-18")):
            ids[f"{who}_{when}"] = rep.activities.schedule(
                "call",
                f"{word} call {when}",
                due,
                opportunity=ids[deal],
                contact=ids["imran"],
                company=ids["indus"],
                note=f"{word} note",
            )["id"]
    # Olga's to-do on her customer's contact, on no deal: hers, not bilal's.
    ids["b_todo"] = b.activities.schedule("todo", f"{SECRET} to-do", TODAY, contact=ids["irina"])[
        "id"
    ]
    # A manager gives bilal a call on olga's deal: it goes with the deal, not with him.
    ids["x_act"] = mgr.activities.schedule(
        "call", f"{SECRET} crossed call", TODAY, assignee="bilal", opportunity=ids["b_deal"]
    )["id"]
    ids["a_int"] = a.interactions.log(
        "call", "out", opportunity=ids["a_deal"], contact=ids["imran"], subject="Mine: sizes"
    )["id"]
    ids["b_int"] = b.interactions.log(
        "email",
        "in",
        opportunity=ids["b_deal"],
        contact=ids["imran"],
        subject=f"{SECRET} price",
        summary=f"{SECRET} wants 10% off",
    )["id"]
    # Bilal's own call, logged on olga's deal (as the workspace could hold it from
    # before the rule, or from the ERP): it follows the deal.
    ids["x_int"] = ws.interactions.log(
        "call",
        "out",
        opportunity=ids["b_deal"],
        contact=ids["imran"],
        user="bilal",
        subject=f"{SECRET} crossed call",
    )["id"]
    # Olga's note on the shared contact, on no deal: everyone's, like the contact.
    ids["c_int"] = b.interactions.log(
        "note", "out", contact=ids["imran"], subject="Shared: met at the fair"
    )["id"]
    ws.segments.create("All deals", "opportunity")
    ws.segments.create("VIP deals", "opportunity", tag="vip")
    ws.segments.create("Indus people", "contact", company_id=ids["indus"])
    with ws.transaction() as s:
        # Values kept as the ERP wrote them, and the ERP's links.
        s.get(Opportunity, ids["a_deal"]).unvalidated = {"source": "Mine: kept"}
        s.get(Opportunity, ids["b_deal"]).unvalidated = {"source": f"{SECRET} kept"}
        s.get(Activity, ids["a_today"]).unvalidated = {"note": "Mine: kept"}
        s.get(Activity, ids["b_today"]).unvalidated = {"note": f"{SECRET} kept"}
        for n, (entity, key) in enumerate(
            (("opportunity", "a_deal"), ("opportunity", "b_deal"), ("activity", "b_today")), 1
        ):
            s.add(
                ExternalLink(
                    backend="odoo:test",
                    entity=entity,
                    local_id=ids[key],
                    remote_model="crm.lead" if entity == "opportunity" else "mail.activity",
                    remote_id=n,
                    synced={},
                    synced_at=ws.clock(),
                )
            )
    return Reps(ws=ws, a=a, mgr=mgr, ids=ids)


def disturb(r: Reps) -> None:
    """Change rep B's records (and add crossed ones) without touching rep A's."""
    b = r.ws.as_user("olga")
    b.pipeline.update(r.b_deal, expected_revenue="5555.55")
    b.pipeline.move(r.b_deal, "Negotiation")
    b.pipeline.reopen(r.b_won)
    b.pipeline.lose(r.b_won, "No budget")
    new = b.pipeline.create(
        f"{SECRET} new",
        company=r.indus,
        contact=r.imran,
        expected_revenue="4444.44",
        currency="PKR",
        expected_close="2026-07-31",
        tags=["vip"],
        source="web",
        campaign_id=r.spring,
    )["id"]
    b.activities.complete(r.b_late)
    b.interactions.log("call", "in", contact=r.imran, opportunity=new, subject=f"{SECRET} more")
    crossed = r.mgr.activities.schedule(
        "call", f"{SECRET} crossed 2", "2026-05-12", assignee="bilal", opportunity=new
    )
    r.mgr.activities.complete(crossed["id"])
    r.ws.interactions.log(
        "email", "out", contact=r.imran, opportunity=new, user="bilal", subject=f"{SECRET} x2"
    )


# -- what an answer shows ---------------------------------------------------------------
def shown(value: Any) -> str:
    """Everything an answer shows, as text: every cell of a frame or a workbook."""
    if isinstance(value, pd.DataFrame):
        return value.to_csv(index=False)
    if isinstance(value, io.BytesIO):
        book = openpyxl.load_workbook(io.BytesIO(value.getvalue()), read_only=True)
        return "\n".join(
            f"{sheet.title}: {row}"
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    if isinstance(value, tuple | list):
        return "\n".join(shown(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(f"{k}: {shown(v)}" for k, v in value.items())
    return repr(value)


def ids_of(frame: pd.DataFrame, column: str = "id") -> set[int]:
    return {int(i) for i in frame[column]}


@contextmanager
def session_of(ws: Workspace) -> Iterator[Any]:
    with ws.transaction() as s:
        yield s


def untouched(r: Reps) -> tuple[Any, ...]:
    """What a refused attempt must leave as it was: every count (the journal's too) and
    B's records."""
    ws = r.ws
    return (
        ws.info(),
        ws.pipeline.get(r.b_deal),
        ws.pipeline.get(r.a_deal),
        ws.activities.get(r.b_today),
        ws.activities.get(r.x_act),
        ws.activities.get(r.a_today),
        in_session(ws, lambda s: sorted((x.key, x.value) for x in s.scalars(select(Setting))))(),
        ws.custom_fields.list().to_dict("records"),
        in_session(ws, lambda s: sorted(s.scalars(select(Pipeline.name))))(),
    )


# -- the expectations -------------------------------------------------------------------
Call = Callable[[Reps], Any]


@dataclass(frozen=True)
class Refused:
    """Each attempt raises AccessDenied (NotFoundError where the record is not found for
    A), names none of B's secrets, and writes nothing."""

    attempts: Callable[[Reps], list[Callable[[], Any]]]

    def verify(self, r: Reps) -> None:
        tries = self.attempts(r)  # may set up what is tried on first (mail_facts)
        before = untouched(r)
        assert tries
        for attempt in tries:
            with pytest.raises((AccessDenied, NotFoundError)) as refused:
                attempt()
            assert SECRET not in str(refused.value)
            assert "'bilal' (sales) may not" in str(refused.value) or isinstance(
                refused.value, NotFoundError
            )
        assert untouched(r) == before


@dataclass(frozen=True)
class Filtered:
    """``call`` answers with what A may see; ``check(answer, reps)`` asserts the rows."""

    call: Call
    check: Callable[[Any, Reps], None]

    def verify(self, r: Reps) -> None:
        answer = self.call(r)
        assert SECRET not in shown(answer)
        self.check(answer, r)


@dataclass(frozen=True)
class Unmoved:
    """``call(ws, reps)`` gives a list or figures: as A they are ``check``ed, and they do
    not move when B's records change; the manager's do (unless ``moves`` is False: the
    figures come from the books, which B's deals do not change)."""

    call: Callable[[Workspace, Reps], Any]
    check: Callable[[Any, Reps], None] | None = None
    moves: bool = True

    def verify(self, r: Reps) -> None:
        mine, theirs = self.call(r.a, r), self.call(r.mgr, r)
        assert SECRET not in shown(mine)
        if self.check is not None:
            self.check(mine, r)
        if self.moves:
            assert SECRET in shown(theirs) or shown(theirs) != shown(mine)
        disturb(r)
        after = self.call(r.a, r)
        assert shown(after) == shown(mine), "rep A's answer moved with rep B's records"
        if self.moves:
            assert shown(self.call(r.mgr, r)) != shown(theirs), "the manager's did not"


@dataclass(frozen=True)
class Allowed:
    """Safe for everyone, for ``reason``; ``check(answer, reps)`` asserts the values."""

    reason: str
    call: Call
    check: Callable[[Any, Reps], None]

    def verify(self, r: Reps) -> None:
        assert len(self.reason) > 20
        answer = self.call(r)
        assert SECRET not in shown(answer)
        self.check(answer, r)


def equals(expected: Any) -> Callable[[Any, Reps], None]:
    def check(answer: Any, _r: Reps) -> None:
        assert answer == expected

    return check


def raises(kind: type[Exception], call: Callable[[], Any]) -> bool:
    """Whether ``call`` raises ``kind``."""
    try:
        call()
    except kind:
        return True
    return False


def holds(predicate: Callable[[Any, Reps], bool]) -> Callable[[Any, Reps], None]:
    def check(answer: Any, r: Reps) -> None:
        assert predicate(answer, r), answer

    return check


def outbox_row(r: Reps, user_id: int, state: str) -> int:
    """A message ``user_id`` queued to Irina (B's contact), in ``state``: its id."""
    with session_of(r.ws) as s:
        row = OutboxMessage(
            state=state,
            contact_id=r.irina,
            recipient="irina@kazan.example.com",
            subject=f"{SECRET} offer",
            body_text=SECRET,
            message_id=f"<{state}-{user_id}@kazan.example.com>",
            user_id=user_id,
            attempts=0,
            queued_at=dt.datetime(2026, 5, 15, tzinfo=dt.UTC),
        )
        s.add(row)
        s.flush()
        return int(row.id)


def mail_facts(r: Reps) -> dict[str, Any]:
    """Olga's mailbox with a skipped message, a proposed sender waiting with a message,
    and two messages of one thread: bilal's (on his deal) and olga's answer (on hers)."""
    when = dt.datetime(2026, 5, 15, tzinfo=dt.UTC)
    with session_of(r.ws) as s:
        box = Mailbox(
            name="olga's mail", owner_id=r.ws.users.get("olga")["id"],
            address="olga@example.com", host="imap.example.com", port=993,
            login="olga", folders=["INBOX"], last_report={"created": 2},
        )  # fmt: skip
        s.add(box)
        s.flush()
        s.add(MailSkip(mailbox_id=box.id, folder="INBOX", uid=7, reason="not a message", at=when))
        waiting = ContactProposal(
            email="new@x.example.com", email_key="new@x.example.com", first_seen_at=when
        )
        s.add(waiting)
        s.flush()
        thread = "<a@example.com>"
        for message_id, interaction, proposal in (
            ("<a@example.com>", r.a_int, None),
            ("<b@example.com>", r.b_int, None),
            ("<c@example.com>", None, waiting.id),
        ):
            s.add(
                EmailMessage(
                    message_id=message_id, interaction_id=interaction, thread_id=thread,
                    subject=f"{SECRET} re" if interaction != r.a_int else "Sizes",
                    sent_at=when, fetched_at=when, proposal_id=proposal,
                )
            )  # fmt: skip
        return {"box": box.id, "proposal": waiting.id}


# -- the table ---------------------------------------------------------------------------
PARTIES = "companies and contacts are everyone's (crm_core.access); no deal is read or changed"
CONFIG = "workspace configuration: holds and changes no deal, activity or interaction"
LOGIN = "a staff app login: the token is the credential, no record is read"
BOOKS = "the ERP's books are everyone's, like the companies and contacts they are addressed to"


def party_entries(service: str, mine: str, theirs: str, name: str) -> dict[str, Any]:
    """The entries of companies or contacts: B's customer ``theirs`` (named ``name``) is
    as visible and changeable to A as A's own ``mine``."""

    def svc(r: Reps) -> Any:
        return getattr(r.a, service)

    model = Company if service == "companies" else Contact

    def write(r: Reps) -> Any:
        with session_of(r.a) as s:
            obj = s.get(model, r.ids[theirs])
            svc(r).write_fields(s, obj, {"city": "Kazan"}, creating=False)
            return obj.city

    def take(r: Reps) -> Any:
        with session_of(r.a) as s:
            obj = s.get(model, r.ids[theirs])
            svc(r).write_fields(s, obj, {"owner_id": r.bilal}, creating=False)

    return {
        f"{service}.archive": Allowed(
            PARTIES,
            lambda r: svc(r).archive(r.ids[theirs]),
            holds(lambda d, r: d["active"] is False and d["name"] == name),
        ),
        f"{service}.count": Allowed(PARTIES, lambda r: svc(r).count(), equals(2)),
        f"{service}.create": Allowed(
            PARTIES, lambda r: svc(r).create(name="New One")["name"], equals("New One")
        ),
        f"{service}.get": Allowed(
            PARTIES,
            lambda r: svc(r).get(r.ids[theirs]),
            holds(lambda d, r: d["name"] == name and d["owner_id"] == r.olga),
        ),
        f"{service}.ids_named": Allowed(
            PARTIES,
            lambda r: svc(r).ids_named(name),
            holds(lambda got, r: got == [r.ids[theirs]]),
        ),
        f"{service}.matching": Allowed(
            PARTIES,
            lambda r: in_session(r.a, lambda s: set(s.scalars(svc(r).matching(s))))(),
            holds(lambda got, r: got == {r.ids[mine], r.ids[theirs]}),
        ),
        f"{service}.keepable": Allowed(
            "which fields may be kept as written: a constant of the model",
            lambda r: svc(r).keepable(),
            holds(lambda d, _r: "name" in d and "email" in d),
        ),
        f"{service}.phone_cleaner": Allowed(
            "a validator for phone numbers: reads no record",
            lambda r: svc(r).phone_cleaner("PK")("0300 1234567"),
            equals("+923001234567"),
        ),
        f"{service}.restore": Allowed(
            PARTIES,
            lambda r: svc(r).restore(r.ids[theirs]),
            holds(lambda d, _r: d["active"] is True),
        ),
        f"{service}.search": Allowed(
            PARTIES,
            lambda r: svc(r).search(order_by="id"),
            holds(lambda f, r: ids_of(f) == {r.ids[mine], r.ids[theirs]}),
        ),
        f"{service}.update": Allowed(
            PARTIES + "; but only a manager reassigns one another user owns",
            lambda r: (
                raises(AccessDenied, lambda: svc(r).update(r.ids[theirs], owner="bilal")),
                raises(AccessDenied, lambda: svc(r).update(r.ids[theirs], {"owner": None})),
                svc(r).update(r.ids[theirs], city="Kazan", owner="olga"),
            ),
            holds(lambda d, r: d[:2] == (True, True) and d[2]["city"] == "Kazan"),
        ),
        f"{service}.write_fields": Allowed(
            PARTIES + "; but only a manager reassigns one another user owns",
            lambda r: (raises(AccessDenied, lambda: take(r)), write(r)),
            equals((True, "Kazan")),
        ),
    }


def in_session(ws: Workspace, work: Callable[[Any], Any]) -> Callable[[], Any]:
    """An attempt made inside ``ws``'s own session, as the ERP sync writes."""

    def attempt() -> Any:
        with session_of(ws) as s:
            return work(s)

    return attempt


def deal_write(r: Reps, deal: str, values: dict[str, Any]) -> Callable[[], Any]:
    return in_session(
        r.a,
        lambda s: r.a.pipeline.write_fields(s, s.get(Opportunity, r.ids[deal]), values, [], False),
    )


def activity_write(r: Reps, act: str, values: dict[str, Any]) -> Callable[[], Any]:
    return in_session(
        r.a,
        lambda s: r.a.activities.write_fields(s, s.get(Activity, r.ids[act]), values, "x", []),
    )


def moved_stage(r: Reps) -> Callable[[], Any]:
    def work(s: Any) -> Any:
        opp = s.get(Opportunity, r.b_deal)
        target = s.scalars(select(Stage).where(Stage.name == "Proposition")).one()
        return r.a.pipeline.move_in_session(s, opp, target)

    return in_session(r.a, work)


def b_deals(r: Reps) -> list[int]:
    return [r.b_deal, r.b_won]


def b_activities(r: Reps) -> list[int]:
    return [r.b_today, r.b_late, r.b_soon, r.b_todo, r.x_act]


def a_activities(r: Reps) -> set[int]:
    return {r.a_today, r.a_late, r.a_soon}


def activity_lists(r: Reps, method: str) -> pd.DataFrame:
    """One of A's activity lists; asking for olga's is refused."""
    lister = getattr(r.a.activities, method)
    with pytest.raises(AccessDenied, match="may not list the activities of"):
        lister("olga")
    return lister()


def timeline(r: Reps) -> tuple[pd.DataFrame, ...]:
    t = r.a.interactions.timeline
    return (t(opportunity_id=r.b_deal), t(contact_id=r.imran), t(company_id=r.indus))


def private_mail(r: Reps) -> None:
    """Journal rows of olga's own that are no deal's: her private mailbox (with its
    host and login), and a message she queued, journaled whole when a manager merges
    the contact it goes to (``r.ids``: ``b_box``, ``b_mail``)."""
    r.ids["b_box"] = mail_facts(r)["box"]
    olga = r.ws.as_user("olga")
    customer = olga.contacts.create(name="Kazan buyer", company=r.kazan, owner="olga")["id"]
    with session_of(r.ws) as s:
        row = OutboxMessage(
            state="queued", contact_id=customer, recipient="buyer@kazan.example.com",
            subject=f"{SECRET} offer", body_text=SECRET, message_id="<private@kazan.example>",
            user_id=r.olga, attempts=0, queued_at=dt.datetime(2026, 5, 15, tzinfo=dt.UTC),
        )  # fmt: skip
        s.add(row)
        s.flush()
        r.ids["b_mail"] = int(row.id)
    twin = r.ws.contacts.create(name="Kazan buyer (twin)")["id"]
    r.mgr.duplicates.merge("contacts", twin, customer)
    assert SECRET in r.mgr.journal.for_record("mail_outbox", r.b_mail).to_csv()


def journal_for_records(r: Reps) -> tuple[pd.DataFrame, ...]:
    private_mail(r)
    j = r.a.journal.for_record
    hidden = [("opportunities", d) for d in b_deals(r)]
    hidden += [("activities", x) for x in b_activities(r)]
    hidden += [("interactions", r.b_int), ("interactions", r.x_int)]
    hidden += [("mailboxes", r.b_box), ("mail_outbox", r.b_mail)]
    return (
        *(j(entity, record) for entity, record in hidden),
        j(Opportunity, r.b_deal),  # by the model, too
        j("opportunities", r.a_deal),
        j("activities", r.a_today),
        j("contacts", r.irina),
    )


def check_journal_for_records(frames: tuple[pd.DataFrame, ...], r: Reps) -> None:
    *hidden, by_model, deal, act, contact = frames
    assert all(f.empty for f in hidden) and by_model.empty
    assert deal["action"].tolist()[0] == "create" and set(deal["record_id"]) == {r.a_deal}
    assert set(act["record_id"]) == {r.a_today}
    assert contact["action"].tolist() == ["create"]  # olga's customer's contact: everyone's


def check_since(rows: pd.DataFrame, r: Reps) -> None:
    about = set(zip(rows["entity"], rows["record_id"], strict=True))
    hidden = {("opportunities", d) for d in b_deals(r)}
    hidden |= {("activities", x) for x in b_activities(r)}
    hidden |= {("interactions", r.b_int), ("interactions", r.x_int)}
    hidden |= {("mailboxes", r.b_box), ("mail_outbox", r.b_mail)}
    assert not about & hidden
    # Only the tables a sales user reads: no proposed contact, bounce or ERP link.
    assert {e for e, _ in about} <= set(access.SHARED_TABLES) | set(access.JOURNAL_NARROWED)
    assert {
        ("opportunities", r.a_deal),
        ("interactions", r.a_int),
        ("interactions", r.c_int),
    } <= about
    assert {("activities", x) for x in a_activities(r)} <= about
    assert {("companies", r.kazan), ("contacts", r.irina)} <= about
    # No stage move of B's deals, and a page of `since` is a page of what A may see.
    moves = rows[rows["field"] == "stage_id"]
    assert set(moves["record_id"]) <= {r.a_deal}
    page = r.a.journal.since(0, limit=5)
    assert page["id"].tolist() == rows["id"].tolist()[:5]


def quality_issues(r: Reps) -> pd.DataFrame:
    return r.a.quality.issues()


def check_issues(frame: pd.DataFrame, r: Reps) -> None:
    got = set(zip(frame["entity"], frame["id"], strict=True))
    assert got == {("opportunity", r.a_deal), ("activity", r.a_today)}


def check_quality_count(frame: pd.DataFrame, _r: Reps) -> None:
    assert frame.to_dict("records") == [
        {"entity": "opportunity", "field": "source", "count": 1},
        {"entity": "activity", "field": "note", "count": 1},
    ]


def headline(ws: Workspace, _r: Reps) -> dict[str, Any]:
    return ws.metrics.headline()


def check_headline(h: dict[str, Any], _r: Reps) -> None:
    assert h["open_deals"] == 1
    assert h["pipeline_value"] == {"PKR": Decimal("1000.00")}
    assert h["weighted_pipeline"] == {"PKR": Decimal("100.00")}
    assert (h["won"], h["lost"], h["activities_done"]) == (0, 0, 0)


def check_info(info: dict[str, int], r: Reps) -> None:
    assert info["opportunities"] == 1
    assert info["stage_changes"] == 1
    assert info["activities"] == 3
    assert info["interactions"] == 2  # A's, and olga's note on the shared contact
    assert (info["companies"], info["contacts"]) == (2, 2)
    assert info["journal"] == len(r.a.journal.since(0, limit=1_000_000))


def workbook(ws: Workspace, _r: Reps) -> io.BytesIO:
    return ws.export.xlsx(io.BytesIO(), "sales_review", "opportunities", "activities", "contacts")


def check_workbook(book: io.BytesIO, _r: Reps) -> None:
    text = shown(book)
    assert "Mine: uniforms" in text and "Mine: call today" in text and "Irina Petrova" in text
    assert "7777" not in text and "3333" not in text


class FakeBackend:
    """An ERP connection that only records being asked to sync."""

    def __init__(self) -> None:
        self.asked = 0

    def sync(self, ws: Workspace, **options: Any) -> None:
        self.asked += 1


def refused_sync(r: Reps) -> list[Callable[[], Any]]:
    backend = FakeBackend()

    def attempt() -> None:
        try:
            r.a.sync(backend)
        finally:
            assert backend.asked == 0

    return [attempt]


#: Reports whose figures come from deals, activities or interactions: the manager's
#: move with B's records. (The others read the ERP's books.)
MOVING_REPORTS = {
    "campaign_results",
    "forecast_pipeline",
    "funnel",
    "interactions",
    "pipeline_by_stage",
    "stage_velocity",
    "stage_win_rates",
    "win_loss",
    "workload",
}


def books(r: Reps) -> Reps:
    """The ERP's books of both reps' customers (an invoice goes with its company's
    owner, or its contact's when it names no company), a credit note and an invoice of
    nobody's; B's carry :data:`SECRET` in their number or name."""
    rows = [  # key, move_type, company, contact, residual, number
        ("i_indus", "out_invoice", "indus", "imran", "100.00", "A/1"),
        ("i_indus_irina", "out_invoice", "indus", "irina", "10.00", "A/2"),
        ("i_imran", "out_invoice", None, "imran", "5.00", "A/3"),
        ("i_refund", "out_refund", "indus", None, "20.00", "A/4"),
        ("i_kazan", "out_invoice", "kazan", "imran", "7777.00", f"{SECRET}/1"),
        ("i_irina", "out_invoice", None, "irina", "300.00", f"{SECRET}/2"),
        ("i_nobody", "out_invoice", None, None, "1.00", f"{SECRET}/3"),
    ]
    orders = [  # key, company, contact, name
        ("o_indus", "indus", None, "SO/A1"),
        ("o_imran", None, "imran", "SO/A2"),
        ("o_kazan", "kazan", "imran", f"{SECRET} SO1"),
        ("o_irina", None, "irina", f"{SECRET} SO2"),
    ]
    with r.ws.transaction() as s:
        made: dict[str, Any] = {}
        for n, (key, kind, company, contact, residual, number) in enumerate(rows, 1):
            made[key] = posted(
                n,
                f"2026-05-{n:02d}",
                residual if kind == "out_invoice" else f"-{residual}",
                company=r.ids[company] if company else None,
                contact=r.ids[contact] if contact else None,
                number=number,
                amount_residual=Decimal(residual),
                payment_state="not_paid",
            )
        for n, (key, company, contact, name) in enumerate(orders, 1):
            made[key] = SalesOrder(
                backend="odoo:test",
                remote_id=n,
                name=name,
                company_id=r.ids[company] if company else None,
                contact_id=r.ids[contact] if contact else None,
                ordered_at=dt.datetime(2026, 5, n, tzinfo=dt.UTC),
                currency="PKR",
                amount_total=Decimal("50.00"),
                state="sale",
            )
        s.add_all(made.values())
        s.flush()
        r.ids.update((key, row.id) for key, row in made.items())
    return r


def check_invoices(frames: tuple[pd.DataFrame, ...], r: Reps) -> None:
    mine, kazan, irina = frames
    manager = r.mgr.accounts.invoices(limit=10_000)
    assert ids_of(mine) == {r.i_indus, r.i_indus_irina, r.i_imran, r.i_refund}
    assert kazan.empty
    # Irina is olga's, but the invoice addressed to her at bilal's company is bilal's.
    assert ids_of(irina) == {r.i_indus_irina}
    assert len(manager) == 7  # the manager sees every one: the check is not vacuous


def check_balances(balances: tuple[dict[str, Decimal], ...], r: Reps) -> None:
    mine, kazan, irina = balances
    manager = r.mgr.accounts.open_balance()
    assert mine == {"PKR": Decimal("95.00")}  # 100 + 10 + 5 - 20 (the credit note)
    assert kazan == {}
    assert irina == {"PKR": Decimal("10.00")}  # bilal's company's invoice to her
    assert manager == {"PKR": Decimal("8173.00")}


def check_orders(frames: tuple[pd.DataFrame, ...], r: Reps) -> None:
    mine, kazan = frames
    manager = r.mgr.accounts.sales_orders()
    assert ids_of(mine) == {r.o_indus, r.o_imran}
    assert kazan.empty
    assert len(manager) == 4


REPORT_NAMES = Reports(None).names()  # type: ignore[arg-type]


def report_entry(name: str) -> Unmoved:
    return Unmoved(lambda ws, _r: ws.reports.run(name), moves=name in MOVING_REPORTS)


TABLE: dict[str, Any] = {
    **party_entries("companies", "indus", "kazan", "Kazan Textil"),
    **party_entries("contacts", "imran", "irina", "Irina Petrova"),
    # -- pipeline ---------------------------------------------------------------------
    "pipeline.add_in_session": Refused(
        lambda r: [
            in_session(
                r.a,
                lambda s: r.a.pipeline.add_in_session(s, Opportunity(name="x", owner_id=r.olga)),
            )
        ]
    ),
    "pipeline.archive": Refused(
        lambda r: [lambda d=d: r.a.pipeline.archive(d) for d in b_deals(r)]
    ),
    "pipeline.by_stage": Unmoved(
        lambda ws, _r: (ws.pipeline.by_stage(), ws.pipeline.by_stage(owner="olga")),
        holds(
            lambda f, _r: (
                int(f[0]["count"].sum()) == 1
                and sum(f[0]["value"]) == Decimal("1000.00")
                and int(f[1]["count"].sum()) == 0
            )
        ),
    ),
    "pipeline.count": Unmoved(
        lambda ws, _r: (
            ws.pipeline.count(),
            ws.pipeline.count(owner="olga"),
            ws.pipeline.count(SECRET),
            ws.pipeline.count(status="won", include_archived=True),
        ),
        equals((1, 0, 0, 0)),
    ),
    "pipeline.create": Refused(
        lambda r: [
            lambda: r.a.pipeline.create("For olga", owner="olga"),
            lambda: r.a.pipeline.create("For olga", owner_id=r.olga),
        ]
    ),
    # Workspace structure is a manager's or admin's call (it spans the team's deals).
    "pipeline.create_pipeline": Refused(lambda r: [lambda: r.a.pipeline.create_pipeline("P")]),
    "pipeline.ensure_default": Allowed(
        CONFIG + " (creates the default pipeline once)",
        lambda r: (r.a.pipeline.ensure_default(), r.a.pipeline.count())[1],
        equals(1),
    ),
    "pipeline.get": Refused(lambda r: [lambda d=d: r.a.pipeline.get(d) for d in b_deals(r)]),
    "pipeline.history": Refused(
        lambda r: [lambda d=d: r.a.pipeline.history(d) for d in b_deals(r)]
    ),
    "pipeline.keepable": Allowed(
        "which fields may be kept as written: a constant of the model",
        lambda r: r.a.pipeline.keepable(),
        holds(lambda d, _r: set(d) == {"name", "source", "description"}),
    ),
    "pipeline.lose": Refused(lambda r: [lambda: r.a.pipeline.lose(r.b_deal, "No budget")]),
    "pipeline.get_pipeline": Allowed(
        CONFIG,
        lambda r: in_session(r.a, lambda s: r.a.pipeline.get_pipeline(s, None).name)(),
        equals("Sales"),
    ),
    "pipeline.lost_reasons": Allowed(
        CONFIG, lambda r: r.a.pipeline.lost_reasons(), holds(lambda got, _r: "No budget" in got)
    ),
    "pipeline.lost_reason_names": Allowed(
        CONFIG,
        lambda r: r.a.pipeline.lost_reason_names(),
        holds(lambda got, _r: "No budget" in got.values()),
    ),
    "pipeline.move": Refused(lambda r: [lambda: r.a.pipeline.move(r.b_deal, "Proposition")]),
    "pipeline.move_in_session": Refused(lambda r: [moved_stage(r)]),
    "pipeline.reopen": Refused(lambda r: [lambda: r.a.pipeline.reopen(r.b_won)]),
    "pipeline.restore": Refused(
        lambda r: [lambda d=d: r.a.pipeline.restore(d) for d in b_deals(r)]
    ),
    "pipeline.search": Filtered(
        lambda r: (
            r.a.pipeline.search(),
            r.a.pipeline.search(include_archived=True, company_id=r.indus, contact_id=r.imran),
            r.a.pipeline.search(owner="olga"),
            r.a.pipeline.search(status="won"),
            r.a.pipeline.search(SECRET),
            r.a.pipeline.search(tag="vip", order_by="revenue"),
        ),
        holds(
            lambda f, r: (
                ids_of(f[0]) == ids_of(f[1]) == ids_of(f[5]) == {r.a_deal}
                and f[2].empty
                and f[3].empty
                and f[4].empty
            )
        ),
    ),
    "pipeline.matching": Filtered(
        lambda r: in_session(r.a, lambda s: set(s.scalars(r.a.pipeline.matching(s))))(),
        holds(lambda got, r: got == {r.a_deal}),
    ),
    "pipeline.stage_totals": Unmoved(
        lambda ws, _r: (ws.pipeline.stage_totals(), ws.pipeline.stage_totals(owner="olga")),
        holds(
            lambda f, _r: (
                int(f[0]["count"].sum()) == 1
                and sum(f[0]["value"]) == Decimal("1000.00")
                and f[1].empty
            )
        ),
    ),
    "pipeline.stages": Allowed(
        CONFIG,
        lambda r: r.a.pipeline.stages()["name"].tolist(),
        equals(["New", "Qualified", "Proposition", "Negotiation", "Won", "Lost"]),
    ),
    "pipeline.update": Refused(
        lambda r: [
            lambda: r.a.pipeline.update(r.b_deal, {"name": "Mine now"}),
            lambda: r.a.pipeline.update(r.b_deal, {"owner": "bilal"}),
            lambda: r.a.pipeline.update(r.a_deal, {"owner": "olga"}),  # nor give his away
        ]
    ),
    "pipeline.win": Refused(lambda r: [lambda: r.a.pipeline.win(r.b_deal)]),
    "pipeline.write_fields": Refused(
        lambda r: [
            deal_write(r, "b_deal", {"name": "Mine now"}),
            deal_write(r, "b_deal", {"owner": "bilal"}),  # nor take hers
            deal_write(r, "a_deal", {"owner": "olga"}),
        ]
    ),
    # -- activities -------------------------------------------------------------------
    "activities.complete": Refused(
        lambda r: [lambda x=x: r.a.activities.complete(x) for x in b_activities(r)]
    ),
    "activities.complete_and_schedule": Refused(
        lambda r: [
            lambda x=x: r.a.activities.complete_and_schedule(x, "call", "Next", TODAY)
            for x in b_activities(r)
        ]
    ),
    "activities.due_today": Filtered(
        lambda r: activity_lists(r, "due_today"), holds(lambda f, r: ids_of(f) == {r.a_today})
    ),
    "activities.for_record": Filtered(
        lambda r: (
            r.a.activities.for_record(opportunity_id=r.b_deal, include_done=True),
            r.a.activities.for_record(contact_id=r.imran, include_done=True),
            r.a.activities.for_record(company_id=r.indus),
        ),
        holds(lambda f, r: f[0].empty and ids_of(f[1]) == ids_of(f[2]) == a_activities(r)),
    ),
    "activities.get": Refused(
        lambda r: [lambda x=x: r.a.activities.get(x) for x in b_activities(r)]
    ),
    "activities.keepable": Allowed(
        "which fields may be kept as written: a constant of the model",
        lambda r: r.a.activities.keepable(),
        holds(lambda d, _r: set(d) == {"subject", "note"}),
    ),
    "activities.overdue": Filtered(
        lambda r: activity_lists(r, "overdue"), holds(lambda f, r: ids_of(f) == {r.a_late})
    ),
    "activities.reassign": Refused(
        lambda r: [
            lambda: r.a.activities.reassign(r.b_today, "bilal"),
            lambda: r.a.activities.reassign(r.b_todo, "bilal"),
            lambda: r.a.activities.reassign(r.x_act, "olga"),
            # His own, on his deal: not to a rep who may not see the deal.
            lambda: r.a.activities.reassign(r.a_today, "olga"),
        ]
    ),
    "activities.schedule": Refused(
        lambda r: [
            lambda: r.a.activities.schedule("call", "Mine", TODAY, opportunity=r.b_deal),
            lambda: r.a.activities.schedule(
                "call", "For her", TODAY, opportunity=r.b_deal, assignee="olga"
            ),
            lambda: r.a.activities.schedule(
                "call", "For her", TODAY, opportunity=r.a_deal, assignee="olga"
            ),
        ]
    ),
    "activities.snooze": Refused(
        lambda r: [lambda x=x: r.a.activities.snooze(x, days=3) for x in b_activities(r)]
    ),
    "activities.upcoming": Filtered(
        lambda r: activity_lists(r, "upcoming"), holds(lambda f, r: ids_of(f) == {r.a_soon})
    ),
    "activities.update": Refused(
        lambda r: [
            lambda: r.a.activities.update(r.b_today, subject="Mine now"),
            lambda: r.a.activities.update(r.b_todo, assignee="bilal"),
            lambda: r.a.activities.update(r.x_act, subject="Mine now"),
            lambda: r.a.activities.update(r.a_today, opportunity=r.b_deal),
        ]
    ),
    "activities.write_fields": Refused(
        lambda r: [
            activity_write(r, "b_today", {"subject": "Mine now"}),
            activity_write(r, "b_todo", {"assignee": "bilal"}),
            activity_write(r, "a_today", {"opportunity": r.b_deal}),
        ]
    ),
    "activities.prepare": Refused(
        lambda r: [
            in_session(
                r.a,
                lambda s: r.a.activities.prepare(
                    s, "call", "Mine now", TODAY, {"opportunity": r.b_deal}
                ),
            ),
            in_session(
                r.a,
                lambda s: r.a.activities.prepare(
                    s, "call", "Hers", TODAY, {"opportunity": r.b_deal, "assignee": "olga"}
                ),
            ),
        ]
    ),
    # -- interactions -----------------------------------------------------------------
    # A rep logs on their own deals only, and in their own name only: a call logged
    # as olga's would count in her timeline, workload and interactions figures.
    "interactions.prepare": Refused(
        lambda r: [
            in_session(
                r.a,
                lambda s: r.a.interactions.prepare(
                    s, "call", "out", None, {"opportunity": r.b_deal, "subject": "Mine"}
                ),
            ),
            in_session(
                r.a,
                lambda s: r.a.interactions.prepare(
                    s, "call", "out", None, {"contact": r.imran, "user": "olga"}
                ),
            ),
        ]
    ),
    "interactions.log": Refused(
        lambda r: [
            lambda: r.a.interactions.log("call", "out", opportunity=r.b_deal, subject="Mine"),
            lambda: r.a.interactions.log("call", "out", opportunity=r.b_won, contact=r.irina),
            lambda: r.a.interactions.log("call", "out", contact=r.imran, user="olga"),
            lambda: r.a.interactions.log("call", "out", contact=r.imran, user_id=r.olga),
            lambda: r.a.interactions.log(
                "call", "out", opportunity=r.a_deal, contact=r.imran, user="olga"
            ),
        ]
    ),
    "interactions.log_and_schedule": Refused(
        lambda r: [
            lambda: r.a.interactions.log_and_schedule(
                "call", "out", "call", "Next", TODAY, opportunity=r.b_deal, subject="Mine"
            ),
            lambda: r.a.interactions.log_and_schedule(
                "call", "out", "call", "Next", TODAY, contact=r.imran, user="olga"
            ),
            lambda: r.a.interactions.log_and_schedule(
                "call", "out", "call", "Next", TODAY, contact=r.imran, user_id=r.olga
            ),
        ]
    ),
    "interactions.timeline": Filtered(
        timeline,
        holds(lambda f, r: f[0].empty and ids_of(f[1]) == ids_of(f[2]) == {r.a_int, r.c_int}),
    ),
    # -- segments and campaigns -------------------------------------------------------
    "segments.count": Unmoved(
        lambda ws, _r: (ws.segments.count("All deals"), ws.segments.count("VIP deals")),
        equals((1, 1)),
    ),
    # Segments and campaigns are the team's: everyone reads them, managers change them.
    "segments.create": Refused(
        lambda r: [
            lambda: r.a.segments.create("Olga's", "opportunity", owner="olga"),
            lambda: r.a.segments.create("My people", "contact", company_id=r.indus),
        ]
    ),
    "segments.delete": Refused(
        lambda r: [
            lambda: r.a.segments.delete("VIP deals"),
            lambda: r.a.segments.delete(r.mgr.segments.get("Indus people")["id"]),
        ]
    ),
    "segments.contact_ids": Allowed(
        PARTIES + "; a contact segment's contacts, every page of them",
        lambda r: r.a.segments.contact_ids("Indus people", "campaign"),
        holds(lambda ids, r: set(ids) == {r.imran}),
    ),
    "segments.evaluate": Filtered(
        lambda r: (
            r.a.segments.evaluate("All deals"),
            r.a.segments.evaluate("VIP deals"),
            r.a.segments.evaluate("Indus people"),
        ),
        holds(
            lambda f, r: ids_of(f[0]) == ids_of(f[1]) == {r.a_deal} and ids_of(f[2]) == {r.imran}
        ),
    ),
    "segments.get": Allowed(
        "saved filters (a name and filters), shared; no record in them",
        lambda r: r.a.segments.get("VIP deals")["entity"],
        equals("opportunity"),
    ),
    "segments.list": Allowed(
        "saved filters (names and filters), shared; no record in them",
        lambda r: r.a.segments.list()["name"].tolist(),
        equals(["All deals", "Indus people", "VIP deals"]),
    ),
    "campaigns.add_contacts": Refused(
        lambda r: [
            lambda: r.a.campaigns.add_contacts(r.spring, segment="Indus people"),
            lambda: r.a.campaigns.add_contacts(r.spring, list(range(1, 400))),
        ]
    ),
    "campaigns.list": Allowed(
        "campaigns are shared and hold no deal",
        lambda r: r.a.campaigns.list()["name"].tolist(),
        equals(["Spring push"]),
    ),
    "campaigns.count": Allowed(
        "campaigns are shared and hold no deal", lambda r: r.a.campaigns.count(), equals(1)
    ),
    "campaigns.create": Refused(
        lambda r: [
            lambda: r.a.campaigns.create(name="Autumn push"),
            lambda: r.a.campaigns.create(name="Mine", cost="10.00", currency="PKR"),
        ]
    ),
    "campaigns.members": Allowed(
        PARTIES + "; a campaign's members are contacts",
        lambda r: r.a.campaigns.members(r.spring)["name"].tolist(),
        equals(["Imran Khan", "Irina Petrova"]),
    ),
    "campaigns.responded": Refused(
        lambda r: [
            lambda: r.a.campaigns.responded(r.spring, r.irina),
            lambda: r.a.campaigns.responded(r.spring, r.imran),
        ]
    ),
    # -- e-mail out (crm_core.mail.outgoing): only to one's own contacts ---------------
    # -- mail in: every mailbox's messages are linked to every deal: a manager's run ---
    "mail.fetch": Refused(  # a user fetches their own mailbox only (test_access_round6)
        lambda r: (
            lambda f: [
                lambda: r.a.mail.fetch(),
                lambda: r.a.mail.fetch("olga's mail", password="x"),
                lambda: r.a.mail.fetch(f["box"], password="x"),
            ]
        )(mail_facts(r))
    ),
    "mail.add_mailbox": Refused(
        lambda r: [  # a user adds their own mailbox only (their own unless told): not olga's
            lambda: r.a.mail.add_mailbox(
                "olga", address="o@example.com", host="imap.example.com", login="o", owner="olga"
            ),
            lambda: r.a.mail.add_mailbox(
                "env",
                address="s@example.com",
                host="imap.example.com",
                login="s",
                password_env="OLGA_IMAP",
            ),
        ]
    ),
    "mail.proposals": Refused(lambda r: [lambda: r.a.mail.proposals()]),
    "mail.accept_proposal": Refused(
        lambda r: (lambda f: [lambda: r.a.mail.accept_proposal(f["proposal"], name="New")])(
            mail_facts(r)
        )
    ),
    "mail.dismiss_proposal": Refused(
        lambda r: (lambda f: [lambda: r.a.mail.dismiss_proposal(f["proposal"])])(mail_facts(r))
    ),
    "mail.skipped": Refused(
        lambda r: (lambda f: [lambda: r.a.mail.skipped(f["box"])])(mail_facts(r))
    ),
    "mail.status": Filtered(
        # the shared mailboxes and A's own: B's mailbox, its errors and report are B's
        lambda r: (mail_facts(r), r.a.mail.status())[1],
        holds(lambda f, _r: f.empty),
    ),
    # A's message's thread without B's answer; B's message itself is not found
    "mail.thread": Filtered(
        lambda r: (mail_facts(r), r.a.mail.thread("<a@example.com>"))[1],
        holds(
            lambda f, r: (
                f["message_id"].tolist() == ["<a@example.com>"]
                and raises(NotFoundError, lambda: r.a.mail.thread("<b@example.com>"))
            )
        ),
    ),
    "mail.check_in_doubt": Refused(lambda r: [lambda: r.a.mail.check_in_doubt()]),
    "mail.compose": Refused(lambda r: [lambda: r.a.mail.compose(r.irina, "follow_up")]),
    "mail.configure": Refused(lambda r: [lambda: r.a.mail.configure(rate_per_minute=5)]),
    # B's queued message and B's message in doubt: A's drain neither sends nor lists them
    "mail.drain": Filtered(
        lambda r: (
            outbox_row(r, r.olga, "queued"),
            outbox_row(r, r.olga, "sending"),
            r.a.mail.drain(),
        ),
        holds(
            lambda answer, r: (
                str(answer[2]) == "sent 0, failed 0"
                and answer[2].in_doubt == []
                and r.mgr.mail.outbox()["state"].tolist() == ["sending", "queued"]
            )
        ),
    ),
    # Marking replies gives deals their campaign: any rep's deals (attribute_deals).
    "mail.mark_replies": Refused(
        lambda r: [lambda: r.a.mail.mark_replies(), lambda: r.a.mail.mark_replies(r.spring)]
    ),
    "mail.outbox": Filtered(
        lambda r: (outbox_row(r, r.olga, "queued"), r.a.mail.outbox())[1],
        holds(lambda frame, _r: frame.empty),
    ),
    # a reply: not to an interaction on another rep's deal (not found: it is not seen)
    "mail.reply_draft": Refused(
        lambda r: (mail_facts(r), [lambda: r.a.mail.reply_draft(r.b_int)])[1]
    ),
    "mail.resolve": Refused(lambda r: [lambda: r.a.mail.resolve(1, sent=True)]),
    "mail.retry": Refused(lambda r: [lambda: r.a.mail.retry(outbox_row(r, r.olga, "failed"))]),
    "mail.send": Refused(
        lambda r: [lambda: r.a.mail.send(r.irina, subject="Hello", text="Hello Irina")]
    ),
    "mail.send_campaign": Refused(
        lambda r: [lambda: r.a.mail.send_campaign(r.spring, "newsletter", dry_run=True)]
    ),
    "mail.settings": Allowed(
        "the mail settings hold no record; the password shows only as set or not",
        lambda r: r.a.mail.settings()["rate_per_minute"],
        equals(60),
    ),
    "mail.templates": Allowed(
        "e-mail templates are files shared by the workspace, holding no record",
        lambda r: sorted(r.a.mail.templates()),
        equals(["follow_up", "newsletter"]),
    ),
    "mail.unsubscribe": Allowed(
        PARTIES + "; whoever holds a contact's signed link may opt them out",
        lambda r: r.a.mail.unsubscribe(r.ws.mail.unsubscribe_link(r.irina).split("=")[-1])[
            "no_marketing"
        ],
        equals(True),
    ),
    "mail.unsubscribe_preview": Allowed(
        PARTIES + "; whoever holds a contact's signed link sees the address masked",
        lambda r: r.a.mail.unsubscribe_preview(r.ws.mail.unsubscribe_link(r.irina).split("=")[-1]),
        equals({"email": "***", "language": None, "no_marketing": False}),  # no address
    ),
    # a link opts the contact out as if they asked: made only for one A may write to
    "mail.unsubscribe_link": Refused(lambda r: [lambda: r.a.mail.unsubscribe_link(r.irina)]),
    # a user switches their own mailbox off and on only: not olga's
    "mail.deactivate_mailbox": Refused(
        lambda r: (lambda f: [lambda: r.a.mail.deactivate_mailbox(f["box"])])(mail_facts(r))
    ),
    "mail.activate_mailbox": Refused(
        lambda r: (lambda f: [lambda: r.a.mail.activate_mailbox(f["box"])])(mail_facts(r))
    ),
    # -- custom fields ----------------------------------------------------------------
    "custom_fields.define_in": Refused(
        lambda r: [in_session(r.a, lambda s: r.a.custom_fields.define_in(s, "contact", "shoe"))]
    ),
    "custom_fields.define": Refused(
        lambda r: [lambda: r.a.custom_fields.define("contact", "shoe_size", "number")]
    ),
    "custom_fields.definition": Allowed(
        CONFIG,
        lambda r: r.a.custom_fields.definition("opportunity", "region").type,
        equals("text"),
    ),
    "custom_fields.list": Allowed(
        CONFIG, lambda r: r.a.custom_fields.list()["name"].tolist(), equals(["region"])
    ),
    "custom_fields.remove": Refused(
        lambda r: [lambda: r.a.custom_fields.remove("opportunity", "region")]
    ),
    # -- users ------------------------------------------------------------------------
    "users.add": Refused(lambda r: [lambda: r.a.users.add("Mallory", "mallory", role="admin")]),
    "users.disable": Refused(lambda r: [lambda: r.a.users.disable("olga")]),
    "users.enable": Refused(lambda r: [lambda: r.a.users.enable("olga")]),
    "users.set_role": Refused(
        lambda r: [
            lambda: r.a.users.set_role("olga", "manager"),
            lambda: r.a.users.set_role("bilal", "admin"),
        ]
    ),
    "users.authenticate": Refused(  # the login form asks the workspace, not a user
        lambda r: [
            lambda: r.a.users.authenticate("olga", "not her password"),
            lambda: r.a.users.authenticate("bilal", "not his password"),
            lambda: r.a.users.authenticate("nobody", "x"),
        ]
    ),
    "users.get": Allowed(
        "the staff directory (name, login, role, team) that assignee pickers show",
        lambda r: r.a.users.get("olga"),
        holds(lambda d, r: d["id"] == r.olga and d["role"] == "sales"),
    ),
    "users.list": Allowed(
        "the staff directory (name, login, role, team) that assignee pickers show",
        lambda r: r.a.users.list()["login"].tolist(),
        equals(["ayesha", "bilal", "olga"]),
    ),
    "users.set_password": Refused(
        lambda r: [lambda: r.a.users.set_password("olga", "taken-over-1")]
    ),
    "users.set_language": Refused(lambda r: [lambda: r.a.users.set_language("olga", "ur")]),
    # -- sessions (the staff app's logins) --------------------------------------------
    "sessions.check": Allowed(
        LOGIN + "; a token answers for its own holder",
        lambda r: r.a.sessions.check(r.ws.sessions.start("bilal")),
        holds(lambda d, _r: d["login"] == "bilal"),
    ),
    "sessions.check_hash": Allowed(
        LOGIN + "; a token's hash answers for its own holder",
        lambda r: (r.a.sessions.check_hash("0" * 64), r.a.sessions.check_hash(None)),
        equals((None, None)),
    ),
    "sessions.cookie_secret": Refused(lambda r: [r.a.sessions.cookie_secret]),
    "sessions.list": Filtered(
        lambda r: (
            r.ws.sessions.start("olga"),
            r.ws.sessions.start("bilal"),
            r.a.sessions.list()["login"].tolist(),
        )[2],
        equals(["bilal"]),
    ),
    "sessions.live": Allowed(
        LOGIN + "; says only which of the given token hashes are live",
        lambda r: r.a.sessions.live(["0" * 64]),
        equals(set()),
    ),
    "sessions.log_in": Refused(  # the login form uses the workspace, not a user's
        lambda r: [lambda: r.a.sessions.log_in("olga", "not her password")]
    ),
    "sessions.log_out": Allowed(
        LOGIN + "; ends the sessions of the token's holder only",
        lambda r: r.a.sessions.log_out("no such token"),
        equals(0),
    ),
    "sessions.revoke": Refused(
        lambda r: [lambda: r.a.sessions.revoke("olga"), lambda: r.a.sessions.revoke()]
    ),
    "sessions.start": Refused(lambda r: [lambda: r.a.sessions.start("olga")]),
    # -- journal ----------------------------------------------------------------------
    "journal.for_record": Filtered(journal_for_records, check_journal_for_records),
    "journal.since": Filtered(
        lambda r: (private_mail(r), r.a.journal.since(0, limit=1_000_000))[1], check_since
    ),
    # -- metrics ----------------------------------------------------------------------
    "metrics.funnel": Unmoved(
        lambda ws, _r: ws.metrics.funnel(),
        holds(lambda f, _r: f["count"].tolist() == [1, 0, 0, 0, 0]),
    ),
    "metrics.headline": Unmoved(headline, check_headline),
    "metrics.revenue_by_month": Unmoved(
        lambda ws, _r: ws.metrics.revenue_by_month(3),
        holds(lambda f, _r: sum(f["won"]) == 0 and sum(f["revenue"]) == 0),
    ),
    # -- accounts ---------------------------------------------------------------------
    "accounts.invoices": Filtered(  # the customers' owners' (crm_core.access)
        lambda r: (
            lambda r: (
                r.a.accounts.invoices(limit=10_000),
                r.a.accounts.invoices(company_id=r.kazan, open_only=True),
                r.a.accounts.invoices(contact_id=r.irina),
            )
        )(books(r)),
        check_invoices,
    ),
    "accounts.is_synced": Filtered(
        lambda r: (
            r.a.accounts.is_synced("opportunity", r.b_deal),
            r.a.accounts.is_synced("activity", r.b_today),
            r.a.accounts.is_synced("opportunity", r.a_deal),
        ),
        equals((False, False, True)),
    ),
    "accounts.links": Filtered(
        lambda r: (
            r.a.accounts.links("opportunity", r.b_deal),
            r.a.accounts.links("activity", r.b_today),
            r.a.accounts.links("opportunity", r.a_deal),
        ),
        holds(lambda f, _r: f[0].empty and f[1].empty and f[2]["remote_id"].tolist() == [1]),
    ),
    "accounts.open_balance": Filtered(
        lambda r: (
            lambda r: (
                r.a.accounts.open_balance(),
                r.a.accounts.open_balance(company_id=r.kazan),
                r.a.accounts.open_balance(contact_id=r.irina),
            )
        )(books(r)),
        check_balances,
    ),
    "accounts.products": Allowed(
        BOOKS, lambda r: r.a.accounts.products(), holds(lambda f, _r: f.empty)
    ),
    "accounts.sales_orders": Filtered(
        lambda r: (
            lambda r: (
                r.a.accounts.sales_orders(),
                r.a.accounts.sales_orders(company_id=r.kazan),
            )
        )(books(r)),
        check_orders,
    ),
    # -- quality ----------------------------------------------------------------------
    # -- imports and duplicates: the whole team's records ----------------------------
    "importer.run": Refused(
        lambda r: [
            lambda: r.a.importer.run(pd.DataFrame({"name": ["Mine now"]}), "contacts"),
            lambda: r.a.importer.run(
                pd.DataFrame({"name": [f"{SECRET} towels"], "stage": ["Won"]}),
                "opportunities",
                dry_run=True,
            ),
        ]
    ),
    "importer.columns": Allowed(
        "what a file's columns would fill: its header and the custom field definitions",
        lambda r: r.a.importer.columns(pd.DataFrame({"Name": [], "Region": []}), "deals")[
            "field"
        ].tolist(),
        equals(["name", "custom.region"]),
    ),
    "duplicates.find": Allowed(
        "pairs of companies or contacts alike: those are everyone's (deals are not paired)",
        lambda r: r.a.duplicates.find("contacts")[["id_a", "id_b"]].values.tolist(),
        equals([]),
    ),
    "duplicates.compare": Allowed(
        "two companies or contacts side by side: those are everyone's (no deal is shown)",
        lambda r: (
            r.a.duplicates.compare("contacts", r.imran, r.irina)
            .set_index("field")
            .loc["name", ["a", "b"]]
            .tolist()
        ),
        equals(["Imran Khan", "Irina Petrova"]),
    ),
    # A merge moves everyone's deals, activities and interactions: a manager's act.
    "duplicates.merge": Refused(
        lambda r: [
            lambda: r.a.duplicates.merge("contacts", r.imran, r.irina),
            lambda: r.a.duplicates.merge("companies", r.indus, r.kazan, {"name": "keep"}),
        ]
    ),
    "duplicates.undo": Refused(lambda r: [lambda: r.a.duplicates.undo("0" * 32)]),
    "duplicates.merges": Allowed(
        "which contacts or companies were merged into which, when and by whom: records "
        "everyone sees (what moved with them is not listed)",
        lambda r: (
            r.mgr.duplicates.merge("contacts", r.imran, r.irina),
            r.a.duplicates.merges()[["entity", "kept", "dropped", "user", "undone"]],
        )[1].values.tolist(),
        holds(lambda rows, r: rows == [["contacts", r.imran, r.irina, "ayesha", False]]),
    ),
    # -- exchange rates: reference data, changed by managers --------------------------
    "rates.reporting_currency": Allowed(
        "the workspace's reporting currency: a setting, no record",
        lambda r: r.a.rates.reporting_currency(),
        equals("USD"),
    ),
    "rates.list": Allowed(
        "exchange rates are reference data: they name no customer and no deal",
        lambda r: (
            r.mgr.rates.set("EUR", "2026-05-01", "0.92", base="USD"),
            r.a.rates.list()[["currency", "base", "rate"]].values.tolist(),
        )[1],
        holds(lambda rows, _r: [(c, b, str(x)) for c, b, x in rows] == [("EUR", "USD", "0.92")]),
    ),
    "rates.load": Allowed(
        "the rates a report converts with: reference data, no record",
        lambda r: (
            r.mgr.rates.set("EUR", "2026-05-01", "0.5", base="USD"),
            r.a.rates.load("USD").convert(Decimal("10.00"), "EUR", dt.date(2026, 5, 15)),
        )[1],
        equals(Decimal("20.00")),
    ),
    "rates.set": Refused(lambda r: [lambda: r.a.rates.set("EUR", "2026-05-01", "0.92")]),
    "rates.remove": Refused(lambda r: [lambda: r.a.rates.remove("EUR", "2026-05-01")]),
    "rates.merge": Refused(
        lambda r: [
            lambda: r.a.rates.merge(
                [{"currency": "EUR", "base": "USD", "day": "2026-05-01", "rate": "0.92"}]
            )
        ]
    ),
    "rates.import_file": Refused(lambda r: [lambda: r.a.rates.import_file("rates.csv")]),
    "quality.count": Filtered(lambda r: r.a.quality.count(), check_quality_count),
    "quality.issues": Filtered(quality_issues, check_issues),
    # -- reports ----------------------------------------------------------------------
    "reports.names": Allowed(
        "the names of the declared reports", lambda r: r.a.reports.names(), equals(REPORT_NAMES)
    ),
    "reports.spec": Allowed(
        "a report's declaration (title, columns, filters): no data",
        lambda r: r.a.reports.spec("funnel").title,
        holds(lambda t, _r: bool(t)),
    ),
    "reports.run": Unmoved(
        lambda ws, _r: (ws.reports.run("pipeline_by_stage"), ws.reports.run("win_loss")),
        holds(lambda f, _r: int(f[0]["count"].sum()) == 1 and f[1].empty),
    ),
    **{f"reports.{name}": report_entry(name) for name in REPORT_NAMES},
    # -- export -----------------------------------------------------------------------
    "export.layout": Allowed(
        "a layout: which sheets a workbook has, no data",
        lambda r: r.a.export.layout("sales_review").title,
        holds(lambda t, _r: bool(t)),
    ),
    "export.layouts": Allowed(
        "the layouts' names and titles, no data",
        lambda r: r.a.export.layouts(),
        holds(lambda d, _r: "sales_review" in d),
    ),
    "export.tables": Allowed(
        "the names of the tables that can be exported",
        lambda r: r.a.export.tables(),
        equals(["contacts", "opportunities", "activities"]),
    ),
    "export.xlsx": Unmoved(workbook, check_workbook),
    # -- the global search --------------------------------------------------------------
    "search.everything": Filtered(
        lambda r: (
            r.a.search.everything(SECRET),
            r.a.search.everything("mine"),
            r.a.search.everything("irina"),
            r.a.search.everything("kazan", 50),
        ),
        holds(
            lambda f, r: (
                f[0] == {"contacts": [], "companies": [], "deals": []}
                and [h["id"] for h in f[1]["deals"]] == [r.a_deal]
                and [h["id"] for h in f[2]["contacts"]] == [r.irina]  # everyone's
                and [h["id"] for h in f[3]["companies"]] == [r.kazan]
                and f[3]["deals"] == []
                # Not vacuous: the manager finds B's deals by the same query.
                and {h["id"] for h in r.mgr.search.everything(SECRET)["deals"]}
                == {r.b_deal, r.b_won}
            )
        ),
    ),
    # -- the workspace itself ---------------------------------------------------------
    "ws.as_user": Refused(lambda r: [lambda: r.a.as_user("ayesha"), lambda: r.a.as_user(r.olga)]),
    "ws.close": Allowed(
        "releases the connection pool (the next call opens a new one)",
        lambda r: (r.a.close(), r.a.pipeline.count())[1],
        equals(1),
    ),
    "ws.info": Unmoved(lambda ws, _r: ws.info(), check_info),
    "ws.set_setting": Refused(
        lambda r: [
            lambda: r.a.set_setting("phone_region", "PK"),
            lambda: r.a.set_setting("session_idle_minutes", "10080"),
        ]
    ),
    "ws.setting": Allowed(CONFIG, lambda r: r.a.setting("currency"), equals("USD")),
    "ws.sync": Refused(refused_sync),
    "ws.today": Allowed(
        "the date by the workspace clock", lambda r: str(r.a.today()), equals(TODAY)
    ),
    "ws.transaction": Allowed(
        "the raw session the services run in: whoever holds a Workspace in Python holds "
        "the database; the rule guards the services the app and notebooks call",
        lambda r: in_session(r.a, lambda s: s.get(User, r.olga).login)(),
        equals("olga"),
    ),
}

#: Entries known to fail, with the reason (strict: one that passes must leave here).
PENDING: dict[str, str] = {}


def public_methods(ws: Workspace) -> set[str]:
    """``service.method`` for every public callable of every service on ``ws`` (any
    attribute holding an object that works on it), and ``ws.method`` for its own."""
    targets: dict[str, Any] = {"ws": ws}
    targets.update(
        (name, value) for name, value in vars(ws).items() if getattr(value, "ws", None) is ws
    )
    found = set()
    for name, target in targets.items():
        for attr in dir(target):
            if attr.startswith("_") or attr in vars(target):
                continue  # private, or the object's own data (its workspace, clock)
            value = getattr(target, attr)
            if callable(value) and not inspect.isclass(value):
                found.add(f"{name}.{attr}")
    return found


def test_every_public_method_has_an_entry(ws):
    found = public_methods(ws)
    missing = sorted(found - set(TABLE))
    assert not missing, (
        f"public methods without an entry in {__name__}.TABLE (say whether a sales user "
        f"is refused, filtered or allowed, and why): {missing}"
    )
    stale = sorted(set(TABLE) - found)
    assert not stale, f"entries for methods that no longer exist: {stale}"
    services = {name.split(".")[0] for name in found}
    assert {"pipeline", "journal", "reports", "export", "quality", "ws"} <= services


@pytest.mark.parametrize(
    "method",
    [
        pytest.param(name, marks=pytest.mark.xfail(reason=PENDING[name], strict=True))
        if name in PENDING
        else name
        for name in sorted(TABLE)
    ],
)
def test_rep_a_reaches_nothing_of_rep_bs(ws, method):
    TABLE[method].verify(build(ws))


def test_the_setup_gives_rep_b_what_rep_a_must_not_reach(ws):
    """The manager sees B's records and the crossed ones: the table's checks are not
    vacuous."""
    r = build(ws)
    assert ids_of(r.mgr.pipeline.search(include_archived=True, status=None)) >= {
        r.a_deal,
        r.b_deal,
    }
    assert r.mgr.pipeline.get(r.b_won)["status"] == "won"
    assert ids_of(r.mgr.activities.for_record(opportunity_id=r.b_deal)) >= {r.x_act, r.b_today}
    assert ids_of(r.mgr.interactions.timeline(contact_id=r.imran)) == {
        r.a_int,
        r.b_int,
        r.x_int,
        r.c_int,
    }
    assert SECRET in shown(r.mgr.journal.since(0, limit=1_000_000))
    assert r.mgr.pipeline.history(r.b_deal)["to_stage"].tolist() == ["New", "Qualified"]
