"""Compiling MachinePolicies: located diagnostics for states, transitions, names and expressions;
params and --set overrides; the shipped machine policies compile."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine.errors import Code, Diagnostic, PolicyError
from policy_engine.machine import CompiledMachine

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["now", "level"],
    "properties": {"now": {"type": "string", "format": "date-time"}, "level": {"type": "number"},
                   "state": {"type": "string"}},
}
BASE = """\
apiVersion: policy-engine/v1
kind: MachinePolicy
metadata: {id: test.levels, version: 1.0.0, owners: [tests]}
inputs: {schema: levels.schema.json}
params: {high: 10, wait_minutes: 5}
machine:
  initial: LOW
  states:
    LOW: {}
    HIGH: {}
    STUCK: {}
  transitions:
    - id: RISE
      from: LOW
      to: HIGH
      when: level > params.high
    - id: FALL
      from: [HIGH]
      to: LOW
      when: level <= params.high
      min_time_in_state: minutes(params.wait_minutes)
    - id: JAM
      from: HIGH
      to: STUCK
      when: level > 100
"""


def compile_text(tmp_path: Path, text: str, overrides: dict[str, Any] | None = None) -> CompiledMachine:
    (tmp_path / "levels.schema.json").write_text(json.dumps({k: v for k, v in SCHEMA.items()}))
    path = tmp_path / "levels.yaml"
    path.write_text(text)
    return policy_engine.load(path, overrides)


def diagnostics(tmp_path: Path, text: str, overrides: dict[str, Any] | None = None) -> list[Diagnostic]:
    with pytest.raises(PolicyError) as failed:
        compile_text(tmp_path, text, overrides)
    return failed.value.diagnostics


def where(text: str, needle: str, occurrence: int = 0) -> tuple[int, int]:
    """1-based line and column of the n-th occurrence of ``needle`` in ``text``."""
    offset = -1
    for _ in range(occurrence + 1):
        offset = text.index(needle, offset + 1)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def located(found: list[Diagnostic]) -> list[tuple[Code, int, int]]:
    return [(d.code, d.line, d.col) for d in found]


def test_the_base_machine_compiles(tmp_path: Path) -> None:
    machine = compile_text(tmp_path, BASE)
    assert machine.plan.states == ("LOW", "HIGH", "STUCK")
    assert [t.id for t in machine.plan.outgoing["HIGH"]] == ["FALL", "JAM"]
    assert machine.plan.outgoing["HIGH"][0].min_time == 300_000_000


def test_unknown_state_in_to(tmp_path: Path) -> None:
    text = BASE.replace("      to: STUCK", "      to: STUK")
    assert located(diagnostics(tmp_path, text)) == [(Code.UNKNOWN_STATE, *where(text, "STUK"))]
    assert diagnostics(tmp_path, text)[0].hint == "did you mean 'STUCK'?"


def test_transition_from_a_state_that_does_not_exist(tmp_path: Path) -> None:
    text = BASE.replace("from: [HIGH]", "from: [HIGH, MEDIUM]")
    found = diagnostics(tmp_path, text)
    assert located(found) == [(Code.UNKNOWN_STATE, *where(text, "MEDIUM"))]
    assert found[0].json_path == "$.machine.transitions[1].from[1]"


def test_initial_not_in_states(tmp_path: Path) -> None:
    text = BASE.replace("initial: LOW", "initial: START")
    assert located(diagnostics(tmp_path, text)) == [(Code.UNKNOWN_STATE, *where(text, "START"))]


def test_unreachable_state_is_located_at_its_key(tmp_path: Path) -> None:
    text = BASE.replace("    STUCK: {}\n", "    STUCK: {}\n    ORPHAN:\n      description: nobody comes here\n")
    found = diagnostics(tmp_path, text)
    assert located(found) == [(Code.UNREACHABLE_STATE, *where(text, "ORPHAN"))]
    assert found[0].json_path == "$.machine.states.ORPHAN"


def test_transition_to_its_own_state_and_forbidden_moves(tmp_path: Path) -> None:
    text = BASE.replace("      to: STUCK", "      to: HIGH") + "  forbidden:\n    - {from: HIGH, to: LOW}\n"
    found = diagnostics(tmp_path, text)
    assert [d.code for d in found] == [Code.UNREACHABLE_STATE, Code.INVALID_VALUE, Code.INVALID_VALUE]
    assert (found[1].line, found[2].line) == (where(text, "to: LOW")[0], where(text, "to: HIGH", 1)[0])
    assert "forbidden move HIGH -> LOW" in found[1].message
    assert "goes from HIGH to itself" in found[2].message


def test_wildcard_sources_skip_forbidden_moves(tmp_path: Path) -> None:
    text = BASE.replace("      from: [HIGH]", "      from: '*'") + "  forbidden:\n    - {from: STUCK, to: LOW}\n"
    machine = compile_text(tmp_path, text)
    assert [t.id for t in machine.plan.outgoing["STUCK"]] == []
    assert [t.id for t in machine.plan.outgoing["HIGH"]] == ["FALL", "JAM"]


def test_duplicate_transition_id(tmp_path: Path) -> None:
    text = BASE.replace("id: JAM", "id: RISE")
    assert located(diagnostics(tmp_path, text)) == [(Code.DUPLICATE_ID, *where(text, "RISE", 1))]


def test_expression_errors_are_located_inside_the_expression(tmp_path: Path) -> None:
    text = BASE.replace("when: level > 100", "when: level > params.ceiling")
    line, col = where(text, "params.ceiling")
    assert located(diagnostics(tmp_path, text)) == [(Code.EXPR_UNKNOWN_NAME, line, col)]


def test_post_transition_names_are_not_readable_by_transitions(tmp_path: Path) -> None:
    text = BASE.replace("when: level > 100", "when: len(action_items) > 0")
    assert [d.code for d in diagnostics(tmp_path, text)] == [Code.EXPR_UNKNOWN_NAME]


def test_a_condition_must_be_true_or_false(tmp_path: Path) -> None:
    text = BASE.replace("when: level > 100", "when: level * 2")
    assert located(diagnostics(tmp_path, text)) == [(Code.INVALID_VALUE, *where(text, "level * 2"))]


def test_durations_read_params_only(tmp_path: Path) -> None:
    text = BASE.replace("minutes(params.wait_minutes)", "minutes(level)")
    assert [d.code for d in diagnostics(tmp_path, text)] == [Code.EXPR_UNKNOWN_NAME]
    negative = BASE.replace("minutes(params.wait_minutes)", "minutes(-1)")
    assert [d.code for d in diagnostics(tmp_path, negative)] == [Code.INVALID_VALUE]


def test_bounce_scale_must_be_a_fraction(tmp_path: Path) -> None:
    text = BASE + ("  bounce: {pattern: [LOW, HIGH, LOW], within: minutes(30), scale: params.high,"
                   " applies_to: HIGH}\n")
    found = diagnostics(tmp_path, text)
    assert [d.code for d in found] == [Code.INVALID_VALUE]
    assert "between 0 and 1.0" in found[0].message


def test_names_clashing_with_the_observation_or_the_machine(tmp_path: Path) -> None:
    text = BASE + "  counters:\n    level: {initial: 0, update: level}\n"
    assert [d.code for d in diagnostics(tmp_path, text)] == [Code.DUPLICATE_ID]
    # the observation schema declares a field named `state`, which the machine provides
    assert [d.code for d in diagnostics(tmp_path, BASE + "  outputs:\n    state: level\n")] == [Code.DUPLICATE_ID]


def test_value_cycles(tmp_path: Path) -> None:
    text = BASE.replace("machine:\n", "values:\n  a: b + 1\n  b: a + 1\nmachine:\n", 1)
    assert Code.VALUE_CYCLE in [d.code for d in diagnostics(tmp_path, text)]


def test_sections_of_other_kinds_are_refused(tmp_path: Path) -> None:
    text = BASE.replace("machine:\n", "gates:\n  - {id: G, pass_if: 'True', reject: r}\nmachine:\n", 1)
    assert located(diagnostics(tmp_path, text)) == [(Code.INVALID_VALUE, *where(text, "gates"))]


def test_override_input_must_exist(tmp_path: Path) -> None:
    text = BASE + "  manual_override: {allowed: true, input: operator}\n"
    assert [d.code for d in diagnostics(tmp_path, text)] == [Code.BAD_REFERENCE]


def test_shape_errors_come_from_the_schema(tmp_path: Path) -> None:
    text = BASE.replace("      when: level > 100\n", "      when: level > 100\n      after: 3\n")
    assert [d.code for d in diagnostics(tmp_path, text)] == [Code.UNKNOWN_FIELD]
    assert [d.code for d in diagnostics(tmp_path, BASE.replace("  initial: LOW\n", ""))] == [Code.MISSING_FIELD]


def test_params_overrides(tmp_path: Path) -> None:
    assert compile_text(tmp_path, BASE, {"wait_minutes": 1}).plan.outgoing["HIGH"][0].min_time == 60_000_000
    assert [d.code for d in diagnostics(tmp_path, BASE, {"wait_minute": 1})] == [Code.PARAM_OVERRIDE]
    assert [d.code for d in diagnostics(tmp_path, BASE, {"high": "ten"})] == [Code.PARAM_OVERRIDE]


def test_compiling_twice_gives_the_same_plan(tmp_path: Path) -> None:
    first, second = compile_text(tmp_path, BASE), compile_text(tmp_path, BASE)
    assert first.plan == second.plan
    assert first.content_hash == second.content_hash


@pytest.mark.parametrize("name", ["risk_modes", "circuit_breaker"])
def test_shipped_machine_policies_compile(name: str) -> None:
    assert policy_engine.validate(ROOT / f"policies/risk/{name}.yaml") == []


WEIRD: list[Any] = [None, True, 0, -1, 1.5, 1e308, "", "NORMAL", "level_1", "*", [], [1], {}, {"a": 1}, "1 / 0",
                    "params.nope", "state", "action_items", "minutes(-5)", "now - 1"]


def _mutate(data: Any, rng: random.Random) -> Any:
    """Replace, delete or duplicate one node of the document."""
    nodes: list[tuple[Any, Any]] = []

    def collect(node: Any) -> None:
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            nodes.append((node, key))
            collect(child)

    collect(data)
    parent, key = rng.choice(nodes)
    roll = rng.random()
    if roll < 0.3:
        del parent[key]
    elif roll < 0.85:
        parent[key] = rng.choice(WEIRD)
    elif isinstance(parent, dict):
        parent[f"{key}_copy"] = copy.deepcopy(parent[key])
    else:
        parent.append(copy.deepcopy(parent[key]))
    return data


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["risk_modes", "circuit_breaker"]), st.integers(0, 2**32), st.integers(1, 3))
def test_mutated_machine_policies_compile_or_fail_with_diagnostics(name: str, seed: int, mutations: int) -> None:
    path = ROOT / f"policies/risk/{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    for _ in range(mutations):
        data = _mutate(data, rng)
    try:
        policy_engine.loads(yaml.safe_dump(data, sort_keys=False), str(path))
    except PolicyError as failed:
        assert failed.diagnostics and all(d.line >= 1 for d in failed.diagnostics)
