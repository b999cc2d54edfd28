"""The position-sizing facade for trading code: request in, PositionSizingDecision out.

    manager = RiskManager.from_policy()              # policies/risk/position_sizing.yaml
    decision = manager.size(request)                 # dict in the contract's wire layout, or the model
    decision.is_approved, decision.quantity, decision.explain()

The policy decides; this module only maps the engine's Decision onto the seed's contract
(identity, provenance, events). A RiskManager holds one compiled policy and no per-call state,
so one instance serves every thread; nothing on the call path touches disk or the clock.

The mapping produces plain field values once; ``construct`` turns them into the pydantic models
(without re-validating what the engine guarantees) or straight into JSON data for the CLI.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import policy_engine
from policy_engine.decision import APPROVED, INVALID_INPUT, Decision, sha256_of
from policy_engine.engine.run import CompiledPolicy
from policy_engine.inputs import parse_date_time
from policy_engine.risk import construct
from policy_engine.risk.construct import at as _at
from policy_engine.risk.models_in import PositionSizingRequest
from policy_engine.risk.models_out import GateName, PositionSizingDecision, RiskProvenance

if TYPE_CHECKING:
    from policy_engine.budget.tracker import RiskBudgetTracker
    from policy_engine.risk.models_out import ExposureSnapshot

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "policies" / "risk" / "position_sizing.yaml"
SIZING_ALGORITHM_VERSION = "seed-004/§5.2"
_GATES = {gate.value for gate in GateName}
_ACTIONS = {"SIZING_REJECTED": "sizing rejected", "DATA_STALE": "sizing rejected: stale input",
            "EVENT_BLACKOUT_START": "sizing rejected: event blackout", "LIMIT_WARNING": "warned"}
_FRESHNESS = (("signal", "signal", "max_signal_age_ms"), ("regime", "regime", "max_regime_age_ms"),
              ("options", "liquidity", "max_options_age_ms"), ("greeks", "greeks", "max_options_age_ms"),
              ("quote", "quote", "max_quote_age_ms"))
_RATIONALE = {"signal_stop_zone": "midpoint of the signal's stop-loss zone",
              "setup_stop_zone": "setup stop zone beyond the structure buffer",
              "invalidation": "the signal's invalidation price", "atr": "entry -/+ ATR x multiplier",
              "percentage": "default percentage stop"}
MAX_ID, MAX_TEXT = 128, 2000  # the contract's Id and Text bounds
# decision.canonical_json's encoder (sorted keys, compact), built once instead of per call. It also
# writes the JSON lines of `eval --jsonl`.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _digest(*parts: str) -> str:
    return hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()


def input_hash(block: Any) -> str:
    """sha256 of the canonical JSON of one checked input block (as ``decision.sha256_of``)."""
    try:
        text = _CANONICAL(block)
    except (ValueError, TypeError):
        return sha256_of(block)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


class RiskManager:
    """Sizes signals with one compiled position-sizing policy. Thread-safe, no I/O per call."""

    def __init__(self, policy: CompiledPolicy):
        if policy.id != "risk.position_sizing":
            raise ValueError(f"RiskManager needs the position-sizing policy, got {policy.id}")
        self.policy = policy.contract_checked()  # the seed's contract: every field checked, read or not

    @classmethod
    def from_policy(cls, path: str | Path = DEFAULT_POLICY, params: Mapping[str, Any] | None = None) -> "RiskManager":
        return cls(policy_engine.load(path, params))

    def size(self, request: PositionSizingRequest | Mapping[str, Any]) -> PositionSizingDecision:
        return self.decide(request)[0]

    def size_tracked(self, request: PositionSizingRequest | Mapping[str, Any], budget: "RiskBudgetTracker",
                     exposure: "ExposureSnapshot | None" = None) -> PositionSizingDecision:
        """Size with the request's ``budget`` taken from the tracker (and its ``exposure`` from a
        snapshot, when given), then record the decision in the tracker: an approved entry
        consumes its risk until a fill or cancel closes it. Recording is idempotent by
        decision id, so sizing the same request again changes nothing."""
        from policy_engine.budget.tracker import fill_budget

        raw = request.model_dump(mode="json", exclude_unset=True) if isinstance(request, PositionSizingRequest) \
            else request
        filled = fill_budget(raw, budget)
        if exposure is not None:
            from policy_engine.exposure.snapshot import sizing_input

            filled["exposure"] = sizing_input(exposure)
        decision = self.size(filled)
        signal = filled.get("signal")
        family = signal.get("strategy_family") if isinstance(signal, dict) else None
        if isinstance(family, str):
            budget.record_sizing(decision, family)
        return decision

    def decide(self, request: PositionSizingRequest | Mapping[str, Any],
               trace: bool = False) -> tuple[PositionSizingDecision, Decision]:
        """The contract decision and the engine's Decision (with its trace when asked)."""
        # exclude_unset: a typed request hashes like the same request sent as a dict
        raw = request.model_dump(mode="json", exclude_unset=True) if isinstance(request, PositionSizingRequest) \
            else request
        decision = self.policy.evaluate(raw, trace=trace)
        return build_decision(self.policy, raw, decision), decision


def build_decision(policy: CompiledPolicy, raw: Any, decision: Decision) -> PositionSizingDecision:
    return construct.build(PositionSizingDecision, _Builder(policy, raw, decision).values())  # type: ignore[no-any-return]


def decision_json(policy: CompiledPolicy, request: Any, decision: Decision) -> dict[str, Any]:
    """The CLI's rendering: the PositionSizingDecision of the contract as JSON data."""
    return construct.wire(PositionSizingDecision, _Builder(policy, request, decision).values())


# Where the provenance goes in decision_json_line before its text is spliced in. A JSON string can
# hold a quote only escaped, so '"provenance":"\u0000"' can only be one of our own fields.
_PROVENANCE_MARK = "\x00"
_PROVENANCE_SLOT = '"provenance":"\\u0000"'


def decision_json_line(policy: CompiledPolicy, request: Any, decision: Decision) -> str:
    """``decision_json`` as one compact JSON line (keys sorted), the form ``eval --jsonl`` writes.

    The provenance is the same record in every nested contract (up to five times a decision):
    it is serialized once and spliced into each place, which halves the cost of writing the line."""
    values = _Builder(policy, request, decision).values()
    provenance = values["provenance"]
    data = construct.wire(PositionSizingDecision, values, shared={id(provenance): _PROVENANCE_MARK})
    text = _CANONICAL(construct.wire(RiskProvenance, provenance))
    return _CANONICAL(data).replace(_PROVENANCE_SLOT, '"provenance":' + text)


def explain_decision(policy: CompiledPolicy, request: Any, decision: Decision) -> str:
    """The CLI's text line: PositionSizingDecision.explain() of the contract decision."""
    return build_decision(policy, request, decision).explain()


def _bounded(text: str, limit: int = MAX_TEXT) -> str:
    """The contract bounds its texts; a longer message (an invalid request quoting itself) is cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


class _Builder:
    """Maps one engine Decision onto the field values of PositionSizingDecision and its parts."""

    def __init__(self, policy: CompiledPolicy, raw: Any, decision: Decision):
        self.params = policy.plan.params
        self.policy, self.decision = policy, decision
        # dict checks, not typing.Mapping: an isinstance against an ABC costs microseconds per call
        self.raw = raw if isinstance(raw, dict) else dict(raw) if isinstance(raw, Mapping) else {}
        self.valid = decision.reason != INVALID_INPUT
        self.inputs: Mapping[str, Any] = decision.provenance._inputs if self.valid else {}
        self.now = decision.provenance.now_us if decision.provenance.now_us is not None else self._raw_now()
        self.signal = self._signal_identity()
        self.decision_id = _digest(self.signal["signal_id"], _at(self.now).isoformat())

    def _raw_now(self) -> int:
        """A malformed request still names its time when it can, so decision ids stay distinct."""
        now = self.raw.get("now")
        parsed = parse_date_time(now) if isinstance(now, str) else None
        return parsed if parsed is not None else 0

    # --- identity -----------------------------------------------------------------------
    def _signal_identity(self) -> dict[str, Any]:
        signal: dict[str, Any] = self.raw["signal"] if isinstance(self.raw.get("signal"), dict) else {}

        def text(key: str, default: str) -> str:
            value = signal.get(key)
            return value if isinstance(value, str) and value else default

        return {"signal_id": text("signal_id", "unknown")[:MAX_ID], "symbol": text("symbol", "UNKNOWN")[:32],
                "timeframe": text("timeframe", "unknown")[:16],
                "urgency": signal.get("urgency") if signal.get("urgency") in ("IMMEDIATE", "STANDARD", "LOW")
                else "STANDARD",
                "time_to_act_seconds": signal.get("time_to_act_seconds")
                if type(signal.get("time_to_act_seconds")) is int and signal["time_to_act_seconds"] >= 0 else 0}

    def values(self) -> dict[str, Any]:
        """Every field of PositionSizingDecision (timestamps as integer microseconds)."""
        values = self.decision.values
        approved = self.decision.outcome == APPROVED
        sizing = values.get("sizing") if approved else None
        plans = values.get("plans") if approved else None
        provenance = self.provenance()
        direction = values.get("direction")
        rule = self.decision.rule
        return {
            "decision_id": self.decision_id, "signal_id": self.signal["signal_id"], "symbol": self.signal["symbol"],
            "timeframe": self.signal["timeframe"], "timestamp_utc": self.now, "is_approved": approved,
            "rejection_reason": None if approved else self.decision.reason,
            "rejection_gate": None if approved else self._gate(rule),
            "rejection_detail": None if approved else _bounded(self.decision.message or self.decision.reason or ""),
            "quantity": sizing["final_size"] if sizing else 0,
            "quantity_type": "CONTRACTS" if self.params["contract_multiplier"] != 1 else "SHARES",
            "notional_value": sizing["notional_value"] if sizing else 0.0,
            "risk_amount": sizing["risk_amount"] if sizing else 0.0,
            "risk_pct": sizing["risk_pct"] if sizing else 0.0,
            "base_size": sizing["base_size"] if sizing else 0,
            "adjustment_factors": self.factors(values["factors"], provenance) if approved and values.get("factors")
            else None,
            "adjusted_size": sizing["adjusted_size"] if sizing else 0.0,
            "final_size": sizing["final_size"] if sizing else 0,
            "size_before_bounds": sizing["size_before_bounds"] if sizing else 0,
            "min_size_applied": bool(sizing and sizing["min_size_applied"]),
            "max_size_applied": bool(sizing and sizing["max_size_applied"]),
            "rounding_direction": self.params["rounding_direction"],
            "stop_loss_plan": self.stop_plan(plans["stop_loss_plan"], direction, provenance) if plans else None,
            "take_profit_plan": self.take_profit(plans["take_profit_plan"], direction, provenance) if plans else None,
            "projected_delta_impact": self._impact(sizing, "delta"), "projected_gamma_impact": self._impact(sizing, "gamma"),
            "projected_vega_impact": self._impact(sizing, "vega"), "projected_theta_impact": self._impact(sizing, "theta"),
            "post_trade_exposure": None, "provenance": provenance, "urgency": self.signal["urgency"],
            "time_to_act_seconds": self.signal["time_to_act_seconds"], "expires_at": self._expiry(),
            "events": [self.event(index, event, provenance) for index, event in enumerate(self.decision.events)],
        }

    @staticmethod
    def _gate(rule: str | None) -> str | None:
        if rule == "INPUT_SCHEMA":
            return "INPUT_VALIDATION"  # a malformed request is a signal-level reject (§5.4)
        return rule if rule in _GATES else None

    def _impact(self, sizing: Mapping[str, Any] | None, greek: str) -> float:
        """The trade's own contribution to the portfolio greek (final size x per-contract greek)."""
        if not sizing:
            return 0.0
        greeks = self.inputs.get("greeks") or {}
        return float(sizing["final_size"] * greeks.get(greek, 0.0))

    def _expiry(self) -> int:
        signal = self.inputs.get("signal") or {}
        expiry = signal.get("expiry_timestamp_utc")
        return expiry if isinstance(expiry, int) else self.now

    # --- nested contracts ---------------------------------------------------------------
    def factors(self, factors: Mapping[str, Any], provenance: dict[str, Any]) -> dict[str, Any]:
        signal, regime, liquidity = self.inputs["signal"], self.inputs["regime"], self.inputs["liquidity"]
        return {  # in the model's field order, each multiplier after the input it reads
            "factors_id": _digest(self.decision_id, ":factors"), "signal_id": self.signal["signal_id"],
            "timestamp_utc": self.now, "signal_confidence": signal["confidence"],
            "confidence_multiplier": factors["confidence_multiplier"],
            "regime_type": regime["regime_type"], "regime_confidence": regime["regime_confidence"],
            "volatility_state": regime["volatility_state"], "regime_multiplier": factors["regime_multiplier"],
            "liquidity_grade": liquidity["liquidity_grade"], "spread_pct": liquidity["avg_bid_ask_spread_pct"],
            "liquidity_multiplier": factors["liquidity_multiplier"],
            "urgency": signal["urgency"], "is_squeeze_signal": factors["is_squeeze_signal"],
            "urgency_multiplier": factors["urgency_multiplier"],
            "event_proximity_hours": factors["event_proximity_hours"], "event_type": factors["event_type"],
            "event_multiplier": factors["event_multiplier"],
            "current_drawdown_pct": self.inputs["risk_state"]["current_drawdown_pct"],
            "drawdown_multiplier": factors["drawdown_multiplier"],
            "recent_win_rate": self.inputs.get("recent_win_rate"), "streak_multiplier": factors["streak_multiplier"],
            "combined_multiplier": factors["combined_multiplier"],
            "combined_multiplier_clamped": factors["combined_multiplier_clamped"],
            "min_multiplier": self.params["min_multiplier"], "max_multiplier": self.params["max_multiplier"],
            "provenance": provenance,
        }

    def stop_plan(self, stop: Mapping[str, Any], direction: Any, provenance: dict[str, Any]) -> dict[str, Any]:
        return {
            "plan_id": _digest(self.decision_id, ":stop"), "signal_id": self.signal["signal_id"],
            "symbol": self.signal["symbol"], "timestamp_utc": self.now, "position_direction": direction,
            "hard_stop_price": stop["hard_stop_price"], "hard_stop_type": stop["hard_stop_type"],
            "hard_stop_distance_pct": stop["hard_stop_distance_pct"],
            "hard_stop_rationale": f"8.1 priority: {_RATIONALE[stop['stop_source']]}",
            "soft_stop_price": stop["soft_stop_price"], "soft_stop_type": stop["soft_stop_type"],
            "soft_stop_action": stop["soft_stop_action"], "time_stop_enabled": True,
            "time_stop_bars": stop["time_stop_bars"], "time_stop_timestamp": stop["time_stop_timestamp"],
            "time_stop_session_end": False, "invalidation_price": stop["invalidation_price"],
            "invalidation_stop_enabled": stop["invalidation_stop_enabled"],
            "atr_value": stop["atr_value"], "atr_multiplier": stop["atr_multiplier"],
            "structure_level": stop["structure_level"], "structure_type": stop["structure_type"],
            "structure_buffer_pct": stop["structure_buffer_pct"],
            "max_loss_per_contract": stop["max_loss_per_contract"], "max_loss_total": stop["max_loss_total"],
            "max_loss_pct": stop["max_loss_pct"], "trailing_stop_enabled": False,
            "trailing_stop_activation_pct": None, "trailing_stop_distance_pct": None, "provenance": provenance,
        }

    def take_profit(self, plan: Mapping[str, Any], direction: Any, provenance: dict[str, Any]) -> dict[str, Any]:
        targets = [{
            "target_number": t["target_number"], "target_price": t["target_price"], "target_type": t["target_type"],
            "target_distance_pct": t["target_distance_pct"], "exit_pct": float(t["exit_pct"]),
            "r_multiple": t["r_multiple"],
            "structure_type": "target_zone" if t["target_type"] == "STRUCTURE_BASED" else None,
            "rationale": (f"{t['r_multiple']:g}R from entry" if t["target_type"] == "R_MULTIPLE"
                          else f"target zone {t['target_number']} midpoint"),
        } for t in plan["targets"]]
        remaining, schedule = 1.0, []
        for target in targets:
            remaining = round(remaining - target["exit_pct"], 9)
            schedule.append({"trigger_pct": target["target_distance_pct"], "exit_pct": target["exit_pct"],
                             "remaining_after": max(remaining, 0.0)})
        r = plan["r_multiples"]
        trailing = plan["trailing_tp_enabled"]
        return {
            "plan_id": _digest(self.decision_id, ":take_profit"), "signal_id": self.signal["signal_id"],
            "symbol": self.signal["symbol"], "timestamp_utc": self.now, "position_direction": direction,
            "targets": targets, "trailing_tp_enabled": trailing,
            "trailing_tp_activation_pct": plan["trailing_tp_activation_pct"] if trailing else None,
            "trailing_tp_distance_pct": plan["trailing_tp_distance_pct"] if trailing else None,
            "max_hold_bars": None, "max_hold_timestamp": None, "exit_before_event": plan["exit_before_event"], "event_exit_hours_before": plan["event_exit_hours_before"],
            "partial_exit_enabled": len(targets) > 1, "partial_exit_schedule": schedule,
            "r_multiple_1": r[0], "r_multiple_2": r[1], "r_multiple_3": r[2], "provenance": provenance,
        }

    def event(self, index: int, event: Any, provenance: dict[str, Any]) -> dict[str, Any]:
        return {
            "event_id": _digest(self.decision_id, f":event:{index}"), "timestamp_utc": self.now,
            "event_type": event.type, "severity": event.severity, "symbol": self.signal["symbol"],
            "description": _bounded(f"{self._gate(event.rule) or event.rule}: {event.message or event.reason}"),
            "current_value": None, "limit_value": None, "breach_pct": None, "action_taken": _ACTIONS.get(event.type, "logged"), "requires_attention": event.severity != "INFO",
            "signal_id": self.signal["signal_id"], "decision_id": self.decision_id, "provenance": provenance,
        }

    def provenance(self) -> dict[str, Any]:
        info = self.decision.provenance
        ages, stale = self._freshness()
        now = self.now
        signal_time = self._time("signal")
        return {
            "provenance_id": _digest(self.decision_id, ":provenance"), "timestamp_utc": now,
            "processing_started_utc": now, "processing_ended_utc": now,
            "processing_duration_ms": int(info.duration_us // 1000),
            "signal_hash": self._hash("signal"), "signal_timestamp": now if signal_time is None else signal_time,
            "regime_hash": self._hash("regime"), "regime_timestamp": self._time("regime"),
            "options_hash": self._hash("liquidity") if self.inputs.get("liquidity") else None,
            "options_timestamp": self._time("liquidity"), "exposure_hash": self._hash("exposure"),
            "exposure_timestamp": now, "risk_config_version": f"{info.policy_id}@{info.policy_version}",
            "limits_config_version": info.content_hash, "sizing_algorithm_version": SIZING_ALGORITHM_VERSION,
            "account_balance_used": (self.inputs.get("account") or {}).get("account_balance", 0.0),
            "account_balance_timestamp": now, "input_ages_ms": ages, "stale_inputs": stale, "freshness_ok": not stale,
        }

    def _hash(self, name: str) -> str:
        return input_hash(self.inputs.get(name)) if self.valid else "unavailable"

    def _time(self, name: str) -> int | None:
        block = self.inputs.get(name)
        return block["timestamp_utc"] if isinstance(block, dict) and "timestamp_utc" in block else None

    def _freshness(self) -> tuple[dict[str, int], list[str]]:
        ages: dict[str, int] = {}
        stale: list[str] = []
        for label, block_name, limit in _FRESHNESS:
            block = self.inputs.get(block_name)
            if not isinstance(block, dict):
                continue
            age_us = self.now - block["timestamp_utc"]
            ages[label] = age_us // 1000
            if age_us > self.params[limit] * 1000:  # stale when age > max age (contract 8)
                stale.append(label)
        return ages, stale
