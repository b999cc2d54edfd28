"""Fail closed: every bad input turns an otherwise approved request into a rejection with a
precise reason — never an approval, never an exception.

The invalid-input matrix is generated from each policy's input schema, walked alongside an
approved request: every field present is deleted (when required), nulled, retyped, set to
NaN / ±inf / a boolean (numbers), pushed below its minimum or above its maximum, given an
unknown enum member or a malformed timestamp, and every closed object gets an extra field. A
field added to a schema is covered without touching this file.

The engine checks what the policy reads (``policy.checker.reads``, docs/reliability.md): a case
on a field some expression reads must reject; a case on a field none reads must leave the decision
as it was, and the whole contract (``policy.checker.full``) must still refuse it, naming the path.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

import policy_engine
from policy_engine.decision import ENGINE_ERROR, INVALID_INPUT
from policy_engine.engine.run import INPUTS_RULE, CompiledPolicy

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "tests" / "fixtures" / "bad" / "runtime"
TINY = ROOT / "tests" / "fixtures" / "tiny.yaml"
TINY_APPROVED: dict[str, Any] = {"now": "2025-01-01T00:00:05Z", "account": {"balance": 5000.0, "drawdown": 0.15},
                 "order": {"qty": 10, "price": 100.0, "placed_at": "2025-01-01T00:00:01Z", "tags": ["a"]}}
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MISSING = object()


@dataclass(frozen=True)
class Case:
    what: str
    path: tuple[Any, ...]  # where in the request
    value: Any  # the new value, or MISSING to delete
    expect: str  # the JSON path the rejection must name


def json_path(path: tuple[Any, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" if IDENT.fullmatch(p) else f"['{p}']"
                         for p in path)


def _resolve(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema if isinstance(schema, dict) else {}


def _types(schema: dict[str, Any]) -> set[str]:
    types = schema.get("type", [])
    found = {types} if isinstance(types, str) else set(types)
    if "enum" in schema or "const" in schema:
        members = schema.get("enum", [schema.get("const")])
        found |= {"null" if m is None else "string" if isinstance(m, str) else "other" for m in members}
    return found


WRONG_TYPES: list[tuple[str, Any, set[str]]] = [  # (name, value, the types that would accept it)
    ("string", "not-a-number", {"string"}), ("number", 7.5, {"number"}), ("integer", 7, {"number", "integer"}),
    ("bool", True, {"boolean"}), ("array", [], {"array"}), ("object", {}, {"object"}),
]


def cases_for(schema: Any, root: dict[str, Any], value: Any, path: tuple[Any, ...] = (),
              required: bool = False) -> Iterator[Case]:
    """Every invalid variant of every node of ``value`` that the schema can tell is invalid."""
    schema = _resolve(schema, root)
    types = _types(schema) if path else set()  # the request itself: see test_malformed_requests_...
    here = json_path(path)
    if path and required:
        yield Case("missing", path, MISSING, here)
    if types and "null" not in types:
        yield Case("null", path, None, here)
    for name, wrong, accepted in WRONG_TYPES:
        if types and not types & accepted and not (name == "integer" and "number" in types):
            yield Case(f"{name} instead", path, wrong, here)
    if types & {"number", "integer"}:
        yield from (Case(what, path, v, here) for what, v in
                    [("NaN", math.nan), ("inf", math.inf), ("-inf", -math.inf), ("bool as number", True)])
        yield from _bounds(schema, path, here)
    if schema.get("enum") and all(isinstance(m, (str, type(None))) for m in schema["enum"]):
        yield Case("unknown enum", path, "NOT_A_MEMBER", here)
    if schema.get("format") == "date-time":
        yield from (Case(what, path, v, here) for what, v in [("bad timestamp", "yesterday"),
                    ("impossible date", "2025-02-30T00:00:00Z"), ("no offset", "2025-04-02T06:10:54")])
    if isinstance(value, dict):
        yield from _object_cases(schema, root, value, path)
    elif isinstance(value, list) and value:
        yield from cases_for(schema.get("items", {}), root, value[0], (*path, 0))


def _bounds(schema: dict[str, Any], path: tuple[Any, ...], here: str) -> Iterator[Case]:
    for keyword, step in (("minimum", -1), ("exclusiveMinimum", -1), ("maximum", 1), ("exclusiveMaximum", 1)):
        if keyword in schema:
            what = "negative" if step < 0 and schema[keyword] >= 0 else f"beyond {keyword}"
            yield Case(what, path, schema[keyword] + step, here)


def _object_cases(schema: dict[str, Any], root: dict[str, Any], value: dict[str, Any],
                  path: tuple[Any, ...]) -> Iterator[Case]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    if schema.get("additionalProperties") is False:
        yield Case("extra field", (*path, "unexpected_field"), 1, json_path((*path, "unexpected_field")))
    for key, sub in properties.items():
        if key in value:
            yield from cases_for(sub, root, value[key], (*path, key), key in required)


def mutated(request: dict[str, Any], case: Case) -> dict[str, Any]:
    changed = copy.deepcopy(request)
    parent = changed
    for part in case.path[:-1]:
        parent = parent[part]
    if case.value is MISSING:
        del parent[case.path[-1]]
    else:
        parent[case.path[-1]] = copy.deepcopy(case.value)
    return changed


# --- which policies, with which approved requests ------------------------------------------------

def _decision_policies() -> list[Path]:
    found = [p for p in sorted(ROOT.glob("policies/**/*.yaml"))
             if (yaml.safe_load(p.read_text(encoding="utf-8")) or {}).get("kind") == "DecisionPolicy"]
    return [*found, TINY]


def _approved_bases() -> list[tuple[Path, str, dict[str, Any]]]:
    examples = {p.relative_to(ROOT).as_posix(): json.loads(p.read_text(encoding="utf-8"))
                for p in sorted(ROOT.glob("policies/**/examples/**/*.json"))}
    examples["tiny approved"] = TINY_APPROVED
    bases = []
    for path in _decision_policies():
        policy = policy_engine.load(path)
        approved = [(name, r) for name, r in examples.items()
                    if isinstance(r, dict) and policy.evaluate(r).outcome == "approved"]
        bases += [(path, name, request) for name, request in approved[:2]]
    return bases


BASES = _approved_bases()
_POLICIES: dict[Path, CompiledPolicy] = {}


def policy_for(path: Path) -> CompiledPolicy:
    if path not in _POLICIES:
        _POLICIES[path] = policy_engine.load(path)
    return _POLICIES[path]


def input_schema(path: Path) -> dict[str, Any]:
    relative = yaml.safe_load(path.read_text(encoding="utf-8"))["inputs"]["schema"]
    schema: dict[str, Any] = json.loads((path.parent / relative).read_text(encoding="utf-8"))
    return schema


def is_read(reads: Any, path: tuple[Any, ...]) -> bool:
    """Whether some expression of the policy reads the value at ``path`` (or a container of it whole)."""
    for part in path:
        if reads is True:
            return True
        reads = reads.get("[]" if isinstance(part, int) else part)
        if reads is None:
            return False
    return True


def outcome_of(decision: Any) -> tuple[Any, ...]:
    return decision.outcome, decision.reason, decision.rule, decision.message, decision.values


def test_every_shipped_decision_policy_has_an_approved_base() -> None:
    covered = {path for path, _, _ in BASES}
    assert covered == set(_decision_policies()), "a policy without an approved example is not covered"


@pytest.mark.parametrize("path, name, request_", BASES, ids=[f"{p.stem}:{Path(n).stem}" for p, n, _ in BASES])
def test_invalid_input_matrix_rejects_naming_the_path(path: Path, name: str, request_: dict[str, Any],
                                                       record_property: Any) -> None:
    policy = policy_for(path)
    schema = input_schema(path)
    cases = list(cases_for(schema, schema, request_))
    read = [case for case in cases if is_read(policy.checker.reads, case.path)]
    assert len(read) > 10
    base = outcome_of(policy.evaluate(request_))
    wrong = []
    for case in cases:
        request = mutated(request_, case)
        decision = policy.evaluate(request)
        named = [p for p, _ in decision.input_errors]
        contract = [issue.json_path for issue in policy.checker.full.check(request)[1]]
        if case.expect not in contract:
            wrong.append(f"{case.what} at {case.expect}: the contract takes it ({contract})")
        if case not in read:
            if outcome_of(decision) != base:
                wrong.append(f"{case.what} at {case.expect} (read by no rule) changed the decision: {decision.reason}")
        elif (decision.outcome, decision.reason, decision.rule) != ("rejected", INVALID_INPUT, INPUTS_RULE) \
                or case.expect not in named:
            wrong.append(f"{case.what} at {case.expect}: {decision.outcome} {decision.reason} {named}")
        json.loads(decision.to_json())  # the rejection itself is serializable
    record_property("invalid_input_cases", len(cases))
    record_property("invalid_input_cases_read", len(read))
    assert not wrong, "\n".join(wrong)


def test_matrix_covers_the_kinds_of_bad_input() -> None:
    path, _, request = next(b for b in BASES if b[0].stem == "position_sizing")
    schema = input_schema(path)
    kinds = {case.what for case in cases_for(schema, schema, request)}
    assert {"missing", "null", "string instead", "NaN", "inf", "-inf", "negative", "unknown enum", "extra field",
            "bool as number", "bad timestamp", "impossible date", "no offset"} <= kinds


@pytest.mark.parametrize("bad", [None, [], "x", 1, {}, {"now": "2025-01-01T00:00:05Z"}, {"order": None}])
def test_malformed_requests_are_invalid_input(bad: Any) -> None:
    decision = policy_for(TINY).evaluate(bad)
    assert (decision.outcome, decision.reason) == ("rejected", INVALID_INPUT)
    assert decision.input_errors and decision.input_errors[0][0].startswith("$")


def test_non_json_values_are_invalid_input() -> None:
    request = copy.deepcopy(TINY_APPROVED)
    request["order"]["tags"] = [object()]
    decision = policy_for(TINY).evaluate(request)
    assert (decision.reason, decision.input_errors[0][0]) == (INVALID_INPUT, "$.order.tags[0]")


# --- the decision time ---------------------------------------------------------------------------------

def test_missing_now_is_invalid_input() -> None:
    request = {k: v for k, v in TINY_APPROVED.items() if k != "now"}
    decision = policy_for(TINY).evaluate(request)
    assert (decision.reason, decision.input_errors[0][0]) == (INVALID_INPUT, "$.now")


@pytest.mark.parametrize("now", ["yesterday", "2025-01-01T00:00:05", datetime(2025, 1, 1), True, 1.5])
def test_unusable_explicit_now_is_invalid_input(now: Any) -> None:
    decision = policy_for(TINY).evaluate(TINY_APPROVED, now=now)
    assert (decision.outcome, decision.reason) == ("rejected", INVALID_INPUT)
    assert decision.input_errors[0][0] == "$.now"


def test_policy_without_a_clock_input_needs_now() -> None:
    policy = policy_for(RUNTIME / "clockless.yaml")
    request = {"quote": {"at": "2025-01-01T00:00:01Z", "bid": 1.0}}
    decision = policy.evaluate(request)
    assert (decision.reason, decision.input_errors[0][0]) == (INVALID_INPUT, "$.now")
    assert policy.evaluate(request, now="2025-01-01T00:00:02Z").outcome == "approved"
    assert policy.evaluate(request, now="2025-01-01T00:00:09Z").reason == "stale_quote"


# --- errors inside rules --------------------------------------------------------------------------------

DIVISION_OK: dict[str, Any] = {"now": "2025-01-01T00:00:05Z", "account": {"balance": 5000.0, "drawdown": 0.1},
               "order": {"qty": 10, "price": 100.0, "placed_at": "2025-01-01T00:00:01Z", "tags": []}}


@pytest.mark.parametrize("order, account, rule, culprit", [
    ({"qty": 0}, {}, "UNIT_PRICE_GATE", "unit_price"),         # a value a gate reads
    ({}, {"balance": 1000.0}, "BALANCE_GATE", None),            # the gate's own expression
    ({}, {"balance": 0.0}, "LEVERAGE_WARNING", "leverage"),     # a value a trigger reads
    ({"price": 1.0}, {}, "outputs", "price_inverse"),           # a value only the outputs read
])
def test_runtime_error_rejects_with_engine_error(order: dict[str, Any], account: dict[str, Any], rule: str,
                                                 culprit: str | None) -> None:
    policy = policy_for(RUNTIME / "division.yaml")
    assert policy.evaluate(DIVISION_OK).outcome == "approved"
    request = {**DIVISION_OK, "order": {**DIVISION_OK["order"], **order},
               "account": {**DIVISION_OK["account"], **account}}
    for trace in (False, True):
        decision = policy.evaluate(request, trace=trace)
        assert (decision.outcome, decision.reason, decision.rule) == ("rejected", ENGINE_ERROR, rule)
        assert decision.message.startswith(f"{rule}: ZeroDivisionError")
        assert (f"computing '{culprit}'" in decision.message) if culprit else ("computing" not in decision.message)
        assert decision.values == {} and decision.fired == ()
        assert [(e.type, e.rule, e.reason) for e in decision.events] == [("DECISION_REJECTED", rule, ENGINE_ERROR)]
        if trace:
            assert decision.trace is not None
            failed = decision.trace.step(rule)
            assert (failed.status, failed.message) == ("error", decision.message)
        json.loads(decision.to_json())


def test_no_approval_on_any_bad_input_or_error() -> None:
    """The sweep: every mutation of every base and every runtime failure above, in one list."""
    outcomes = set()
    for path, _, request in BASES:
        schema, policy = input_schema(path), policy_for(path)
        for case in cases_for(schema, schema, request):
            if is_read(policy.checker.reads, case.path):
                outcomes.add(policy.evaluate(mutated(request, case)).outcome)
            else:  # what no rule reads cannot approve anything; the contract still refuses it
                assert policy.checker.full.check(mutated(request, case))[1], case
    assert outcomes == {"rejected"}
