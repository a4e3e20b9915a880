"""The pipeline board speaks the session's language: every word board.js draws comes
from the catalogue (sent as ``words``), the counts in the language's plural forms, the
messages name a deal in plain quotes (isolated in a right-to-left page), and every
new text is translated in all five catalogues."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from widgets import i18n
from widgets.board_view import (
    LABELS,
    WORDS,
    PipelineBoard,
    card_json,
    closed_json,
    column_json,
    status_word,
    words,
)
from widgets.pipeline_board import PipelineBoardModel, quoted

LANGUAGES = ("ur", "sd", "bn", "ta", "ru")
BOARD_JS = Path(i18n.__file__).with_name("static") / "board.js"
FSI, PDI = "\u2068", "\u2069"

#: The texts of the board, its messages and the logout page added for the tester.
NEW_TEXTS = [
    *WORDS.values(),
    *LABELS.values(),
    "no close date",
    "Lost: {reason}",
    "Moved {name} to {stage}.",
    "Won {name}.",
    "Reopened {name} in {stage}.",
    "Lost {name}: {reason}.",
    "Created {name} in {stage}.",
    "must be a month written YYYY-MM, such as 2026-06",
    "is not in an open stage of this board; reopen it first",
    "is already in the first open stage; use Won or Lost to close it",
    "is already in the last open stage; use Won or Lost to close it",
    "Log out of crmbook on every device?",
    "Back to the app",
]
PLURALS = [("{n} deal", "{n} deals"), ("+ {n} more", "+ {n} more"), ("+{n} more", "+{n} more")]


@pytest.fixture
def deals(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    bilal = ws.as_user("bilal").pipeline
    made = {
        "uniforms": bilal.create("Uniforms 2027", stage="New", expected_revenue="1500.00"),
        "odd": bilal.create("O'Brien order", stage="New"),
        "towels": bilal.create("Towels", stage="Qualified", expected_revenue="700.00"),
    }
    return {k: v["id"] for k, v in made.items()}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_new_text_is_translated_in_every_catalogue(language):
    gettext, ngettext = i18n.translator(language)
    for text in NEW_TEXTS:
        translated = gettext(text)
        assert translated != text or text == "+ {n} more", (language, text)
        assert set(re.findall(r"\{\w+\}", translated)) == set(re.findall(r"\{\w+\}", text)), (
            language,
            text,
        )
    for singular, plural in PLURALS:
        for n in (1, 2, 5, 21):
            translated = ngettext(singular, plural, n)
            assert translated not in (singular, plural) and "{n}" in translated, (language, n)
    for status in ("open", "won", "lost"):
        with i18n.speaking(language):
            assert status_word(status) not in ("open", "won", "lost", "Open", "Won", "Lost")


def test_the_catalogues_have_no_fuzzy_or_empty_entry():
    from babel.messages.pofile import read_po

    for language in LANGUAGES:
        with i18n.catalogue_path(language).open("rb") as po:
            catalog = read_po(po, locale=language)
        left = [
            m.id
            for m in catalog
            if m.id and (m.fuzzy or not (m.string if isinstance(m.string, str) else all(m.string)))
        ]
        assert left == [], (language, left)


def test_board_js_writes_no_english_word_of_its_own():
    script = BOARD_JS.read_text(encoding="utf-8")
    code = "\n".join(line for line in script.splitlines() if not line.strip().startswith("//"))
    for english in (
        '"Owner "',
        '"Tag "',
        '"any tag"',
        '"Close month',
        '" Closed deals"',
        '"Closed deals ',
        '"Reload the board"',
        '"Weighted ',
        "`of ",
        "` of ",
        '"Nothing yet"',
        '"+ New deal"',
        '"Name"',
        '"Amount"',
        '"Expected close"',
        '"Create"',
        '"Cancel"',
        '"Won"',
        '"Lost"',
        '"Confirm won"',
        '"Confirm lost"',
        '"Lost reason"',
        '"Choose a reason…"',
        '"Note (optional)"',
        '"Note"',
        "`Move forward",
        "`Move back",
        '"Move forward"',
        '"Move back"',
        '"deal"',
        '"deals"',
        " more`",
        '"Everyone"',
        '"Reopen"',
        '"(most recently closed first)"',
        '"No closed deal."',
    ):
        assert english not in code, english
    # every word it asks for is one the server sends
    asked = set(re.findall(r'word\("(\w+)"\)', code)) | set(
        re.findall(r'filled(?:Text)?\("(\w+)"', code)
    )
    assert asked and asked <= set(WORDS), asked - set(WORDS)


def test_the_words_and_counts_reach_the_board_in_urdu(ws, deals):
    bilal = ws.as_user("bilal")
    with i18n.speaking("ur"):
        board = PipelineBoard(bilal)
        shown = board.element
        assert shown.words == words()
        assert shown.words["new_deal"] == "+ نیا سودا"
        assert shown.words["weighted"] != "Weighted"
        new = next(c for c in shown.columns if c["stage"] == "New")
        assert new["count_text"] == "2 سودے"
        card = next(c for c in new["cards"] if c["name"] == "O'Brien order")
        assert card["close"] == "اختتام کی تاریخ نہیں"
        assert (
            closed_json(
                {
                    "id": 1,
                    "version": 1,
                    "name": "x",
                    "status": "won",
                    "currency": "PKR",
                    "expected_revenue": 1,
                }
            )["status"]
            == "جیتا"
        )
    with i18n.speaking("en"):
        board = PipelineBoard(bilal)
        new = next(c for c in board.element.columns if c["stage"] == "New")
        assert new["count_text"] == "2 deals" and board.element.words["new_deal"] == "+ New deal"


def test_russian_counts_take_their_three_plural_forms():
    def column(count):
        return {
            "stage_id": 1,
            "stage": "Новый",
            "rev": 1,
            "count": count,
            "more": count,
            "counts": {},
            "value": {},
            "weighted": {},
            "cards": _no_cards(),
        }

    with i18n.speaking("ru"):
        texts = [column_json(column(n), "RUB")["count_text"] for n in (1, 3, 5, 21)]
        assert texts == ["1 сделка", "3 сделки", "5 сделок", "21 сделка"]
        assert column_json(column(4), "RUB")["more_text"] == "+ ещё 4"


def _no_cards():
    import pandas as pd

    return pd.DataFrame(columns=["id"])


def test_messages_name_a_deal_in_plain_quotes_never_its_repr(ws, deals):
    bilal = ws.as_user("bilal")
    board = PipelineBoardModel(bilal)
    board.forward(deals["uniforms"])
    assert board.message == "Moved 'Uniforms 2027' to Qualified."
    board.forward(deals["odd"])
    assert board.message == "Moved 'O'Brien order' to Qualified."  # not repr's "O'Brien order"
    # a name with direction controls (from an ERP, or stored before crm_core refused
    # them) is isolated, in plain quotes, never escaped
    assert quoted("Quick \u202edeal\u202c test") == f"'{FSI}Quick \u202edeal\u202c test{PDI}'"
    with i18n.speaking("ur"):
        board.create(board.columns[0]["stage_id"], "Quick deal")
        assert board.message == f"'{FSI}Quick deal{PDI}' کو {FSI}New{PDI} میں بنا دیا گیا۔"
        assert quoted("x") == f"'{FSI}x{PDI}'"
    assert quoted("x") == "'x'"


def test_a_refused_field_is_named_in_the_sessions_language(ws, deals):
    bilal = ws.as_user("bilal")
    with i18n.speaking("ur"):
        board = PipelineBoard(bilal)
        board.act(
            {
                "action": "filter",
                "owner": "",
                "tag": "",
                "close_month": "June",
                "show_closed": False,
                "seq": 1,
            }
        )
        message = board.element.status["message"]
        assert message.startswith("اختتام کا مہینہ: ") and "2026-06" in message
        assert "must be" not in message


def test_card_json_says_no_close_date_in_the_language():
    card = {
        "id": 1,
        "version": 1,
        "name": "n",
        "currency": "PKR",
        "expected_revenue": 5,
        "expected_close": None,
    }
    with i18n.speaking("bn"):
        assert card_json(card)["close"] == "ক্লোজিংয়ের তারিখ নেই"
    assert card_json(card)["close"] == "no close date"
