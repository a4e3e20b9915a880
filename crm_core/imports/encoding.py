"""The encoding of a text file, found from its bytes, and the first line it cannot
decode.

:func:`detect_encoding` reads a byte-order mark, then looks for UTF-16 without one (its
zero bytes), then tries UTF-8 over the whole file; failing those, it judges which code
page reads the lines that are not ASCII most plausibly (:func:`best_code_page`), the
common Windows code pages of our users first and charset-normalizer's guess among the
candidates: charset-normalizer alone reads a short Western European file as cp1250 or
an Urdu one as mac_greek.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import charset_normalizer

from crm_core.errors import ImportRefused

#: Byte-order marks and the encodings they announce.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CHUNK = 1 << 20
# How much of the non-ASCII text charset-normalizer is shown (it is slow on more).
_SAMPLE = 256 * 1024


class UnknownEncoding(ImportRefused):
    """No encoding reads the file."""


def detect_encoding(path: Path) -> str:
    """The encoding of a text file: its byte-order mark; else UTF-8 when the whole file
    decodes as UTF-8, or when it is UTF-8 but for a few lines (see :func:`mostly_utf8`:
    then :func:`undecodable_line` names the first of them); else UTF-16 when its zero
    bytes say so; else the code page whose reading of the non-ASCII lines gives words of
    one plausible script (see :func:`plausibility`), the common Windows code pages of
    our users first."""
    return sniff_encoding(path)[0]


def sniff_encoding(path: Path) -> tuple[str, bool]:
    """(See :func:`detect_encoding`.) The encoding, and whether the whole file was
    found to decode in it (False: it still has to be checked, line by line, with
    :func:`undecodable_line`)."""
    with path.open("rb") as f:
        start = f.read(4)
        for bom, name in BOMS:
            if start.startswith(bom):
                return name, False
        f.seek(0)
        wide = utf16_without_bom(f.read(4096))
        if wide is not None:
            return wide, False  # (zero bytes are valid UTF-8: looked for first)
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        head = b""
        sample = bytearray()
        utf8 = True
        while chunk := f.read(_CHUNK):
            if not head:
                head = chunk[:_SAMPLE]
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            if not chunk.isascii() and len(sample) < _SAMPLE:
                sample += b"\n".join(line for line in chunk.split(b"\n") if not line.isascii())
            if not utf8 and len(sample) >= _SAMPLE:
                break
        if utf8:
            try:
                decoder.decode(b"", final=True)
                return "utf-8", True
            except UnicodeDecodeError:
                pass
    if mostly_utf8(bytes(sample[:_SAMPLE])):
        # UTF-8 with a few bad lines (a line pasted from a cp1252 file, a byte cut):
        # no code page reads the rest as it was written; the bad lines are refused.
        return "utf-8", False
    found = best_code_page(bytes(sample[:_SAMPLE]), head)
    if found is None:
        raise UnknownEncoding(f"{path}: cannot tell the file's encoding; give it with --encoding")
    return found, False


def mostly_utf8(sample: bytes) -> bool:
    """Whether ``sample`` (the non-ASCII lines of a file that is not all UTF-8) is
    UTF-8 but for a few lines: more of its non-ASCII characters are valid multi-byte
    UTF-8 sequences than there are bytes UTF-8 cannot read, or as many of its lines
    decode as UTF-8 as do not. Text in a code page seldom holds a valid sequence (a
    letter of 0xC2-0xDF followed by one of 0x80-0xBF), and then among many bytes that
    are none; a line of it all valid UTF-8 is rarer still. (Taking a code page's text
    for UTF-8 refuses the file, naming a line, until --encoding is given; the other
    mistake would import every name garbled.)"""
    text_ = sample.decode("utf-8", errors="surrogateescape")
    bad = len(_ESCAPED.findall(text_))
    valid = len(_NON_ASCII.findall(text_)) - bad
    if valid > bad:
        return True
    lines = [line for line in text_.split("\n") if not line.isascii()]
    bad_lines = sum(1 for line in lines if _ESCAPED.search(line))
    return 0 < bad_lines <= len(lines) - bad_lines


# Bytes UTF-8 cannot read, as the "surrogateescape" error handler gives them.
_ESCAPED = re.compile("[\udc80-\udcff]")
_NON_ASCII = re.compile("[^\x00-\x7f]")


#: The code pages a text that is not UTF-8 is tried in, most likely first: the Windows
#: code pages of our users (Western European, Arabic/Urdu, Cyrillic), then the other
#: Windows, ISO and DOS ones. A tie in plausibility goes to the earlier one.
PREFERRED = ("cp1252", "cp1256", "cp1251")
OTHER_CODE_PAGES = (
    "cp1250",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1257",
    "cp1258",
    "koi8_r",
    "cp866",
    "iso8859_15",
    "iso8859_2",
    "iso8859_5",
    "iso8859_6",
    "mac_roman",
    "cp850",
    "cp437",
    "cp874",
)
# How much of the non-ASCII text is judged for plausibility, per code page.
_JUDGED = 64 * 1024
# Cells and words are cut at these (ASCII separators, digits, spaces).
_WORD_SPLIT = re.compile(r"[\s\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f\u00a0]+")
# Non-letters a real text in a code page holds: typographic quotes and dashes, the
# euro, degrees, guillemets, the Arabic comma, semicolon and question mark, the
# zero-width non-joiner of Urdu and Persian.
_FINE = frozenset(
    "\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014\u2026\u20ac°·«»\u060c\u061b\u061f\u200c\u200d"
)
_CASED = frozenset({"LATIN", "CYRILLIC", "GREEK"})


def best_code_page(sample: bytes, head: bytes = b"") -> str | None:
    """The code page ``sample`` (the non-ASCII lines of a file) is most plausibly
    written in: of those that decode all of it, the one whose words are letters of one
    script each, cased as words are (see :func:`plausibility`); a tie goes to the
    earlier of :data:`PREFERRED`, charset-normalizer's guess from the whole
    beginning of the file (``head``), then :data:`OTHER_CODE_PAGES`. None when no code
    page decodes it."""
    judged = sample[:_JUDGED]
    guess = _normalizer_guess(head[:_JUDGED] + b"\n" + judged if head else judged)
    candidates = list(dict.fromkeys([*PREFERRED, *([guess] if guess else []), *OTHER_CODE_PAGES]))
    best: tuple[int, int] | None = None
    chosen = None
    for rank, name in enumerate(candidates):
        try:
            decoded = judged.decode(name)
            if len(sample) > len(judged):
                sample[len(judged) :].decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        score = (plausibility(decoded), rank)
        if best is None or score < best:
            best, chosen = score, name
        if score[0] == 0:
            break  # nothing earlier beats a text with no oddity at all
    return chosen


def plausibility(text_: str) -> int:
    """How odd ``text_`` looks as a code page's reading of a file (0: not at all).

    Each word holding a non-ASCII character counts against it: a character that is
    neither a letter nor common punctuation (``‰``, ``¤``, a control character); letters
    of two scripts in one word (``ÑuÑ`` is fine, ``Øنا`` is not); a capital after a
    small letter (``ÚãÑÇä``, cp1256 read as cp1252); a Latin word of three letters or
    more that is nearly all accented letters (``Ìàðèÿ``, cp1251 read as cp1252).
    """
    odd = 0
    for word in _WORD_SPLIT.split(text_):
        if word.isascii():
            continue
        scripts: set[str] = set()
        letters = accented = 0
        previous_lower = False
        for ch in word:
            if ch.isascii():
                if ch.isalpha():
                    scripts.add("LATIN")
                    letters += 1
                    if previous_lower and ch.isupper():
                        odd += 2
                    previous_lower = ch.islower()
                continue
            script = _script(ch)
            if script is None:
                if ch not in _FINE:
                    odd += 2
                previous_lower = False
                continue
            scripts.add(script)
            letters += 1
            if script == "LATIN":
                accented += 1
            if script in _CASED:
                if previous_lower and ch.isupper():
                    odd += 2
                previous_lower = ch.islower()
            else:
                previous_lower = False
        if len(scripts) > 1:
            odd += 3
        if scripts == {"LATIN"} and letters >= 3 and accented * 4 >= letters * 3:
            odd += 2
    return odd


@lru_cache(maxsize=4096)
def _script(ch: str) -> str | None:
    """The script of a letter (``LATIN``, ``ARABIC``, ``CYRILLIC``...), from its Unicode
    name; None for what is no letter (combining marks count as letters of no script)."""
    category = unicodedata.category(ch)
    if category.startswith("M"):
        return "MARK"
    if not category.startswith("L") or category == "Lm":
        return None
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] or None


def _normalizer_guess(data: bytes) -> str | None:
    """charset-normalizer's best guess for ``data`` (the whole sample, not only its
    non-ASCII lines: it judges the language by the words around them)."""
    try:
        best = charset_normalizer.from_bytes(
            data, preemptive_behaviour=False, language_threshold=0.1
        ).best()
    except Exception:
        return None
    if best is None:
        return None
    try:
        return codecs.lookup(str(best.encoding)).name
    except LookupError:
        return None


def utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 written without a byte-order mark: text that is mostly ASCII has a zero
    byte in every other place (after each character little-endian, before it
    big-endian)."""
    pairs = len(head) // 2
    if pairs < 4:
        return None
    even = head[0::2].count(0)
    odd = head[1::2].count(0)
    for zeros, name in ((odd, "utf-16-le"), (even, "utf-16-be")):
        if zeros >= pairs * 0.4 and head[: pairs * 2].count(0) < pairs * 1.2:
            try:
                head[: pairs * 2 - (pairs * 2) % 4 or pairs * 2].decode(name)
            except UnicodeDecodeError:
                continue
            return name
    return None


def undecodable_line(path: Path, encoding: str) -> tuple[int, str] | None:
    """The first line of the file at ``path`` that ``encoding`` cannot decode, and
    why (None when it all decodes). Lines are counted as the reader counts them:
    ends of line are LF, CR LF or a lone CR."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:  # the whole file in large pieces first: most files decode
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        return None
    except UnicodeDecodeError:
        pass
    decoder = codecs.getincrementaldecoder(encoding)()
    number = 1
    with path.open("rb") as f:
        for raw in f:  # split at LF bytes; the decoder keeps a character cut in two
            try:
                text_ = decoder.decode(raw)
            except UnicodeDecodeError as exc:
                at = exc.object[exc.start : exc.start + 1].hex() if exc.object else ""
                return number, f"{exc.reason}" + (f", byte 0x{at}" if at else "")
            number += text_.count("\n") + text_.count("\r") - text_.count("\r\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return number, exc.reason
    return None
