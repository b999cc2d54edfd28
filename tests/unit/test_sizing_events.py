"""Events, identity, provenance and explanations of the position-sizing decision (seed 004 §4.3,
§4.9, §4.10; reading K)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from tests.sizing_helpers import (
    Request,
    event,
    event_types,
    expected_decision_id,
    manager,
    neutral,
    set_age,
    size,
    with_events,
)

# --- RiskEvents ------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [
    {"risk_state.kill_switch_active": True}, {"risk_state.risk_mode": "STAND_DOWN"},
    {"regime.regime_type": "UNKNOWN"}, {"budget.remaining_daily_budget": 1000.0},
    {"exposure.total_delta": 120.0}, {"liquidity.avg_volume": 1}, {"signal.lifecycle_state": "CANCELLED"},
    {"signal.confidence": "high"},
], ids=["kill", "stand-down", "unknown", "daily", "delta", "volume", "inactive", "malformed"])
def test_every_rejection_emits_one_sizing_rejected(overrides: dict[str, Any]) -> None:
    decision = size(neutral(overrides))
    assert decision.is_approved is False
    assert event_types(decision) == ["SIZING_REJECTED"]
    rejected = decision.events[0]
    assert (rejected.severity.value, rejected.requires_attention, rejected.action_taken) == (
        "WARNING", True, "sizing rejected")
    assert decision.rejection_detail and rejected.description.endswith(decision.rejection_detail)


def test_an_approval_emits_nothing_below_the_warning_levels() -> None:
    assert event_types(size(neutral())) == []


@pytest.mark.parametrize("block", ["signal", "regime", "liquidity", "greeks", "quote"])
def test_stale_input_emits_data_stale_then_sizing_rejected(block: str) -> None:
    limits = {"signal": 60_000, "regime": 120_000, "liquidity": 300_000, "greeks": 300_000, "quote": 30_000}
    decision = size(set_age(neutral(), block, ms=limits[block] + 1))
    assert event_types(decision) == ["DATA_STALE", "SIZING_REJECTED"]
    stale = decision.events[0]
    assert (stale.severity.value, stale.action_taken) == ("WARNING", "sizing rejected: stale input")
    label = {"liquidity": "options"}.get(block, block)
    assert decision.provenance.stale_inputs == [label]
    assert decision.provenance.input_ages_ms[label] == limits[block] + 1
    assert decision.provenance.freshness_ok is False


@pytest.mark.parametrize(("kind", "hours"), [("EARNINGS", 10), ("FOMC", 2)])
def test_blackout_emits_event_blackout_start_then_sizing_rejected(kind: str, hours: float) -> None:
    request = neutral()
    with_events(request, event(request, kind, hours=hours))
    decision = size(request)
    assert event_types(decision) == ["EVENT_BLACKOUT_START", "SIZING_REJECTED"]
    start = decision.events[0]
    assert (start.severity.value, start.requires_attention) == ("INFO", False)
    assert f"{float(hours):.1f} h" in start.description


WARNING_CASES = [
    ("daily-0.75", {"risk_state.daily_loss_used_pct": 0.75}, ["DAILY_LOSS_WARNING"]),
    ("daily-0.7499", {"risk_state.daily_loss_used_pct": 0.7499}, []),
    ("weekly-0.75", {"risk_state.weekly_loss_used_pct": 0.75}, ["WEEKLY_LOSS_WARNING"]),
    ("weekly-0.7499", {"risk_state.weekly_loss_used_pct": 0.7499}, []),
    ("drawdown-0.075", {"risk_state.current_drawdown_pct": 0.075}, ["DRAWDOWN_WARNING"]),  # 0.7499999999999999
    ("drawdown-0.07499", {"risk_state.current_drawdown_pct": 0.07499}, []),
    ("positions-4-of-5", {"exposure.open_positions": 4}, ["OPEN_POSITIONS_WARNING"]),
    ("positions-3-of-5", {"exposure.open_positions": 3}, []),
    ("all-four", {"risk_state.daily_loss_used_pct": 0.9, "risk_state.weekly_loss_used_pct": 0.8,
                  "risk_state.current_drawdown_pct": 0.08, "exposure.open_positions": 4},
     ["DAILY_LOSS_WARNING", "WEEKLY_LOSS_WARNING", "DRAWDOWN_WARNING", "OPEN_POSITIONS_WARNING"]),
]


@pytest.mark.parametrize(("overrides", "triggers"), [c[1:] for c in WARNING_CASES], ids=[c[0] for c in WARNING_CASES])
def test_limit_warning_at_75_percent(overrides: dict[str, Any], triggers: list[str]) -> None:
    decision = size(neutral(overrides))
    assert decision.is_approved is True
    assert event_types(decision) == ["LIMIT_WARNING"] * len(triggers)
    assert [e.description.split(":")[0] for e in decision.events] == triggers
    assert all(e.severity.value == "WARNING" and e.action_taken == "warned" for e in decision.events)


def test_limit_warnings_follow_the_rejection_events() -> None:
    request = set_age(neutral({"risk_state.daily_loss_used_pct": 0.8, "exposure.open_positions": 4}), "regime",
                      ms=200_000)
    assert event_types(size(request)) == ["DATA_STALE", "SIZING_REJECTED", "LIMIT_WARNING", "LIMIT_WARNING"]


def test_limit_warning_on_an_approved_exit() -> None:
    decision = size(neutral({"signal.signal_type": "EXIT_FULL", "risk_state.weekly_loss_used_pct": 0.99}))
    assert (decision.is_approved, event_types(decision)) == (True, ["LIMIT_WARNING"])


# --- identity -------------------------------------------------------------------------------------

def test_decision_id_is_sha256_of_signal_id_and_timestamp() -> None:
    """§4.3 SHA256(signal_id + timestamp): the facade joins the signal id and ``now`` as
    ``datetime.isoformat()`` (microseconds, ``+00:00``)."""
    decision = size(neutral())
    text = "sig-0000000" + "2025-04-02T06:10:54.151000+00:00"
    assert decision.decision_id == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert decision.decision_id == expected_decision_id("sig-0000000", "2025-04-02T06:10:54.151Z")
    assert (decision.signal_id, decision.symbol, decision.timeframe) == ("sig-0000000", "MSFT", "5m")


def test_decision_id_depends_only_on_signal_id_and_now() -> None:
    base = size(neutral()).decision_id
    assert size(neutral({"signal.confidence": 0.9, "budget.remaining_daily_budget": 10.0})).decision_id == base
    assert size(neutral({"signal.signal_id": "sig-other"})).decision_id != base
    later = neutral()
    later["now"] = "2025-04-02T06:10:54.152Z"
    assert size(later).decision_id == expected_decision_id("sig-0000000", "2025-04-02T06:10:54.152Z")


def test_related_records_carry_the_decision_id() -> None:
    decision = size(neutral({"exposure.open_positions": 4, "risk_state.daily_loss_used_pct": 0.8}))
    assert all(e.decision_id == decision.decision_id and e.signal_id == "sig-0000000" for e in decision.events)
    ids = [e.event_id for e in decision.events]
    assert len(set(ids)) == len(ids) == 2
    assert decision.stop_loss_plan is not None and decision.take_profit_plan is not None
    assert decision.stop_loss_plan.signal_id == decision.take_profit_plan.signal_id == "sig-0000000"
    assert decision.stop_loss_plan.plan_id != decision.take_profit_plan.plan_id


# --- provenance ---------------------------------------------------------------------------------------

HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def test_provenance_names_the_policy_and_its_content_hash() -> None:
    provenance = size(neutral()).provenance
    assert provenance.risk_config_version == "risk.position_sizing@1.0.0"
    assert HASH.match(provenance.limits_config_version)
    assert provenance.limits_config_version == manager().policy.plan.info.content_hash
    assert provenance.sizing_algorithm_version == "seed-004/§5.2"
    assert provenance.account_balance_used == 100_000.0
    assert isinstance(provenance.processing_duration_ms, int) and provenance.processing_duration_ms >= 0


def test_param_overrides_change_the_content_hash() -> None:
    assert size(neutral(), kill_switch=True).provenance.limits_config_version != size(
        neutral()).provenance.limits_config_version


def _hashes(request: Request) -> tuple[str, ...]:
    p = size(request).provenance
    return (p.signal_hash, p.regime_hash, p.options_hash or "", p.exposure_hash)


def test_input_hashes_are_stable_and_follow_their_input() -> None:
    base = _hashes(neutral())
    assert all(HASH.match(h) for h in base)
    assert _hashes(neutral()) == base  # same request, same hashes
    assert _hashes(neutral({"budget.remaining_daily_budget": 1500.0})) == base  # budget is not hashed
    changed = [_hashes(neutral({path: value})) for path, value in (
        ("signal.confidence", 0.76), ("regime.regime_confidence", 0.81), ("liquidity.avg_volume", 7000),
        ("exposure.open_positions", 1))]
    for index, hashes in enumerate(changed):
        assert [a != b for a, b in zip(hashes, base)] == [i == index for i in range(4)]


def test_input_ages_in_ms() -> None:
    provenance = size(neutral()).provenance
    assert provenance.input_ages_ms == {"signal": 20569, "regime": 59282, "options": 8082, "greeks": 11796,
                                        "quote": 21926}
    assert (provenance.stale_inputs, provenance.freshness_ok) == ([], True)


# --- explain() --------------------------------------------------------------------------------------

EXPLAIN_CASES = [
    ("approved", {"signal.urgency": "IMMEDIATE"},
     "APPROVED MSFT: 4 contracts (base 5 x 0.8 = 4, rounded DOWN), risk 800.00 = 0.80% of the account."),
    ("daily", {"budget.remaining_daily_budget": 1000.0},
     "DAILY_LOSS_GATE: proposed risk 1000.00 >= remaining daily budget 1000.00 (daily_loss_limit_reached)"),
    ("greek", {"exposure.total_vega": 520.0}, "GREEK_EXPOSURE_GATE: projected vega 521.00 > max 500"),
    ("min-size", {"signal.stop_loss_zone": {"low": 40.0, "high": 40.0}, "signal.urgency": "IMMEDIATE"},
     "MIN_SIZE_GATE: adjusted size 0.8000 (base 1 x 0.8000) < min 1 (size_below_minimum)"),
    ("volume", {"liquidity.avg_volume": 99}, "LIQUIDITY_GATE: volume 99 < 100 (liquidity_insufficient: volume)"),
    ("positions", {"exposure.open_positions": 5},
     "MAX_POSITIONS_GATE: 5 open positions, max 5 (max_positions_reached)"),
    ("choppy", {"regime.regime_type": "CHOPPY", "regime.regime_confidence": 0.45},
     "REGIME_GATE: CHOPPY regime with confidence 0.45 < 0.5 (regime_unsuitable)"),
    ("drawdown", {"risk_state.current_drawdown_pct": 0.12},
     "DRAWDOWN_GATE: drawdown 12.00% >= max 10.00% (max_drawdown_reached)"),
    ("inactive", {"signal.lifecycle_state": "PENDING"},
     "INPUT_VALIDATION: signal lifecycle is PENDING, not ACTIVE (signal_not_active)"),
    ("malformed", {"signal.confidence": "high"},
     "INPUT_VALIDATION: invalid input at $.signal.confidence: expected number, got string (invalid_input)"),
    ("exit", {"signal.signal_type": "EXIT_FULL"}, "APPROVED MSFT: exit signal, not sized."),
]


@pytest.mark.parametrize(("overrides", "text"), [c[1:] for c in EXPLAIN_CASES], ids=[c[0] for c in EXPLAIN_CASES])
def test_explain_names_the_gate_and_its_numbers(overrides: dict[str, Any], text: str) -> None:
    assert size(neutral(overrides)).explain().startswith(text)


def test_explain_blackout_and_staleness_carry_their_numbers() -> None:
    request = neutral()
    with_events(request, event(request, "EARNINGS", hours=23.5))
    assert size(request).explain() == (
        "EVENT_BLACKOUT_GATE: earnings in 23.5 h, blackout 24 h (event_blackout: EARNINGS)")
    stale = size(set_age(neutral(), "quote", ms=30_001)).explain()
    assert stale.startswith("DATA_FRESHNESS_GATE: quote is 30001000 µs old, max 30000 ms")
