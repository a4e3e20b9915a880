"""The pipeline board's view-model: column totals per stage under the filters, moves
(by button and by drag and drop) that reload only the two columns they touch, wins
confirmed, losses with a reason, quick-created deals, reopened deals, refusals reported
with nothing written; and its view, acted on through the messages the browser sends."""

import datetime as dt
from decimal import Decimal

import panel as pn
import pytest

from widgets import i18n
from widgets.board_view import BoardElement, card_json, closed_json
from widgets.pipeline_board import (
    PipelineBoard,
    PipelineBoardModel,
    column_totals,
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


def test_a_move_reloads_only_the_two_columns_it_touches(ws, deals):
    board = PipelineBoardModel(ws)
    before = list(board.columns)
    board.move(deals["towels"], "Negotiation", expected_version=1)
    after = board.columns
    assert [a is b for a, b in zip(before, after, strict=True)] == [True, False, True, False]
    assert [c["rev"] == b["rev"] for c, b in zip(after, before, strict=True)] == [
        True,
        False,
        True,
        False,
    ]
    assert totals(board)["Qualified"] == (1, D("20000.00"), D("6000.00"))
    assert totals(board)["Negotiation"] == (1, D("50000.00"), D("40000.00"))
    # winning (or losing) touches only the column the deal leaves
    before = list(board.columns)
    board.win(deals["kazan"])
    assert [a is b for a, b in zip(before, board.columns, strict=True)] == [
        True,
        True,
        False,
        True,
    ]


def test_quick_create_in_a_column_and_a_refused_field_named(ws, deals):
    board = PipelineBoardModel(ws.as_user("bilal"))
    qualified = board.columns[1]["stage_id"]
    journal = journal_size(ws)
    board.create(qualified, "", expected_revenue="lots", expected_close="2026-02-30")
    assert board.error_form == f"create:{qualified}"
    assert set(board.field_errors) == {"name", "expected_revenue", "expected_close"}
    assert board.message_kind == "danger" and journal_size(ws) == journal
    created = board.create(qualified, "Aprons", expected_revenue="1200.50", expected_close="")
    assert board.field_errors == {} and board.message == "Created 'Aprons' in Qualified."
    deal = ws.pipeline.get(created["id"])
    assert (deal["stage"], deal["owner_id"], deal["expected_revenue"]) == (
        "Qualified",
        ws.users.get("bilal")["id"],
        D("1200.50"),
    )
    assert "Aprons" in names(board, "Qualified")
    assert totals(board)["Qualified"][:2] == (3, D("71200.50"))


def test_column_totals_put_the_reporting_currency_first_then_the_most_deals(ws, deals):
    for n in range(2):
        ws.pipeline.create(f"Karachi {n}", expected_revenue="1500000.00", currency="PKR")
    ws.pipeline.create("Lahore", expected_revenue="10.00", currency="EUR")
    new = PipelineBoardModel(ws).columns[0]
    assert [t["currency"] for t in column_totals(new, "USD")] == ["USD", "PKR", "EUR"]
    assert [t["currency"] for t in column_totals(new, "GBP")] == ["PKR", "USD", "EUR"]
    assert column_totals(new, "GBP")[0] == {
        "currency": "PKR",
        "weighted": D("300000.00"),
        "value": D("3000000.00"),
        "count": 2,
    }
    assert column_totals(PipelineBoardModel(ws).columns[3], "USD") == []


def test_open_deal_is_a_hook_for_the_app(ws, deals):
    opened: list[int] = []
    board = PipelineBoardModel(ws, on_open=opened.append)
    seen: list[int] = []
    board.param.watch(lambda e: seen.append(e.new), "open_deal")
    board.open(deals["towels"])
    board.open(deals["towels"])  # the same deal again: the app hears it again
    assert board.open_deal == deals["towels"]
    assert opened == [deals["towels"]] * 2 and seen == [deals["towels"]] * 2


# -- the view: what the browser is sent, and the messages it sends back -------------


def send(view, action, **fields):
    """Send the view a message as the browser's board.js does; returns what it shows."""
    send.seq = getattr(send, "seq", 0) + 1
    view.act({"action": action, "seq": send.seq, **fields})
    assert view.element.ack == send.seq  # always answered: the board unlocks
    return view.element


def shown(view, stage):
    column = next(c for c in view.element.columns if c["stage"] == stage)
    return [c["name"] for c in column["cards"]]


def card_of(view, deal_id):
    for column in view.element.columns:
        for card in column["cards"]:
            if card["id"] == deal_id:
                return card
    return None


def test_the_view_is_one_element_built_once(ws, deals):
    view = PipelineBoard(ws)
    assert view.__panel__() is view.__panel__() is view.element
    assert isinstance(view.element, BoardElement)
    element = view.element
    assert [c["stage"] for c in element.columns] == [
        "New",
        "Qualified",
        "Proposition",
        "Negotiation",
    ]
    qualified = element.columns[1]
    assert (qualified["count"], qualified["more"]) == (2, 0)
    assert qualified["totals"] == [
        {"currency": "USD", "weighted": "USD 21,000.00", "value": "USD 70,000.00", "count": 2}
    ]
    assert card_of(view, deals["towels"]) == {
        "id": deals["towels"],
        "version": 1,
        "name": "Towels",
        "company": "Indus Textiles",
        "owner": "Bilal Ahmed",
        "amount": "USD 50,000.00",
        "close": i18n.format_date(dt.date(2026, 6, 20)),  # as the app writes dates
    }
    assert element.reasons[:2] == ["Chose a competitor", "No budget"]
    assert element.pick_owner and {u["login"] for u in element.users} == {
        "bilal",
        "olga",
        "ayesha",
    }
    assert PipelineBoard(ws.as_user("olga")).element.pick_owner is False


STAGES = ["New", "Qualified", "Proposition", "Negotiation"]


@pytest.mark.parametrize(("start", "goal"), [(a, b) for a in STAGES for b in STAGES if a != b])
def test_a_drag_and_drop_moves_a_deal_between_any_two_stages(ws, deals, start, goal):
    deal = ws.pipeline.create("Dragged", stage=start, expected_revenue="1000.00")
    view = PipelineBoard(ws)
    ids = {c["stage"]: c["stage_id"] for c in view.element.columns}
    revs = {c["stage"]: c["rev"] for c in view.element.columns}
    counts = {c["stage"]: c["count"] for c in view.element.columns}
    send(view, "move", id=deal["id"], stage=ids[goal], version=deal["version"])
    assert ws.pipeline.get(deal["id"])["stage"] == goal
    assert "Dragged" in shown(view, goal) and "Dragged" not in shown(view, start)
    after = {c["stage"]: c for c in view.element.columns}
    for stage in STAGES:  # only the two columns were redrawn, and their counts moved
        assert (after[stage]["rev"] != revs[stage]) == (stage in (start, goal))
        moved = (stage == goal) - (stage == start)
        assert after[stage]["count"] == counts[stage] + moved
    assert view.element.status == {"message": f"Moved 'Dragged' to {goal}.", "kind": "success"}


def test_buttons_win_lose_and_a_missing_reason_named_at_its_field(ws, deals):
    view = PipelineBoard(ws.as_user("olga"))
    kazan, moscow = deals["kazan"], deals["moscow"]
    send(view, "forward", id=kazan)
    assert ws.pipeline.get(kazan)["stage"] == "Negotiation"
    send(view, "back", id=kazan)
    assert ws.pipeline.get(kazan)["stage"] == "Proposition"
    version = card_of(view, moscow)["version"]
    element = send(view, "lose", id=moscow, version=version, reason="", note="")
    assert element.errors == {"form": f"lose:{moscow}", "fields": {"reason": "is required"}}
    assert ws.pipeline.get(moscow)["status"] == "open"
    element = send(view, "lose", id=moscow, version=version, reason="No budget", note="")
    assert element.errors == {"form": f"lose:{moscow}", "fields": {}}
    assert ws.pipeline.get(moscow)["lost_reason"] == "No budget"
    # the browser confirms Won before it sends it; the card's version goes with it
    send(view, "win", id=kazan, version=card_of(view, kazan)["version"])
    assert ws.pipeline.get(kazan)["status"] == "won"
    assert card_of(view, kazan) is None and card_of(view, moscow) is None


def test_a_stale_card_is_not_moved_and_the_board_shows_the_change(ws, deals):
    view = PipelineBoard(ws)
    seen = card_of(view, deals["towels"])
    ws.pipeline.update(deals["towels"], {"priority": 3})  # someone else, meanwhile
    proposition = view.element.columns[2]["stage_id"]
    send(view, "move", id=deals["towels"], stage=proposition, version=seen["version"])
    assert ws.pipeline.get(deals["towels"])["stage"] == "Qualified"
    assert view.element.status["kind"] == "warning"
    assert card_of(view, deals["towels"])["version"] == seen["version"] + 1


def test_quick_create_from_the_browser_shows_errors_at_the_fields(ws, deals):
    view = PipelineBoard(ws.as_user("bilal"))
    new = view.element.columns[0]["stage_id"]
    element = send(view, "create", stage=new, name="  ", expected_revenue="-5", expected_close="")
    assert element.errors["form"] == f"create:{new}"
    assert set(element.errors["fields"]) == {"name", "expected_revenue"}
    assert element.status["message"].startswith("Name: is required; Amount: ")
    element = send(
        view, "create", stage=new, name="Caps", expected_revenue="", expected_close="2026-06-01"
    )
    assert element.errors == {"form": f"create:{new}", "fields": {}}
    assert shown(view, "New")[0] == "Caps"  # the soonest close first
    assert element.columns[0]["count"] == 2


def test_a_sales_user_cannot_drag_another_users_deal(ws, deals):
    view = PipelineBoard(ws.as_user("bilal"))
    kazan, journal = ws.pipeline.get(deals["kazan"]), journal_size(ws)
    negotiation = view.element.columns[3]["stage_id"]
    element = send(view, "move", id=deals["kazan"], stage=negotiation, version=kazan["version"])
    assert (
        element.status["kind"] == "danger"
        and "'bilal' (sales) may not" in element.status["message"]
    )
    assert ws.pipeline.get(deals["kazan"]) == kazan and journal_size(ws) == journal
    assert card_of(view, deals["kazan"]) is None


def test_filters_from_the_browser_and_from_the_app(ws, deals):
    view = PipelineBoard(ws)
    element = send(view, "filter", owner="bilal", tag="vip", close_month="", show_closed=False)
    assert (view.model.owner, view.model.tag) == ("bilal", "vip")
    assert [c["count"] for c in element.columns] == [1, 1, 0, 0]
    # the app sets the model's params (from the URL): the browser is shown them
    view.model.param.update(owner="olga", tag="", close_month="2026-07")
    assert element.filters == {
        "owner": "olga",
        "tag": "",
        "close_month": "2026-07",
        "show_closed": False,
    }
    assert [c["count"] for c in element.columns] == [1, 0, 0, 0]
    element = send(view, "filter", owner="", tag="", close_month="July", show_closed=False)
    assert element.errors == {
        "form": "filters",
        "fields": {"close_month": "must be a month written YYYY-MM, such as 2026-06"},
    }


def test_the_closed_view_lists_won_and_lost_deals_and_reopens_them(ws, deals, clock):
    view = PipelineBoard(ws.as_user("olga"))
    assert view.element.closed == [] and view.model.closed is None
    clock.now += dt.timedelta(minutes=5)
    view.model.lose(deals["kazan"], "No budget")
    element = send(view, "filter", owner="", tag="", close_month="", show_closed=True)
    assert [(d["id"], d["status"]) for d in element.closed] == [
        (deals["kazan"], "Lost: No budget"),
        (deals["closed"], "Won"),
    ]
    version = element.closed[0]["version"]
    send(view, "reopen", id=deals["kazan"], version=version)
    reopened = ws.pipeline.get(deals["kazan"])
    assert (reopened["status"], reopened["stage"]) == ("open", "New")
    assert [d["id"] for d in element.closed] == [deals["closed"]]
    assert "Kazan hotels" in shown(view, "New")
    assert element.status["message"] == "Reopened 'Kazan hotels' in New."
    # A sales user lists only their own closed deals; the manager everyone's.
    assert PipelineBoardModel(ws.as_user("bilal"), show_closed=True).closed.empty
    view.model.show_closed = False
    assert element.closed == [] and element.filters["show_closed"] is False


def test_opening_a_deal_from_its_card_calls_the_apps_hook(ws, deals):
    view = PipelineBoard(ws)
    opened: list[int] = []
    view.model.on_open = opened.append
    send(view, "open", id=deals["towels"])
    assert view.model.open_deal == deals["towels"] and opened == [deals["towels"]]


@pytest.mark.parametrize(
    "msg",
    [
        {},
        {"action": "move"},
        {"action": "move", "id": "x", "stage": 1, "version": 1},
        {"action": "?"},
    ],
)
def test_a_message_it_does_not_understand_changes_nothing_and_is_answered(ws, deals, msg):
    view = PipelineBoard(ws)
    journal = journal_size(ws)
    view.act({**msg, "seq": 7})
    assert view.element.ack == 7 and journal_size(ws) == journal


def test_names_with_html_reach_the_browser_as_text(ws, deals):
    from bokeh.document import Document

    evil = ws.pipeline.create("<script>alert(1)</script> & co", expected_revenue="5.00")
    view = PipelineBoard(ws)
    assert card_of(view, evil["id"])["name"] == "<script>alert(1)</script> & co"
    # what the page gets is the same characters (board.js sets them as textContent)
    model = view.element.get_root(Document())
    names = [c["name"] for col in model.data.columns for c in col["cards"]]
    assert "<script>alert(1)</script> & co" in names
    assert money({}, "PKR") == "PKR 0.00"
    assert money({"USD": D("5"), "PKR": D("1234567.5")}) == "PKR 1,234,567.50 + USD 5.00"


def test_the_view_converts_to_an_ipywidget(ws, deals):
    widget = pn.ipywidget(PipelineBoard(ws))
    assert type(widget).__name__ == "BokehModel"


@pytest.mark.parametrize("company", [None, float("nan"), ""])
def test_a_card_without_a_company_shows_a_dash_never_nan(company):
    card = {
        "id": 3,
        "version": 2,
        "name": "Denim <b>fabric</b>",
        "company": company,
        "owner": float("nan"),
        "expected_revenue": Decimal("18000.5"),
        "currency": "PKR",
        "expected_close": dt.date(2026, 12, 20),
    }
    shown_card = card_json(card)
    assert "nan" not in repr(shown_card).lower()
    assert shown_card["company"] == "—" and shown_card["owner"] == "—"
    assert shown_card["name"] == "Denim <b>fabric</b>"
    close = i18n.format_date(dt.date(2026, 12, 20))  # as the rest of the app writes it
    assert (shown_card["amount"], shown_card["close"]) == ("PKR 18,000.50", close)
    closed = closed_json({**card, "status": "lost", "lost_reason": float("nan")})
    assert closed["status"] == "Lost" and closed["owner"] == ""


def test_no_card_on_the_board_prints_nan(ws, deals):
    ws.pipeline.create("No company, no close", expected_revenue="1.00")
    view = PipelineBoard(ws)
    assert "nan" not in repr(view.element.columns).lower()
    assert card_of(view, max(deals.values()) + 1)["company"] == "—"


def test_view_closed_is_show_closed_for_the_address(ws, deals):
    board = PipelineBoardModel(ws, view="closed")
    assert board.show_closed and board.closed["id"].tolist() == [deals["closed"]]
    board.view = "open"
    assert not board.show_closed and board.closed is None
    board.show_closed = True
    assert board.view == "closed"
    assert PipelineBoardModel(ws, show_closed=True).view == "closed"


def test_importing_the_board_module_defines_its_browser_element():
    """The staff app imports its pages' modules when a session starts; the element's
    type must exist then, before the first page is sent (Bokeh sends the types of
    ReactiveHTML elements with a whole page, not with an element added later)."""
    import subprocess
    import sys

    code = "import sys, widgets.pipeline_board; print('widgets.board_view' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_column_totals_show_the_converted_total_first_and_name_a_missing_rate(ws, deals):
    """One dollar is worth 280 PKR: PKR 1,400,000 (no close date: today's rate) is
    USD 5,000.00, weighted 10 %: 500.00; New holds USD 110,000 (weighted 11,000)."""
    from crm_core.models import ExchangeRate

    with ws.transaction() as s:
        s.add(
            ExchangeRate(
                currency="PKR",
                base="USD",
                day=dt.date(2026, 1, 1),
                rate=D("280"),
                source="manual",
                recorded_at=ws.clock(),
            )
        )
    ws.pipeline.create("Karachi", expected_revenue="1400000.00", currency="PKR")
    view = PipelineBoard(ws)
    new = view.model.columns[0]
    assert column_totals(new, "USD") == [
        {
            "currency": "USD",
            "weighted": D("11500.00"),
            "value": D("115000.00"),
            "count": 3,
            "converted": True,
        },
        {"currency": "USD", "weighted": D("11000.00"), "value": D("110000.00"), "count": 2},
        {"currency": "PKR", "weighted": D("140000.00"), "value": D("1400000.00"), "count": 1},
    ]
    shown = view.element.columns[0]
    assert shown["totals"][0]["weighted"] == "USD 11,500.00" and shown["note"] == ""
    # a deal in a currency without a rate: no made-up total, the rate named instead
    ws.pipeline.create("Lahore", expected_revenue="10.00", currency="EUR")
    view = PipelineBoard(ws)
    shown = view.element.columns[0]
    assert [t["currency"] for t in shown["totals"]] == ["USD", "EUR", "PKR"]  # by deals, name
    assert shown["note"] == "Not converted to USD: no rate for EUR"
    assert view.element.columns[1]["note"] == ""  # Qualified: all in USD
