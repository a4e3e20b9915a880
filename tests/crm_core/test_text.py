"""Script-aware folding (``text.fold``) and the cross-script skeleton
(``text.latin_skeleton``): the letter forms, accents and scripts our users write in;
and what they change for search, including workspaces whose keys were stored by the
fold before (migration 0010)."""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy import text as sql

import crm_core
from crm_core import db, text


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("كريم", "کریم"),  # Arabic kaf and yeh / Persian-Urdu keheh and Farsi yeh
        ("ڪريم", "کریم"),  # Sindhi's swash kaf
        ("موسى", "موسی"),  # alef maksura
        ("فاطمة", "فاطمہ"),  # teh marbuta / Urdu heh goal
        ("فاطمه", "فاطمہ"),  # Persian heh / Urdu heh goal
        ("بهٹو", "بھٹو"),  # Arabic keyboard's heh for Urdu's aspiration heh
        ("أحمد", "احمد"),  # alef with hamza
        ("إبراهيم", "ابراہیم"),
        ("آصف", "اصف"),
        ("خاں", "خان"),  # noon ghunna
        ("مُحَمَّد", "محمد"),  # harakat
        ("محـــمد", "محمد"),  # tatweel
        ("عیسیٰ", "عيسى"),  # superscript alef
        ("Müller", "Muller"),
        ("JOSÉ", "jose"),
        ("Łukasz", "Lukasz"),
        ("Søren", "Soren"),
        ("İstanbul", "istanbul"),
        ("Ελένη", "ΕΛΕΝΗ"),
        ("Алёна", "Алена"),
        ("Ёлкин", "Елкин"),
        ("Ива́н", "Иван"),  # a stress mark
        ("۱۲۳", "123"),  # Urdu digits
        ("١٢٣", "123"),  # Arabic digits
    ],
)
def test_fold_makes_one_key_of_forms_people_write_for_one_letter(one, other):
    assert text.fold(one) == text.fold(other)
    assert text.fold(text.fold(one)) == text.fold(one)


def test_fold_values():
    assert text.fold("كريم") == text.fold("کریم") == "كريم"
    assert text.fold("Müller") == "muller"
    assert text.fold("  Jürgen   STRAßE ") == "jurgen strasse"
    assert text.fold("Алёна") == "алена"


@pytest.mark.parametrize(
    ("kept", "not_the_same_as"),
    [
        ("Йошкар", "Иошкар"),  # й is a letter of its own
        ("Київ", "Kиів"),  # ї too
        ("ٹ", "ت"),  # Urdu's retroflex t is no t
        ("ڈ", "د"),
        ("پ", "ب"),
        ("گ", "ك"),
    ],
)
def test_fold_keeps_letters_that_are_letters(kept, not_the_same_as):
    assert text.fold(kept) != text.fold(not_the_same_as)


@pytest.mark.parametrize(
    "name",
    ["মুহাম্মদ উদ্দিন", "রহিম", "முருகன் செல்வம்", "கார்த்திக்", "फ़ातिमा", "निमल", "නිමල් පෙරේරා"],
)
def test_fold_keeps_the_vowel_signs_of_brahmic_scripts(name):
    folded = text.fold(name)
    assert folded == unicodedata.normalize("NFKC", name)
    marks = [ch for ch in name if unicodedata.category(ch).startswith("M")]
    assert marks and [ch for ch in folded if unicodedata.category(ch).startswith("M")] == marks


def test_words_of_arabic_text_lose_harakat_and_keep_bengali_signs():
    assert text.words("مُحَمَّد عَلِی") == ["محمد", "علي"]
    assert text.words("আব্দুল করিম") == ["আব্দুল", "করিম"]


@pytest.mark.parametrize(
    ("names", "skeleton"),
    [
        (("عمران خان", "Imran Khan", "Имран Хан", "IMRAN KHAN", "عمران خاں"), "mrn kn"),
        (("محمد", "Muhammad", "Mohammad", "মুহাম্মদ"), "md"),
        (("صدیقی", "Siddiqui", "Sidiqui"), "sdk"),
        (("چوہدری", "Chaudhry", "Chaudhary", "Choudhry"), "cdr"),
        (("চৌধুরী", "Chowdhury"), "cdr"),
        (("ذوالفقار", "Zulfiqar", "Zulfikar"), "zlfkr"),
        (("ثاقب", "Saqib"), "skb"),
        (("ظفر", "Zafar"), "zfr"),
        (("قریشی", "Qureshi", "Kureshi", "كريشي"), "krs"),
        (("Jürgen", "Juergen", "Jurgen"), "jrgn"),
        (("ڀٽو", "Bhutto"), "bt"),
    ],
)
def test_latin_skeleton_is_shared_across_scripts_and_spellings(names, skeleton):
    assert {name: text.latin_skeleton(name) for name in names} == dict.fromkeys(names, skeleton)


def test_latin_skeleton_keeps_words_apart_and_tells_names_apart():
    assert text.latin_skeleton("Imran Khan") != text.latin_skeleton("Imran Qureshi")
    assert text.latin_skeleton("Ali") != text.latin_skeleton("Bilal")
    assert text.latin_skeleton(None) == text.latin_skeleton("") == ""
    assert text.latin_skeleton("Al-Rehman & Sons") == "l rmn sns"


# -- search ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("کریم خان", "كريم"),  # Urdu stored, Arabic typed
        ("كريم خان", "کریم"),  # and the other way
        ("فاطمہ بی بی", "فاطمة"),
        ("Jürgen Müller", "muller"),
        ("Алёна Петрова", "алена"),
    ],
)
def test_search_finds_a_name_typed_with_other_letter_forms(ws, stored, query):
    ws.contacts.create(name="someone else")
    record = ws.contacts.create(name=stored)
    found = ws.search.everything(query)
    assert [hit["id"] for hit in found["contacts"]] == [record["id"]]
    assert list(ws.contacts.search(query)["id"]) == [record["id"]]
    assert ws.contacts.ids_named(stored.translate({ord("ی"): "ي", ord("ک"): "ك"})) == [record["id"]]


# -- migration 0010 ----------------------------------------------------------------------
def test_migration_recomputes_keys_stored_by_the_previous_fold(backend):
    """A workspace at 0009 holds keys made by the old fold: after the upgrade, search
    finds across letter forms; a downgrade puts the old keys back."""
    workspace = crm_core.open(backend)
    workspace.pipeline.ensure_default()
    karim = workspace.contacts.create(name="کریم خان", email="Karim@Example.pk", city="Kötzting")
    muller = workspace.companies.create(name="Müller GmbH")
    rahim = workspace.contacts.create(name="রহিম উদ্দিন")
    deal = workspace.pipeline.create("Größe ۱۲", company=muller["id"])
    workspace.contacts.update(karim["id"], tags=["Müller"])
    engine = workspace.engine
    db.downgrade(engine, "0009")
    with engine.begin() as conn:
        keys = dict(conn.execute(sql("SELECT name, name_key FROM contacts")).all())
        assert keys["کریم خان"] == "کریم خان"  # as the old fold stored it
        assert conn.execute(sql("SELECT name_key FROM opportunities")).scalar() == "grösse ۱۲"
        assert dict(conn.execute(sql("SELECT name, name_key FROM tags")).all()) == {
            "Müller": "müller"
        }
        terms = {
            row[0]
            for row in conn.execute(
                sql("SELECT term FROM search_terms WHERE record_id = :i AND entity = 'contact'"),
                {"i": karim["id"]},
            )
        }
        assert terms == {"کریم", "خان"}
        # The old crmbook let a second tag differ by an accent only: one key now.
        conn.execute(
            sql(
                "INSERT INTO tags (name, name_key, color, version)"
                " VALUES ('Muller', 'muller', 0, 1)"
            )
        )
    db.upgrade(engine)
    workspace.close()

    ws = crm_core.open(backend)
    with ws.engine.connect() as conn:
        row = conn.execute(
            sql("SELECT name_key, email_key, city_key FROM contacts WHERE id = :i"),
            {"i": karim["id"]},
        ).one()
        assert tuple(row) == ("كريم خان", "karim@example.pk", "kotzting")
        assert conn.execute(sql("SELECT name_key FROM opportunities")).scalar() == "grosse 12"
        tags = dict(conn.execute(sql("SELECT name, name_key FROM tags")).all())
        muller_tag = conn.execute(sql("SELECT id FROM tags WHERE name = 'Muller'")).scalar()
        assert tags == {"Müller": "muller", "Muller": f"muller (tag {muller_tag})"}
    assert list(ws.contacts.search("كريم")["id"]) == [karim["id"]]
    assert list(ws.contacts.search("رحيم")["id"]) == []
    assert list(ws.contacts.search("রহি")["id"]) == [rahim["id"]]
    assert list(ws.companies.search("muller")["id"]) == [muller["id"]]
    assert list(ws.contacts.search(email="karim@example.pk")["id"]) == [karim["id"]]
    assert [hit["id"] for hit in ws.search.everything("grosse")["deals"]] == [deal["id"]]
    assert list(ws.contacts.search(tag="Müller")["id"]) == [karim["id"]]
    ws.close()
