"""The facade builds its contract models without validation: these tests make sure that what it
builds is exactly what validation would have built, on generated, malformed and edge requests.

For every decision: the JSON form passes the committed decision schema; ``model_validate`` of the
JSON form equals the built model, field by field and type by type (its JSON text is the same);
the model's own ``model_dump(mode="json")`` is the JSON form; the ``eval --jsonl`` line is that JSON
data, compact, keys sorted.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import AwareDatetime, BaseModel, TypeAdapter

from policy_engine.risk import construct
from policy_engine.risk.facade import build_decision, decision_json, decision_json_line
from policy_engine.risk.models import OUTPUT_MODELS
from policy_engine.risk.models_out import PositionSizingDecision
from tests.bench.generator import generate_requests
from tests.sizing_helpers import DECISION_SCHEMA, EXAMPLES, manager

VALIDATOR = Draft202012Validator(DECISION_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
GARBAGE = [None, "x", -1, 0, 2.5, 10**30, "", [], {}, True, "y" * 300, "2025-01-01T00:00:00Z"]


def _typed(value: Any) -> Any:
    """Values with their exact types, so 5 and 5.0 (or an enum and its string) differ."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_typed(item) for item in value]
    if isinstance(value, BaseModel):
        return (type(value).__name__, _typed(dict(value.__dict__)))
    return (type(value).__name__, value)


def _declaration_ordered(model: BaseModel) -> bool:
    """Fields in declaration order, as validation stores them (repr, iteration and dict() show it)."""
    nested = [value for value in model.__dict__.values() if isinstance(value, BaseModel)]
    nested += [item for value in model.__dict__.values() if isinstance(value, list)
               for item in value if isinstance(item, BaseModel)]
    return list(model.__dict__) == list(type(model).model_fields) and all(map(_declaration_ordered, nested))


def _sorted_text(text: str) -> str:
    return json.dumps(json.loads(text), sort_keys=True)


def assert_faithful(request: Any, params: dict[str, Any] | None = None, schema: bool = True) -> PositionSizingDecision:
    risk = manager(**(params or {}))
    decision = risk.policy.evaluate(request)
    built = build_decision(risk.policy, request, decision)
    data = decision_json(risk.policy, request, decision)
    if schema:
        assert [error.message for error in VALIDATOR.iter_errors(data)] == []
    validated = PositionSizingDecision.model_validate(data)
    assert _typed(validated) == _typed(built)
    assert _sorted_text(validated.model_dump_json()) == _sorted_text(built.model_dump_json())
    assert built.model_dump(mode="json") == data
    line = decision_json_line(risk.policy, request, decision)
    assert line == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert _declaration_ordered(built)
    return built


def test_generated_decisions_are_what_validation_builds() -> None:
    requests = generate_requests(300, seed=23)
    outcomes = {assert_faithful(request, schema=index % 4 == 0).is_approved for index, request in enumerate(requests)}
    assert outcomes == {True, False}


def test_other_params_build_the_same_as_validation() -> None:
    params = {"contract_multiplier": 1, "rounding_direction": "NEAREST", "min_position_size": 0}
    for request in generate_requests(80, seed=5):
        assert_faithful(request, params)


def test_every_example_builds_the_same_as_validation() -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        assert_faithful(json.loads(path.read_text(encoding="utf-8")))


def _leaf_paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found += _leaf_paths(value, (*path, key))
    return found


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_malformed_requests_build_the_same_as_validation(data: st.DataObject) -> None:
    request = copy.deepcopy(data.draw(st.sampled_from(generate_requests(20, seed=3))))
    path = data.draw(st.sampled_from(_leaf_paths(request)))
    parent = request
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()):
        parent[path[-1]] = data.draw(st.sampled_from(GARBAGE))
    else:
        del parent[path[-1]]
    assert_faithful(request)


@pytest.mark.parametrize("request_data", [{}, [], "text", {"now": "2025-01-01T00:00:00Z"},
                                          {"signal": {"signal_id": "z" * 300, "symbol": "Q" * 50}},
                                          {"signal": {"time_to_act_seconds": True, "urgency": ["LOW"]}}])
def test_requests_that_are_hardly_requests(request_data: Any) -> None:
    decision = assert_faithful(request_data)
    assert (decision.is_approved, decision.rejection_reason) == (False, "invalid_input")


def test_a_long_signal_id_is_cut_to_the_contract_bound_instead_of_failing() -> None:
    """Whether or not the input check bounds it, the decision names the signal within its Id bound."""
    request = json.loads((EXAMPLES / "approved.json").read_text(encoding="utf-8"))
    request["signal"]["signal_id"] = "s" * 300
    assert assert_faithful(request).signal_id == "s" * 128


@pytest.mark.parametrize("signal_id", ["\x00", '"provenance":"\u0000"', "provenance", '\\"provenance\\":"'])
def test_the_spliced_provenance_cannot_be_forged_by_a_request(signal_id: str) -> None:
    request = json.loads((EXAMPLES / "approved.json").read_text(encoding="utf-8"))
    request["signal"]["signal_id"] = signal_id
    assert assert_faithful(request).signal_id == signal_id


def test_the_trusted_construction_is_valid_for_every_output_model() -> None:
    """The shortcut sets what model_construct sets; it is right only for closed models without
    private attributes, post-init hooks or root values."""
    for model in OUTPUT_MODELS:
        assert model.model_config.get("extra") == "forbid", model
        assert not model.__private_attributes__ and model.__pydantic_post_init__ is None, model
        assert not model.__pydantic_root_model__, model
        assert [field.name for field in construct.plan(model)] == list(model.model_fields)


def test_timestamps_are_written_as_pydantic_writes_them() -> None:
    adapter = TypeAdapter(AwareDatetime)
    for us in (0, 1, 999, 1_000, -1, 1_743_574_254_151_000, 1_743_574_254_000_000, 253_402_300_799_999_999):
        assert construct.iso(us) == adapter.dump_python(construct.at(us), mode="json"), us
