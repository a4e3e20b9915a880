"""Make the staff app's web fonts (run by hand when the font set changes; the .woff2
files and fonts.css it writes are committed and ship in the wheel).

    pip install fonttools brotli
    apt-get install fonts-noto-core
    python widgets/fonts/make_fonts.py

Each script gets a subset of its Noto family (SIL Open Font License 1.1, OFL.txt
beside this file) as WOFF2, every OpenType feature kept (Arabic joining, Bengali and
Tamil conjuncts). fonts.css declares them all as one family, ``crmbook``, each face
with the ``unicode-range`` it covers: a browser downloads only the faces of the scripts
a page shows. Arabic script (Urdu, Sindhi) is Noto Naskh Arabic: Noto Nastaliq Urdu
lacks Sindhi letters (ڪ) and its tall lines clip in form fields. Naskh's letters
are small beside Latin ones of the same size: its faces are drawn 115% (``size-adjust``)
so that an Urdu label reads like the English one next to it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

NOTO = Path("/usr/share/fonts/truetype/noto")
HERE = Path(__file__).parent
FAMILY = "crmbook"
# Joiners, marks of direction, the dotted circle and the dandas every Indic font uses.
COMMON = "U+200C-200F, U+25CC, U+0964-0965"
#: (output stem, Noto file stem, unicode-range of the face)
FACES = [
    (
        "latin-cyrillic",
        "NotoSans",
        "U+0000-024F, U+0259, U+02B0-02FF, U+0300-036F, U+0400-052F, U+1E00-1EFF, "
        "U+2000-206F, U+20A0-20CF, U+2100-214F, U+2190-21FF, U+2200-22FF, U+25A0-25FF, "
        "U+2600-26FF, U+FEFF, U+FFFD",
    ),
    (
        "arabic",
        "NotoNaskhArabic",
        "U+0600-06FF, U+0750-077F, U+0870-08FF, U+FB50-FDFF, U+FE70-FEFF, " + COMMON,
    ),
    ("bengali", "NotoSansBengali", "U+0980-09FF, " + COMMON),
    ("tamil", "NotoSansTamil", "U+0B80-0BFF, U+11FC0-11FFF, " + COMMON),
]
WEIGHTS = {"Regular": 400, "Bold": 700}
#: Faces drawn larger than their nominal size (see the module's notes).
SIZE_ADJUST = {"arabic": "115%"}


def _ranges(text: str) -> list[int]:
    codes: list[int] = []
    for part in text.split(","):
        first, _sep, last = part.strip().removeprefix("U+").partition("-")
        codes.extend(range(int(first, 16), int(last or first, 16) + 1))
    return codes


def make(stem: str, source: str, ranges: str, style: str) -> Path:
    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.hinting = False
    options.notdef_outline = True
    # The source's own timestamp: the same fonts make the same files.
    font = TTFont(NOTO / f"{source}-{style}.ttf", recalcTimestamp=False)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=_ranges(ranges))
    subsetter.subset(font)
    out = HERE / f"{stem}-{style.lower()}.woff2"
    font.flavor = "woff2"
    font.save(out)
    return out


def main() -> None:
    faces = []
    for stem, source, ranges in FACES:
        for style, weight in WEIGHTS.items():
            out = make(stem, source, ranges, style)
            print(f"{out.name}: {out.stat().st_size // 1024} KiB", file=sys.stderr)
            faces.append(
                "@font-face {\n"
                f'  font-family: "{FAMILY}";\n'
                f"  font-style: normal;\n  font-weight: {weight};\n  font-display: swap;\n"
                f'  src: url("{out.name}") format("woff2");\n'
                + (f"  size-adjust: {SIZE_ADJUST[stem]};\n" if stem in SIZE_ADJUST else "")
                + f"  unicode-range: {ranges};\n}}\n"
            )
    header = (
        "/* The staff app's fonts: Noto (SIL Open Font License 1.1, see OFL.txt), one\n"
        "   family per script under one name. Made by make_fonts.py: do not edit. */\n"
    )
    (HERE / "fonts.css").write_text(header + "\n".join(faces), encoding="utf-8")


if __name__ == "__main__":
    main()
