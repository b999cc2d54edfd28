"""policies/risk/volatility_regime.yaml: seed 002's volatility ratio, regime, ATR multiple and
hard stop, with contract stateful.md readings 1-2, through the API and through the CLI.

Series are built so the ratio is known: 100 calm returns alternating +a/-a, then 20 recent ones
alternating +b/-b. Of the 101 rolling 20-return windows, the 81 calm ones all have the stdev of
the calm block, so that is the median, and the ratio is b / a.
"""

from __future__ import annotations

import io
import json
import statistics
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine.cli import main
from policy_engine.engine.interpret import interpret

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies/risk/volatility_regime.yaml"
EXAMPLES = ROOT / "policies/risk/examples/volatility"
NOW = "2025-04-02T01:30:00Z"


@pytest.fixture(scope="module")
def policy() -> Any:
    return policy_engine.load(POLICY)


def alternating_closes(calm: float, recent: float, start: float = 100.0, calm_returns: int = 100,
                       recent_returns: int = 20) -> list[float]:
    moves = [calm if i % 2 == 0 else -calm for i in range(calm_returns)]
    moves += [recent if i % 2 == 0 else -recent for i in range(recent_returns)]
    closes = [start]
    for move in moves:
        closes.append(closes[-1] * (1 + move))
    return closes


def request(closes: list[float], *positions: tuple[str, float, float]) -> dict[str, Any]:
    return {"now": NOW, "closes": closes,
            "positions": [{"symbol": s, "entry_price": entry, "atr": atr} for s, entry, atr in positions]}


def expected_ratio(closes: list[float]) -> float:
    """contract 1, written independently with the statistics module."""
    recent = closes[-121:]
    rets = [b / a - 1 for a, b in pairwise(recent)]
    if len(rets) < 20:
        return 1.0
    windows = [statistics.stdev(rets[i:i + 20]) for i in range(len(rets) - 19)]
    middle = statistics.median(windows)
    return 1.0 if round(middle, 9) == 0 else statistics.stdev(rets[-20:]) / middle


def expected_regime(ratio: float) -> str:
    edge = round(ratio, 9)
    return "LOW" if edge < 0.8 else "HIGH" if edge > 1.5 else "NORMAL"


# --- the seed's scenarios -------------------------------------------------------------------

def test_low_volatility_tightens_stop(policy: Any) -> None:
    decision = policy.evaluate(request(alternating_closes(0.01, 0.006), ("A", 15.00, 0.60)))
    values = decision.values
    assert decision.approved and decision.fired == ()
    assert values["volatility_ratio"] == pytest.approx(0.60, rel=1e-12)
    assert (values["vol_regime"], values["atr_multiple"], values["ratio_source"]) == ("LOW", 1.5, "computed")
    assert values["hard_stops"] == [{"symbol": "A", "entry_price": 15.0, "atr": 0.6, "atr_multiple": 1.5,
                                     "stop_distance": 0.9, "hard_stop_price": 14.10}]


def test_high_volatility_widens_stop(policy: Any) -> None:
    values = policy.evaluate(request(alternating_closes(0.01, 0.018), ("B", 20.00, 1.20))).values
    assert values["volatility_ratio"] == pytest.approx(1.80, rel=1e-12)
    assert (values["vol_regime"], values["atr_multiple"]) == ("HIGH", 2.5)
    assert values["hard_stops"][0]["hard_stop_price"] == 17.00
    assert values["hard_stops"][0]["stop_distance"] == 3.0


@pytest.mark.parametrize("closes", [[], [15.0], [15.0, 15.3], alternating_closes(0.01, 0.01, 15.0, 9, 10)])
def test_under_20_returns_falls_back_to_ratio_1_and_2x_atr_with_a_warning(policy: Any, closes: list[float]) -> None:
    decision = policy.evaluate(request(closes, ("A", 15.00, 0.60)))
    values = decision.values
    assert decision.approved and decision.reason == "insufficient_history"
    assert (values["volatility_ratio"], values["vol_regime"], values["atr_multiple"]) == (1.0, "NORMAL", 2.0)
    assert values["hard_stops"][0]["hard_stop_price"] == 13.80  # 15.00 - 2.0 x 0.60
    assert (values["return_count"], values["vol_20d"], values["vol_120d_median"]) == (max(len(closes) - 1, 0),
                                                                                     None, None)
    assert [(f.id, f.severity) for f in decision.fired] == [("INSUFFICIENT_HISTORY", "WARNING")]
    assert [(e.type, e.severity, e.reason) for e in decision.events] == [
        ("VOLATILITY_RATIO_FALLBACK", "WARNING", "insufficient_history")]


def test_exactly_20_returns_is_enough_and_the_ratio_is_1(policy: Any) -> None:
    closes = alternating_closes(0.01, 0.02, 50.0, 0, 20)
    values = policy.evaluate(request(closes)).values
    assert (values["ratio_source"], values["return_count"], values["vol_window_count"]) == ("computed", 20, 1)
    assert values["volatility_ratio"] == 1.0  # one window: the median is vol_20d itself
    assert values["vol_20d"] == values["vol_120d_median"] == statistics.stdev(
        [b / a - 1 for a, b in pairwise(closes)])


def test_sixty_days_of_history_uses_what_is_there(policy: Any) -> None:
    closes = alternating_closes(0.01, 0.012, 50.0, 40, 20)  # 60 returns: 41 windows
    values = policy.evaluate(request(closes)).values
    assert (values["return_count"], values["vol_window_count"]) == (60, 41)
    assert values["volatility_ratio"] == expected_ratio(closes)
    assert values["volatility_ratio"] == pytest.approx(1.2, rel=1e-12)
    assert values["vol_regime"] == "NORMAL"


def test_only_the_last_120_returns_count(policy: Any) -> None:
    closes = alternating_closes(0.01, 0.006)
    wild_past = [10.0, 30.0, 5.0, 80.0] * 40
    assert policy.evaluate(request(wild_past + closes)).values == policy.evaluate(request(closes)).values


# --- contract 2: the edges are NORMAL -------------------------------------------------------

def test_ratio_of_exactly_0_8_is_normal(policy: Any) -> None:
    values = policy.evaluate(request(alternating_closes(0.01, 0.008, start=10.0), ("A", 15.0, 0.6))).values
    assert values["volatility_ratio"] < 0.8  # 0.7999999999999994 in binary floating point ...
    assert round(values["volatility_ratio"], 9) == 0.8
    assert (values["vol_regime"], values["atr_multiple"]) == ("NORMAL", 2.0)  # ... and still the 0.8 edge
    assert values["hard_stops"][0]["hard_stop_price"] == 13.8


@pytest.mark.parametrize("recent", [0.015, 0.015 * (1 + 1e-12)])
def test_ratio_of_exactly_1_5_is_normal(policy: Any, recent: float) -> None:
    values = policy.evaluate(request(alternating_closes(0.01, recent))).values
    assert round(values["volatility_ratio"], 9) == 1.5
    assert (values["vol_regime"], values["atr_multiple"]) == ("NORMAL", 2.0)


def test_a_raw_ratio_just_above_1_5_is_still_the_edge(policy: Any) -> None:
    values = policy.evaluate(request(alternating_closes(0.01, 0.015 * (1 + 1e-12)))).values
    assert values["volatility_ratio"] > 1.5
    assert values["vol_regime"] == "NORMAL"


@pytest.mark.parametrize(("recent", "regime", "multiple"), [(0.0079, "LOW", 1.5), (0.0151, "HIGH", 2.5)])
def test_just_outside_the_edges(policy: Any, recent: float, regime: str, multiple: float) -> None:
    values = policy.evaluate(request(alternating_closes(0.01, recent))).values
    assert (values["vol_regime"], values["atr_multiple"]) == (regime, multiple)


# --- contract 1: a median of 0 ------------------------------------------------------------

@pytest.mark.parametrize("recent", [0.0, 0.02])
def test_zero_median_falls_back_to_ratio_1_with_a_warning(policy: Any, recent: float) -> None:
    closes = alternating_closes(0.0, recent)  # 100 unchanged closes: 81 of 101 windows have stdev 0
    decision = policy.evaluate(request(closes, ("A", 15.0, 0.6)))
    values = decision.values
    assert values["vol_120d_median"] == 0.0
    assert (values["ratio_source"], values["volatility_ratio"], values["vol_regime"]) == ("zero_median", 1.0, "NORMAL")
    assert values["hard_stops"][0]["hard_stop_price"] == 13.8
    assert decision.reason == "zero_median_volatility"
    assert [(e.type, e.severity) for e in decision.events] == [("VOLATILITY_RATIO_FALLBACK", "WARNING")]


# --- positions and stops ------------------------------------------------------------------

def test_every_position_gets_the_regime_multiple(policy: Any) -> None:
    values = policy.evaluate(request(alternating_closes(0.01, 0.018), ("A", 15.0, 0.6), ("B", 20.0, 1.2))).values
    assert [(s["symbol"], s["hard_stop_price"]) for s in values["hard_stops"]] == [("A", 13.5), ("B", 17.0)]


def test_a_stop_at_or_below_zero_is_flagged(policy: Any) -> None:
    decision = policy.evaluate(request([], ("WIDE", 1.0, 0.5), ("OK", 10.0, 0.5)))
    assert decision.values["hard_stops"][0]["hard_stop_price"] == 0.0
    assert [f.id for f in decision.fired] == ["INSUFFICIENT_HISTORY", "NON_POSITIVE_STOP"]
    assert "['WIDE']" in decision.fired[1].message


@pytest.mark.parametrize("bad", [
    {"closes": [100.0, -1.0]}, {"closes": [100.0, 0]}, {"closes": ["100"]}, {"closes": [1.0] * 2521},
    {"positions": [{"symbol": "A", "entry_price": 15.0}]}, {"positions": [{"symbol": "A", "entry_price": 0,
                                                                         "atr": 0.6}]},
])
def test_malformed_requests_are_rejected_as_invalid_input(policy: Any, bad: dict[str, Any]) -> None:
    decision = policy.evaluate({**request(alternating_closes(0.01, 0.01)), **bad})
    assert (decision.outcome, decision.reason) == ("rejected", "invalid_input")


def test_thresholds_are_params(policy: Any) -> None:
    closes = alternating_closes(0.01, 0.006)
    widened = policy_engine.load(POLICY, params={"low_vol_below": 0.5, "vol_window_returns": 10})
    values = widened.evaluate(request(closes)).values
    assert values["vol_window_count"] == 111  # 10-return windows in 120 returns
    assert values["volatility_ratio"] == pytest.approx(0.6, rel=1e-12)
    assert (values["vol_regime"], values["atr_multiple"]) == ("NORMAL", 2.0)  # 0.6 is not below 0.5


# --- independent computation and the reference interpreter ------------------------------------

random_walk = st.lists(st.floats(min_value=-0.09, max_value=0.09, allow_nan=False), max_size=160).map(
    lambda moves: [round(100.0 * m, 6) for m in _compound(moves)])
price_noise = st.lists(st.floats(min_value=0.5, max_value=2000.0, allow_nan=False), max_size=160)


def _compound(moves: list[float]) -> list[float]:
    levels = [1.0]
    for move in moves:
        levels.append(levels[-1] * (1 + move))
    return levels


@settings(max_examples=60, deadline=None)
@given(st.one_of(random_walk, price_noise))
def test_ratio_matches_an_independent_statistics_computation(policy: Any, closes: list[float]) -> None:
    values = policy.evaluate(request(closes, ("A", 15.0, 0.6))).values
    ratio = expected_ratio(closes)
    assert values["volatility_ratio"] == ratio
    assert values["vol_regime"] == expected_regime(ratio)
    assert values["atr_multiple"] == {"LOW": 1.5, "NORMAL": 2.0, "HIGH": 2.5}[values["vol_regime"]]


@settings(max_examples=30, deadline=None)
@given(st.one_of(random_walk, price_noise))
def test_fast_path_agrees_with_the_reference_interpreter(policy: Any, closes: list[float]) -> None:
    inputs, issues = policy.checker.check(request(closes, ("A", 15.0, 0.6)))
    assert not issues
    record = interpret(policy.plan, inputs, 0)
    decision = policy.evaluate(request(closes, ("A", 15.0, 0.6)), trace=True)
    assert record.error is None
    assert dict(zip(policy.plan.outputs.names, record.outputs)) == dict(decision.values)
    assert tuple(f.id for f in decision.fired) == tuple(
        t.id for t, hit in zip(policy.plan.triggers, record.fired) if hit)
    assert policy.evaluate(request(closes, ("A", 15.0, 0.6))).values == decision.values


# --- through the CLI ----------------------------------------------------------------------

def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def cli_values(tmp_path: Path, req: dict[str, Any], *extra: str) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(req), encoding="utf-8")
    code, out, _ = run_cli("eval", str(POLICY), str(path), "--format", "json", *extra)
    return code, json.loads(out)


@pytest.mark.parametrize(("calm", "recent", "position", "regime", "stop"), [
    (0.01, 0.006, ("A", 15.00, 0.60), "LOW", 14.10),
    (0.01, 0.018, ("B", 20.00, 1.20), "HIGH", 17.00),
    (0.01, 0.008, ("A", 15.00, 0.60), "NORMAL", 13.80),
    (0.01, 0.015, ("A", 15.00, 0.60), "NORMAL", 13.80),
])
def test_cli_scenarios(tmp_path: Path, calm: float, recent: float, position: tuple[str, float, float],
                       regime: str, stop: float) -> None:
    code, decision = cli_values(tmp_path, request(alternating_closes(calm, recent, start=10.0), position))
    assert code == 0 and decision["outcome"] == "approved"
    assert decision["values"]["vol_regime"] == regime
    assert decision["values"]["hard_stops"][0]["hard_stop_price"] == stop


def test_cli_under_20_days_and_zero_median(tmp_path: Path) -> None:
    for closes, reason in (([15.0] * 20, "insufficient_history"), (alternating_closes(0.0, 0.02), "zero_median_volatility")):
        code, decision = cli_values(tmp_path, request(closes, ("A", 15.0, 0.6)))
        assert (code, decision["reason"]) == (0, reason)
        assert decision["values"]["atr_multiple"] == 2.0
        assert decision["events"][0]["type"] == "VOLATILITY_RATIO_FALLBACK"


def test_cli_set_moves_an_edge(tmp_path: Path) -> None:
    req = request(alternating_closes(0.01, 0.018), ("B", 20.0, 1.2))
    code, decision = cli_values(tmp_path, req, "--set", "high_vol_above=2.0")
    assert code == 0 and decision["values"]["vol_regime"] == "NORMAL"
    assert decision["values"]["hard_stops"][0]["hard_stop_price"] == 17.6


def test_cli_rejects_a_malformed_series_with_exit_4(tmp_path: Path) -> None:
    code, decision = cli_values(tmp_path, request([100.0, -5.0]))
    assert (code, decision["reason"]) == (4, "invalid_input")


@pytest.mark.parametrize(("name", "regime", "stops", "reason"), [
    ("low_volatility", "LOW", [14.1], None),
    ("high_volatility", "HIGH", [17.0], None),
    ("sixty_days", "NORMAL", [13.8, 17.6], None),
    ("insufficient_history", "NORMAL", [13.8], "insufficient_history"),
])
def test_shipped_examples(name: str, regime: str, stops: list[float], reason: str | None) -> None:
    path = EXAMPLES / f"{name}.json"
    code, out, _ = run_cli("eval", str(POLICY), str(path), "--format", "json")
    decision = json.loads(out)
    assert code == 0 and decision["reason"] == reason
    assert decision["values"]["vol_regime"] == regime
    assert [s["hard_stop_price"] for s in decision["values"]["hard_stops"]] == stops
    closes = json.loads(path.read_text(encoding="utf-8"))["closes"]
    assert decision["values"]["volatility_ratio"] == expected_ratio(closes)


def test_policy_validates() -> None:
    assert run_cli("validate", str(POLICY))[0] == 0
