"""The checker compiled for what a policy reads: which paths expressions read (compiler/reads.py),
what the pruned checker checks and normalizes, and a property test against the full checker:
what the full checker accepts the pruned one accepts, normalized alike on every read path, and
every issue of the pruned checker is one of the full checker's."""

from __future__ import annotations

import ast
import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine.compiler.reads import InputReads
from policy_engine.inputs import ITEMS, MAX_ISSUES, WHOLE, InputIssue, compile_input_checker
from tests.bench.generator import generate_requests
from tests.unit.test_inputs import CONTRACT_EXAMPLE, CONTRACT_SCHEMA, SCHEMAS, instances, resolve


def reads_of(*texts: str) -> dict[str, Any]:
    reads = InputReads(roots=("a", "b", "now", "mid"), shadowed=("v", "params", "now"))
    for text in texts:
        reads.add(ast.parse(text, mode="eval"))
    return reads.tree


@pytest.mark.parametrize(("texts", "expected"), [
    (["a.x + a.y.z"], {"a": {"x": True, "y": {"z": True}}}),
    (["a.x is None"], {"a": {"x": {}}}),
    (["None is a", "a.k is not True"], {"a": {"k": {}}}),
    (["a is not None and a.x > 1"], {"a": {"x": True}}),
    (["a == None"], {"a": True}),  # equality is not identity: the value is compared whole
    (["a is b"], {"a": True, "b": True}),
    (["[i.p for i in a.l if i.q > 0]"], {"a": {"l": {ITEMS: {"p": True, "q": True}}}}),
    (["[i for i in a.l if i.q]"], {"a": {"l": {ITEMS: True}}}),  # the items flow on whole
    (["len(a.l) > 0", "[i.p for i in a.l]"], {"a": {"l": True}}),
    (["[i.p for i in a.l]", "len(a.l) > 0"], {"a": {"l": True}}),
    (["[[j.y for j in i.z] for i in a.l]"], {"a": {"l": {ITEMS: {"z": {ITEMS: {"y": True}}}}}}),
    (["[a.k for a in b.l]"], {"b": {"l": {ITEMS: {"k": True}}}}),  # the loop variable hides the input a
    (["[i.p for i in a.l[1:]]", "a.m[0]"], {"a": {"l": True, "m": True}}),
    (["v.x + params.p + now"], {}),  # values, params and engine names come before inputs
    (["mid(a.zone)", "[x * 2 for x in range(3)]"], {"a": {"zone": True}}),  # a called name is not read
    (["min([i.p for i in a.l], default=b.d)"], {"a": {"l": {ITEMS: {"p": True}}}, "b": {"d": True}}),
])
def test_what_expressions_read(texts: list[str], expected: dict[str, Any]) -> None:
    assert reads_of(*texts) == expected


def test_a_path_the_engine_reads_itself() -> None:
    reads = InputReads(roots=("now", "a"), shadowed=("now",))
    reads.add(ast.parse("now - a.t", mode="eval"))
    assert reads.tree == {"a": {"t": True}}
    reads.add_path(("now",))
    assert reads.tree == {"a": {"t": True}, "now": True}


# --- the pruned checker ----------------------------------------------------------------------------

TS = {"type": "string", "format": "date-time"}
SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["order", "note", "legs"],
    "properties": {
        "order": {"type": ["object", "null"], "additionalProperties": False, "required": ["qty", "at", "id"],
                  "properties": {"qty": {"type": "integer", "minimum": 0}, "at": TS, "id": {"type": "string"}}},
        "note": {"type": "string", "maxLength": 5},
        "legs": {"type": "array", "items": {"type": "object", "required": ["delta", "opened"],
                                            "properties": {"delta": {"type": "number"}, "opened": TS}}},
    },
}
GOOD = {"order": {"qty": 1, "at": "2025-01-01T00:00:00Z", "id": "o-1"}, "note": "hi",
        "legs": [{"delta": 0.5, "opened": "2025-01-01T00:00:01Z"}]}


def test_only_read_fields_are_checked() -> None:
    checker = compile_input_checker(SCHEMA, {"order": {"qty": True}})
    bad_elsewhere = {"order": {"qty": 1, "id": 5, "extra": []}, "legs": "not a list"}  # note missing too
    assert checker.check(bad_elsewhere) == (bad_elsewhere, [])
    assert checker.check({"order": {"qty": -1}})[1] == [InputIssue("$.order.qty", "must be >= 0")]
    assert checker.check({"order": {}})[1] == [InputIssue("$.order.qty", "required field missing")]
    assert checker.check({})[1] == [InputIssue("$.order", "required field missing")]  # its container too
    assert checker.check({"order": None}) == ({"order": None}, [])  # nullable: a field of null is not read


def test_read_for_presence_checks_the_type_not_the_fields() -> None:
    checker = compile_input_checker(SCHEMA, {"order": {}, "legs": {}})
    data = {"order": {"qty": "many"}, "legs": [1, "x"]}
    assert checker.check(data) == (data, [])
    assert [i.json_path for i in checker.check({"order": [], "legs": {}})[1]] == ["$.order", "$.legs"]


def test_items_are_checked_for_what_each_is_read_for() -> None:
    checker = compile_input_checker(SCHEMA, {"legs": {ITEMS: {"delta": True}}})
    data = {"legs": [{"delta": 1.0, "opened": "yesterday"}, {"delta": 2}]}
    assert checker.check(data) == (data, [])  # an unread date-time is neither checked nor converted
    assert checker.check({"legs": [{"delta": 1.0}, {}]})[1] == [InputIssue("$.legs[1].delta", "required field missing")]
    whole = compile_input_checker(SCHEMA, {"legs": {ITEMS: WHOLE}})
    assert whole.check(data)[1] == [InputIssue("$.legs[0].opened", "not an RFC 3339 date-time with offset"),
                                    InputIssue("$.legs[1].opened", "required field missing")]


def test_read_date_times_are_normalized_and_the_rest_is_shared() -> None:
    checker = compile_input_checker(SCHEMA, {"order": {"at": True}, "legs": {ITEMS: {"delta": True}}})
    data = copy.deepcopy(GOOD)
    normalized, issues = checker.check(data)
    assert issues == [] and data == GOOD
    assert normalized == {**GOOD, "order": {**GOOD["order"], "at": 1_735_689_600_000_000}}
    assert normalized["legs"] is data["legs"] and normalized["order"] is not data["order"]


def test_the_full_checker_stays_available() -> None:
    pruned = compile_input_checker(SCHEMA, {"order": {"qty": True}})
    assert pruned.full.reads is WHOLE and pruned.full.full is pruned.full
    issues = pruned.full.check({"order": {"qty": 1}})[1]
    assert sorted(issues) == [InputIssue(p, "required field missing")
                              for p in ("$.legs", "$.note", "$.order.at", "$.order.id")]
    again = pruned.full.for_reads({"note": True})
    assert again.full is pruned.full and again.check({"note": "toolong"})[1][0].json_path == "$.note"


def test_sizing_policy_checks_what_it_reads_and_normalizes_like_the_contract() -> None:
    policy = policy_engine.load("policies/risk/position_sizing.yaml")
    reads = policy.checker.reads
    assert reads["now"] is WHOLE and reads["events"] == {ITEMS: WHOLE}
    assert reads["exposure"]["symbol_exposures"] == {ITEMS: {"symbol": True, "exposure_pct": True}}
    assert "signal_id" not in reads["signal"] and "bid" not in reads["quote"]  # no rule reads these
    for request in generate_requests(40, seed=7):
        assert policy.checker.check(request) == policy.checker.full.check(request)


# --- property: the pruned checker is the full one, looking at less ----------------------------------

@st.composite
def read_trees(draw: st.DrawFn, schema: Any, root: dict[str, Any], depth: int = 0) -> Any:
    schema = resolve(schema, root)
    if not isinstance(schema, dict) or depth > 3 or draw(st.integers(0, 3)) == 0:
        return WHOLE
    reads: dict[str, Any] = {}
    for key, sub in schema.get("properties", {}).items():
        if draw(st.booleans()):
            reads[key] = draw(read_trees(sub, root, depth + 1))
    if "items" in schema and draw(st.booleans()):
        reads[ITEMS] = draw(read_trees(schema["items"], root, depth + 1))
    return reads


def at_read_paths(value: Any, reads: Any) -> Any:
    """The parts of a normalized value a read tree covers."""
    if reads is WHOLE or value is None or not isinstance(value, (dict, list)):
        return value
    if isinstance(value, list):
        return [at_read_paths(item, reads[ITEMS]) for item in value] if ITEMS in reads else len(value)
    return {key: at_read_paths(value[key], sub) for key, sub in reads.items() if key != ITEMS and key in value}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_pruned_checker_is_the_full_one_looking_at_less(data: st.DataObject) -> None:
    schema = data.draw(SCHEMAS)
    reads = data.draw(read_trees(schema, schema))
    instance = data.draw(instances(schema, schema))
    full_value, full_issues = compile_input_checker(schema).check(instance)
    value, issues = compile_input_checker(schema, reads).check(instance)
    if not full_issues:
        assert issues == [] and at_read_paths(value, reads) == at_read_paths(full_value, reads)
    if len(full_issues) < MAX_ISSUES:
        assert {i.json_path for i in issues} <= {i.json_path for i in full_issues}


def test_contract_example_through_a_pruned_checker() -> None:
    reads = {"signal": {"entry_price_zone": {"low": True}, "target_zones": {ITEMS: {"high": True}}},
             "events": {ITEMS: {"event_timestamp_utc": True}}, "now": True}
    normalized, issues = compile_input_checker(CONTRACT_SCHEMA, reads).check(CONTRACT_EXAMPLE)
    full, _ = compile_input_checker(CONTRACT_SCHEMA).check(CONTRACT_EXAMPLE)
    assert issues == [] and at_read_paths(normalized, reads) == at_read_paths(full, reads)
    assert normalized["signal"]["timestamp_utc"] == CONTRACT_EXAMPLE["signal"]["timestamp_utc"]  # unread: as sent
