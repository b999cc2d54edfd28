"""Request size limits (docs/reliability.md, "Input limits"): where the schema sets no maxItems or
maxLength, the engine's defaults refuse huge arrays, objects with too many fields, long strings and
deep nesting, with an issue located at the offending value, before any rule is evaluated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import policy_engine
from policy_engine.decision import INVALID_INPUT
from policy_engine.inputs import (
    MAX_FREE_DEPTH,
    MAX_ITEMS,
    MAX_STRING_LENGTH,
    InputIssue,
    compile_input_checker,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = " (the engine's default limit)"


def issues(schema: Any, data: Any) -> list[InputIssue]:
    return compile_input_checker(schema).check(data)[1]


def test_arrays_hold_at_most_max_items_unless_the_schema_says() -> None:
    schema = {"type": "object", "properties": {"v": {"type": "array", "items": {"type": "integer"}}}}
    assert issues(schema, {"v": [0] * MAX_ITEMS}) == []
    assert issues(schema, {"v": [0] * (MAX_ITEMS + 1)}) == [
        InputIssue("$.v", f"must have at most {MAX_ITEMS} items{DEFAULT}")]
    wider = {"type": "array", "maxItems": MAX_ITEMS * 2}
    assert issues(wider, [0] * (MAX_ITEMS + 1)) == []  # the schema's own limit wins


def test_strings_hold_at_most_max_string_length_unless_the_schema_says() -> None:
    schema = {"type": "object", "properties": {"v": {"type": "string"}}}
    assert issues(schema, {"v": "x" * MAX_STRING_LENGTH}) == []
    assert issues(schema, {"v": "é" * (MAX_STRING_LENGTH + 1)}) == [
        InputIssue("$.v", f"must be at most {MAX_STRING_LENGTH} characters long{DEFAULT}")]
    assert issues({"type": "string", "maxLength": MAX_STRING_LENGTH * 2}, "x" * (MAX_STRING_LENGTH + 1)) == []
    assert issues({"type": "string", "format": "date-time"}, "2" * 10**6) == [
        InputIssue("$", "not an RFC 3339 date-time with offset")]  # the date-time shape bounds it already


def test_unconstrained_values_are_bounded_too() -> None:
    free = {"type": "object", "properties": {"v": {}}}
    assert issues(free, {"v": {"s": "x" * (MAX_STRING_LENGTH + 1)}}) == [
        InputIssue("$.v.s", f"must be at most {MAX_STRING_LENGTH} characters long{DEFAULT}")]
    assert issues(free, {"v": [[0] * (MAX_ITEMS + 1)]}) == [
        InputIssue("$.v[0]", f"must have at most {MAX_ITEMS} items{DEFAULT}")]
    many = {f"k{n}": n for n in range(MAX_ITEMS + 1)}
    assert issues(free, {"v": many}) == [InputIssue("$.v", f"must have at most {MAX_ITEMS} fields{DEFAULT}")]
    assert issues({"type": "object"}, many) == [InputIssue("$", f"must have at most {MAX_ITEMS} fields{DEFAULT}")]


def test_nesting_of_unconstrained_values_is_bounded() -> None:
    deep: Any = 0
    for _ in range(MAX_FREE_DEPTH):
        deep = [deep]
    assert issues({"type": "object"}, {"v": deep}) == []
    found = issues({"type": "object"}, {"v": [deep]})
    assert [i.message for i in found] == ["nested too deeply"]
    assert found[0].json_path == "$.v" + "[0]" * MAX_FREE_DEPTH  # the 65th container down


def test_an_oversized_request_is_invalid_input_before_evaluation(tmp_path: Path) -> None:
    """A policy whose schema sets no maxItems: the engine's default refuses 10,001 tags."""
    shutil.copy(ROOT / "tests" / "fixtures" / "tiny.yaml", tmp_path / "tiny.yaml")
    schema = json.loads((ROOT / "tests" / "fixtures" / "tiny.schema.json").read_text(encoding="utf-8"))
    del schema["properties"]["order"]["properties"]["tags"]["maxItems"]
    (tmp_path / "tiny.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    policy = policy_engine.load(tmp_path / "tiny.yaml")
    request = {"now": "2025-01-01T00:00:05Z", "account": {"balance": 5000.0, "drawdown": 0.15},
               "order": {"qty": 10, "price": 100.0, "placed_at": "2025-01-01T00:00:01Z", "tags": ["a"]}}
    assert policy.evaluate(request).outcome == "approved"
    request["order"]["tags"] = ["a"] * (MAX_ITEMS + 1)
    decision = policy.evaluate(request)
    assert (decision.outcome, decision.reason) == ("rejected", INVALID_INPUT)
    assert decision.input_errors == (("$.order.tags", f"must have at most {MAX_ITEMS} items{DEFAULT}"),)
