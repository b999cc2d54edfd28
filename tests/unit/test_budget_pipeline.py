"""End to end: a stream of signals, fills and cancels through tracker -> sizing -> store gives
the same decisions as the equivalent hand-built requests (budgets worked out by hand); replaying
the stream into the same store (a restart) changes neither the ledger nor the decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policy_engine.budget import RiskBudgetTracker, fill_budget
from policy_engine.risk.facade import decision_json
from tests.budget_helpers import et, request_at, tracker
from tests.sizing_helpers import manager, scrub

WED, THU, FRI, MON = "2025-04-02", "2025-04-03", "2025-04-04", "2025-04-07"

# (kind, time, details); signals name the hand-worked budget their request must carry
STREAM: list[tuple[str, str, dict[str, Any]]] = [
    ("signal", et(WED, "10:00"), {"id": "s1", "stop": 48.0, "budget": (2000.0, 5000.0)}),   # 5 x 200 = 1,000
    ("signal", et(WED, "10:30"), {"id": "s2", "stop": 48.5, "budget": (1000.0, 4000.0)}),   # 6 x 150 = 900
    ("cancel", et(WED, "11:00"), {"id": "x2", "signal": "s2"}),
    ("fill", et(WED, "11:30"), {"id": "f1", "signal": "s1", "pnl": -700.0, "quantity": 5}),
    ("signal", et(WED, "12:00"), {"id": "s3", "stop": 48.0, "budget": (1300.0, 4300.0)}),   # 5 x 200 = 1,000
    ("signal", et(WED, "12:30"), {"id": "s4", "stop": 47.0, "budget": (300.0, 3300.0)}),    # 1 x 300 = 300: rejected
    ("fill", et(WED, "15:00"), {"id": "f3", "signal": "s3", "pnl": 250.0}),                 # a winner
    ("signal", et(THU, "09:45"), {"id": "s5", "stop": 49.0, "budget": (2000.0, 4300.0)}),   # 10 x 100 = 1,000
    ("fill", et(THU, "11:00"), {"id": "f5a", "signal": "s5", "pnl": -400.0, "quantity": 4}),
    # Friday: s5's 6 open contracts (600) still count against the new day
    ("signal", et(FRI, "10:00"), {"id": "s6", "stop": 48.0, "budget": (1400.0, 3300.0)}),
    ("fill", et(FRI, "11:00"), {"id": "f5b", "signal": "s5", "pnl": -900.0}),
    # a new week: last week's losses are gone, s6's open 1,000 is not; 6 x 150 = 900 fits in 1,000
    ("signal", et(MON, "10:00"), {"id": "s7", "stop": 48.5, "budget": (1000.0, 4000.0)}),
]


def run_stream(budget: RiskBudgetTracker) -> tuple[list[dict[str, Any]], list[tuple[str, tuple[Any, ...]]]]:
    """The stream through tracker -> sizing -> store: the decisions, and every event applied
    to the ledger as (method, arguments)."""
    decisions: dict[str, Any] = {}
    out, applied = [], []
    for kind, at, event in STREAM:
        if kind == "signal":
            request = fill_budget(request_at(at, event["id"], stop=event["stop"]), budget)
            assert (request["budget"]["remaining_daily_budget"], request["budget"]["remaining_weekly_budget"]) == \
                event["budget"], event["id"]
            decision = manager().size(request)
            decisions[event["id"]] = decision
            out.append(scrub(decision.to_json_dict()))
            call: tuple[str, tuple[Any, ...]] = ("record_sizing", (decision, "TREND"))
        elif kind == "fill":
            call = ("record_fill", (event["id"], decisions[event["signal"]].decision_id, event["pnl"], at,
                                    event.get("quantity")))
        else:
            call = ("record_cancel", (event["id"], decisions[event["signal"]].decision_id, at))
        getattr(budget, call[0])(*call[1])
        applied.append(call)
    return out, applied


def hand_built() -> list[dict[str, Any]]:
    policy = manager().policy
    out = []
    for kind, at, event in STREAM:
        if kind == "signal":
            daily, weekly = event["budget"]
            request = request_at(at, event["id"], stop=event["stop"],
                                 budget={"remaining_daily_budget": daily, "remaining_weekly_budget": weekly})
            out.append(scrub(decision_json(policy, request, policy.evaluate(request))))
    return out


def test_stream_equals_hand_built_requests(tmp_path: Path) -> None:
    streamed, _ = run_stream(tracker(tmp_path / "state.db"))
    assert streamed == hand_built()
    assert [(d["signal_id"], d["is_approved"], d["quantity"], d["risk_amount"]) for d in streamed] == [
        ("s1", True, 5, 1000.0), ("s2", True, 6, 900.0), ("s3", True, 5, 1000.0), ("s4", False, 0, 0.0),
        ("s5", True, 10, 1000.0), ("s6", True, 5, 1000.0), ("s7", True, 6, 900.0)]
    assert streamed[3]["rejection_gate"] == "DAILY_LOSS_GATE"


def test_applying_the_stream_again_changes_nothing(tmp_path: Path) -> None:
    first = tracker(tmp_path / "state.db")
    _, applied = run_stream(first)
    ledger = (first.store.decisions(), first.store.closures())
    budgets = [first.snapshots(at) for _, at, _ in STREAM]
    again = tracker(tmp_path / "state.db")  # a restart re-delivers every event it had seen
    assert [getattr(again, method)(*args) for method, args in applied] == [False] * len(STREAM)
    assert (again.store.decisions(), again.store.closures()) == ledger
    assert [again.snapshots(at) for _, at, _ in STREAM] == budgets
    assert len(ledger[0]) == 6 and len(ledger[1]) == 5  # s4 was rejected: nothing to record


def test_the_facade_takes_its_budget_from_the_tracker_and_records_the_decision(tmp_path: Path) -> None:
    """RiskManager.size_tracked: the same stream, with the facade filling the budget and
    recording each decision itself, decides as the hand-built requests do."""
    budget = tracker(tmp_path / "state.db")
    decisions: dict[str, Any] = {}
    streamed = []
    for kind, at, event in STREAM:
        if kind == "signal":
            decision = manager().size_tracked(request_at(at, event["id"], stop=event["stop"]), budget)
            decisions[event["id"]] = decision
            streamed.append(scrub(decision.to_json_dict()))
        elif kind == "fill":
            budget.record_fill(event["id"], decisions[event["signal"]].decision_id, event["pnl"], at,
                               event.get("quantity"))
        else:
            budget.record_cancel(event["id"], decisions[event["signal"]].decision_id, at)
    assert streamed == hand_built()
    # the facade recorded every approval: s6's 1,000 and s7's 900 are open (micro-dollars)
    assert budget.usage(et(MON, "10:05")).open_risk == 1_900_000_000


def test_the_facade_takes_its_exposure_from_a_snapshot(tmp_path: Path) -> None:
    from policy_engine.exposure import sizing_input, snapshot
    from tests.exposure_helpers import BOOK, limits, read

    parsed = read(BOOK)
    book = snapshot(parsed.positions, parsed.account_balance, limits(), parsed.timestamp_utc)
    request = request_at(et(WED, "10:00"), "s1")
    tracked = manager().size_tracked(request, tracker(tmp_path / "a.db"), exposure=book)
    by_hand = {**fill_budget(request, tracker(tmp_path / "b.db")), "exposure": sizing_input(book)}
    assert scrub(tracked.to_json_dict()) == scrub(manager().size(by_hand).to_json_dict())
