"""The pipeline board's view-model: column totals per stage under the filters, moves,
wins and losses persisted, refusals reported with nothing written; and its view."""

import datetime as dt
from decimal import Decimal

import panel as pn
import pytest

from widgets.base import md_text
from widgets.pipeline_board import (
    PipelineBoard,
    PipelineBoardModel,
    _card_html,
    money,
    month_range,
)

D = Decimal


@pytest.fixture
def deals(ws):
    """Bilal and Olga (sales) and Ayesha (manager); six deals, one of them won."""
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    indus = ws.companies.create(name="Indus Textiles", country="PK")["id"]
    volga = ws.companies.create(name="Volga Trading", country="RU")["id"]
    bilal, olga = ws.as_user("bilal").pipeline, ws.as_user("olga").pipeline

    def deal(who, name, stage, revenue, close, tags=(), company=indus):
        return who.create(
            name,
            stage=stage,
            company=company,
            expected_revenue=revenue,
            expected_close=close,
            tags=list(tags),
        )["id"]

    ids = {
        "uniforms": deal(bilal, "Uniforms 2027", "New", "100000.00", "2026-06-10", ["VIP"]),
        "towels": deal(bilal, "Towels", "Qualified", "50000.00", "2026-06-20"),
        "sheets": deal(bilal, "Bedsheets", "Qualified", "20000.00", "2026-07-05", ["vip"]),
        "kazan": deal(
            olga, "Kazan hotels", "Proposition", "80000.00", "2026-06-15", ["VIP"], volga
        ),
        "moscow": deal(olga, "Moscow office", "New", "10000.00", "2026-07-20", company=volga),
        "closed": deal(olga, "Closed already", "Negotiation", "999.00", "2026-06-01"),
    }
    ws.pipeline.win(ids["closed"])
    return ids


def totals(model):
    """{stage: (count, value, weighted)} of the board, in USD."""
    return {
        c["stage"]: (c["count"], c["value"].get("USD", D(0)), c["weighted"].get("USD", D(0)))
        for c in model.columns
    }


def names(model, stage):
    column = next(c for c in model.columns if c["stage"] == stage)
    return column["cards"]["name"].tolist()


def journal_size(ws):
    return ws.info()["journal"]


def test_a_column_per_open_stage_with_count_value_and_weighted_value(ws, deals):
    board = PipelineBoardModel(ws)
    assert [c["stage"] for c in board.columns] == ["New", "Qualified", "Proposition", "Negotiation"]
    assert totals(board) == {
        "New": (2, D("110000.00"), D("11000.00")),  # 10 %
        "Qualified": (2, D("70000.00"), D("21000.00")),  # 30 %
        "Proposition": (1, D("80000.00"), D("48000.00")),  # 60 %
        "Negotiation": (0, D(0), D(0)),  # the won deal is not on the board
    }
    assert names(board, "New") == ["Uniforms 2027", "Moscow office"]  # soonest close first
    assert names(board, "Qualified") == ["Towels", "Bedsheets"]
    assert board.columns[3]["value"] == {} and board.columns[3]["cards"].empty
    assert board.lost_reasons[:2] == ["Chose a competitor", "No budget"]
    assert {u["login"] for u in board.users} == {"bilal", "olga", "ayesha"}
    assert board.message == ""


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (
            {"owner": "bilal"},
            {
                "New": (1, D("100000.00"), D("10000.00")),
                "Qualified": (2, D("70000.00"), D("21000.00")),
                "Proposition": (0, D(0), D(0)),
            },
        ),
        (
            {"tag": "VIP"},
            {
                "New": (1, D("100000.00"), D("10000.00")),
                "Qualified": (1, D("20000.00"), D("6000.00")),
                "Proposition": (1, D("80000.00"), D("48000.00")),
            },
        ),
        (
            {"close_month": "2026-06"},
            {
                "New": (1, D("100000.00"), D("10000.00")),
                "Qualified": (1, D("50000.00"), D("15000.00")),
                "Proposition": (1, D("80000.00"), D("48000.00")),
            },
        ),
        (
            {"tag": "vip", "close_month": "2026-07"},
            {
                "New": (0, D(0), D(0)),
                "Qualified": (1, D("20000.00"), D("6000.00")),
                "Proposition": (0, D(0), D(0)),
            },
        ),
        (
            {"owner": "olga", "close_month": "2026-07"},
            {
                "New": (1, D("10000.00"), D("1000.00")),
                "Qualified": (0, D(0), D(0)),
                "Proposition": (0, D(0), D(0)),
            },
        ),
    ],
)
def test_filters_by_owner_tag_and_close_month_change_the_totals(ws, deals, filters, expected):
    board = PipelineBoardModel(ws)
    board.param.update(**filters)
    assert totals(board) == {**expected, "Negotiation": (0, D(0), D(0))}
    shown = sum(len(c["cards"]) for c in board.columns)
    assert shown == sum(count for count, _, _ in expected.values())
    board.param.update(owner="", tag="", close_month="")  # back to everything
    assert sum(c["count"] for c in board.columns) == 5


@pytest.mark.parametrize("filters", [{}, {"tag": "VIP"}, {"close_month": "2026-06"}])
def test_totals_count_every_deal_not_only_the_cards_shown(ws, deals, filters):
    bilal = ws.as_user("bilal").pipeline
    for n in range(3):
        bilal.create(
            f"Extra {n}", expected_revenue="1000.00", expected_close="2026-06-28", tags=["VIP"]
        )
    board = PipelineBoardModel(ws, page_size=2, **filters)
    new = board.columns[0]
    assert len(new["cards"]) == 2
    assert new["more"] == new["count"] - 2 > 0
    # New: the 3 extras plus Uniforms (and Moscow office, which has no tag and closes in July)
    count = 5 if not filters else 4
    value = D("113000.00") if not filters else D("103000.00")
    assert (new["count"], new["value"], new["weighted"]) == (
        count,
        {"USD": value},
        {"USD": value / 10},
    )


def test_deals_in_several_currencies_are_totalled_per_currency(ws, deals):
    ws.pipeline.create("Karachi uniforms", expected_revenue="1500000.00", currency="PKR")
    for filters in ({}, {"tag": ""}, {"close_month": ""}):
        board = PipelineBoardModel(ws, **filters)
        new = board.columns[0]
        assert new["count"] == 3
        assert new["value"] == {"PKR": D("1500000.00"), "USD": D("110000.00")}
        assert new["weighted"] == {"PKR": D("150000.00"), "USD": D("11000.00")}
    board.tag = "VIP"
    assert board.columns[0]["value"] == {"USD": D("100000.00")}


def test_a_bad_filter_is_reported_on_its_field(ws, deals):
    board = PipelineBoardModel(ws)
    board.close_month = "June"
    assert "close_month" in board.field_errors and board.message_kind == "danger"
    board.close_month = "2026-13"
    assert "close_month" in board.field_errors
    board.close_month = "2026-06"
    assert board.field_errors == {} and board.message == ""
    board.owner = "nobody"
    assert board.field_errors == {"owner": "is not a known user"}
    assert month_range("2024-02") == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    assert month_range("") is None


def test_forward_back_and_move_are_persisted_with_the_stage_history(ws, deals):
    board = PipelineBoardModel(ws)
    uniforms = deals["uniforms"]
    board.forward(uniforms)
    assert board.message_kind == "success" and "Qualified" in board.message
    assert ws.pipeline.get(uniforms)["stage"] == "Qualified"
    assert names(board, "Qualified") == ["Uniforms 2027", "Towels", "Bedsheets"]
    assert totals(board)["Qualified"] == (3, D("170000.00"), D("51000.00"))
    assert totals(board)["New"] == (1, D("10000.00"), D("1000.00"))
    board.forward(uniforms)
    board.back(uniforms)
    board.move(uniforms, "Negotiation", expected_version=ws.pipeline.get(uniforms)["version"])
    assert ws.pipeline.get(uniforms)["stage"] == "Negotiation"
    assert ws.pipeline.get(uniforms)["probability"] == D("80.00")
    history = ws.pipeline.history(uniforms)
    assert list(zip(history["from_stage"].fillna("-"), history["to_stage"], strict=True)) == [
        ("-", "New"),
        ("New", "Qualified"),
        ("Qualified", "Proposition"),
        ("Proposition", "Qualified"),
        ("Qualified", "Negotiation"),
    ]
    assert totals(board)["Negotiation"] == (1, D("100000.00"), D("80000.00"))


def test_forward_from_the_last_and_back_from_the_first_stage_change_nothing(ws, deals):
    board = PipelineBoardModel(ws)
    moscow = ws.pipeline.get(deals["moscow"])
    board.back(moscow["id"])
    assert board.message_kind == "danger" and "first open stage" in board.message
    board.move(moscow["id"], "Negotiation")
    board.forward(moscow["id"])
    assert "last open stage" in board.message and "stage" in board.field_errors
    after = ws.pipeline.get(moscow["id"])
    assert (after["stage"], after["status"]) == ("Negotiation", "open")
    assert after["version"] == moscow["version"] + 1  # the one move, nothing else


def test_win_and_lose_with_a_reason(ws, deals):
    board = PipelineBoardModel(ws)
    board.win(deals["kazan"])
    won = ws.pipeline.get(deals["kazan"])
    assert (won["status"], won["stage"], won["probability"]) == ("won", "Won", D("100.00"))
    assert totals(board)["Proposition"] == (0, D(0), D(0))
    board.lose(deals["moscow"], "Too expensive", note="Went with a local firm")
    lost = ws.pipeline.get(deals["moscow"])
    assert (lost["status"], lost["stage"], lost["lost_reason"]) == ("lost", "Lost", "Too expensive")
    assert lost["lost_note"] == "Went with a local firm"
    assert board.message == "Lost 'Moscow office': Too expensive."
    assert names(board, "New") == ["Uniforms 2027"]


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 201])
def test_losing_without_a_valid_reason_changes_nothing(ws, deals, reason):
    board = PipelineBoardModel(ws)
    before, journal = ws.pipeline.get(deals["towels"]), journal_size(ws)
    board.lose(deals["towels"], reason)
    assert board.message_kind == "danger" and "reason" in board.field_errors
    assert ws.pipeline.get(deals["towels"]) == before
    assert journal_size(ws) == journal
    assert names(board, "Qualified") == ["Towels", "Bedsheets"]


def test_a_stale_move_is_a_conflict_and_writes_nothing(ws, deals):
    board = PipelineBoardModel(ws)
    seen = ws.pipeline.get(deals["towels"])
    ws.as_user("ayesha").pipeline.update(deals["towels"], {"priority": 2})  # meanwhile
    board.move(deals["towels"], "Proposition", expected_version=seen["version"])
    assert board.message_kind == "warning" and "changed by someone else" in board.message
    assert ws.pipeline.get(deals["towels"])["stage"] == "Qualified"
    # a card carries the version it was shown with: acting on it after someone else
    # changed the deal is a conflict too, and the board reloads to show the change
    for act in (
        lambda b: b.forward(deals["sheets"]),
        lambda b: b.back(deals["sheets"]),
        lambda b: b.win(deals["sheets"]),
        lambda b: b.lose(deals["sheets"], "No budget"),
    ):
        stale = PipelineBoardModel(ws)
        ws.pipeline.update(
            deals["sheets"], {"priority": 1 + stale.card(deals["sheets"])["version"] % 2}
        )
        journal = journal_size(ws)
        act(stale)
        assert stale.message.startswith("Not saved:") and stale.message_kind == "warning"
        assert journal_size(ws) == journal
        after = ws.pipeline.get(deals["sheets"])
        assert (after["stage"], after["status"]) == ("Qualified", "open")
        assert stale.card(deals["sheets"])["version"] == after["version"]
    stale.forward(deals["sheets"])  # on the reloaded board the move goes through
    assert ws.pipeline.get(deals["sheets"])["stage"] == "Proposition"


def test_a_sales_users_board_has_only_their_deals_and_cannot_move_others(ws, deals):
    board = PipelineBoardModel(ws.as_user("bilal"))
    assert totals(board) == {
        "New": (1, D("100000.00"), D("10000.00")),
        "Qualified": (2, D("70000.00"), D("21000.00")),
        "Proposition": (0, D(0), D(0)),
        "Negotiation": (0, D(0), D(0)),
    }
    kazan, journal = ws.pipeline.get(deals["kazan"]), journal_size(ws)
    refused = [
        lambda: board.move(deals["kazan"], "Negotiation"),
        lambda: board.forward(deals["kazan"]),
        lambda: board.back(deals["kazan"]),
        lambda: board.win(deals["kazan"]),
        lambda: board.lose(deals["kazan"], "No budget"),
    ]
    for attempt in refused:
        attempt()
        assert board.message_kind == "danger"
        assert "'bilal' (sales) may not" in board.message
    assert ws.pipeline.get(deals["kazan"]) == kazan
    assert journal_size(ws) == journal
    board.param.update(tag="VIP", close_month="2026-06")  # filters narrow, never widen
    assert [c["count"] for c in board.columns] == [1, 0, 0, 0]
    board.param.update(tag="", close_month="", owner="olga")
    assert [c["count"] for c in board.columns] == [0, 0, 0, 0]


# -- the view -----------------------------------------------------------------------


def with_css(layout, css):
    return [o for o in layout.select() if css in getattr(o, "css_classes", [])]


def test_the_view_shows_a_card_per_deal_and_its_buttons_act(ws, deals):
    view = PipelineBoard(ws)
    layout = view.__panel__()
    assert len(with_css(layout, "crm-board")) == 1
    assert len(with_css(layout, "crm-board-column")) == 4
    assert len(with_css(layout, "crm-card")) == 5
    assert len(with_css(layout, f"crm-card-{deals['towels']}")) == 1
    headers = [p.object for p in with_css(layout, "crm-board-column-header")]
    assert "<b>Qualified</b> · 2 deals" in headers[1] and "Weighted USD 21,000.00" in headers[1]
    forward = with_css(with_css(layout, f"crm-card-{deals['towels']}")[0], "crm-card-forward")
    forward[0].clicks += 1
    assert ws.pipeline.get(deals["towels"])["stage"] == "Proposition"
    # the view rebuilt the board from the model
    proposition = with_css(layout, "crm-board-column")[2]
    assert len(with_css(proposition, "crm-card")) == 2
    alert = with_css(layout, "crm-alert")[0]
    assert alert.visible and "Proposition" in alert.object
    # the first column cannot go back, the last cannot go forward
    assert all(
        b.disabled for b in with_css(with_css(layout, "crm-board-column")[0], "crm-card-back")
    )


def test_a_sales_users_view_shows_only_their_cards(ws, deals):
    layout = PipelineBoard(ws.as_user("olga")).__panel__()
    assert len(with_css(layout, "crm-card")) == 2
    card = with_css(layout, f"crm-card-{deals['kazan']}")[0]
    with_css(card, "crm-card-lost")[0].clicks += 1
    box = with_css(card, "crm-card-lost-box")[0]
    assert box.visible
    select = with_css(box, "crm-card-lost-reason")[0]
    select.value = "No budget"
    with_css(box, "crm-card-lost-confirm")[0].clicks += 1
    assert ws.pipeline.get(deals["kazan"])["lost_reason"] == "No budget"
    assert len(with_css(layout, "crm-card")) == 1


def test_won_asks_for_a_confirmation_before_closing_the_deal(ws, deals):
    layout = PipelineBoard(ws.as_user("olga")).__panel__()
    card = with_css(layout, f"crm-card-{deals['kazan']}")[0]
    with_css(card, "crm-card-won")[0].clicks += 1
    assert ws.pipeline.get(deals["kazan"])["status"] == "open"  # not yet
    box = with_css(card, "crm-card-won-box")[0]
    assert box.visible and not with_css(card, "crm-card-lost-box")[0].visible
    with_css(box, "crm-card-won-confirm")[0].clicks += 1
    assert ws.pipeline.get(deals["kazan"])["status"] == "won"
    assert len(with_css(layout, "crm-card")) == 1


def test_the_closed_view_lists_won_and_lost_deals_and_reopens_them(ws, deals, clock):
    board = PipelineBoardModel(ws.as_user("olga"))
    assert board.closed is None
    clock.now += dt.timedelta(minutes=5)
    board.lose(deals["kazan"], "No budget")
    board.show_closed = True
    assert board.closed["id"].tolist() == [deals["kazan"], deals["closed"]]  # newest first
    assert board.closed["status"].tolist() == ["lost", "won"]
    view = PipelineBoard(model=board)
    layout = view.__panel__()
    lines = [p.object for p in with_css(layout, "crm-board-closed")[0].select(pn.pane.HTML)]
    assert any("Lost: No budget" in line for line in lines)
    row = with_css(layout, f"crm-closed-{deals['kazan']}")[0]
    with_css(row, "crm-closed-reopen")[0].clicks += 1
    reopened = ws.pipeline.get(deals["kazan"])
    assert (reopened["status"], reopened["stage"]) == ("open", "New")
    assert board.closed["id"].tolist() == [deals["closed"]]
    assert "Reopened" in board.message
    # A sales user lists only their own closed deals; the manager everyone's.
    assert PipelineBoardModel(ws.as_user("bilal"), show_closed=True).closed.empty
    board.show_closed = False
    assert board.closed is None and not with_css(layout, "crm-board-closed")


def test_names_with_html_are_shown_as_text(ws, deals):
    evil = ws.pipeline.create("<script>alert(1)</script>", expected_revenue="5.00")
    view = PipelineBoard(ws)
    layout = view.__panel__()
    card = with_css(layout, f"crm-card-{evil['id']}")[0]
    texts = [p.object for p in card.select(pn.pane.HTML)]
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in t for t in texts)
    everything = [p.object for p in layout.select(pn.pane.HTML)]
    assert not any("<script>" in t for t in everything)
    view.model.win(evil["id"])
    alert = with_css(layout, "crm-alert")[0]
    assert "<script>" not in alert.object and "&lt;script&gt;" in alert.object
    assert md_text("*bold* <b>") == "\\*bold\\* &lt;b&gt;"
    assert money({}, "PKR") == "PKR 0.00"
    assert money({"USD": D("5"), "PKR": D("1234567.5")}) == "PKR 1,234,567.50 + USD 5.00"


def test_the_view_converts_to_an_ipywidget(ws, deals):
    widget = pn.ipywidget(PipelineBoard(ws))
    assert type(widget).__name__ == "BokehModel"


@pytest.mark.parametrize("company", [None, float("nan"), ""])
def test_a_card_without_a_company_shows_a_dash_never_nan(company):
    card = {
        "name": "Denim <b>fabric</b>",
        "company": company,
        "expected_revenue": Decimal("18000.5"),
        "currency": "PKR",
        "expected_close": dt.date(2026, 12, 20),
    }
    shown = _card_html(card)
    assert "nan" not in shown.lower()
    assert '<div class="crm-card-company">—</div>' in shown
    assert "Denim &lt;b&gt;fabric&lt;/b&gt;" in shown and "PKR 18,000.50 · 2026-12-20" in shown
