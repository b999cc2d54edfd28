"""The engine must decide exactly as the hand-written floor before either is timed."""

from __future__ import annotations

import math
from typing import Any

MULTIPLIERS = ("confidence", "regime", "liquidity", "urgency", "event", "drawdown", "streak")


def engine_core(decision: Any) -> dict[str, Any]:
    """The floor's comparison shape, read from an engine Decision of the sizing policy."""
    approved = decision.outcome == "approved"
    sizing = decision.values.get("sizing") if approved else None
    factors = decision.values.get("factors") if approved else None
    plans = decision.values.get("plans") if approved else None
    core: dict[str, Any] = {
        "is_approved": approved,
        "rejection_gate": None if approved else ("INPUT_VALIDATION" if decision.rule == "INPUT_SCHEMA" else decision.rule),
        "rejection_reason": None if approved else decision.reason,
        "final_size": sizing["final_size"] if sizing else 0,
        "base_size": sizing["base_size"] if sizing else 0,
    }
    if factors:
        core.update({f"{m}_multiplier": factors[f"{m}_multiplier"] for m in MULTIPLIERS})
        core["combined_multiplier_clamped"] = factors["combined_multiplier_clamped"]
    if plans:
        core["hard_stop_price"] = plans["stop_loss_plan"]["hard_stop_price"]
        core["target_prices"] = [t["target_price"] for t in plans["take_profit_plan"]["targets"]]
    return core


def floor_core(result: dict[str, Any]) -> dict[str, Any]:
    core: dict[str, Any] = {key: result[key] for key in
                            ("is_approved", "rejection_gate", "rejection_reason", "final_size", "base_size")}
    factors = result.get("adjustment_factors")
    if factors:
        core.update({f"{m}_multiplier": factors[f"{m}_multiplier"] for m in MULTIPLIERS})
        core["combined_multiplier_clamped"] = factors["combined_multiplier_clamped"]
    if result.get("stop_loss_plan"):
        core["hard_stop_price"] = result["stop_loss_plan"]["hard_stop_price"]
        core["target_prices"] = [t["target_price"] for t in result["take_profit_plan"]["targets"]]
    return core


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def check_agreement(policy: Any, requests: list[dict[str, Any]]) -> int:
    """Raise AssertionError on the first request where engine and floor differ; else the count."""
    from tests.bench import floor

    for index, request in enumerate(requests):
        engine, expected = engine_core(policy.evaluate(request)), floor_core(floor.decide(request))
        differing = sorted(k for k in expected.keys() | engine.keys() if not _same(engine.get(k), expected.get(k)))
        if differing:
            detail = {k: (engine.get(k), expected.get(k)) for k in differing}
            raise AssertionError(f"request {index}: engine != floor on {detail}")
    return len(requests)
