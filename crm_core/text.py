"""Text normalisation for search, sorting and matching across scripts.

Search keys (:func:`fold`) are NFKC-normalised and case-folded, so that "STRASSE" finds
"Straße", full-width Latin finds ASCII, and Urdu, Bengali, Tamil or Cyrillic text
compares in its canonical form whatever keyboard produced it. On top of that a key
forgets what people do not type consistently:

- the letter forms that Arabic, Persian, Urdu and Sindhi keyboards write differently
  (ك/ک, ي/ی/ى/ے, ه/ہ/ھ/ة, أ/إ/آ/ا, ...), Arabic harakat and the tatweel;
- accents on Latin and Greek letters (Müller/Muller, José/Jose, Ελένη/Ελενη), ł ø đ,
  and Russian ё (Алёна/Алена) and stress marks;
- the script of digits (۱۲۳, ١٢٣ and 123 are one number).

Combining marks of Bengali, Tamil, Devanagari, Sinhala and other Brahmic scripts are
vowel signs, letters of the word: they are kept. The tables are data, in
``folding.toml`` beside this module. Every stored key (names, e-mails, cities, tags,
deal names, the word index) is made by :func:`fold`: changing what it does needs a
migration that recomputes them (see migration 0010).

:func:`latin_skeleton` goes further, for matching only: a consonant skeleton in ASCII
that one name shares across scripts (عمران خان, Imran Khan, Имран Хан).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from importlib.resources import files
from typing import Any

from anyascii import anyascii

# Characters joining or directing text that carry no meaning for search: zero-width
# (non-)joiners, marks used in Urdu/Sindhi/Bengali input, and bidi controls.
_INVISIBLE_CHARS = (
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)
# Largest code point: appended to a prefix it bounds an index range scan.
PREFIX_END = "\U0010ffff"


def _code_points(spec: str) -> range:
    """``"064B-065F"`` or ``"0670"`` as a range of code points."""
    low, _, high = spec.partition("-")
    return range(int(low, 16), int(high or low, 16) + 1)


def _tables() -> tuple[dict[int, Any], dict[int, Any]]:
    """The translation tables of :func:`fold` and of :func:`latin_skeleton`'s first
    step, from ``folding.toml``."""
    data = tomllib.loads(files("crm_core").joinpath("folding.toml").read_text(encoding="utf-8"))
    table: dict[int, Any] = dict.fromkeys(map(ord, _INVISIBLE_CHARS))
    for group in ("arabic", "latin", "cyrillic"):
        for target, forms in data[group].items():
            table.update(dict.fromkeys(map(ord, forms), target))
    for specs in data["strip"].values():
        for spec in specs:
            table.update(dict.fromkeys(_code_points(spec)))
    # Digits of every script read as ASCII: ۱۲۳ (Urdu), ١٢٣ (Arabic) and ১২৩ (Bengali)
    # are the number people search for as 123. (Unicode has no digits past plane 1.)
    for cp in range(0x80, 0x20000):
        digit = unicodedata.decimal(chr(cp), None)
        if digit is not None:
            table[cp] = str(digit)
    skeleton = {ord(form): target for target, forms in data["skeleton"].items() for form in forms}
    return table, skeleton


_FOLD, _SKELETON_LETTERS = _tables()

# Latin and Greek letters (as NFD leaves them) whose combining marks are accents to
# forget, and the marks themselves; a Cyrillic vowel loses only a stress mark.
_LATIN_GREEK = (
    "a-z\u00df-\u024f\u0250-\u02af\u1d00-\u1dbf\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff"
    "\u0370-\u03ff\u1f00-\u1fff"
)
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_ACCENTS = re.compile(f"(?<=[{_LATIN_GREEK}])[{_MARKS}]+|(?<=[аеиоуыэюяіє])[\u0300\u0301]+")
# What can carry such a mark once decomposed: only text holding one of these takes the
# (slower) decompose-and-strip path; Arabic, Bengali or Tamil text never does.
_MAY_HAVE_ACCENTS = re.compile(
    f"[\u00c0-\u024f\u1e00-\u1eff\u0370-\u03ff\u1f00-\u1fff\u0450\u045d{_MARKS}]"
)


def fold(text: str | None) -> str:
    """Return the search key of ``text``: NFKC, case-folded, invisible marks removed,
    letter forms and accents folded (see the module's docstring), digits in ASCII,
    whitespace collapsed.

    ``fold("كريم") == fold("کریم")``, ``fold("Müller") == "muller"``,
    ``fold("Алёна") == "алена"``; Bengali and Tamil vowel signs are kept.
    """
    if not text:
        return ""
    if text.isascii():
        # The common case (e-mails, most Latin names): exactly what the steps below give
        # for ASCII text, several times faster.
        return " ".join(text.lower().split())
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_FOLD)
    if _MAY_HAVE_ACCENTS.search(folded):
        folded = _ACCENTS.sub("", unicodedata.normalize("NFD", folded))
    # casefold and the decomposition leave non-NFKC sequences; normalise again so keys
    # are stable (fold(fold(x)) == fold(x)).
    return " ".join(unicodedata.normalize("NFKC", folded).split())


def clean(text: str | None) -> str | None:
    """Return ``text`` as stored: NFC-normalised, stripped; empty becomes None."""
    if text is None:
        return None
    out = unicodedata.normalize("NFC", str(text)).strip()
    return out or None


# Between tag names written in one text: commas and semicolons, Latin and Arabic (the
# Arabic comma and semicolon that Urdu and Sindhi keyboards type).
_TAG_SEPARATORS = re.compile("[,;\u060c\u061b]")


def tag_names(text: str) -> list[str]:
    """The tag names of one text ("vip, wholesale", "vip; retail", "وی آئی پی، تھوک"),
    as written; blank parts (a trailing comma) are left out."""
    return [part for part in _TAG_SEPARATORS.split(text) if part.strip()]


def words(text: str | None) -> list[str]:
    """The distinct folded words of ``text`` in order, as indexed for word-prefix search.

    A word is a run of letters, combining marks and digits, so Bengali and Tamil vowel
    signs stay inside their word (Arabic harakat are gone already: :func:`fold`).
    """
    seen: dict[str, None] = {}
    current: list[str] = []
    for ch in fold(text) + " ":
        if unicodedata.category(ch)[0] in "LMN":
            current.append(ch)
        elif current:
            seen.setdefault("".join(current), None)
            current = []
    return list(seen)


# Latin spellings of one sound, made one before vowels go: "ph" is f (Farhan/Pharhan);
# "ch" is the sound anyascii writes c in every Indic script and چ's (Chaudhry/چوہدری,
# Chowdhury/চৌধুরী), so a c stays c; ck, q and x are k sounds (Qureshi/قریشی); and "ng"
# is how Latin writes the nasal that Brahmic scripts mark with an anusvara (Singh/सिंह,
# Kumarasinghe/කුමාරසිංහ).
_SKELETON_SPELLING = (("ph", "f"), ("ch", "c"), ("ck", "k"), ("q", "k"), ("x", "ks"), ("ng", "n"))
# Vowels, and the letters that are vowels or silent in one spelling and consonants in
# another: w, y and v (Urdu و and ی are both long vowels and consonants:
# Chaudhry/چوہدری, Pervez/پرویز), and h after a word's first consonant (Khan/Kan,
# Muhammad/মুহাম্মদ, Shahid/شاہد). An h that starts a word's consonants is kept: Ahmed,
# احمد and Hassan are not Muhammad, Ali and Sana.
_LEADING_VOWELS = "aeiouywv"
_SKELETON_DROP = re.compile(r"[aeiouyhwv]+")
_DOUBLED = re.compile(r"(.)\1+")
_NOT_LETTER = re.compile(r"[^a-z ]+")


def latin_skeleton(text: str | None) -> str:
    """The consonant skeleton of ``text`` in ASCII, one word per word: what a name
    keeps across scripts and spellings, for finding duplicates (never for display).

    The text is folded (:func:`fold`), Arabic-script letters are read as Urdu and
    Persian speakers say them (``folding.toml``), the rest transliterated to ASCII by
    anyascii, and then the letters that spellings disagree on are dropped: vowels
    (Arabic script writes no short vowels), w, y, v, and h unless it starts the word's
    consonants; doubled letters count once.
    ``latin_skeleton("عمران خان") == latin_skeleton("Imran Khan") ==
    latin_skeleton("Имран Хан") == "mrn kn"``. Words left empty disappear.
    """
    folded = fold(text)
    if not folded:
        return ""
    ascii_text = anyascii(folded.translate(_SKELETON_LETTERS)).lower()
    ascii_text = _NOT_LETTER.sub("", ascii_text.replace("-", " "))
    for spelled, sound in _SKELETON_SPELLING:
        ascii_text = ascii_text.replace(spelled, sound)
    out = []
    for word in ascii_text.split():
        consonants = word.lstrip(_LEADING_VOWELS)
        head = "h" if consonants.startswith("h") else ""
        rest = _SKELETON_DROP.sub("", consonants[len(head) :])
        skeleton = _DOUBLED.sub(r"\1", head + rest)
        if skeleton:
            out.append(skeleton)
    return " ".join(out)


__all__ = ["PREFIX_END", "clean", "fold", "latin_skeleton", "words"]
