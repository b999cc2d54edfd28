"""policies/hedging/roll_triggers.yaml: every roll trigger of seed 000 just inside and just outside
its threshold, the priority order, the skipped skew check, the US-Eastern calendar and the
per-position errors (contract stateful.md readings 14-15)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine.decision import Decision

ROOT = Path(__file__).resolve().parents[2]
POLICY = policy_engine.load(ROOT / "policies/hedging/roll_triggers.yaml")
NOW = "2025-03-03T20:45:00Z"  # Monday 3 March 2025, 15:45 EST: the daily roll check


def leg(current_delta: float, entry_delta: float, *, strike: float = 500.0, entry_price: float = 5.0,
        current_price: float = 5.0, option_type: str = "put") -> dict[str, Any]:
    return {"option_type": option_type, "strike": strike, "entry_delta": entry_delta, "current_delta": current_delta,
            "entry_price": entry_price, "current_price": current_price}


def tail(**changes: Any) -> dict[str, Any]:
    """A tail hedge that triggers nothing: 109 days to expiry, delta unchanged, full extrinsic value."""
    position = {"position_id": "TAIL-1", "template": "tail", "underlying": "SPY",
                "opened_at": "2025-01-15T15:00:00-05:00", "expiry": "2025-06-20T16:00:00-04:00",
                "underlying_price": 560.0, "long_leg": leg(-0.15, -0.15), "short_leg": None}
    request = {"now": NOW, "position": position, "iv_history": None}
    return _apply(request, changes)


def spread(**changes: Any) -> dict[str, Any]:
    """A put spread that triggers nothing: held 7 days, value 40 % of the width, calm deltas."""
    position = {"position_id": "SPREAD-1", "template": "spread", "underlying": "QQQ",
                "opened_at": "2025-02-24T15:30:00-05:00", "expiry": "2025-05-16T16:00:00-04:00",
                "underlying_price": 505.0,
                "long_leg": leg(-0.40, -0.30, strike=460.0, entry_price=9.8, current_price=12.0),
                "short_leg": leg(-0.15, -0.18, strike=440.0, entry_price=5.6, current_price=4.0)}
    request = {"now": NOW, "position": position, "iv_history": None}
    return _apply(request, changes)


def _apply(request: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Set dotted paths: position__long_leg__current_delta=-0.3 sets position.long_leg.current_delta."""
    request = copy.deepcopy(request)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = request
        for part in parents:
            node = node[part]
        node[last] = value
    return request


def decide(request: dict[str, Any], now: str | None = None) -> Decision:
    decision = POLICY.evaluate(request, now=now)
    assert decision.reason != "engine_error", decision.message
    return decision


def reasons(decision: Decision) -> list[str]:
    return [t.reason for t in decision.fired]


def test_baselines_trigger_nothing() -> None:
    for request in (tail(), spread()):
        decision = decide(request)
        assert decision.approved and decision.reason is None and reasons(decision) == []


# --- tail template, each trigger just inside and just outside ----------------------------------
@pytest.mark.parametrize(("expiry", "fired"), [
    ("2025-04-17T16:00:00-04:00", []),                  # 45 days: not < 45
    ("2025-04-16T16:00:00-04:00", ["dte_threshold"]),   # 44 days
])
def test_tail_dte(expiry: str, fired: list[str]) -> None:
    decision = decide(tail(position__expiry=expiry))
    assert reasons(decision) == fired
    assert decision.values["dte"] == (45 if not fired else 44)


@pytest.mark.parametrize(("entry", "current", "fired"), [
    (-0.15, -0.25, []),                      # grew by exactly 0.10: not > 0.10
    (-0.15, -0.2501, ["delta_drift_itm"]),
    (-0.15, -0.28, ["delta_drift_itm"]),     # seed manual test 2: entry 0.15 -> 0.28
    (-0.30, -0.20, []),                      # shrank by exactly 0.10
    (-0.30, -0.1999, ["delta_drift_otm"]),
    (0.15, 0.2501, ["delta_drift_itm"]),     # a call: |delta| the same way
])
def test_tail_delta_drift(entry: float, current: float, fired: list[str]) -> None:
    decision = decide(tail(position__long_leg=leg(current, entry)))
    assert reasons(decision) == fired
    assert decision.reason == (fired[0] if fired else None)


@pytest.mark.parametrize(("strike", "price", "fired"), [
    (500.0, 1.0, []),                        # out of the money: extrinsic 1.0 = exactly 20 % of 5.0
    (500.0, 0.9999, ["extrinsic_decay"]),
    (600.0, 41.0, []),                       # in the money: intrinsic 40, extrinsic 1.0 = 20 %
    (600.0, 40.99, ["extrinsic_decay"]),
])
def test_tail_extrinsic_decay(strike: float, price: float, fired: list[str]) -> None:
    # the drift stays 0, so only the extrinsic trigger can fire
    decision = decide(tail(position__long_leg=leg(-0.15, -0.15, strike=strike, current_price=price)))
    assert reasons(decision) == fired


def test_seed_manual_test_3_decayed_extrinsic_value() -> None:
    decision = decide(tail(position__long_leg=leg(-0.15, -0.15, entry_price=6.40, current_price=0.50)))
    assert decision.reason == "extrinsic_decay"
    assert decision.values["extrinsic_ratio"] == pytest.approx(0.078125)


ALTERNATING = [1.0, -1.0] * 126  # 252 days, mean 0, standard deviation sqrt(252/251)
SIGMA = (252 / 251) ** 0.5


@pytest.mark.parametrize(("current", "fired"), [
    (2.0 * SIGMA, []),                               # exactly 2 sigma: not > 2
    (2.0 * SIGMA + 1e-6, ["skew_regime_change"]),
    (-2.0 * SIGMA, []),
    (-2.0 * SIGMA - 1e-6, ["skew_regime_change"]),
])
def test_tail_skew_regime_change(current: float, fired: list[str]) -> None:
    decision = decide(tail(iv_history={"skew_history": ALTERNATING, "current_skew": current}))
    assert decision.values["skew_check"] == "checked"
    assert reasons(decision) == fired


def test_skew_baseline_is_the_last_252_days() -> None:
    history = [50.0] * 100 + ALTERNATING      # older days outside the window do not count
    decision = decide(tail(iv_history={"skew_history": history, "current_skew": 2.0 * SIGMA + 1e-6}))
    assert decision.values["skew_baseline_days"] == 352
    assert reasons(decision) == ["skew_regime_change"]


@pytest.mark.parametrize(("iv_history", "status", "stated"), [
    (None, "skipped_no_iv_history", "no IV history given"),
    ({"skew_history": [], "current_skew": 9.0}, "skipped_no_iv_history", "no IV history given"),
    ({"skew_history": ALTERNATING[:251], "current_skew": 9.0}, "skipped_short_history",
     "IV history shorter than the skew baseline window"),
    ({"skew_history": [0.5] * 252, "current_skew": 9.0}, "skipped_flat_baseline",
     "the baseline skew never varies (standard deviation 0)"),
])
def test_skew_check_skipped_with_a_stated_reason(iv_history: Any, status: str, stated: str) -> None:
    decision = decide(tail(iv_history=iv_history))
    assert decision.approved and decision.reason is None
    assert (decision.values["skew_check"], decision.values["skew_check_reason"]) == (status, stated)
    assert decision.values["skew_zscore"] is None


def test_skew_check_does_not_apply_to_spreads() -> None:
    decision = decide(spread(iv_history={"skew_history": ALTERNATING, "current_skew": 99.0}))
    assert decision.values["skew_check"] == "not_applicable" and reasons(decision) == []


# --- spread template -------------------------------------------------------------------------
@pytest.mark.parametrize(("opened_at", "held", "fired"), [
    ("2025-02-10T15:30:00-05:00", 21, ["cadence_due"]),   # >= 21
    ("2025-02-11T15:30:00-05:00", 20, []),
])
def test_spread_cadence(opened_at: str, held: int, fired: list[str]) -> None:
    decision = decide(spread(position__opened_at=opened_at))
    assert decision.values["days_held"] == held
    assert reasons(decision) == fired


@pytest.mark.parametrize(("long_price", "fired"), [
    (10.0, []),                           # (10 - 4) / 20 = exactly 30 %
    (9.99, ["width_value_decay"]),        # seed manual test 4: width value < 30 %
])
def test_spread_width_value_decay(long_price: float, fired: list[str]) -> None:
    decision = decide(spread(position__long_leg__current_price=long_price))
    assert reasons(decision) == fired


@pytest.mark.parametrize(("delta", "fired"), [(-0.50, []), (-0.5001, ["long_leg_delta_drift"])])
def test_spread_long_leg_delta(delta: float, fired: list[str]) -> None:
    assert reasons(decide(spread(position__long_leg__current_delta=delta))) == fired


@pytest.mark.parametrize(("delta", "fired"), [(-0.20, []), (-0.2001, ["short_leg_delta_drift"])])
def test_spread_short_leg_delta(delta: float, fired: list[str]) -> None:
    assert reasons(decide(spread(position__short_leg__current_delta=delta))) == fired


# --- priority order: primary first, then the enhanced triggers in the seed's order ------------
def test_tail_priority_when_everything_fires() -> None:
    everything = tail(position__expiry="2025-03-21T16:00:00-04:00",
                      position__long_leg=leg(-0.30, -0.15, entry_price=5.0, current_price=0.5),
                      iv_history={"skew_history": ALTERNATING, "current_skew": 5.0})
    decision = decide(everything)
    assert decision.reason == "dte_threshold"
    assert reasons(decision) == ["dte_threshold", "delta_drift_itm", "extrinsic_decay", "skew_regime_change"]
    assert [e.type for e in decision.events] == ["ROLL_TRIGGERED"] * 4


def test_tail_enhanced_triggers_without_the_primary() -> None:
    decision = decide(tail(position__long_leg=leg(-0.30, -0.15, current_price=0.5)))
    assert decision.reason == "delta_drift_itm"
    assert reasons(decision) == ["delta_drift_itm", "extrinsic_decay"]


def test_spread_priority_when_everything_fires() -> None:
    everything = spread(position__opened_at="2025-01-02T15:30:00-05:00",
                        position__long_leg=leg(-0.55, -0.30, strike=460.0, current_price=5.0),
                        position__short_leg=leg(-0.25, -0.18, strike=440.0, current_price=1.0))
    decision = decide(everything)
    assert decision.reason == "cadence_due"
    assert reasons(decision) == ["cadence_due", "width_value_decay", "long_leg_delta_drift", "short_leg_delta_drift"]


def test_spread_enhanced_order_without_the_primary() -> None:
    decision = decide(spread(position__long_leg__current_delta=-0.55, position__short_leg__current_delta=-0.25))
    assert reasons(decision) == ["long_leg_delta_drift", "short_leg_delta_drift"]
    assert decision.reason == "long_leg_delta_drift"


# --- DTE and days held on the US-Eastern calendar (reading 15) -------------------------------
@pytest.mark.parametrize(("now", "dte", "fired"), [
    ("2025-03-04T04:59:59Z", 45, []),                   # 23:59:59 EST on 3 March
    ("2025-03-04T05:00:00Z", 44, ["dte_threshold"]),    # midnight in New York: 4 March
    ("2025-03-04T00:30:00Z", 45, []),                   # already 4 March in UTC, still 3 March in New York
])
def test_dte_uses_the_new_york_date_in_winter(now: str, dte: int, fired: list[str]) -> None:
    decision = decide(tail(now=now, position__expiry="2025-04-17T16:00:00-04:00"))
    assert decision.values["dte"] == dte and reasons(decision) == fired


@pytest.mark.parametrize(("now", "dte"), [
    ("2025-07-02T03:59:59Z", 45),    # 23:59:59 EDT on 1 July
    ("2025-07-02T04:00:00Z", 44),    # midnight EDT
])
def test_dte_uses_the_new_york_date_in_summer(now: str, dte: int) -> None:
    decision = decide(tail(now=now, position__opened_at="2025-06-01T10:00:00-04:00",
                           position__expiry="2025-08-15T16:00:00-04:00"))
    assert decision.values["dte"] == dte


def test_days_held_uses_the_new_york_date() -> None:
    # opened 10 Feb 21:30 EST (11 Feb 02:30 UTC): day 0 is 10 February in New York
    request = spread(position__opened_at="2025-02-11T02:30:00Z")
    assert decide(request).values["days_held"] == 21
    assert reasons(decide(request)) == ["cadence_due"]


# --- bad positions: a clear per-position error ------------------------------------------------
@pytest.mark.parametrize(("request_", "reason", "rule"), [
    (tail(position__long_leg=None), "missing_long_leg", "POSITION_LEGS"),
    (spread(position__long_leg=None), "missing_long_leg", "POSITION_LEGS"),
    (spread(position__short_leg=None), "missing_short_leg", "POSITION_LEGS"),
    (tail(position__short_leg=leg(-0.1, -0.1, strike=450.0)), "unexpected_short_leg", "POSITION_LEGS"),
    (spread(position__short_leg__strike=460.0), "zero_width_spread", "POSITION_LEGS"),
    (tail(position__expiry="2025-03-02T16:00:00-05:00"), "expired_position", "POSITION_DATES"),
    (tail(position__opened_at="2025-03-04T10:00:00-05:00"), "opened_in_future", "POSITION_DATES"),
])
def test_malformed_positions_are_rejected_with_their_reason(request_: dict[str, Any], reason: str,
                                                            rule: str) -> None:
    decision = decide(request_)
    assert (decision.outcome, decision.reason, decision.rule) == ("rejected", reason, rule)
    assert decision.events[0].type == "ROLL_CHECK_REJECTED"
    assert request_["position"]["position_id"] in decision.message


def test_expiring_today_is_still_checked() -> None:
    decision = decide(tail(position__expiry="2025-03-03T16:00:00-05:00"))
    assert decision.approved and decision.values["dte"] == 0 and decision.reason == "dte_threshold"


@pytest.mark.parametrize(("path", "value", "json_path"), [
    ("position__long_leg__current_delta", -1.2, "$.position.long_leg.current_delta"),
    ("position__short_leg__current_delta", 1.01, "$.position.short_leg.current_delta"),
    ("position__template", "strangle", "$.position.template"),
])
def test_out_of_range_inputs_are_invalid(path: str, value: Any, json_path: str) -> None:
    decision = POLICY.evaluate(spread(**{path: value}))
    assert decision.reason == "invalid_input"
    assert decision.input_errors[0][0] == json_path


def test_a_field_no_rule_reads_is_left_to_the_contract() -> None:
    """The engine checks what the policy reads; no rule reads the short leg's entry delta, so an
    out-of-range one changes nothing, and the whole contract (checker.full) still refuses it."""
    request = spread(position__short_leg__entry_delta=1.01)
    assert "entry_delta" not in POLICY.checker.reads["position"]["short_leg"]
    assert POLICY.evaluate(request).outcome == POLICY.evaluate(spread()).outcome
    assert [i.json_path for i in POLICY.checker.full.check(request)[1]] == ["$.position.short_leg.entry_delta"]


def test_a_missing_field_is_invalid_not_ignored() -> None:
    request = tail()
    del request["position"]["long_leg"]
    decision = POLICY.evaluate(request)
    assert decision.reason == "invalid_input" and decision.input_errors[0][0] == "$.position.long_leg"


# --- properties over generated positions ---------------------------------------------------------
DELTAS = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)
PRICES = st.floats(min_value=0.01, max_value=100.0, allow_nan=False)


@st.composite
def positions(draw: st.DrawFn) -> dict[str, Any]:
    legs = {"position__long_leg": leg(draw(DELTAS), draw(DELTAS), strike=draw(st.sampled_from([450.0, 500.0, 600.0])),
                                      entry_price=draw(PRICES), current_price=draw(PRICES))}
    expiry = draw(st.sampled_from(["2025-03-03T16:00:00-05:00", "2025-04-16T16:00:00-04:00",
                                   "2026-01-16T16:00:00-05:00"]))
    if draw(st.booleans()):
        history = draw(st.sampled_from([None, ALTERNATING, ALTERNATING[:251], [0.5] * 252, [0.1 * i for i in range(300)]]))
        skew = {"skew_history": history, "current_skew": draw(st.floats(min_value=-10, max_value=10))}
        return tail(position__expiry=expiry, iv_history=skew if history is not None else None, **legs)
    short = leg(draw(DELTAS), draw(DELTAS), strike=440.0, entry_price=draw(PRICES), current_price=draw(PRICES))
    return spread(position__expiry=expiry, position__short_leg=short, **legs)


@settings(max_examples=100, deadline=None)
@given(positions())
def test_roll_reason_is_the_first_trigger_that_fires(request_: dict[str, Any]) -> None:
    decision = decide(request_)
    assert decision.approved
    priorities = [t.priority for t in decision.fired]
    assert priorities == sorted(priorities)
    assert decision.reason == (decision.fired[0].reason if decision.fired else None)
    assert decision.to_json() == decide(request_).to_json()   # deterministic
