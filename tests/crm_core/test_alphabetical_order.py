"""Names listed in alphabetical order in every script our users write (crm_core.collation):
Urdu's alphabet (ب پ ت ٹ ث ... ن و ہ ی), Sindhi's letters beside Urdu's, Cyrillic with ё
beside е, Latin with accents beside their letters, and the scripts in CLDR's root order.
Code-point order put ٹ پ چ ڈ ڑ ژ گ after ی and ہ before و."""

from __future__ import annotations

import pytest

from crm_core.collation import sort_key, sorted_names

#: Shuffled; ALPHABETICAL is their order.
NAMES = ["ہارون", "Zoe", "ٹیپو", "ёж", "گل", "émile", "پرویز", "Анна", "واجد", "بلال", "Adam"]
NAMES += ["ٻچو", "ژالہ", "ڈار", "یاسر", "ثاقب", "Егор", "ڑ", "تنویر"]
ALPHABETICAL = ["Adam", "émile", "Zoe", "Анна", "Егор", "ёж", "بلال", "ٻچو", "پرویز", "تنویر"]
ALPHABETICAL += ["ٹیپو", "ثاقب", "ڈار", "ڑ", "ژالہ", "گل", "واجد", "ہارون", "یاسر"]


def test_the_sort_key_orders_names_as_their_alphabets_do():
    assert sorted_names(NAMES) == ALPHABETICAL
    # the Arabic keyboard's letters sort as Urdu's (search already folds them alike)
    assert sort_key("كريم")[:8] == sort_key("کریم")[:8]
    assert sort_key("ياسر") < sort_key("یاسرہ")
    assert sort_key(None) == sort_key("") == ""


@pytest.fixture
def named(ws):
    ws.pipeline.ensure_default()
    for name in NAMES:
        ws.contacts.create(name=name, tags=["team"])
        ws.companies.create(name=name)
        ws.pipeline.create(name)
    return ws


def test_lists_come_in_alphabetical_order_on_both_backends(named):
    ws = named
    assert ws.contacts.search(order_by="name")["name"].tolist() == ALPHABETICAL
    assert (
        ws.contacts.search(order_by="name", descending=True)["name"].tolist()
        == (ALPHABETICAL[::-1])
    )
    assert ws.companies.search(tag=None, order_by="name")["name"].tolist() == ALPHABETICAL
    assert ws.pipeline.search(order_by="name")["name"].tolist() == ALPHABETICAL
    # a page at a time, from the index: the same order
    pages = [ws.contacts.search(order_by="name", limit=4, offset=k)["name"] for k in (0, 4, 8)]
    assert [n for page in pages for n in page] == ALPHABETICAL[:12]
    # renamed: listed at its new place
    (tipu,) = ws.contacts.search("ٹیپو")["id"]
    ws.contacts.update(tipu, {"name": "آصف"})
    assert ws.contacts.search(order_by="name")["name"].tolist()[6] == "آصف"


def test_a_name_search_pages_in_the_same_order(named):
    ws = named
    for name in ["ٹیپو خان", "بلال خان", "ہارون خان", "پرویز خان"]:
        ws.contacts.create(name=name)
    found = ws.contacts.search("خان", order_by="name")["name"].tolist()
    assert found == ["بلال خان", "پرویز خان", "ٹیپو خان", "ہارون خان"]


def test_a_bulk_import_keys_its_names_as_the_services_do(ws, tmp_path):
    from crm_core import bulk

    report = bulk.import_contacts(ws, [{"name": n} for n in NAMES])
    assert report.inserted == len(NAMES)
    assert ws.contacts.search(order_by="name")["name"].tolist() == ALPHABETICAL
    assert ws.contacts.search("ٹیپو")["name"].tolist() == ["ٹیپو"]
