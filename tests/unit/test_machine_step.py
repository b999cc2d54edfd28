"""The machine kind's step semantics on a small thermostat machine: priority, hysteresis,
confirmation windows, chains and their bound, stable destinations, counters, timers, memory,
actions, outputs, guards, fail-safes, state checks, determinism."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine.machine import CompiledMachine, MachineState, ObservationError, StateError, StepError

SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["now", "temp"],
    "properties": {
        "now": {"type": "string", "format": "date-time"},
        "temp": {"type": "number"},
        "smoke": {"type": "boolean"},
        "divisor": {"type": "number"},
        "override": {"type": ["object", "null"], "properties": {"to": {"type": "string"}, "by": {"type": "string"}}},
    },
}
POLICY = """\
apiVersion: policy-engine/v1
kind: MachinePolicy
metadata: {id: test.thermostat, version: 1.0.0, owners: [tests]}
inputs: {schema: thermostat.schema.json}
params: {hot: 30, cool: 20, min_on_minutes: 10, confirm_minutes: 5}
values:
  hot: temp > params.hot
machine:
  initial: IDLE
  states:
    IDLE: {}
    COOLING: {on_enter: [{event: COOLING_STARTED, severity: INFO}]}
    ALARM: {on_enter: [{event: ALARM_RAISED, severity: CRITICAL}]}
    SHUTDOWN: {}
  transition_event: {event: STATE_CHANGE}
  transitions:
    - {id: START_COOLING, from: IDLE, to: COOLING, when: hot, priority: 20, reason: "temp {temp} > {params.hot}"}
    - {id: SMOKE, from: [IDLE, COOLING], to: ALARM, when: "smoke is True", priority: 10, trigger: smoke}
    - id: STOP_COOLING
      from: COOLING
      to: IDLE
      when: temp < params.cool
      min_time_in_state: minutes(params.min_on_minutes)
      confirm_for: minutes(params.confirm_minutes)
    - {id: ALARM_SHUTDOWN, from: ALARM, to: SHUTDOWN, when: temp > 100}
    - {id: RESET, from: SHUTDOWN, to: IDLE, when: temp < 0}
  counters:
    hot_steps: {initial: 0, update: "hot_steps + 1 if hot else 0"}
  timers:
    warm: {while: temp > 25}
  memory:
    peak: {initial: 0, update: "max(peak, temp)"}
  actions:
    - {id: FANS_ON, on_enter: COOLING, items: "[{'fan': n} for n in range(2)]"}
    - {id: LOG_HEAT, when: "hot and state == 'COOLING'", items: "[{'temp': temp, 'from': start_state}]"}
  outputs:
    steps_hot: hot_steps
    emitted: len(action_items)
"""
T = "2025-01-01T00:{:02d}:00Z"


def build(tmp_path: Path, text: str = POLICY, overrides: dict[str, Any] | None = None) -> CompiledMachine:
    (tmp_path / "thermostat.schema.json").write_text(json.dumps(SCHEMA))
    path = tmp_path / "thermostat.yaml"
    path.write_text(text)
    return policy_engine.load(path, overrides)


def obs(minute: int, temp: float, **extra: Any) -> dict[str, Any]:
    return {"now": T.format(minute), "temp": temp, **extra}


def walk(machine: CompiledMachine, observations: list[dict[str, Any]], state: MachineState | None = None) -> list[Any]:
    state = state or machine.initial_state(T.format(0))
    results = []
    for observation in observations:
        results.append(machine.step(state, observation))
        state = results[-1].new_state
    return results


def status(result: Any, rule: str) -> tuple[str, str]:
    step = next(s for s in result.trace if s.rule == rule)
    return step.status, step.detail


@pytest.fixture
def thermostat(tmp_path: Path) -> CompiledMachine:
    return build(tmp_path)


def test_priority_picks_the_lower_number_and_the_trace_shows_the_other(thermostat: CompiledMachine) -> None:
    result = walk(thermostat, [obs(1, 35, smoke=True)])[0]
    assert [(t.to_mode, t.trigger) for t in result.transitions] == [("ALARM", "smoke")]
    assert status(result, "START_COOLING") == ("fired", "not chosen: SMOKE comes first")


def test_reason_template_default_trigger_and_events(thermostat: CompiledMachine) -> None:
    result = walk(thermostat, [obs(1, 35)])[0]
    transition = result.transitions[0]
    assert (transition.trigger, transition.reason, transition.rule) == ("start_cooling", "temp 35 > 30", "START_COOLING")
    assert [(e.type, e.severity, e.reason) for e in result.events] == [
        ("STATE_CHANGE", "INFO", "start_cooling"), ("COOLING_STARTED", "INFO", "start_cooling")]


def test_min_time_and_confirmation_window(thermostat: CompiledMachine) -> None:
    results = walk(thermostat, [obs(1, 35), obs(3, 15), obs(6, 15), obs(7, 22), obs(8, 15), obs(11, 15),
                                obs(13, 15)])
    assert [r.new_state.mode for r in results] == ["COOLING"] * 6 + ["IDLE"]
    assert status(results[2], "STOP_COOLING") == ("waiting", "in COOLING for 5m00s, needs 10m00s")
    assert results[3].new_state.windows == {}  # 22 is not < 20: the window restarts
    assert status(results[5], "STOP_COOLING") == ("confirming", "held for 3m00s of 5m00s")
    assert status(results[6], "STOP_COOLING") == ("taken", "held for 5m00s")


def test_chain_within_one_step_records_every_transition(thermostat: CompiledMachine) -> None:
    result = walk(thermostat, [obs(1, 150, smoke=True)])[0]
    assert [(t.from_mode, t.to_mode) for t in result.transitions] == [("IDLE", "ALARM"), ("ALARM", "SHUTDOWN")]
    assert {t.step for t in result.transitions} == {1}


def test_chain_is_bounded(tmp_path: Path) -> None:
    bounded = build(tmp_path, POLICY.replace("  transition_event:", "  max_chain: 1\n  transition_event:"))
    result = walk(bounded, [obs(1, 150, smoke=True)])[0]
    assert [t.to_mode for t in result.transitions] == ["ALARM"]
    assert [(e.type, e.rule, e.reason) for e in result.events][-1] == (
        "MACHINE_CHAIN_STOPPED", "ALARM_SHUTDOWN", "chain_stopped")


def test_chain_never_revisits_a_state(tmp_path: Path) -> None:
    text = POLICY.replace("when: temp < 0}", "when: temp > 100}")
    looping = build(tmp_path, text.replace("  transition_event:", "  max_chain: 5\n  transition_event:"))
    result = walk(looping, [obs(1, 150, smoke=True)])[0]
    assert [t.to_mode for t in result.transitions] == ["ALARM", "SHUTDOWN"]
    assert result.events[-1].message == "RESET not taken: IDLE was already visited in this step"


def test_stable_destination_blocks_a_move_that_would_bounce(tmp_path: Path) -> None:
    machine = build(tmp_path, POLICY.replace("when: temp < 0}", "when: temp < 0, require_stable_destination: true}"))
    shut = walk(machine, [obs(1, 150, smoke=True)])[0].new_state
    blocked = machine.step(shut, obs(2, -5, smoke=True))
    assert blocked.new_state.mode == "SHUTDOWN"
    assert status(blocked, "RESET") == ("blocked", "IDLE would move on at once (SMOKE fires there)")
    assert machine.step(shut, obs(2, -5)).new_state.mode == "IDLE"


def test_counters_timers_memory_actions_outputs(thermostat: CompiledMachine) -> None:
    results = walk(thermostat, [obs(1, 35), obs(2, 40), obs(4, 26), obs(5, 10)])
    assert [r.new_state.counters["hot_steps"] for r in results] == [1, 2, 0, 0]
    assert [r.new_state.timers for r in results] == [
        {"warm": results[0].new_state.updated_at}] * 3 + [{}]
    assert [r.new_state.memory["peak"] for r in results] == [35, 40, 40, 40]
    assert [[a.action for a in r.actions] for r in results] == [["FANS_ON", "LOG_HEAT"], ["LOG_HEAT"], [], []]
    assert results[0].items == [{"fan": 0}, {"fan": 1}, {"temp": 35, "from": "IDLE"}]
    assert [r.outputs for r in results] == [{"steps_hot": 1, "emitted": 3}, {"steps_hot": 2, "emitted": 1},
                                            {"steps_hot": 0, "emitted": 0}, {"steps_hot": 0, "emitted": 0}]


def test_on_enter_actions_run_only_for_the_state_the_step_ends_in(tmp_path: Path) -> None:
    text = POLICY.replace("{id: SMOKE, from: [IDLE, COOLING], to: ALARM, when: \"smoke is True\", priority: 10",
                          "{id: SMOKE, from: [COOLING], to: ALARM, when: \"smoke is True\", priority: 10")
    machine = build(tmp_path, text)
    result = walk(machine, [obs(1, 35, smoke=True)])[0]
    assert [t.to_mode for t in result.transitions] == ["COOLING", "ALARM"]
    assert result.actions == ()  # COOLING was passed through: FANS_ON does not run


def test_guard_failure_is_an_invalid_observation(tmp_path: Path) -> None:
    text = POLICY.replace("  counters:", "  guards:\n    - {id: SANE, require: temp > -100, reason: sensor broken}\n"
                                        "  counters:")
    machine = build(tmp_path, text)
    with pytest.raises(ObservationError) as refused:
        walk(machine, [obs(1, -500)])
    assert refused.value.issues == (("SANE", "sensor broken"),)


def test_expression_failure_without_fail_safe_is_a_step_error(tmp_path: Path) -> None:
    machine = build(tmp_path, POLICY.replace("when: temp > 100}", "when: 'temp / coalesce(divisor, 1) > 100'}"))
    state = walk(machine, [obs(1, 50, smoke=True)])[0].new_state
    with pytest.raises(StepError, match="ALARM_SHUTDOWN: ZeroDivisionError"):
        machine.step(state, obs(2, 50, divisor=0))


def test_expression_failure_takes_the_fail_safe(tmp_path: Path) -> None:
    text = POLICY.replace("when: temp > 100}", "when: 'temp / coalesce(divisor, 1) > 100'}")
    text = text.replace("  counters:", "  fail_safe: {from: [ALARM], to: SHUTDOWN, trigger: broken}\n  counters:")
    machine = build(tmp_path, text)
    state = walk(machine, [obs(1, 50, smoke=True)])[0].new_state
    result = machine.step(state, obs(2, 50, divisor=0))
    assert [(t.to_mode, t.trigger, t.rule) for t in result.transitions] == [("SHUTDOWN", "broken", "fail_safe")]
    assert result.events[0].type == "EVALUATION_ERROR"
    assert result.new_state.counters == state.counters  # nothing computed from the failed step is kept


def test_condition_must_be_boolean_at_run_time(tmp_path: Path) -> None:
    machine = build(tmp_path, POLICY.replace("when: temp > 100}", "when: 'coalesce(divisor, False)'}"))
    state = walk(machine, [obs(1, 50, smoke=True)])[0].new_state
    with pytest.raises(StepError, match="not true/false"):
        machine.step(state, obs(2, 50, divisor=3))


def test_override_through_a_declared_input(tmp_path: Path) -> None:
    text = POLICY.replace("  counters:", "  manual_override: {allowed: true, input: override}\n  counters:")
    machine = build(tmp_path, text)
    result = walk(machine, [obs(1, 35, override={"to": "SHUTDOWN", "by": "ops"})])[0]
    assert [(t.to_mode, t.manual) for t in result.transitions] == [("SHUTDOWN", True)]
    assert (result.events[0].type, result.events[0].severity) == ("MODE_CHANGE", "WARNING")


def test_state_checks(thermostat: CompiledMachine) -> None:
    state = walk(thermostat, [obs(1, 35)])[0].new_state
    assert thermostat.load_state(json.loads(state.model_dump_json())) == state
    with pytest.raises(StateError, match="belongs to policy 'other'"):
        thermostat.load_state({**state.model_dump(), "policy_id": "other"})
    with pytest.raises(StateError, match="malformed"):
        thermostat.load_state({**state.model_dump(), "mode_since": "yesterday"})
    with pytest.raises(StateError, match="not counters"):
        thermostat.load_state({**state.model_dump(), "counters": {"ghost": 1}})


def test_a_counter_added_to_the_policy_starts_at_its_initial_value(thermostat: CompiledMachine) -> None:
    stored = thermostat.initial_state(T.format(0)).model_dump()
    stored["counters"] = {}
    assert thermostat.load_state(stored).counters == {"hot_steps": 0}


def test_step_time_is_required_and_parsed(thermostat: CompiledMachine) -> None:
    state = thermostat.initial_state(T.format(0))
    assert thermostat.step(state, obs(5, 1), now=T.format(6)).new_state.updated_at == 1_735_689_960_000_000
    with pytest.raises(ObservationError, match="the step time is required"):
        thermostat.step(state, {"temp": 1})
    with pytest.raises(ObservationError, match="not a time"):
        thermostat.step(state, obs(5, 1), now="tomorrow")


TEMPS = st.lists(st.tuples(st.integers(0, 3), st.floats(-10, 160, allow_nan=False), st.booleans()),
                 min_size=1, max_size=12)


@settings(max_examples=25, deadline=None)
@given(TEMPS)
def test_steps_are_deterministic_and_tracing_changes_nothing(tmp_path_factory: Any, readings: list[Any]) -> None:
    machine = _shared_machine(tmp_path_factory)
    minute, observations = 0, []
    for gap, temp, smoke in readings:
        minute += gap
        observations.append(obs(minute, temp, smoke=smoke))
    start = machine.initial_state(T.format(0))
    traced, untraced, again = start, start, start
    for observation in observations:
        a, b, c = (machine.step(traced, observation), machine.step(untraced, observation, trace=False),
                   machine.step(again, observation))
        assert a.to_dict(trace=True) == c.to_dict(trace=True)
        assert a.to_dict() == b.to_dict() and b.trace is None
        traced, untraced, again = a.new_state, b.new_state, c.new_state


_MACHINES: dict[str, CompiledMachine] = {}


def _shared_machine(factory: Any) -> CompiledMachine:
    if "m" not in _MACHINES:
        _MACHINES["m"] = build(factory.mktemp("thermostat"))
    return _MACHINES["m"]
