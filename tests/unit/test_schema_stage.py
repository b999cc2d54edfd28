"""Schema stage: shape errors become one readable, located Diagnostic per JSON path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policy_engine.errors import Code, Diagnostic
from policy_engine.schema import ShapeChecker, check_shape
from policy_engine.source import parse_source

NUMBER_OR_TEXT = {"oneOf": [{"type": "number"}, {"type": "string"}]}
STEP = {
    "oneOf": [
        {"type": "object", "additionalProperties": False, "required": ["below", "value"],
         "properties": {"below": {"type": "number"}, "value": {"type": "number"}}},
        {"type": "object", "additionalProperties": False, "required": ["else"],
         "properties": {"else": {"type": "number"}}},
    ]
}
RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "pass_if"],
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
        "pass_if": {"type": "string", "minLength": 1},
        "reject": {"type": "string"},
        "limit": {"type": "number", "minimum": 0},
        "mode": {"type": "string", "enum": ["strict", "lenient"]},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "bounds": {"type": "array", "items": NUMBER_OR_TEXT, "minItems": 2, "maxItems": 2},
        "steps": {"type": "array", "items": STEP},
        "day": {"type": "string", "format": "date"},
    },
}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "rules"],
    "properties": {
        "apiVersion": {"const": "policy-engine/v1"},
        "kind": {"enum": ["DecisionPolicy", "LimitsPolicy"]},
        "params": {"type": "object", "propertyNames": {"pattern": "^[a-z_]+$"}},
        "rules": {"type": "array", "minItems": 1, "items": RULE},
    },
}
HEAD = "apiVersion: policy-engine/v1\nkind: DecisionPolicy\n"
GOOD = HEAD + """\
rules:
  - id: KILL
    pass_if: not kill
    limit: 0.5
    tags: [a, b]
    bounds: [0, hi]
    steps:
      - {below: 1, value: 2}
      - {else: 3}
    day: 2024-01-31
"""


def shape(text: str, schema: dict[str, Any] = SCHEMA) -> list[Diagnostic]:
    return check_shape(parse_source(text, "p.yaml"), schema)


def located(text: str, schema: dict[str, Any] = SCHEMA) -> list[tuple[Code, int, int]]:
    return [(d.code, d.line, d.col) for d in shape(text, schema)]


def rule(*lines: str) -> str:
    return HEAD + "rules:\n  - id: KILL\n" + "".join(f"    {line}\n" for line in lines)


def test_good_document_has_no_diagnostics() -> None:
    assert shape(GOOD) == []


# --- apiVersion ---------------------------------------------------------------------------------


def test_unknown_api_version_is_the_only_diagnostic() -> None:
    text = "kind: Nope\napiVersion: policy-engine/v9\nextra: 1\n"
    assert located(text) == [(Code.UNKNOWN_API_VERSION, 2, 13)]
    assert "policy-engine/v1" in shape(text)[0].message


def test_missing_api_version_points_at_top() -> None:
    assert located("# c\nkind: DecisionPolicy\nrules: []\n") == [(Code.UNKNOWN_API_VERSION, 2, 1)]


def test_api_version_of_wrong_type() -> None:
    assert located("apiVersion: 1\n") == [(Code.UNKNOWN_API_VERSION, 1, 13)]


def test_api_versions_come_from_enum_behind_ref() -> None:
    schema = {"$defs": {"v": {"enum": ["a/v1", "a/v2"]}}, "properties": {"apiVersion": {"$ref": "#/$defs/v"}}}
    assert ShapeChecker(schema).api_versions == ["a/v1", "a/v2"]
    assert shape("apiVersion: a/v2\n", schema) == []


# --- one fixture per code -----------------------------------------------------------------------


def test_unknown_field_points_at_key_with_close_hint() -> None:
    diagnostics = shape(rule("pass_iff: not kill"))
    assert [(d.code, d.line, d.col) for d in diagnostics] == [(Code.UNKNOWN_FIELD, 5, 5)]
    assert diagnostics[0].json_path == "$.rules[0].pass_iff"
    assert "pass_if" in diagnostics[0].hint


def test_unknown_field_without_close_match_lists_allowed() -> None:
    diagnostics = shape(rule("pass_if: x", "zzzzzz: 1"))
    assert [(d.code, d.line, d.col) for d in diagnostics] == [(Code.UNKNOWN_FIELD, 6, 5)]
    assert "reject" in diagnostics[0].hint


def test_unknown_top_level_field() -> None:
    assert located(GOOD + "kindd: x\n") == [(Code.UNKNOWN_FIELD, 13, 1)]


def test_wrong_type_points_at_value() -> None:
    diagnostics = shape(rule("pass_if: x", "limit: abc"))
    assert [(d.code, d.line, d.col) for d in diagnostics] == [(Code.WRONG_TYPE, 6, 12)]
    assert diagnostics[0].json_path == "$.rules[0].limit"


def test_wrong_type_of_collection_points_at_key() -> None:
    assert located(rule("pass_if: x", "tags:", "  a: 1")) == [(Code.WRONG_TYPE, 6, 5)]


def test_missing_field_points_at_parent_and_names_field() -> None:
    diagnostics = shape(rule("reject: r"))
    assert [(d.code, d.line, d.col) for d in diagnostics] == [(Code.MISSING_FIELD, 4, 5)]
    assert diagnostics[0].json_path == "$.rules[0].pass_if"


def test_missing_top_level_fields_each_reported() -> None:
    diagnostics = shape(HEAD.replace("kind: DecisionPolicy\n", ""))
    assert {d.json_path for d in diagnostics} == {"$.kind", "$.rules"}
    assert {(d.code, d.line) for d in diagnostics} == {(Code.MISSING_FIELD, 1)}


@pytest.mark.parametrize(
    ("line", "col"),
    [
        ("mode: strikt", 11),  # enum
        ("limit: -1", 12),  # minimum
        ("day: 2024-13-45", 10),  # format
        ("bounds: [1]", 5),  # minItems, a collection: at the key
        ("tags: [a, a]", 5),  # uniqueItems
    ],
)
def test_invalid_value(line: str, col: int) -> None:
    assert located(rule("pass_if: x", line)) == [(Code.INVALID_VALUE, 6, col)]


def test_pattern_is_invalid_value() -> None:
    assert located(HEAD + "rules:\n  - id: kill\n    pass_if: x\n") == [(Code.INVALID_VALUE, 4, 9)]


def test_enum_hint_suggests_closest() -> None:
    diagnostics = shape(HEAD.replace("DecisionPolicy", "DecisionPolcy") + "rules: [{id: A, pass_if: x}]\n")
    assert [(d.code, d.line, d.col) for d in diagnostics] == [(Code.INVALID_VALUE, 2, 7)]
    assert "DecisionPolicy" in diagnostics[0].hint


def test_property_name_points_at_the_key() -> None:
    text = GOOD + "params:\n  ok: 1\n  BadName: 2\n"
    assert located(text) == [(Code.INVALID_VALUE, 15, 3)]


# --- oneOf / anyOf ------------------------------------------------------------------------------


def test_one_of_reports_the_wrong_field_of_the_nearest_branch() -> None:
    diagnostics = shape(rule("pass_if: x", "steps:", "  - {below: 1, valeu: 2}"))
    assert [(d.code, d.line, d.col) for d in diagnostics] == [(Code.UNKNOWN_FIELD, 7, 20)]
    assert "value" in diagnostics[0].hint


def test_one_of_wrong_type_inside_nearest_branch() -> None:
    assert located(rule("pass_if: x", "steps:", "  - {else: '3'}")) == [(Code.WRONG_TYPE, 7, 16)]


def test_one_of_scalar_alternatives_merge_into_one_type_error() -> None:
    diagnostics = shape(rule("pass_if: x", "bounds: [true, 1]"))
    assert [(d.code, d.line, d.col) for d in diagnostics] == [(Code.WRONG_TYPE, 6, 14)]
    assert "a number or a string" in diagnostics[0].message


def test_one_of_picks_the_branch_with_fewest_complaints() -> None:
    assert located(rule("pass_if: x", "steps:", "  - [1]")) == [(Code.WRONG_TYPE, 7, 9)]
    diagnostics = shape(rule("pass_if: x", "steps:", "  - {}"))
    assert [(d.code, d.line, d.col) for d in diagnostics] == [(Code.MISSING_FIELD, 7, 9)]
    assert diagnostics[0].json_path == "$.rules[0].steps[0].else"


def test_one_of_without_a_near_branch_is_invalid_value() -> None:
    schema = {"properties": {"rule": {"oneOf": [
        {"properties": {"kind": {"const": "gate"}, "pass_if": {"type": "string"}}},
        {"properties": {"kind": {"const": "table"}, "of": {"type": "string"}}},
    ]}}}
    assert located("rule:\n  of: x\n  kind: tabel\n", schema) == [(Code.INVALID_VALUE, 3, 9)]
    assert "table" in shape("rule:\n  of: x\n  kind: tabel\n", schema)[0].hint
    mixed = {"properties": {"rule": {"anyOf": [{"type": "number"}, {"properties": {"kind": {"const": "a"}}}]}}}
    assert located("rule:\n  kind: b\n", mixed) == [(Code.INVALID_VALUE, 1, 1)]


def test_one_of_matching_twice_is_invalid_value() -> None:
    schema = {"properties": {"n": {"oneOf": [{"type": "number"}, {"minimum": 0}]}}}
    assert located("n: 5\n", schema) == [(Code.INVALID_VALUE, 1, 4)]


def test_unevaluated_properties_is_unknown_field() -> None:
    schema = {
        "$defs": {"base": {"properties": {"id": {"type": "string"}}}},
        "allOf": [{"$ref": "#/$defs/base"}, {"properties": {"pass_if": {"type": "string"}}}],
        "unevaluatedProperties": False,
    }
    diagnostics = shape("id: a\npass_iff: x\n", schema)
    assert [(d.code, d.line, d.col) for d in diagnostics] == [(Code.UNKNOWN_FIELD, 2, 1)]
    assert "pass_if" in diagnostics[0].hint


# --- selection, order and wording ---------------------------------------------------------------


def test_one_diagnostic_per_path_prefers_type() -> None:
    assert located(rule("pass_if: x", "mode: 5")) == [(Code.WRONG_TYPE, 6, 11)]


def test_diagnostics_sorted_by_location() -> None:
    text = rule("pass_if: x", "limit: abc", "mode: bad", "extra: 1")
    lines = [d.line for d in shape(text)]
    assert lines == sorted(lines) and len(lines) == 3


def test_messages_never_dump_documents() -> None:
    long_value = "x" * 300
    text = rule("pass_if: {a: {b: [1, 2, 3]}}", f"mode: {long_value}")
    for diagnostic in shape(text):
        assert len(diagnostic.message) < 120 and "{" not in diagnostic.message
        assert diagnostic.source_line


def test_check_shape_reuses_checker_and_is_stable() -> None:
    text = rule("pass_if: x", "limit: abc")
    assert shape(text) == shape(text) == ShapeChecker(SCHEMA).check(parse_source(text, "p.yaml"))


# --- the real policy schema ---------------------------------------------------------------------

POLICY_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "policy.schema.json"
MINIMAL_POLICY = """\
apiVersion: policy-engine/v1
kind: DecisionPolicy
metadata: {id: risk.smoke, version: 1.0.0, owners: [risk-team]}
inputs: {schema: inputs.schema.json}
gates:
  - id: KILL_SWITCH_GATE
    pass_iff: "not risk.kill_switch_active"
    reject: kill_switch_active
"""


@pytest.mark.skipif(not POLICY_SCHEMA.exists(), reason="the policy schema is not written yet")
def test_real_schema_reports_misspelled_pass_if() -> None:
    schema = json.loads(POLICY_SCHEMA.read_text(encoding="utf-8"))
    diagnostics = shape(MINIMAL_POLICY, schema)
    assert [(d.code, d.line, d.col) for d in diagnostics] == [(Code.UNKNOWN_FIELD, 7, 5)]
    assert "pass_if" in diagnostics[0].hint
    assert shape(MINIMAL_POLICY.replace("pass_iff", "pass_if"), schema) == []
