"""Properties of every position-sizing decision, over the seeded generator and over perturbations of
approved requests (hypothesis, explicit example counts): bounds, zero quantity on rejection,
monotonicity in drawdown, spread and event proximity, determinism, and the decision JSON Schema."""

from __future__ import annotations

import copy
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from policy_engine.risk import PositionSizingDecision
from policy_engine.risk.facade import RiskManager
from tests.bench.generator import generate_requests
from tests.sizing_helpers import (
    DECISION_SCHEMA,
    POLICY,
    Request,
    at,
    generated,
    manager,
    parse_iso,
    scrub,
    size,
)

N, SEED = 3000, 2024  # the differential test's set: computed once, shared through the cache
PROPERTY = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
TIGHT = {"max_position_size": 8, "rounding_direction": "UP", "allow_below_minimum": True}


def _check_invariants(decision: PositionSizingDecision, max_size: int) -> None:
    if not decision.is_approved:
        assert (decision.quantity, decision.base_size, decision.final_size, decision.size_before_bounds) == (0, 0, 0, 0)
        assert (decision.adjusted_size, decision.risk_amount, decision.risk_pct) == (0.0, 0.0, 0.0)
        assert (decision.adjustment_factors, decision.stop_loss_plan, decision.take_profit_plan) == (None, None, None)
        assert decision.rejection_gate is not None and decision.rejection_reason
        assert [e.event_type.value for e in decision.events].count("SIZING_REJECTED") == 1
        return
    assert decision.rejection_gate is None and decision.rejection_reason is None
    assert "SIZING_REJECTED" not in [e.event_type.value for e in decision.events]
    assert 0 <= decision.quantity == decision.final_size <= max_size
    if decision.adjustment_factors is None:  # an approved exit: not sized (reading F)
        assert (decision.quantity, decision.stop_loss_plan) == (0, None)
        return
    assert decision.quantity >= 1
    assert 0.25 <= decision.adjustment_factors.combined_multiplier_clamped <= 1.5
    assert decision.risk_pct == pytest.approx(decision.risk_amount / decision.provenance.account_balance_used, rel=1e-12)
    plan = decision.stop_loss_plan
    assert plan is not None and decision.take_profit_plan is not None
    if plan.hard_stop_rationale.endswith("signal's stop-loss zone"):  # the plan's stop is the sizing stop
        assert decision.risk_amount == pytest.approx(plan.max_loss_total, rel=1e-9)
    assert round(sum(t.exit_pct for t in decision.take_profit_plan.targets), 9) == 1.0


def test_invariants_over_the_generated_set() -> None:
    for _, decision in generated(N, SEED):
        _check_invariants(decision, 50)


@PROPERTY
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_invariants_over_generator_seeds(seed: int) -> None:
    for request in generate_requests(6, seed):
        _check_invariants(size(request), 50)
        _check_invariants(size(request, **TIGHT), 8)  # the cap binds often; UP rounding never breaks it


def test_every_decision_validates_against_the_decision_schema() -> None:
    validator = Draft202012Validator(DECISION_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    invalid = [(index, error.json_path, error.message)
               for index, (_, decision) in enumerate(generated(N, SEED)[:2000])
               for error in validator.iter_errors(decision.to_json_dict())]
    assert invalid[:5] == []


# --- monotonicity: one field of an approved request moves the wrong way, the size never grows ---------

@lru_cache(maxsize=1)
def _approved_entries() -> tuple[tuple[Request, int], ...]:
    return tuple((request, decision.quantity) for request, decision in generated(N, SEED)[:600]
                 if decision.is_approved and decision.quantity > 0)


def _approved(index: int) -> tuple[Request, int]:
    entries = _approved_entries()
    request, quantity = entries[index % len(entries)]
    return copy.deepcopy(request), quantity


@PROPERTY
@given(index=st.integers(min_value=0), more=st.floats(min_value=0.0, max_value=0.2))
def test_more_drawdown_never_sizes_up(index: int, more: float) -> None:
    request, quantity = _approved(index)
    request["risk_state"]["current_drawdown_pct"] = round(request["risk_state"]["current_drawdown_pct"] + more, 6)
    assert size(request).quantity <= quantity


@PROPERTY
@given(index=st.integers(min_value=0), wider=st.floats(min_value=0.0, max_value=0.3))
def test_wider_spread_never_sizes_up(index: int, wider: float) -> None:
    request, quantity = _approved(index)
    liquidity = request["liquidity"]
    liquidity["avg_bid_ask_spread_pct"] = round(liquidity["avg_bid_ask_spread_pct"] + wider, 6)
    assert size(request).quantity <= quantity


@PROPERTY
@given(index=st.integers(min_value=0), kind=st.sampled_from(["EARNINGS", "FOMC", "CPI", "JOBS", "DIVIDEND"]),
       far_ms=st.integers(min_value=1, max_value=100 * 3_600_000), nearer=st.floats(min_value=0.0, max_value=1.0))
def test_a_nearer_event_never_sizes_up(index: int, kind: str, far_ms: int, nearer: float) -> None:
    request, _ = _approved(index)
    symbol = request["signal"]["symbol"] if kind in ("EARNINGS", "DIVIDEND") else None
    far, near = copy.deepcopy(request), request
    near_ms = max(1, int(far_ms * nearer))
    for target, ms in ((far, far_ms), (near, near_ms)):
        target["events"].append({"symbol": symbol, "event_type": kind, "event_timestamp_utc": at(target, ms=ms),
                                 "is_before_market": False, "is_after_market": False})
    assert size(near).quantity <= size(far).quantity


@PROPERTY
@given(index=st.integers(min_value=0), nearer=st.floats(min_value=0.0, max_value=1.0))
def test_moving_existing_events_nearer_never_sizes_up(index: int, nearer: float) -> None:
    request, quantity = _approved(index)
    now = parse_iso(request["now"])
    for entry in request["events"]:
        distance = parse_iso(entry["event_timestamp_utc"]) - now
        if distance.total_seconds() > 0:
            entry["event_timestamp_utc"] = at(request, ms=max(1, int(distance.total_seconds() * 1000 * nearer)))
    assert size(request).quantity <= quantity


# --- determinism ---------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _second_manager() -> RiskManager:
    return RiskManager.from_policy(POLICY)  # compiled again, independently of the shared one


@PROPERTY
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), field=st.sampled_from(
    ["signal.confidence", "risk_state.current_drawdown_pct", "liquidity.avg_bid_ask_spread_pct", "recent_win_rate"]),
    value=st.floats(min_value=0.0, max_value=1.0))
def test_identical_requests_give_identical_decisions(seed: int, field: str, value: float) -> None:
    """The same request twice, through the shared and an independently compiled manager, traced and
    not: the same decision (the measured ``processing_duration_ms`` aside)."""
    request = generate_requests(1, seed)[0]
    block, _, key = field.rpartition(".")
    target = request[block] if block else request
    if target is not None:  # a generated fault may have removed the block (missing_input)
        target[key] = round(value, 4)
    first = scrub(manager().size(request).to_json_dict())
    assert scrub(manager().size(copy.deepcopy(request)).to_json_dict()) == first
    assert scrub(_second_manager().size(request).to_json_dict()) == first
    assert scrub(manager().decide(request, trace=True)[0].to_json_dict()) == first


def test_a_decision_does_not_change_its_request() -> None:
    request, _ = _approved(0)
    before = copy.deepcopy(request)
    size(request)
    assert request == before
