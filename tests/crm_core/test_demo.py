"""The demo base: complete, international, historically consistent and reproducible.

The demo is built once per backend (a module-scoped fixture: a build writes ~10,000
rows) into a workspace of its own, and every test reads it; the tests that write use
the ordinary ``ws`` fixture.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pandas as pd
import phonenumbers
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

import crm_core
from crm_core import CrmError
from crm_core import text as crm_text
from crm_core import validation as v
from crm_core.demo import build_demo
from crm_core.models import (
    Activity,
    CampaignMember,
    Company,
    Contact,
    Interaction,
    Opportunity,
    Stage,
    StageChange,
)
from tests.conftest import START, FakeClock

TODAY = START.date()
EIGHTEEN_MONTHS = dt.timedelta(days=548)
OPEN_STAGES = ["New", "Qualified", "Proposition", "Negotiation"]
STAFF = ("demo", "ayesha", "sophie", "bilal", "ravi", "farhana", "olga", "james")

# Unicode blocks of the scripts the demo writes names in.
SCRIPTS = {
    "Arabic": ((0x0600, 0x06FF), (0x0750, 0x077F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
    "Bengali": ((0x0980, 0x09FF),),
    "Tamil": ((0x0B80, 0x0BFF),),
    "Sinhala": ((0x0D80, 0x0DFF),),
    "Cyrillic": ((0x0400, 0x04FF),),
    "Latin": ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F)),
}
# Letters Sindhi has and Urdu does not: Sindhi names must really be in Sindhi.
SINDHI_LETTERS = set("ڀٽڻڪڙڊٿ")


@dataclass
class Demo:
    ws: crm_core.Workspace
    counts: dict[str, int]
    messages: list[str]
    seconds: float
    backend: str


def _scripts(name: str) -> set[str]:
    found = set()
    for ch in name:
        if not unicodedata.category(ch).startswith("L"):
            continue
        for script, blocks in SCRIPTS.items():
            if any(lo <= ord(ch) <= hi for lo, hi in blocks):
                found.add(script)
    return found


@pytest.fixture(scope="module")
def pg_demo_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL database of the demo's own, so ``ws`` (which truncates the shared
    test database) cannot wipe the demo between tests."""
    base = request.getfixturevalue("pg_url")
    name = f"crmbook_demo_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _build(location: str, backend: str, **options: Any) -> Demo:
    ws = crm_core.open(location, clock=FakeClock())
    messages: list[str] = []
    started = time.perf_counter()
    counts = build_demo(ws, progress=messages.append, **options)
    return Demo(ws, counts, messages, time.perf_counter() - started, backend)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def demo(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
) -> Iterator[Demo]:
    """The demo built once per backend with the default seed and today (2026-05-15)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
        shutil.copy(sqlite_template, path)
        location = str(path)
    else:
        location = request.getfixturevalue("pg_demo_url")
    built = _build(location, request.param)
    yield built
    built.ws.close()


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Demo]:
    """A second build, into another fresh SQLite workspace, with seed and day spelled out."""
    path = tmp_path_factory.mktemp("demo_again") / "demo.sqlite"
    shutil.copy(sqlite_template, path)
    built = _build(str(path), "sqlite", seed=7, today=TODAY)
    yield built
    built.ws.close()


def _rows(ws: crm_core.Workspace, *columns: Any, order: Any) -> list[tuple[Any, ...]]:
    with ws.transaction() as s:
        return [tuple(r) for r in s.execute(select(*columns).order_by(*order))]


def _contacts(ws: crm_core.Workspace) -> pd.DataFrame:
    return ws.contacts.search(limit=10_000, order_by="id")


# -- what was built -------------------------------------------------------------------


def test_counts_are_returned_and_match_the_database(demo):
    counts = demo.counts
    assert {k: counts[k] for k in ("users", "companies", "contacts", "opportunities")} == {
        "users": 8,
        "companies": 200,
        "contacts": 1000,
        "opportunities": 600,
    }
    assert (counts["activities"], counts["interactions"]) == (1500, 4000)
    assert (counts["campaigns"], counts["segments"], counts["custom_fields"]) == (2, 4, 3)
    assert counts["tags"] >= 10
    assert counts["campaign_members"] > 100
    # Every deal has a history: a first row plus at least one move for most of them.
    assert 600 < counts["stage_changes"] < 600 * 6
    info = demo.ws.info()
    for entity in (
        "users",
        "companies",
        "contacts",
        "tags",
        "opportunities",
        "stage_changes",
        "activities",
        "interactions",
        "campaigns",
        "segments",
    ):
        assert info[entity] == counts[entity], entity
    # The journal saw every record (plus the default pipeline of the fresh workspace).
    assert info["journal"] > 7000


def test_progress_is_reported_phase_by_phase(demo):
    assert len(demo.messages) >= 8
    assert "staff users" in demo.messages[0]
    assert any("1000 contacts" in m for m in demo.messages)
    assert demo.messages[-1].startswith("Demo ready")


def test_the_build_is_quick(demo):
    # A loose guard against falling back to one transaction per row (minutes, not
    # seconds); the build takes a few seconds on SQLite.
    limit = 60 if demo.backend == "sqlite" else 120
    assert demo.seconds < limit


def test_staff_have_roles_and_names_in_their_scripts(demo):
    users = demo.ws.users.list().set_index("login")
    assert sorted(users.index) == sorted(STAFF)
    assert users.loc["demo", "role"] == "admin"
    assert sorted(users.index[users["role"] == "manager"]) == ["ayesha", "sophie"]
    assert _scripts(users.loc["ayesha", "name"]) == {"Arabic"}
    assert _scripts(users.loc["olga", "name"]) == {"Cyrillic"}
    assert _scripts(users.loc["ravi", "name"]) == {"Tamil"}
    assert _scripts(users.loc["farhana", "name"]) == {"Bengali"}


def test_the_journal_names_the_demo_admin(demo):
    contact_id = int(_contacts(demo.ws)["id"].iloc[0])
    entries = demo.ws.journal.for_record("contacts", contact_id)
    assert entries[["user", "action"]].values.tolist() == [["demo", "create"]]


# -- the pipeline and its history ---------------------------------------------------------


def test_every_stage_of_the_sales_pipeline_has_deals(demo):
    ws = demo.ws
    by_stage = ws.pipeline.by_stage("Sales").groupby("stage", sort=False)["count"].sum()
    assert list(by_stage.index) == [*OPEN_STAGES, "Won", "Lost"]
    assert (by_stage >= 20).all(), by_stage.to_dict()
    deals = ws.pipeline.search(limit=10_000, order_by="id")
    assert len(deals) == 600
    assert set(deals.loc[deals["status"] == "open", "stage"]) == set(OPEN_STAGES)
    assert set(deals.loc[deals["status"] == "won", "stage"]) == {"Won"}
    lost = deals[deals["status"] == "lost"]
    assert set(lost["stage"]) == {"Lost"}
    assert lost["lost_reason"].notna().all()
    assert lost["lost_reason"].nunique() >= 3
    assert (deals.loc[deals["status"] == "won", "probability"] == Decimal(100)).all()
    assert (lost["probability"] == Decimal(0)).all()
    assert {"lead", "opportunity"} == set(deals["type"])


def test_stage_history_moves_forward_through_the_stages_in_time(demo):
    ws = demo.ws
    changes = _rows(
        ws,
        StageChange.opportunity_id,
        StageChange.from_stage_id,
        StageChange.to_stage_id,
        StageChange.changed_at,
        order=(StageChange.opportunity_id, StageChange.id),
    )
    sequence = dict(_rows(ws, Stage.id, Stage.sequence, order=(Stage.id,)))
    first_stage = min(sequence, key=sequence.__getitem__)
    deals = {
        r[0]: r[1:]
        for r in _rows(
            ws,
            Opportunity.id,
            Opportunity.stage_id,
            Opportunity.status,
            Opportunity.created_at,
            Opportunity.closed_at,
            order=(Opportunity.id,),
        )
    }
    history: dict[int, list[tuple[Any, ...]]] = {}
    for opp_id, *change in changes:
        history.setdefault(opp_id, []).append(tuple(change))
    assert set(history) == set(deals)
    for opp_id, moves in history.items():
        stage_id, status, created_at, closed_at = deals[opp_id]
        assert moves[0][0] is None and moves[0][1] == first_stage, opp_id
        assert moves[0][2] == created_at
        assert START - EIGHTEEN_MONTHS - dt.timedelta(days=1) <= created_at < START
        for before, after in pairwise(moves):
            assert after[0] == before[1], opp_id  # each move starts where the last ended
            assert sequence[after[1]] > sequence[before[1]], opp_id  # forward only
            assert after[2] > before[2], opp_id  # and later in time
        assert moves[-1][1] == stage_id
        assert moves[-1][2] < START
        if status == "open":
            assert closed_at is None
        else:
            assert closed_at == moves[-1][2]
    assert max(len(m) for m in history.values()) >= 5  # New ... Negotiation, Won


def test_history_reads_back_through_the_service(demo):
    ws = demo.ws
    with ws.transaction() as s:
        longest = s.execute(
            select(StageChange.opportunity_id)
            .join(Opportunity, Opportunity.id == StageChange.opportunity_id)
            .where(Opportunity.status == "won")
            .group_by(StageChange.opportunity_id)
            .order_by(func.count().desc(), StageChange.opportunity_id)
            .limit(1)
        ).scalar_one()
    history = ws.pipeline.history(longest)
    assert history["to_stage"].tolist() == [*OPEN_STAGES, "Won"]
    assert history["from_stage"].tolist()[1:] == OPEN_STAGES
    assert history["changed_at"].is_monotonic_increasing
    assert history["by"].notna().all()
    assert ws.pipeline.get(longest)["closed_at"] == history["changed_at"].iloc[-1]


# -- activities and interactions -----------------------------------------------------------


def test_overdue_and_due_today_activities_for_several_users(demo):
    ws = demo.ws
    overdue = {login: ws.activities.overdue(login) for login in STAFF}
    today = {login: ws.activities.due_today(login) for login in STAFF}
    assert sum(len(f) > 0 for f in overdue.values()) >= 6, {k: len(f) for k, f in overdue.items()}
    assert sum(len(f) > 0 for f in today.values()) >= 5, {k: len(f) for k, f in today.items()}
    for frame in overdue.values():
        assert (frame["due_date"] < TODAY).all()
        assert frame["done_at"].isna().all()
    assert len(ws.activities.overdue()) == 230
    assert len(ws.activities.due_today()) == 70
    assert len(ws.activities.upcoming(days=60)) == 300
    done = _rows(ws, Activity.done_at, Activity.created_at, order=(Activity.id,))
    finished = [d for d in done if d[0] is not None]
    assert len(finished) == 1500 - 230 - 70 - 300
    assert all(created <= done_at < START for done_at, created in finished)
    kinds = {r[0] for r in _rows(ws, Activity.kind, order=(Activity.id,))}
    assert kinds == {"call", "meeting", "email", "todo"}


def test_interactions_span_eighteen_months_on_every_channel(demo):
    ws = demo.ws
    with ws.transaction() as s:
        first, last = s.execute(
            select(func.min(Interaction.occurred_at), func.max(Interaction.occurred_at))
        ).one()
        channels = set(s.scalars(select(Interaction.channel).distinct()))
        directions = set(s.scalars(select(Interaction.direction).distinct()))
        unlinked = s.scalar(
            select(func.count()).where(
                Interaction.contact_id.is_(None),
                Interaction.company_id.is_(None),
                Interaction.opportunity_id.is_(None),
            )
        )
    assert START - EIGHTEEN_MONTHS - dt.timedelta(days=1) <= first
    assert first < START - dt.timedelta(days=520)
    assert START - dt.timedelta(days=3) < last < START
    assert channels == {"email", "call", "meeting", "message", "note"}
    assert directions == {"in", "out"}
    assert unlinked == 0
    timeline = ws.interactions.timeline(contact_id=int(_contacts(ws)["id"].iloc[0]))
    assert timeline["occurred_at"].is_monotonic_decreasing


# -- international data -------------------------------------------------------------------


def test_names_are_written_in_many_scripts(demo):
    contacts = _contacts(demo.ws)
    per_script = {
        script: sum(_scripts(n) == {script} for n in contacts["name"]) for script in SCRIPTS
    }
    assert all(per_script[s] >= 50 for s in ("Arabic", "Bengali", "Tamil", "Cyrillic")), per_script
    assert per_script["Latin"] > 300
    # Sri Lankan business mostly writes English; some records are in Sinhala.
    assert per_script["Sinhala"] >= 10
    # Every name is written in one script.
    assert all(len(_scripts(n)) == 1 for n in contacts["name"])
    assert any(set(n) & SINDHI_LETTERS for n in contacts["name"])
    companies = demo.ws.companies.search(limit=10_000, order_by="id")
    company_scripts = {s for n in companies["name"] for s in _scripts(n)}
    assert {"Arabic", "Bengali", "Tamil", "Cyrillic", "Latin"} <= company_scripts
    cities = set(contacts["city"].dropna())
    assert {"کراچی", "ঢাকা", "சென்னை", "Москва", "München"} & cities
    assert any(_scripts(c) == {"Arabic"} for c in cities)
    assert any("ß" in n for n in companies["name"]) or any("ß" in n for n in contacts["name"])


def test_names_are_stored_as_the_services_store_them(demo):
    contacts = _contacts(demo.ws)
    for name in contacts["name"]:
        assert name == crm_text.clean(name)


def test_countries_currencies_phones_and_emails_are_valid(demo):
    ws = demo.ws
    rows = _rows(
        ws,
        Contact.country,
        Contact.phone,
        Contact.mobile,
        Contact.email,
        order=(Contact.id,),
    ) + _rows(ws, Company.country, Company.phone, Company.phone, Company.email, order=(Company.id,))
    countries = {r[0] for r in rows}
    assert {"PK", "IN", "BD", "LK", "RU", "DE", "FR", "GB", "ES", "US"} <= countries
    phones = 0
    for country, *numbers, email in rows:
        for number in numbers:
            if number is None:
                continue
            parsed = phonenumbers.parse(number, None)
            assert phonenumbers.is_valid_number(parsed), number
            assert phonenumbers.region_code_for_number(parsed) == country, (number, country)
            assert number == phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            phones += 1
        if email is not None:
            assert email.isascii() and v.email(email) == email
            # Only reserved example domains: a demo never mails a real person.
            assert email.split("@")[1].split(".")[-2:] in (
                ["example", "com"],
                ["example", "net"],
                ["example", "org"],
            )
    assert phones > 1000
    # A deal is priced in the currency of its customer's country.
    currency = {
        "PK": "PKR",
        "IN": "INR",
        "BD": "BDT",
        "LK": "LKR",
        "RU": "RUB",
        "DE": "EUR",
        "FR": "EUR",
        "ES": "EUR",
        "GB": "GBP",
        "US": "USD",
    }
    with ws.transaction() as s:
        deals = s.execute(
            select(Opportunity.currency, func.coalesce(Company.country, Contact.country))
            .outerjoin(Company, Company.id == Opportunity.company_id)
            .join(Contact, Contact.id == Opportunity.contact_id)
        ).all()
    assert all(currency[country] == cur for cur, country in deals)
    assert {cur for cur, _ in deals} == set(currency.values())


def test_search_finds_urdu_and_bengali_names_by_word_prefix(demo):
    ws = demo.ws
    contacts = _contacts(ws)
    for language, script in (("ur", "Arabic"), ("bn", "Bengali")):
        in_script = pd.Series([_scripts(n) == {script} for n in contacts["name"]])
        written = contacts[(contacts["language"] == language) & in_script]
        assert len(written) >= 20, language
        target = written.iloc[0]
        first, last = target["name"].split()[:2]
        for query in (first[:3], f"{first[:2]} {last[:2]}", last):
            found = ws.contacts.search(query, limit=10_000)
            assert target["id"] in set(found["id"]), (language, query)
            # Every hit has, for each query word, a word starting with it.
            for name in found["name"]:
                words = crm_text.words(name)
                for prefix in crm_text.words(query):
                    assert any(w.startswith(prefix) for w in words), (query, name)


def test_examples_from_the_docs_are_in_the_data(demo):
    # Names the README and the tests of the services use are present in the demo too.
    ws = demo.ws
    assert len(ws.contacts.search("عمران")) > 0
    assert len(ws.contacts.search("আব্দুল")) > 0
    assert len(ws.contacts.search("முருகன்")) > 0


# -- the rest of the base ---------------------------------------------------------------


def test_tags_custom_fields_campaigns_and_segments(demo):
    ws = demo.ws
    fields = ws.custom_fields.list()
    assert set(zip(fields["entity"], fields["name"], strict=True)) == {
        ("contact", "customer_tier"),
        ("company", "employees"),
        ("opportunity", "incoterm"),
    }
    assert ws.contacts.count(custom={"customer_tier": "Gold"}) > 20
    assert ws.contacts.count(tag="VIP") > 20
    assert ws.companies.count(tag="Wholesale") > 20
    company = ws.companies.get(int(ws.companies.search(limit=1, order_by="id")["id"].iloc[0]))
    assert company["tags"]
    sized = ws.companies.search(limit=10_000, order_by="id")["id"]
    employees = [ws.companies.get(int(i))["custom"].get("employees") for i in sized[:30]]
    assert any(isinstance(e, Decimal) and e > 0 for e in employees)
    segments = ws.segments.list()
    assert len(segments) == 4
    for name in segments["name"]:
        assert ws.segments.count(name) > 0, name
    with ws.transaction() as s:
        campaigns = s.execute(
            select(
                CampaignMember.campaign_id, func.count(), func.count(CampaignMember.responded_at)
            )
            .group_by(CampaignMember.campaign_id)
            .order_by(CampaignMember.campaign_id)
        ).all()
    assert len(campaigns) == 2
    assert all(members > 50 and 0 < responded < members for _, members, responded in campaigns)
    assert ws.campaigns.count() == 2
    assert len(ws.campaigns.members(campaigns[0][0])) == campaigns[0][1]
    assert len(ws.pipeline.search(tag="Repeat order", limit=10_000)) > 20


def test_same_seed_and_day_build_identical_data(demo, rebuilt):
    # The rebuilt one is on SQLite: against the PostgreSQL demo this also shows that
    # the data does not depend on the backend.
    a, b = demo.ws, rebuilt.ws
    assert demo.counts == rebuilt.counts
    pd.testing.assert_frame_equal(_contacts(a), _contacts(b))
    pd.testing.assert_frame_equal(
        a.companies.search(limit=10_000, order_by="id"),
        b.companies.search(limit=10_000, order_by="id"),
    )
    pd.testing.assert_frame_equal(
        a.pipeline.search(limit=10_000, order_by="id"),
        b.pipeline.search(limit=10_000, order_by="id"),
    )
    pd.testing.assert_frame_equal(a.pipeline.by_stage(), b.pipeline.by_stage())
    for columns, order in (
        (
            (
                StageChange.opportunity_id,
                StageChange.from_stage_id,
                StageChange.to_stage_id,
                StageChange.changed_at,
                StageChange.changed_by_id,
            ),
            (StageChange.id,),
        ),
        (
            (
                Activity.id,
                Activity.kind,
                Activity.subject,
                Activity.due_date,
                Activity.assignee_id,
                Activity.done_at,
                Activity.contact_id,
                Activity.opportunity_id,
                Activity.created_at,
            ),
            (Activity.id,),
        ),
        (
            (
                Interaction.id,
                Interaction.channel,
                Interaction.direction,
                Interaction.occurred_at,
                Interaction.subject,
                Interaction.summary,
                Interaction.user_id,
                Interaction.contact_id,
                Interaction.opportunity_id,
            ),
            (Interaction.id,),
        ),
        (
            (
                CampaignMember.campaign_id,
                CampaignMember.contact_id,
                CampaignMember.added_at,
                CampaignMember.responded_at,
            ),
            (CampaignMember.campaign_id, CampaignMember.contact_id),
        ),
        ((Contact.id, Contact.custom, Contact.created_at, Contact.birthday), (Contact.id,)),
    ):
        assert _rows(a, *columns, order=order) == _rows(b, *columns, order=order)


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize("existing", ["contact", "company"])
def test_a_workspace_with_customers_is_refused_and_left_untouched(ws, existing):
    if existing == "contact":
        ws.contacts.create(name="Imran Khan", country="PK")
    else:
        ws.companies.create(name="Indus Textiles (Pvt) Ltd", country="PK")
    before = ws.info()
    with pytest.raises(CrmError, match="needs an empty workspace"):
        build_demo(ws)
    assert ws.info() == before
    assert before["users"] == 0


def test_building_twice_is_refused(demo):
    with pytest.raises(CrmError, match="200 companies and 1000 contacts"):
        build_demo(demo.ws)
    assert demo.ws.info()["contacts"] == 1000
