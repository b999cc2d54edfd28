"""Request builders and shared fixtures of the position-sizing tests.

Every request starts from the contract example (``CONTRACT_EXAMPLE``) and is changed by dotted
path (``"signal.confidence"``, ``"exposure.symbol_exposures.0.exposure_pct"``). ``neutral()`` is
the seed's worked example (§5.2): $100,000, entry 50.00, stop 48.00, every multiplier 1.0, so
base 5 contracts and every later change is easy to work out by hand. Timestamps are set relative
to ``now`` (``set_age``, ``at``) or ``now`` relative to a timestamp (``set_now``), exactly to the
microsecond.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from policy_engine.decision import Decision
from policy_engine.risk import PositionSizingDecision
from policy_engine.risk.facade import RiskManager
from tests.bench.generator import CONTRACT_EXAMPLE

Request = dict[str, Any]

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "risk" / "position_sizing.yaml"
EXAMPLES = ROOT / "policies" / "risk" / "examples"
DECISION_SCHEMA: dict[str, Any] = json.loads((ROOT / "schemas" / "position_sizing.decision.schema.json").read_text())

# The seed's worked example with every multiplier at 1.0 (urgency STANDARD, not the seed's 0.80).
NEUTRAL: dict[str, Any] = {
    "signal.signal_type": "ENTRY_LONG",
    "signal.direction": "LONG",
    "signal.confidence": 0.75,
    "signal.urgency": "STANDARD",
    "signal.strategy_family": "TREND",
    "signal.entry_price_zone": {"low": 50.0, "high": 50.0},
    "signal.stop_loss_zone": {"low": 48.0, "high": 48.0},
    "regime.regime_type": "TRENDING_UP",
    "regime.regime_confidence": 0.8,
    "regime.volatility_state": "NORMAL",
    "liquidity.liquidity_grade": "EXCELLENT",
    "liquidity.avg_bid_ask_spread_pct": 0.05,
    "greeks.delta": 0.5,
    "greeks.gamma": 0.01,
    "greeks.vega": 0.2,
    "greeks.theta": -0.1,
    "account.account_balance": 100_000.0,
    "risk_state.daily_loss_used_pct": 0.0,
    "risk_state.weekly_loss_used_pct": 0.0,
    "risk_state.current_drawdown_pct": 0.0,
    "exposure.open_positions": 0,
    "exposure.total_delta": 0.0,
    "exposure.total_gamma": 0.0,
    "exposure.total_vega": 0.0,
    "exposure.total_theta": 0.0,
    "exposure.symbol_exposures": [],
    "budget.remaining_daily_budget": 2_000.0,
    "budget.remaining_weekly_budget": 5_000.0,
    "setup": None,
    "events": [],
    "atr": None,
    "recent_win_rate": None,
}


# --- paths ----------------------------------------------------------------------------------------


def _step(key: str) -> str | int:
    return int(key) if key.isdigit() else key


def get_path(data: Any, path: str) -> Any:
    for key in path.split("."):
        data = data[_step(key)]
    return data


def set_path(data: Any, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data[_step(key)]
    data[_step(last)] = copy.deepcopy(value)


def drop_path(data: Any, path: str) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data[_step(key)]
    del data[_step(last)]


def build(overrides: Mapping[str, Any] | None = None, base: Mapping[str, Any] = CONTRACT_EXAMPLE) -> Request:
    """A deep copy of ``base`` with ``overrides`` applied in order (dotted path -> value)."""
    request = copy.deepcopy(dict(base))
    for path, value in (overrides or {}).items():
        set_path(request, path, value)
    return request


def neutral(overrides: Mapping[str, Any] | None = None) -> Request:
    """The worked example, every multiplier 1.0: max risk 1,000 / (2.00 x 100) -> base 5."""
    return build({**NEUTRAL, **(overrides or {})})


# --- time -----------------------------------------------------------------------------------------


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)  # Python >= 3.11 reads the trailing "Z"


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with ``Z``: milliseconds, or microseconds when they are not whole ms."""
    moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def delta(hours: float = 0, ms: int = 0, us: int = 0) -> timedelta:
    return timedelta(hours=hours, milliseconds=ms, microseconds=us)


def at(request: Request, hours: float = 0, ms: int = 0, us: int = 0) -> str:
    """The ISO time ``now + delta`` of the request (negative deltas are in the past)."""
    return iso(parse_iso(request["now"]) + delta(hours, ms, us))


def set_age(request: Request, path: str, hours: float = 0, ms: int = 0, us: int = 0) -> Request:
    """Set the timestamp at ``path`` (a block name means its ``timestamp_utc``) to now - age."""
    target = path if path.endswith("_utc") else f"{path}.timestamp_utc"
    set_path(request, target, iso(parse_iso(request["now"]) - delta(hours, ms, us)))
    return request


def set_now(request: Request, path: str, hours: float = 0, ms: int = 0, us: int = 0) -> Request:
    """Set ``now`` to the timestamp at ``path`` plus the delta."""
    request["now"] = iso(parse_iso(get_path(request, path)) + delta(hours, ms, us))
    return request


def event(request: Request, kind: str, hours: float = 0, ms: int = 0, us: int = 0,
          symbol: str | None = None) -> dict[str, Any]:
    """An EventCalendar entry ``hours`` (+ ms, us) after the request's ``now``."""
    return {"symbol": symbol, "event_type": kind, "event_timestamp_utc": at(request, hours, ms, us),
            "is_before_market": False, "is_after_market": False}


def with_events(request: Request, *events: dict[str, Any]) -> Request:
    request["events"] = list(events)
    return request


# --- deciding -------------------------------------------------------------------------------------


@cache
def _manager(params: tuple[tuple[str, Any], ...]) -> RiskManager:
    return RiskManager.from_policy(POLICY, params=dict(params))


def manager(**params: Any) -> RiskManager:
    """One compiled RiskManager per distinct set of param overrides, shared by every test."""
    return _manager(tuple(sorted(params.items())))


def size(request: Mapping[str, Any], **params: Any) -> PositionSizingDecision:
    return manager(**params).size(request)


def decide(request: Mapping[str, Any], **params: Any) -> tuple[PositionSizingDecision, Decision]:
    """The contract decision and the engine Decision, traced."""
    return manager(**params).decide(request, trace=True)


def trace_result(engine_decision: Decision, rule: str) -> Any:
    """The result a traced rule or value computed."""
    for step in engine_decision.trace.to_list():  # type: ignore[union-attr]
        if step["rule"] == rule:
            return step["result"]
    raise KeyError(rule)


@lru_cache(maxsize=4)
def generated(n: int, seed: int) -> tuple[tuple[Request, PositionSizingDecision], ...]:
    """``n`` generated requests with their decisions under the default params, computed once."""
    from tests.bench.generator import generate_requests

    return tuple((request, size(request)) for request in generate_requests(n, seed))


def policy_value(request: Mapping[str, Any], name: str, **params: Any) -> Any:
    """A named value of the policy computed by the reference interpreter, whatever the gates say
    (the fast path computes values lazily and stops at the first failing gate)."""
    from policy_engine.engine.interpret import Interpreter

    policy = manager(**params).policy
    normalized, issues = policy.checker.check(request)
    assert not issues and isinstance(normalized, dict), issues
    return Interpreter(policy.plan, normalized, normalized["now"]).value(name)


def event_types(decision: PositionSizingDecision) -> list[str]:
    return [e.event_type.value for e in decision.events]


def gate_of(decision: PositionSizingDecision) -> tuple[str | None, str | None]:
    gate = decision.rejection_gate.value if decision.rejection_gate else None
    return gate, decision.rejection_reason


def expected_decision_id(signal_id: str, now_iso: str) -> str:
    """§4.3 SHA256(signal_id + timestamp), the timestamp as ``datetime.isoformat()`` of ``now``."""
    return hashlib.sha256((signal_id + parse_iso(now_iso).astimezone(UTC).isoformat()).encode()).hexdigest()


def scrub(data: Any) -> Any:
    """Decision or trace data without what varies between runs or machines: the measured
    ``processing_duration_ms`` and the absolute path of the policy file in trace locations."""
    if isinstance(data, dict):
        return {k: scrub(v) for k, v in data.items() if k != "processing_duration_ms"}
    if isinstance(data, list):
        return [scrub(v) for v in data]
    if isinstance(data, str) and data.startswith(str(ROOT) + "/"):
        return data[len(str(ROOT)) + 1:]
    return data
