"""Duplicate detection (``ws.duplicates.find``, ``crmbook duplicates``) on SQLite and
PostgreSQL: the kinds of duplicates our users have (typos, swapped names, phones
written differently, Arabic and Urdu letter forms, a Latin and an Urdu spelling, one
e-mail in two cases), namesakes that are not pairs, companies by VAT and legal form,
and reading only what the acting user may see."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import crm_core
from crm_core import ValidationError, access, bulk
from crm_core.cli import app
from crm_core.duplicates import COLUMNS, DEFAULT_MIN_SCORE
from crm_core.duplicates.blocking import CAP, WINDOW, block_pairs, name_words, phone_tail
from crm_core.models import Contact, ExternalLink

runner = CliRunner()


def pairs(frame: pd.DataFrame) -> dict[tuple[int, int], tuple[int, str]]:
    """``{(id_a, id_b): (score, reasons)}`` of a result."""
    return {
        (int(a), int(b)): (int(s), r)
        for a, b, s, r in zip(
            frame["id_a"], frame["id_b"], frame["score"], frame["reasons"], strict=True
        )
    }


@pytest.fixture
def people(ws):
    """A PK workspace holding one planted pair of each kind, and namesakes."""
    ws.set_setting("phone_region", "PK")
    c = ws.contacts.create
    indus = ws.companies.create(name="Indus Textiles", email="info@indus.pk")["id"]
    ids = {
        # a typo, one e-mail
        "typo_a": c(name="Imran Qureshi", email="imran.q@indus.pk", company=indus),
        "typo_b": c(name="Imran Qureshy", email="imran.q@indus.pk"),
        # the name's words in another order, one phone
        "swap_a": c(name="Kareem Shah", phone="0321 7654321"),
        "swap_b": c(name="Shah Kareem", mobile="+92 321 7654321"),
        # one phone written two ways
        "phone_a": c(name="Bilal Ahmed", phone="(0300) 555-1234", city="Lahore"),
        "phone_b": c(name="Bilal Ahmed", phone="+92-300-5551234"),
        # Arabic and Urdu letter forms of one name
        "forms_a": c(name="كريم احمد", phone="042 35871234"),
        "forms_b": c(name="کریم احمد", phone="+92 42 35871234"),
        # a Latin and an Urdu spelling of one name, one e-mail in two cases
        "script_a": c(name="Imran Khan", email="Imran.Khan@Example.pk"),
        "script_b": c(name="عمران خان", email="imran.khan@example.pk"),
        # one e-mail in two cases, one name
        "case_a": c(name="Fatima Bibi", email="FATIMA.BIBI@gmail.com"),
        "case_b": c(name="Fatima Bibi", email="fatima.bibi@GMAIL.COM"),
        # namesakes: one common name, one city, each their own phone
        "ali_a": c(name="Muhammad Ali", city="Karachi", phone="0333 1112223"),
        "ali_b": c(name="Muhammad Ali", city="Karachi", phone="0345 9998887"),
        # colleagues with a common first name
        "colleague_a": c(name="Muhammad Imran", company=indus, phone="0300 1000001"),
        "colleague_b": c(name="Muhammad Irfan", company=indus, phone="0300 1000002"),
    }
    ws.ids = {key: record["id"] for key, record in ids.items()}
    return ws


PLANTED = {
    ("typo_a", "typo_b"): (95, "same e-mail; names 92% alike"),
    ("swap_a", "swap_b"): (100, "same phone; same name, words in another order"),
    ("phone_a", "phone_b"): (100, "same phone; same name"),
    ("forms_a", "forms_b"): (100, "same phone; same name"),
    ("script_a", "script_b"): (100, "same e-mail; names 100% alike across scripts"),
    ("case_a", "case_b"): (100, "same e-mail; same name"),
}


def test_planted_pairs_are_found_with_their_reasons(people):
    found = pairs(people.duplicates.find())
    ids = people.ids
    assert found == {(ids[a], ids[b]): value for (a, b), value in PLANTED.items()}


def test_the_result_is_a_frame_of_pairs_best_first(people):
    frame = people.duplicates.find(limit=3)
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 3
    assert set(frame["entity"]) == {"contacts"}
    assert list(frame["score"]) == [100, 100, 100]
    assert (frame["id_a"] < frame["id_b"]).all()
    first = frame.iloc[0]
    assert first["name_a"] == "Kareem Shah" and first["name_b"] == "Shah Kareem"
    assert not frame["erp_a"].any() and not frame["erp_b"].any()


def test_namesakes_and_colleagues_are_not_pairs_at_the_default_threshold(people):
    ids = people.ids
    every = pairs(people.duplicates.find(min_score=0, limit=None))
    # One name, one city, two phones: 65 for the name, 5 for the city, -10.
    assert every[(ids["ali_a"], ids["ali_b"])] == (60, "same city; same name; different phones")
    # One company, two names 93% alike (57: Imran and Irfan are one letter apart),
    # two phones (-10).
    assert every[(ids["colleague_a"], ids["colleague_b"])] == (
        72,
        "same company; names 93% alike; different phones",
    )
    # Muhammad Ali and Muhammad Imran share one common word and nothing else: they are
    # not even compared.
    assert (ids["ali_a"], ids["colleague_a"]) not in every
    default = pairs(people.duplicates.find())
    assert (ids["ali_a"], ids["ali_b"]) not in default
    assert (ids["colleague_a"], ids["colleague_b"]) not in default
    assert DEFAULT_MIN_SCORE == 75


def test_min_score_and_limit(people):
    assert len(people.duplicates.find(min_score=100)) == 5
    assert len(people.duplicates.find(min_score=95, limit=2)) == 2
    assert people.duplicates.find(min_score=100, limit=None)["score"].eq(100).all()


def test_archived_records_are_left_out(people):
    ids = people.ids
    people.contacts.archive(ids["swap_b"])
    found = pairs(people.duplicates.find())
    assert (ids["swap_a"], ids["swap_b"]) not in found
    assert len(found) == len(PLANTED) - 1


def test_phones_kept_as_written_are_matched_by_their_digits(ws):
    ws.set_setting("phone_region", "PK")
    rows = [
        {"name": "Sana Malik", "phone": "0300-55512345 ext"},  # no valid number: kept
        {"name": "Sana Malik", "phone": "+92 300 555 12345"},
        {"name": "Sana Mirza", "phone": "12345"},  # too few digits to be a number
        {"name": "Sana Mirza", "phone": "12345"},
    ]
    report = bulk.import_contacts(ws, rows, keep_invalid=True)
    assert report.inserted == 4
    ids = list(ws.contacts.search(limit=10, order_by="id")["id"])
    assert pairs(ws.duplicates.find(min_score=1)) == {
        (ids[0], ids[1]): (100, "same phone; same name"),
        (ids[2], ids[3]): (65, "same name"),
    }


def test_a_shared_switchboard_number_identifies_no_one(ws):
    ws.set_setting("phone_region", "PK")
    ids = [
        ws.contacts.create(name=name, phone="021 111 222 333")["id"]
        for name in ("Asif Awan", "Asif Awan", "Bilal Butt", "Danish Dar", "Ejaz Elahi", "Faraz")
    ]
    found = pairs(ws.duplicates.find(min_score=0))
    assert found[(ids[0], ids[1])] == (
        65,
        "same phone, as more than 5 records have; same name",
    )
    assert pairs(ws.duplicates.find()) == {}


def test_nameless_records_pair_by_what_they_share(ws):
    a = ws.contacts.create(name="N/A", email="x@indus.pk")["id"]
    b = ws.contacts.create(name="Nadia Hussain", email="X@indus.pk")["id"]
    c = ws.contacts.create(name="unknown", city="Karachi")["id"]
    d = ws.contacts.create(name="N/A", city="Karachi")["id"]
    assert pairs(ws.duplicates.find(min_score=0)) == {
        (a, b): (80, "same e-mail; no name to compare")
    }
    assert name_words("N/A", "contacts") == [] and c < d


def test_companies_by_vat_and_names_without_legal_form(ws):
    ws.set_setting("phone_region", "PK")
    a = ws.companies.create(name="Indus Textiles (Pvt.) Ltd.", vat="1234567-8")["id"]
    b = ws.companies.create(name="INDUS TEXTILES", vat="1234567 8")["id"]
    c = ws.companies.create(name="Indus Textile Mills", phone="021 35871234")["id"]
    d = ws.companies.create(name="Indus Textile Mills Limited", phone="+92 21 35871234")["id"]
    e = ws.companies.create(name="Volga Trade", vat="DE 123")["id"]
    f = ws.companies.create(name="Волга Трейд ООО", vat="DE123")["id"]
    frame = ws.duplicates.find("companies")
    assert set(frame["entity"]) == {"companies"}
    assert pairs(frame) == {
        (a, b): (100, "same VAT number; same name"),
        (c, d): (100, "same phone; same name"),
        (e, f): (100, "same VAT number; names 100% alike across scripts"),
    }


def test_records_linked_to_an_erp_are_compared_and_flagged(people):
    ids = people.ids
    with people.transaction() as s:
        s.add(
            ExternalLink(
                backend="odoo:test",
                entity="contact",
                local_id=ids["case_b"],
                remote_model="res.partner",
                remote_id=7,
                synced={},
                synced_at=people.clock(),
            )
        )
    frame = people.duplicates.find()
    row = frame[frame["id_b"] == ids["case_b"]].iloc[0]
    assert (bool(row["erp_a"]), bool(row["erp_b"])) == (False, True)
    assert int(frame["erp_a"].sum() + frame["erp_b"].sum()) == 1


def test_a_sales_user_finds_pairs_among_what_they_may_see(people, monkeypatch):
    people.users.add("Olga Smirnova", "olga", role="sales")
    olga = people.as_user("olga")
    # Contacts are everyone's (crm_core.access): a sales user finds every pair.
    assert pairs(olga.duplicates.find()) == pairs(people.duplicates.find())
    # Were a rule to hide contacts from them, the pairs would follow it: duplicates
    # reads through access.clauses_for like every list.
    ids = people.ids
    people.contacts.update(ids["case_a"], owner=olga.user_id)
    people.contacts.update(ids["case_b"], owner=olga.user_id)
    people.contacts.update(ids["forms_a"], owner=olga.user_id)
    rule = access.clauses_for

    def own_contacts(ws, model):
        if model is Contact and access.own_only(ws) is not None:
            return [Contact.owner_id == ws.user_id]
        return rule(ws, model)

    monkeypatch.setattr(access, "clauses_for", own_contacts)
    assert pairs(olga.duplicates.find()) == {
        (ids["case_a"], ids["case_b"]): (100, "same e-mail; same name")
    }
    assert len(people.duplicates.find()) == len(PLANTED)


def test_bad_arguments_are_refused_naming_each(ws):
    with pytest.raises(ValidationError) as caught:
        ws.duplicates.find("deals", min_score=101, limit=0)
    fields = {error.field for error in caught.value.errors}
    assert fields == {"entity", "min_score", "limit"}
    with pytest.raises(ValidationError):
        ws.duplicates.find(min_score=True)


def test_an_empty_workspace_has_no_pairs(ws):
    frame = ws.duplicates.find()
    assert list(frame.columns) == COLUMNS and frame.empty
    ws.contacts.create(name="Alone")
    assert ws.duplicates.find(min_score=0).empty


# -- blocking ----------------------------------------------------------------------------
def test_a_large_block_pairs_neighbours_only():
    n = CAP * 3
    keys = pd.DataFrame({"key": ["skn mrn"] * n + ["small"] * 4, "id": range(1, n + 5)})
    order = pd.Series([f"{i:04d}" for i in range(1, n + 5)], index=range(1, n + 5))
    found = block_pairs(keys, order)
    big = found[found[:, 1] <= n]
    assert len(big) == sum(n - k for k in range(1, WINDOW + 1))
    assert (big[:, 1] - big[:, 0]).max() == WINDOW
    small = found[found[:, 0] > n]
    assert small.tolist() == [[n + i, n + j] for i in range(1, 5) for j in range(i + 1, 5)]
    assert found.dtype == np.int64


def test_phone_tails():
    assert phone_tail("+92 300 1234567") == phone_tail("0300-1234567") == "001234567"
    assert phone_tail("(212) 555-0100") == phone_tail("+1 212 555 0100")
    assert phone_tail("12345") is None and phone_tail(None) is None


# -- the command line --------------------------------------------------------------------
def test_cli_lists_pairs(tmp_path):
    path = tmp_path / "shop.sqlite"
    with crm_core.open(path) as ws:
        ws.set_setting("phone_region", "PK")
        ws.contacts.create(name="Imran Khan", phone="0300 1234567")
        ws.contacts.create(name="عمران خان", phone="+92 300 1234567")
        ws.contacts.create(name="Sana Mirza", email="sana@example.pk")
        ws.contacts.create(name="Sana Mirza", email="SANA@example.pk")
        with ws.transaction() as s:
            assert len(s.scalars(select(Contact.id)).all()) == 4
    env = {"COLUMNS": "200"}
    listed = runner.invoke(app, ["duplicates", "-w", str(path)], env=env)
    assert listed.exit_code == 0, listed.output
    assert "2 pair(s) of contacts scoring 75 or more" in listed.output
    assert "#1 Imran Khan" in listed.output and "#2 عمران خان" in listed.output
    assert "same phone; names 100% alike across scripts" in listed.output
    assert "same e-mail; same name" in listed.output
    one = runner.invoke(app, ["duplicates", "contacts", "-w", str(path), "--limit", "1"], env=env)
    assert one.exit_code == 0, one.output
    assert "1 pair(s)" in one.output and "more: --limit 2" in one.output
    none = runner.invoke(app, ["duplicates", "companies", "-w", str(path)], env=env)
    assert none.exit_code == 0, none.output
    assert "no pair of companies scores 75 or more" in none.output
    bad = runner.invoke(app, ["duplicates", "-w", str(path), "--min-score", "101"], env=env)
    assert bad.exit_code == 1
    assert "min_score" in bad.output and "0..100" in bad.output


def test_cli_merges_are_listed_in_the_workspaces_time_zone(tmp_path, monkeypatch):
    """They were written in UTC with no zone (workbook covers use the workspace's)."""
    path = tmp_path / "zoned.sqlite"
    moment = dt.datetime(2026, 12, 6, 0, 28, tzinfo=dt.UTC)
    with crm_core.open(path, clock=lambda: moment) as ws:
        ws.set_setting("timezone", "Asia/Karachi")
        keep = ws.contacts.create(name="Sana Mirza", email="sana@example.pk")["id"]
        drop = ws.contacts.create(name="Sana Mirza", email="SANA@example.pk")["id"]
        ws.duplicates.merge("contacts", keep, drop)
    listed = runner.invoke(app, ["duplicates", "merges", "-w", str(path)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "2026-12-06 05:28 PKT" in listed.output


def test_cli_workspace_before_or_after_the_subcommand(tmp_path, monkeypatch):
    path = tmp_path / "demo.sqlite"
    with crm_core.open(path) as ws:
        keep = ws.contacts.create(name="Sana Mirza", email="sana@example.pk")["id"]
        drop = ws.contacts.create(name="Sana Mirza", email="SANA@example.pk")["id"]
        ws.companies.create(name="Indus Traders Ltd", vat="1234567-8")
        ws.companies.create(name="Indus Traders", vat="12345678")
    monkeypatch.chdir(tmp_path)  # no crm.sqlite here: the default would fail
    env = {"COLUMNS": "200"}
    before = runner.invoke(app, ["duplicates", "-w", str(path), "companies"], env=env)
    assert before.exit_code == 0, before.output
    assert "1 pair(s) of companies" in before.output
    limited = runner.invoke(
        app, ["duplicates", "-w", str(path), "--min-score", "100", "companies"], env=env
    )
    assert "scoring 100 or more" in limited.output
    merged = runner.invoke(
        app, ["duplicates", "-w", str(path), "merge", "contacts", str(keep), str(drop)], env=env
    )
    assert merged.exit_code == 0, merged.output
    assert f"merged contact #{drop} into contact #{keep}" in merged.output
    merges = runner.invoke(app, ["duplicates", "--workspace", str(path), "merges"], env=env)
    assert merges.exit_code == 0 and "1 latest merge(s)" in merges.output
    after = runner.invoke(app, ["duplicates", "merges", "-w", str(path)], env=env)
    assert after.exit_code == 0 and "1 latest merge(s)" in after.output
    # Given after the subcommand, it wins over the one before.
    other = runner.invoke(
        app, ["duplicates", "-w", "nowhere.sqlite", "merges", "-w", str(path)], env=env
    )
    assert other.exit_code == 0, other.output
    missing = runner.invoke(app, ["duplicates", "merges"], env=env)
    assert missing.exit_code == 1 and "no workspace at crm.sqlite" in missing.output
