"""Text normalisation for search and sorting across scripts.

Search keys are NFKC-normalised and case-folded, so that "STRASSE" finds "Straße",
full-width Latin finds ASCII, and Urdu, Bengali, Tamil or Cyrillic text compares in
its canonical form whatever keyboard produced it.
"""

from __future__ import annotations

import unicodedata

# Characters joining or directing text that carry no meaning for search: zero-width
# (non-)joiners, marks used in Urdu/Sindhi/Bengali input, and bidi controls.
_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff",
    )
)
# Largest code point: appended to a prefix it bounds an index range scan.
PREFIX_END = "\U0010ffff"


def fold(text: str | None) -> str:
    """Return the search key of ``text``: NFKC, case-folded, invisible marks removed,
    whitespace collapsed."""
    if not text:
        return ""
    cleaned = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()
    # casefold can produce non-NFKC sequences; normalise again so keys are stable.
    return " ".join(unicodedata.normalize("NFKC", cleaned).split())


def clean(text: str | None) -> str | None:
    """Return ``text`` as stored: NFC-normalised, stripped; empty becomes None."""
    if text is None:
        return None
    out = unicodedata.normalize("NFC", str(text)).strip()
    return out or None


def words(text: str | None) -> list[str]:
    """The distinct folded words of ``text`` in order, as indexed for word-prefix search.

    A word is a run of letters, combining marks and digits, so Bengali and Tamil vowel
    signs and Arabic-script diacritics stay inside their word.
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


__all__ = ["PREFIX_END", "clean", "fold", "words"]
