"""The risk contract models and the committed JSON Schemas agree, and both refuse bad input."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from policy_engine.risk import (
    ExposureSnapshot,
    PositionSizingDecision,
    PositionSizingRequest,
    ProfitTarget,
    RiskAdjustmentFactors,
    RiskEvent,
    StopLossPlan,
    TakeProfitPlan,
)
from tests.bench.generator import CONTRACT_EXAMPLE

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
EXAMPLE = ROOT.parent / "shared" / "contracts" / "position_sizing.request.example.json"
REQUEST_SCHEMA: dict[str, Any] = json.loads((SCHEMAS / "position_sizing.request.schema.json").read_text())
DECISION_SCHEMA: dict[str, Any] = json.loads((SCHEMAS / "position_sizing.decision.schema.json").read_text())

# What the engine's compiled input checker supports: the request schema may use nothing else.
CHECKER_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "format",
        "$ref",
        "$defs",
        "title",
        "description",
        "$schema",
        "$id",
        "default",
        "examples",
    }
)


def example_request() -> dict[str, Any]:
    return copy.deepcopy(CONTRACT_EXAMPLE)


def test_embedded_example_is_the_contract_example() -> None:
    if not EXAMPLE.exists():
        pytest.skip(f"shared contract not checked out at {EXAMPLE}")
    assert json.loads(EXAMPLE.read_text()) == CONTRACT_EXAMPLE


# --- a normalizer: the comparable essence of a JSON Schema object ------------------------------

Prop = tuple[Any, bool, frozenset[Any] | None]  # (kind, nullable, enum values without null)


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref: str = schema["$ref"]
    assert ref.startswith("#/$defs/"), ref
    target: dict[str, Any] = root["$defs"][ref.removeprefix("#/$defs/")]
    return target


def _prop(schema: dict[str, Any], root: dict[str, Any]) -> Prop:
    """Kind, nullability and enum of one property, whether written by pydantic or by hand."""
    nullable = False
    if "anyOf" in schema:  # pydantic's ``X | None``
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        nullable = len(options) < len(schema["anyOf"])
        assert len(options) == 1, schema
        schema = options[0]
    if "$ref" in schema:
        schema = _resolve(schema, root)
        if "properties" in schema:
            return f"object:{schema['title']}", nullable or "null" in _types(schema), None
    types = _types(schema)
    enum = schema.get("enum")
    nullable = nullable or "null" in types or (enum is not None and None in enum)
    values = None if enum is None else frozenset(v for v in enum if v is not None)
    base = sorted(t for t in types if t != "null") or ["string"]  # pydantic enums may omit type
    kind: Any = base[0] if len(base) == 1 else tuple(base)
    if kind == "array":
        kind = ("array", _prop(schema["items"], root))
    elif kind == "string" and "format" in schema:
        kind = f"string:{schema['format']}"
    return kind, nullable, values


def _objects(root: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every object schema with properties, by title; one title written twice must agree."""
    found: dict[str, dict[str, Any]] = {}
    for schema in [root, *root.get("$defs", {}).values()]:
        if "properties" not in schema:
            continue
        shape = {
            "required": frozenset(schema.get("required", [])),
            "properties": {name: _prop(sub, root) for name, sub in schema["properties"].items()},
        }
        title = schema["title"]
        assert found.setdefault(title, shape) == shape, f"{title} is written twice, differently"
    return found


def _diff(model_side: dict[str, Any], file_side: dict[str, Any]) -> list[str]:
    problems = [f"object {t} only in the models" for t in sorted(model_side.keys() - file_side.keys())]
    problems += [f"object {t} only in the schema file" for t in sorted(file_side.keys() - model_side.keys())]
    for title in sorted(model_side.keys() & file_side.keys()):
        ours, theirs = model_side[title], file_side[title]
        if ours["required"] != theirs["required"]:
            problems.append(
                f"{title}.required: models {sorted(ours['required'])} != file {sorted(theirs['required'])}"
            )
        for name in sorted(ours["properties"].keys() | theirs["properties"].keys()):
            mine, filed = ours["properties"].get(name), theirs["properties"].get(name)
            if mine != filed:
                problems.append(f"{title}.{name}: models {mine} != file {filed}")
    return problems


@pytest.mark.parametrize(
    ("model", "schema", "mode"),
    [
        (PositionSizingRequest, REQUEST_SCHEMA, "validation"),
        (PositionSizingDecision, DECISION_SCHEMA, "serialization"),
    ],
    ids=["request", "decision"],
)
def test_models_and_committed_schema_do_not_drift(
    model: type[BaseModel], schema: dict[str, Any], mode: str
) -> None:
    generated = model.model_json_schema(mode=mode)  # type: ignore[arg-type]
    assert _diff(_objects(generated), _objects(schema)) == []


def test_the_normalizer_sees_a_drift() -> None:
    drifted = copy.deepcopy(REQUEST_SCHEMA)
    drifted["$defs"]["Quote"]["required"].remove("bid")
    drifted["$defs"]["RiskState"]["properties"]["risk_mode"]["enum"].append("PANIC")
    problems = _diff(_objects(PositionSizingRequest.model_json_schema()), _objects(drifted))
    assert any(p.startswith("Quote.required") for p in problems)
    assert any(p.startswith("RiskState.risk_mode") for p in problems)


# --- the committed schemas themselves ----------------------------------------------------------


def _walk(schema: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    """Every sub-schema with its path (properties, items, $defs)."""
    if not isinstance(schema, dict):
        return []
    found = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        found += _walk(sub, f"{path}.properties.{name}")
    for name, sub in schema.get("$defs", {}).items():
        found += _walk(sub, f"{path}.$defs.{name}")
    if isinstance(schema.get("items"), dict):
        found += _walk(schema["items"], f"{path}.items")
    if isinstance(schema.get("additionalProperties"), dict):
        found += _walk(schema["additionalProperties"], f"{path}.additionalProperties")
    return found


@pytest.mark.parametrize("schema", [REQUEST_SCHEMA, DECISION_SCHEMA], ids=["request", "decision"])
def test_committed_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("schema", [REQUEST_SCHEMA, DECISION_SCHEMA], ids=["request", "decision"])
def test_every_object_with_properties_is_closed(schema: dict[str, Any]) -> None:
    open_objects = [
        path
        for path, sub in _walk(schema)
        if "properties" in sub and sub.get("additionalProperties") is not False
    ]
    assert open_objects == []


def test_request_schema_uses_only_what_the_compiled_checker_supports() -> None:
    unsupported = [
        (path, key) for path, sub in _walk(REQUEST_SCHEMA) for key in sub if key not in CHECKER_KEYWORDS
    ]
    assert unsupported == []
    for path, sub in _walk(REQUEST_SCHEMA):
        assert isinstance(sub.get("additionalProperties", False), bool), path
        assert sub.get("format", "date-time") == "date-time", path
        if "$ref" in sub:  # the checker refuses keywords beside $ref
            assert set(sub) == {"$ref"}, path


def test_request_arrays_are_bounded() -> None:
    unbounded = [
        path for path, sub in _walk(REQUEST_SCHEMA) if "array" in _types(sub) and "maxItems" not in sub
    ]
    assert unbounded == []


# --- the contract example and refusals ---------------------------------------------------------


def test_contract_example_parses_and_is_schema_valid() -> None:
    raw = example_request()
    request = PositionSizingRequest.model_validate(raw)
    assert request.signal.signal_id == "sig-0000000"
    assert request.now == datetime(2025, 4, 2, 6, 10, 54, 151000, tzinfo=UTC)
    assert request.setup is not None and request.setup.stop_zone is None
    validator = Draft202012Validator(REQUEST_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert list(validator.iter_errors(raw)) == []


def test_timestamps_are_normalized_to_utc_and_refused_without_offset() -> None:
    raw = example_request()
    raw["now"] = "2025-04-02T08:10:54.151+02:00"
    assert PositionSizingRequest.model_validate(raw).now.isoformat() == "2025-04-02T06:10:54.151000+00:00"
    for bad in ("2025-04-02T06:10:54.151", 1743574254):
        raw["now"] = bad
        with pytest.raises(ValidationError):
            PositionSizingRequest.model_validate(raw)


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

REFUSED = {
    "nan_confidence": ("signal.confidence", math.nan),
    "inf_balance": ("account.account_balance", math.inf),
    "negative_price": ("signal.entry_price_zone.low", -6.67),
    "zero_price": ("quote.bid", 0.0),
    "unknown_enum": ("regime.volatility_state", "CALM"),
    "unknown_signal_type": ("signal.signal_type", "ENTRY_SIDEWAYS"),
    "missing_field": ("risk_state.kill_switch_active", _DELETE),
    "missing_nullable_key": ("atr", _DELETE),
    "extra_field": ("budget.remaining_monthly_budget", 1.0),
    "string_number": ("exposure.total_delta", "3.663"),
    "float_count": ("exposure.open_positions", 1.5),
    "bool_as_int": ("risk_state.kill_switch_active", 1),
    "negative_pct": ("risk_state.daily_loss_used_pct", -0.1),
    "confidence_above_one": ("signal.confidence", 1.2),
    "too_many_events": (
        "events",
        [
            {
                "symbol": None,
                "event_type": "CPI",
                "is_before_market": False,
                "is_after_market": False,
                "event_timestamp_utc": "2025-04-03T12:30:00Z",
            }
        ]
        * 201,
    ),
}


@pytest.mark.parametrize(("path", "value"), REFUSED.values(), ids=REFUSED.keys())
def test_models_refuse_bad_requests(path: str, value: Any) -> None:
    raw = example_request()
    _set(raw, path, value)
    with pytest.raises(ValidationError):
        PositionSizingRequest.model_validate(raw)


# jsonschema takes NaN/inf for numbers (the engine's compiled checker refuses them), so only the
# finite cases are put to the schema.
SCHEMA_REFUSED = {
    k: v for k, v in REFUSED.items() if not (isinstance(v[1], float) and not math.isfinite(v[1]))
}


@pytest.mark.parametrize(("path", "value"), SCHEMA_REFUSED.values(), ids=SCHEMA_REFUSED.keys())
def test_schema_refuses_bad_requests_too(path: str, value: Any) -> None:
    raw = example_request()
    _set(raw, path, value)
    validator = Draft202012Validator(REQUEST_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert list(validator.iter_errors(raw)) != []


@pytest.mark.parametrize(
    "name", ["regime", "liquidity", "greeks", "quote", "setup", "atr", "recent_win_rate"]
)
def test_nullable_inputs_accept_null(name: str) -> None:
    raw = example_request()
    raw[name] = None
    assert getattr(PositionSizingRequest.model_validate(raw), name) is None
    validator = Draft202012Validator(REQUEST_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert list(validator.iter_errors(raw)) == []


def test_request_models_are_immutable() -> None:
    request = PositionSizingRequest.model_validate(example_request())
    with pytest.raises(ValidationError):
        request.signal.confidence = 0.9


# --- output models: serialization matches the committed decision schema ------------------------

NOW = "2025-04-02T06:10:54.151Z"


def _provenance() -> dict[str, Any]:
    return {
        "provenance_id": "prov-1",
        "timestamp_utc": NOW,
        "processing_started_utc": NOW,
        "processing_ended_utc": NOW,
        "processing_duration_ms": 0,
        "signal_hash": "a" * 64,
        "signal_timestamp": "2025-04-02T06:10:33.582Z",
        "regime_hash": "b" * 64,
        "regime_timestamp": "2025-04-02T06:09:54.869Z",
        "options_hash": "c" * 64,
        "options_timestamp": "2025-04-02T06:10:46.069Z",
        "exposure_hash": "d" * 64,
        "exposure_timestamp": NOW,
        "risk_config_version": "1.0.0",
        "limits_config_version": "1.0.0",
        "sizing_algorithm_version": "1.0.0",
        "account_balance_used": 88929.82,
        "account_balance_timestamp": NOW,
        "input_ages_ms": {"signal": 20569, "regime": 59282, "options": 8082, "quote": 21926},
        "stale_inputs": [],
        "freshness_ok": True,
    }


def _decision_core(**changes: Any) -> dict[str, Any]:
    return {
        "decision_id": "d" * 64,
        "signal_id": "sig-0000000",
        "symbol": "MSFT",
        "timeframe": "5m",
        "timestamp_utc": NOW,
        "is_approved": False,
        "quantity": 0,
        "quantity_type": "CONTRACTS",
        "notional_value": 0.0,
        "risk_amount": 0.0,
        "risk_pct": 0.0,
        "base_size": 0,
        "adjusted_size": 0.0,
        "final_size": 0,
        "size_before_bounds": 0,
        "min_size_applied": False,
        "max_size_applied": False,
        "rounding_direction": "DOWN",
        "projected_delta_impact": 0.0,
        "projected_gamma_impact": 0.0,
        "projected_vega_impact": 0.0,
        "projected_theta_impact": 0.0,
        "provenance": _provenance(),
        "urgency": "STANDARD",
        "time_to_act_seconds": 60,
        "expires_at": "2025-04-02T06:12:33.582Z",
        **changes,
    }


def _approved_decision() -> PositionSizingDecision:
    """The contract example's decision (tests/unit/test_floor.py works out the numbers)."""
    ids = {"signal_id": "sig-0000000", "timestamp_utc": NOW, "provenance": _provenance()}
    plan_ids = {**ids, "symbol": "MSFT", "position_direction": "SHORT"}
    factors = {
        "factors_id": "f-1",
        **ids,
        "signal_confidence": 0.7399,
        "confidence_multiplier": 1.0,
        "regime_type": "RANGING",
        "regime_confidence": 0.6839,
        "volatility_state": "LOW",
        "regime_multiplier": 1.0,
        "liquidity_grade": "GOOD",
        "spread_pct": 0.07619,
        "liquidity_multiplier": 0.9,
        "urgency": "STANDARD",
        "is_squeeze_signal": False,
        "urgency_multiplier": 1.0,
        "event_proximity_hours": 114,
        "event_type": "JOBS",
        "event_multiplier": 1.0,
        "current_drawdown_pct": 0.0854,
        "drawdown_multiplier": 0.5,
        "recent_win_rate": None,
        "streak_multiplier": 1.0,
        "combined_multiplier": 0.45,
        "combined_multiplier_clamped": 0.45,
        "min_multiplier": 0.25,
        "max_multiplier": 1.5,
    }
    stop = {
        "plan_id": "sl-1",
        **plan_ids,
        "hard_stop_price": 6.809,
        "hard_stop_type": "FIXED",
        "hard_stop_distance_pct": 0.020243,
        "hard_stop_rationale": "signal stop zone midpoint",
        "soft_stop_price": 6.74145,
        "soft_stop_type": "FIXED",
        "soft_stop_action": "ALERT",
        "time_stop_enabled": True,
        "time_stop_bars": 10,
        "time_stop_timestamp": "2025-04-02T06:12:33.582Z",
        "time_stop_session_end": False,
        "invalidation_price": None,
        "invalidation_stop_enabled": False,
        "max_loss_per_contract": 13.51,
        "max_loss_total": 378.28,
        "max_loss_pct": 0.004254,
        "trailing_stop_enabled": False,
    }
    targets = [
        {
            "target_number": i + 1,
            "target_price": price,
            "target_type": "R_MULTIPLE",
            "target_distance_pct": 0.03,
            "exit_pct": pct,
            "r_multiple": r,
            "rationale": f"{r}R",
        }
        for i, (price, pct, r) in enumerate([(6.47125, 0.33, 1.5), (6.33615, 0.33, 2.5), (6.1335, 0.34, 4.0)])
    ]
    take_profit = {
        "plan_id": "tp-1",
        **plan_ids,
        "targets": targets,
        "trailing_tp_enabled": False,
        "exit_before_event": True,
        "event_exit_hours_before": 4,
        "partial_exit_enabled": True,
        "r_multiple_1": 1.5,
        "r_multiple_2": 2.5,
        "r_multiple_3": 4.0,
    }
    exposure = {
        "snapshot_id": "x-1",
        "timestamp_utc": NOW,
        "provenance": _provenance(),
        "gross_exposure_dollars": 0.0,
        "gross_exposure_pct": 0.0,
        "net_exposure_dollars": 0.0,
        "net_exposure_pct": 0.0,
        "net_exposure_direction": "SHORT",
        "total_delta": -11.6698,
        "total_gamma": 14.9388,
        "total_vega": 192.646,
        "total_theta": -73.792,
        "delta_utilization_pct": 0.116698,
        "gamma_utilization_pct": 0.298776,
        "vega_utilization_pct": 0.385292,
        "theta_utilization_pct": 0.36896,
        "open_positions": 2,
        "open_positions_long": 0,
        "open_positions_short": 2,
        "symbol_exposures": [],
        "largest_position_pct": 0.0835,
        "top_3_concentration_pct": 0.0835,
        "is_within_limits": True,
    }
    warning = {
        "event_id": "e-1",
        "timestamp_utc": NOW,
        "event_type": "LIMIT_WARNING",
        "severity": "WARNING",
        "description": "drawdown at 85% of its limit",
        "current_value": 0.0854,
        "limit_value": 0.10,
        "action_taken": "none",
        "requires_attention": False,
        "signal_id": "sig-0000000",
        "provenance": _provenance(),
    }
    # Each part on its own first, so a failure names the model.
    for model, data in (
        (RiskAdjustmentFactors, factors),
        (StopLossPlan, stop),
        (TakeProfitPlan, take_profit),
        (ExposureSnapshot, exposure),
        (RiskEvent, warning),
        (ProfitTarget, targets[0]),
    ):
        model.model_validate(data)
    return PositionSizingDecision.model_validate(
        _decision_core(
            is_approved=True,
            quantity=28,
            notional_value=18686.92,
            risk_amount=378.28,
            risk_pct=0.004254,
            base_size=64,
            adjustment_factors=factors,
            adjusted_size=28.8,
            final_size=28,
            size_before_bounds=28,
            stop_loss_plan=stop,
            take_profit_plan=take_profit,
            projected_delta_impact=-15.3328,
            projected_gamma_impact=0.4508,
            projected_vega_impact=100.016,
            projected_theta_impact=-57.792,
            post_trade_exposure=exposure,
            events=[warning],
        )
    )


def _rejected_decision() -> PositionSizingDecision:
    return PositionSizingDecision.model_validate(
        _decision_core(
            decision_id="e" * 64,
            rejection_gate="DATA_FRESHNESS_GATE",
            rejection_reason="stale_input: regime",
        )
    )


@pytest.mark.parametrize("build", [_approved_decision, _rejected_decision], ids=["approved", "rejected"])
def test_decision_serializes_to_the_committed_schema_byte_stably(build: Any) -> None:
    decision = build()
    payload = decision.to_json_dict()
    validator = Draft202012Validator(DECISION_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert [e.message for e in validator.iter_errors(payload)] == []
    text = json.dumps(payload)
    assert json.dumps(build().to_json_dict()) == text
    assert PositionSizingDecision.model_validate(payload) == decision
    assert payload["timestamp_utc"] == "2025-04-02T06:10:54.151000Z"


def test_rejection_carries_no_plans() -> None:
    payload = _rejected_decision().to_json_dict()
    assert payload["adjustment_factors"] is None
    assert payload["stop_loss_plan"] is None and payload["take_profit_plan"] is None
    assert payload["post_trade_exposure"] is None and payload["events"] == []


def test_decision_refuses_unknown_gate_and_negative_quantity() -> None:
    good = _rejected_decision().model_dump()
    with pytest.raises(ValidationError):
        PositionSizingDecision.model_validate({**good, "rejection_gate": "SOME_GATE"})
    with pytest.raises(ValidationError):
        PositionSizingDecision.model_validate({**good, "quantity": -1})
