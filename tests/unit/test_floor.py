"""The hand-written floor (tests/bench/floor.py) against the seed's worked example, the contract
example worked by hand, the exact-arithmetic edges of contract reading 15, and the generator's
coverage of every rejection reason and every multiplier step."""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from policy_engine.risk import PositionSizingRequest
from tests.bench import floor
from tests.bench.generator import CONTRACT_EXAMPLE, generate_requests

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas/position_sizing.request.schema.json").read_text()
)
Request = dict[str, Any]


def neutral_request() -> Request:
    """An ENTRY_LONG where every multiplier is 1.0: $100,000, entry 50.00, stop 48.00."""
    request = copy.deepcopy(CONTRACT_EXAMPLE)
    request["signal"].update(
        signal_type="ENTRY_LONG",
        direction="LONG",
        confidence=0.75,
        urgency="STANDARD",
        strategy_family="TREND",
        entry_price_zone={"low": 50.0, "high": 50.0},
        stop_loss_zone={"low": 48.0, "high": 48.0},
    )
    request["regime"].update(regime_type="TRENDING_UP", regime_confidence=0.8, volatility_state="NORMAL")
    request["liquidity"].update(liquidity_grade="EXCELLENT", avg_bid_ask_spread_pct=0.05)
    request["greeks"].update(delta=0.5, gamma=0.01, vega=0.2, theta=-0.1)
    request["account"].update(account_balance=100_000.0)
    request["risk_state"].update(daily_loss_used_pct=0.0, weekly_loss_used_pct=0.0, current_drawdown_pct=0.0)
    request["exposure"].update(
        open_positions=0,
        total_delta=0.0,
        total_gamma=0.0,
        total_vega=0.0,
        total_theta=0.0,
        symbol_exposures=[],
    )
    request["budget"].update(remaining_daily_budget=2_000.0, remaining_weekly_budget=5_000.0)
    request.update(setup=None, events=[], atr=None, recent_win_rate=None)
    return request


# --- worked examples ---------------------------------------------------------------------------


def test_seed_worked_example() -> None:
    """Seed §5.2: $100,000 x 1% / ($2 x 100) = 5 contracts; x 0.80 = 4.0 -> 4."""
    request = neutral_request()
    request["signal"]["urgency"] = "IMMEDIATE"  # 0.80, and every other multiplier is 1.0
    decision = floor.decide(request)
    assert decision["is_approved"] is True
    assert decision["adjustment_factors"]["combined_multiplier"] == 0.80
    assert (decision["base_size"], decision["adjusted_size"], decision["final_size"]) == (5, 4.0, 4)
    assert (decision["quantity"], decision["risk_amount"], decision["risk_pct"]) == (4, 800.0, 0.008)
    stop = decision["stop_loss_plan"]
    assert (stop["hard_stop_price"], stop["hard_stop_type"], stop["soft_stop_price"]) == (48.0, "FIXED", 49.0)
    assert stop["max_loss_total"] == 800.0
    targets = decision["take_profit_plan"]["targets"]
    assert [t["target_price"] for t in targets] == [53.0, 55.0, 58.0]
    assert [t["exit_pct"] for t in targets] == [0.33, 0.33, 0.34]
    assert decision["take_profit_plan"]["trailing_tp_enabled"] is True  # TREND
    assert decision["events"] == []


def test_contract_example_by_hand() -> None:
    """The contract example, worked by hand:

    entry = (6.6693 + 6.6785) / 2 = 6.6739; stop = (6.7973 + 6.8207) / 2 = 6.809 (SHORT, above)
    distance = 0.1351; risk per contract = 13.51
    max_risk = min(88929.82 x 0.01 = 889.2982, daily 865.2, weekly 3876.14) = 865.2
    base = floor(865.2 / 13.51 = 64.04) = 64
    multipliers: confidence 0.7399 -> 1.0; regime LOW RANGING rc 0.6839 -> 1.0; liquidity GOOD 0.9,
    spread 0.07619 <= 0.10 -> 0.9; urgency STANDARD -> 1.0; JOBS in 114.4 h -> 1.0;
    drawdown 0.0854 / 0.10 = 0.854 -> 0.50; win rate null -> 1.0; combined 0.45
    adjusted = 64 x 0.45 = 28.8 -> final 28; proposed risk = 28 x 13.51 = 378.28 < 865.2
    gates: ages 20.6 s, 59.3 s, 8.1 s, 11.8 s, 21.9 s all fresh; delta 3.663 - 28 x 0.5476 = -11.67,
    gamma 14.94, vega 192.65, theta -73.79 inside limits; liquidity GOOD, 0.076, 9920, 6734 pass
    stop plan: signal zone -> 6.809 FIXED, soft 6.6739 + 0.06755 = 6.74145, LONG_VOL -> 10 bars
    targets: 6.6739 - 0.1351 x (1.5, 2.5, 4.0) = 6.47125, 6.33615, 6.1335
    events: drawdown at 85 % of its limit >= 75 % -> one LIMIT_WARNING
    """
    decision = floor.decide(copy.deepcopy(CONTRACT_EXAMPLE))
    assert decision["is_approved"] is True and decision["rejection_gate"] is None
    assert (decision["base_size"], decision["final_size"], decision["quantity"]) == (64, 28, 28)
    assert decision["adjusted_size"] == pytest.approx(28.8)
    assert decision["size_before_bounds"] == 28
    assert decision["risk_amount"] == pytest.approx(378.28)
    assert decision["risk_pct"] == pytest.approx(378.28 / 88929.82)
    factors = decision["adjustment_factors"]
    assert factors == {
        "confidence_multiplier": 1.0,
        "regime_multiplier": 1.0,
        "liquidity_multiplier": 0.9,
        "urgency_multiplier": 1.0,
        "event_multiplier": 1.0,
        "drawdown_multiplier": 0.5,
        "streak_multiplier": 1.0,
        "combined_multiplier": pytest.approx(0.45),
        "combined_multiplier_clamped": pytest.approx(0.45),
        "event_proximity_hours": 114,
        "event_type": "JOBS",
    }
    stop = decision["stop_loss_plan"]
    assert stop["hard_stop_price"] == pytest.approx(6.809) and stop["hard_stop_type"] == "FIXED"
    assert stop["hard_stop_distance_pct"] == pytest.approx(0.1351 / 6.6739)
    assert stop["soft_stop_price"] == pytest.approx(6.74145) and stop["soft_stop_action"] == "ALERT"
    assert (stop["time_stop_bars"], stop["invalidation_stop_enabled"]) == (10, False)
    assert stop["max_loss_per_contract"] == pytest.approx(13.51)
    assert stop["max_loss_total"] == pytest.approx(378.28)
    targets = decision["take_profit_plan"]["targets"]
    assert [t["target_price"] for t in targets] == pytest.approx([6.47125, 6.33615, 6.1335])
    assert [(t["target_type"], t["r_multiple"], t["exit_pct"]) for t in targets] == [
        ("R_MULTIPLE", 1.5, 0.33),
        ("R_MULTIPLE", 2.5, 0.33),
        ("R_MULTIPLE", 4.0, 0.34),
    ]
    assert decision["take_profit_plan"]["trailing_tp_enabled"] is False
    assert decision["events"] == ["LIMIT_WARNING"]


# --- exact arithmetic (contract reading 15) ----------------------------------------------------


def test_adjusted_size_mathematically_7_floors_to_7() -> None:
    """25 x (0.70 x 0.40) is 7 exactly, but 6.999999999999999 in binary floats."""
    request = neutral_request()
    request["account"]["account_balance"] = 500_000.0  # 5000 / 200 = 25
    request["budget"].update(remaining_daily_budget=10_000.0, remaining_weekly_budget=25_000.0)
    request["signal"]["confidence"] = 0.55  # 0.70
    request["regime"]["volatility_state"] = "EXTREME"  # 0.40
    decision = floor.decide(request)
    assert decision["base_size"] == 25
    assert decision["adjusted_size"] == 6.999999999999999  # what a naive int() would floor to 6
    assert (decision["final_size"], decision["size_before_bounds"], decision["quantity"]) == (7, 7, 7)


def test_base_size_mathematically_7_floors_to_7() -> None:
    """210 / ((1.00 - 0.70) x 100) is 7 exactly, but 6.999999999999999 in binary floats."""
    request = neutral_request()
    request["signal"].update(
        entry_price_zone={"low": 1.0, "high": 1.0}, stop_loss_zone={"low": 0.7, "high": 0.7}
    )
    request["account"]["account_balance"] = 21_000.0  # 1 % = 210
    assert 210.0 / ((1.0 - 0.7) * 100) < 7
    decision = floor.decide(request)
    assert (decision["base_size"], decision["final_size"]) == (7, 7)


def test_drawdown_0075_of_010_is_in_the_075_tier() -> None:
    request = neutral_request()
    request["risk_state"]["current_drawdown_pct"] = 0.075
    assert 0.075 / 0.10 < 0.75  # the binary-float trap
    assert floor.adjustment_factors(request)["drawdown_multiplier"] == 0.50  # ratio >= 0.75 -> 0.50
    assert floor.decide(request)["events"] == ["LIMIT_WARNING"]  # 0.75 >= limit_warning_pct


def test_concentration_of_exactly_the_limit_is_refused() -> None:
    request = neutral_request()
    held = {"symbol": request["signal"]["symbol"], "position_count": 1, "exposure_pct": 0.1}
    request["exposure"]["symbol_exposures"] = [held, held]  # 0.1 + 0.1 = 0.2, not < 0.20
    assert floor.decide(request)["rejection_reason"] == "symbol_concentration_exceeded"


def test_daily_budget_equal_to_the_risk_is_refused() -> None:
    """Reading 4: remaining_daily_budget must exceed the proposed risk (800 = 800 is refused)."""
    request = neutral_request()
    request["budget"]["remaining_daily_budget"] = 1_000.0  # base 5, combined 1.0 -> 5 x 200 = 1000
    assert floor.decide(request)["rejection_reason"] == "daily_loss_limit_reached"


def test_time_edges_are_exact_to_the_microsecond() -> None:
    request = neutral_request()
    request["now"] = "2025-04-02T06:10:54.151Z"
    request["signal"]["timestamp_utc"] = "2025-04-02T06:09:54.151Z"  # exactly 60 000 ms: fresh
    assert floor.decide(request)["is_approved"] is True
    request["signal"]["timestamp_utc"] = "2025-04-02T06:09:54.150999Z"
    assert floor.decide(request)["rejection_reason"] == "stale_input: signal"
    request["signal"]["expiry_timestamp_utc"] = request["now"]  # now >= expiry
    assert floor.decide(request)["rejection_reason"] == "signal_expired"


@pytest.mark.parametrize(
    ("hours_ahead", "reason", "multiplier"),
    [
        ("2025-04-03T06:10:54.151Z", None, 0.5),  # exactly 24 h: outside the blackout, < 48 h tier
        ("2025-04-03T06:10:54.150Z", "event_blackout: EARNINGS", 0.0),
    ],
)
def test_earnings_blackout_edge(hours_ahead: str, reason: str | None, multiplier: float) -> None:
    request = neutral_request()
    request["now"] = "2025-04-02T06:10:54.151Z"
    request["events"] = [
        {
            "symbol": request["signal"]["symbol"],
            "event_type": "EARNINGS",
            "event_timestamp_utc": hours_ahead,
            "is_before_market": False,
            "is_after_market": True,
        }
    ]
    decision = floor.decide(request)
    assert decision["rejection_reason"] == reason
    assert decision["events"] == ([] if reason is None else ["EVENT_BLACKOUT_START", "SIZING_REJECTED"])
    assert floor.adjustment_factors(request)["event_multiplier"] == multiplier


def test_size_rounds_to_zero_needs_a_zero_minimum() -> None:
    request = neutral_request()
    request["account"]["account_balance"] = 15_000.0  # 150 / 200 -> base 0
    assert floor.decide(request)["rejection_reason"] == "size_below_minimum"
    params = {**floor.DEFAULT_PARAMS, "min_position_size": 0}
    assert floor.decide(request, params)["rejection_reason"] == "size_rounds_to_zero"


def test_rounding_directions_and_bounds() -> None:
    request = neutral_request()
    request["signal"]["confidence"] = 0.65  # 0.85: 5 x 0.85 = 4.25
    for direction, expected in (("DOWN", 4), ("NEAREST", 4), ("UP", 5)):
        decision = floor.decide(request, {**floor.DEFAULT_PARAMS, "rounding_direction": direction})
        assert decision["final_size"] == expected
    capped = floor.decide(request, {**floor.DEFAULT_PARAMS, "max_position_size": 3})
    assert (capped["final_size"], capped["size_before_bounds"], capped["max_size_applied"]) == (3, 4, True)
    lifted = floor.decide(
        request, {**floor.DEFAULT_PARAMS, "min_position_size": 6, "allow_below_minimum": True}
    )
    assert (lifted["final_size"], lifted["min_size_applied"]) == (6, True)


def test_exit_is_approved_unsized_even_in_reduce_only() -> None:
    request = neutral_request()
    request["signal"]["signal_type"] = "EXIT_FULL"
    request["risk_state"]["risk_mode"] = "REDUCE_ONLY"
    request["regime"] = None  # an exit does not need it
    decision = floor.decide(request)
    assert decision["is_approved"] is True and decision["quantity"] == 0
    assert decision["adjustment_factors"] is None and decision["stop_loss_plan"] is None
    request["risk_state"]["risk_mode"] = "STAND_DOWN"
    assert floor.decide(request)["rejection_reason"] == "risk_mode_stand_down"


def test_rejection_events_follow_reading_k() -> None:
    request = neutral_request()
    request["quote"]["timestamp_utc"] = "2025-04-02T06:00:00Z"
    request["risk_state"]["weekly_loss_used_pct"] = 0.8
    decision = floor.decide(request)
    assert decision["rejection_reason"] == "stale_input: quote"
    assert decision["events"] == ["DATA_STALE", "SIZING_REJECTED", "LIMIT_WARNING"]
    assert (decision["quantity"], decision["adjustment_factors"], decision["take_profit_plan"]) == (
        0,
        None,
        None,
    )


# --- coverage of the generated requests --------------------------------------------------------

GATE_REASONS = {
    "INPUT_VALIDATION": [
        "signal_not_active",
        "signal_expired",
        "stand_down_signal",
        "confidence_below_threshold",
        "invalid_direction",
        "missing_input: regime",
        "missing_input: liquidity",
        "missing_input: greeks",
        "missing_input: quote",
        "no_stop_derivable",
        "zero_stop_distance",
    ],
    "KILL_SWITCH_GATE": ["kill_switch_active"],
    "RISK_MODE_GATE": ["risk_mode_stand_down", "reduce_only_no_entries"],
    "DATA_FRESHNESS_GATE": [f"stale_input: {name}" for name in ("signal", "regime", "options", "quote")],
    "REGIME_GATE": ["regime_unknown", "regime_unsuitable"],
    "DAILY_LOSS_GATE": ["daily_loss_limit_reached"],
    "WEEKLY_LOSS_GATE": ["weekly_loss_limit_reached"],
    "DRAWDOWN_GATE": ["max_drawdown_reached"],
    "MAX_POSITIONS_GATE": ["max_positions_reached"],
    "SYMBOL_CONCENTRATION_GATE": ["symbol_concentration_exceeded"],
    "GREEK_EXPOSURE_GATE": [f"greek_exposure_exceeded: {g}" for g in ("delta", "gamma", "vega", "theta")],
    "LIQUIDITY_GATE": [
        f"liquidity_insufficient: {m}" for m in ("liquidity_grade", "spread_pct", "open_interest", "volume")
    ],
    "EVENT_BLACKOUT_GATE": ["event_blackout: EARNINGS", "event_blackout: FOMC"],
    "MIN_SIZE_GATE": ["size_below_minimum"],  # size_rounds_to_zero: see the test with min_position_size 0
}


@lru_cache(maxsize=1)
def generated() -> tuple[tuple[Request, dict[str, Any]], ...]:
    return tuple((request, floor.decide(request)) for request in generate_requests(3000))


def test_generator_is_seeded() -> None:
    assert generate_requests(25, seed=3) == generate_requests(25, seed=3)
    assert generate_requests(25, seed=3) != generate_requests(25, seed=4)


def test_generated_requests_are_valid_against_schema_and_models() -> None:
    validator = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for index, (request, _) in enumerate(generated()):
        errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(request)]
        assert errors == [], f"request {index}"
        PositionSizingRequest.model_validate(request)


def test_every_gate_reason_is_reached_and_about_half_are_approved() -> None:
    seen = Counter(
        (d["rejection_gate"], d["rejection_reason"]) for _, d in generated() if not d["is_approved"]
    )
    expected = {(gate, reason) for gate, reasons in GATE_REASONS.items() for reason in reasons}
    assert sorted(expected - seen.keys()) == []
    assert sorted(seen.keys() - expected) == []
    approved = sum(d["is_approved"] for _, d in generated()) / len(generated())
    assert 0.35 <= approved <= 0.65
    budget_bound = [
        r
        for r, d in generated()
        if d["rejection_gate"] == "DAILY_LOSS_GATE" and r["risk_state"]["daily_loss_used_pct"] < 1.0
    ]
    assert budget_bound, "the remaining_daily_budget > proposed_risk half of DAILY_LOSS_GATE"


def test_zero_minimum_params_reach_size_rounds_to_zero() -> None:
    params = {**floor.DEFAULT_PARAMS, "min_position_size": 0}
    reasons = {floor.decide(request, params)["rejection_reason"] for request, _ in generated()}
    assert "size_rounds_to_zero" in reasons


def test_approved_entries_report_the_same_factors_as_adjustment_factors() -> None:
    for request, decision in generated():
        if decision["adjustment_factors"] is not None:
            assert decision["adjustment_factors"] == floor.adjustment_factors(request)


# Which step of each §7 table a multiplier took, read off its value; where one value belongs to
# several steps the request's input tells them apart, and the value must match that step.


def _r9(x: float) -> float:
    return round(x, 9)


def _regime_steps(regime: dict[str, Any], value: float) -> set[str]:
    steps = {f"volatility {regime['volatility_state']}"}
    m = {"LOW": 1.0, "NORMAL": 1.0, "HIGH": 0.70, "EXTREME": 0.40}[regime["volatility_state"]]
    if regime["regime_type"] in ("CHOPPY", "UNKNOWN"):
        steps.add(regime["regime_type"])
        m = m * 0.50 if regime["regime_type"] == "CHOPPY" else 0.25
    for limit, factor in ((0.50, 0.80), (0.40, 0.70)):
        if _r9(regime["regime_confidence"]) < limit:
            steps.add(f"confidence < {limit}")
            m *= factor
    if _r9(m) < 0.25:
        steps.add("bound 0.25")
        m = 0.25
    assert value == pytest.approx(m)
    return steps


def _liquidity_steps(liquidity: dict[str, Any], value: float) -> set[str]:
    steps = {f"grade {liquidity['liquidity_grade']}"}
    m = {"EXCELLENT": 1.0, "GOOD": 0.90, "FAIR": 0.75, "POOR": 0.50, "ILLIQUID": 0.25}[
        liquidity["liquidity_grade"]
    ]
    for limit, factor in ((0.10, 0.80), (0.15, 0.60)):
        if _r9(liquidity["avg_bid_ask_spread_pct"]) > limit:
            steps.add(f"spread > {limit}")
            m *= factor
    if _r9(m) < 0.25:
        steps.add("bound 0.25")
        m = 0.25
    assert value == pytest.approx(m)
    return steps


def _event_step(request: Request, value: float) -> str | None:
    """The step of the one applicable upcoming event (None when several apply)."""
    now = datetime.fromisoformat(request["now"])
    ahead = [
        (e["event_type"], (datetime.fromisoformat(e["event_timestamp_utc"]) - now).total_seconds() / 3600)
        for e in request["events"]
        if e["symbol"] in (None, request["signal"]["symbol"])
    ]
    ahead = [(kind, hours) for kind, hours in ahead if hours > 0]
    if not ahead:
        assert value == 1.0
        return "no event"
    if len(ahead) > 1:
        return None
    kind, hours = ahead[0]
    bands = {
        "EARNINGS": ((24, 0.0), (48, 0.50), (72, 0.75)),
        "FOMC": ((4, 0.0), (24, 0.60)),
        "CPI": ((2, 0.50),),
        "JOBS": ((2, 0.50),),
    }.get(kind, ())
    for limit, expected in bands:
        if hours < limit:
            assert value == expected
            return f"{kind if kind in ('EARNINGS', 'FOMC') else 'CPI/JOBS'} < {limit} h"
    assert value == 1.0
    return f"{kind} far" if bands else "other event"


def _steps(request: Request, factors: dict[str, Any]) -> set[str]:
    signal = request["signal"]
    squeeze = "squeeze " if signal["signal_type"].startswith("SQUEEZE") else ""
    urgency = {0.80: "IMMEDIATE", 0.75: "squeeze IMMEDIATE"}.get(
        factors["urgency_multiplier"], squeeze + signal["urgency"]
    )
    win_rate = request["recent_win_rate"]
    steps = {
        "confidence "
        + {1.2: ">= 0.80", 1.0: ">= 0.70", 0.85: ">= 0.60", 0.70: ">= 0.50", 0.50: "< 0.50"}[
            factors["confidence_multiplier"]
        ],
        "urgency " + urgency,
        "drawdown "
        + {1.0: "< 0.25", 0.90: "< 0.50", 0.70: "< 0.75", 0.50: "< 0.90", 0.25: ">= 0.90"}[
            factors["drawdown_multiplier"]
        ],
        "streak "
        + (
            "null"
            if win_rate is None
            else {1.10: ">= 0.70", 1.0: ">= 0.50", 0.90: ">= 0.30", 0.80: "< 0.30"}[
                factors["streak_multiplier"]
            ]
        ),
        *("regime " + s for s in _regime_steps(request["regime"], factors["regime_multiplier"])),
        *("liquidity " + s for s in _liquidity_steps(request["liquidity"], factors["liquidity_multiplier"])),
    }
    event = _event_step(request, factors["event_multiplier"])
    if event is not None:
        steps.add("event " + event)
    if factors["combined_multiplier_clamped"] != factors["combined_multiplier"]:
        steps.add("combined bound")
    return steps


ALL_STEPS = {
    *(f"confidence {s}" for s in (">= 0.80", ">= 0.70", ">= 0.60", ">= 0.50", "< 0.50")),
    *(f"regime volatility {v}" for v in ("LOW", "NORMAL", "HIGH", "EXTREME")),
    "regime CHOPPY",
    "regime UNKNOWN",
    "regime confidence < 0.5",
    "regime confidence < 0.4",
    "regime bound 0.25",
    *(f"liquidity grade {g}" for g in ("EXCELLENT", "GOOD", "FAIR", "POOR", "ILLIQUID")),
    "liquidity spread > 0.1",
    "liquidity spread > 0.15",
    "liquidity bound 0.25",
    *(f"urgency {u}" for u in ("IMMEDIATE", "STANDARD", "LOW", "squeeze IMMEDIATE", "squeeze STANDARD")),
    "event no event",
    "event EARNINGS < 24 h",
    "event EARNINGS < 48 h",
    "event EARNINGS < 72 h",
    "event EARNINGS far",
    "event FOMC < 4 h",
    "event FOMC < 24 h",
    "event FOMC far",
    "event CPI/JOBS < 2 h",
    "event other event",
    *(f"drawdown {s}" for s in ("< 0.25", "< 0.50", "< 0.75", "< 0.90", ">= 0.90")),
    *(f"streak {s}" for s in ("null", ">= 0.70", ">= 0.50", ">= 0.30", "< 0.30")),
    "combined bound",
}


def test_every_multiplier_step_is_reached() -> None:
    """Over every entry whose factors can be computed (regime and liquidity present); the steps a
    gate always refuses (UNKNOWN, POOR, earnings < 24 h, ...) only show up in rejected requests."""
    seen: Counter[str] = Counter()
    for request, _ in generated():
        kind = request["signal"]["signal_type"]
        if kind.startswith(("ENTRY", "SQUEEZE")) and request["regime"] and request["liquidity"]:
            seen.update(_steps(request, floor.adjustment_factors(request)))
    assert sorted(ALL_STEPS - seen.keys()) == []
    assert {"event CPI far", "event JOBS far"} & seen.keys()  # CPI/JOBS at >= 2 h give 1.0
