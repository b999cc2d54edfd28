"""Scenarios and coverage for the MachinePolicy kind: one step from a given state.

A case's ``input`` is one observation and ``state`` the state the step starts from: ``mode``,
``since`` (when the mode was entered: ISO 8601 or µs; default the step time), and any of
``entry_trigger``, ``counters``, ``timers`` and ``windows`` (name -> start time), ``memory``,
``bounce_armed_at``. Without ``state`` the machine starts new, in its initial state.

What the step answered, in expectation terms: ``outcome`` is the mode after the step
(``invalid_input`` when the observation is refused and no fail-safe applies), ``rule`` and
``reason`` the last transition's rule and trigger, ``fired`` every transition taken, in order,
``events`` the event types, ``values`` the outputs plus ``items`` (the actions' items) and
``state`` (the new state, times in ISO 8601).

Coverage items: every transition, out of each of its source states, seen taken; the fail-safe
seen taken from each of its source states. An item not taken says what its trace step said
instead (clear, waiting, confirming, fired but not chosen, blocked) or which state the machine
was in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy_engine.engine.run import now_to_us
from policy_engine.machine import CompiledMachine, ObservationError, StateError, StepError, StepResult
from policy_engine.source import SourceDoc
from policy_engine.testing.adapters import HIT, CaseSetupError, CoverageItem, Observation, line_of
from policy_engine.testing.scenarios import Case

_STATE_KEYS = ("mode", "since", "entry_trigger", "counters", "timers", "windows", "memory", "bounce_armed_at")
_TIMES = ("bounce_armed_at",)


class MachineAdapter:
    kind = "MachinePolicy"

    def run(self, machine: CompiledMachine, case: Case) -> Observation:
        try:
            at = machine.step_time(case.input, case.now)
            state = _start_state(machine, case.state or {}, at)
            result = machine.step(state, case.input, case.now, trace=True)
        except ObservationError as refused:
            return _refused(refused)
        except StepError as failed:
            return Observation("engine_error", "engine_error", failed.rule, str(failed))
        except StateError as bad:
            raise CaseSetupError(f"state: {bad}") from None
        return _observed(result, state.mode)

    def coverage_items(self, machine: CompiledMachine, doc: SourceDoc) -> tuple[list[CoverageItem],
                                                                                list[tuple[CoverageItem, str]]]:
        return _items(machine), []

    def sightings(self, machine: CompiledMachine, case: Case, observation: Observation) -> Mapping[str, str]:
        start = observation.details.get("start_mode")
        taken = {(rule, source) for rule, source in observation.details.get("taken", ())}
        statuses = observation.details.get("statuses", {})
        seen: dict[str, str] = {}
        for item in _items(machine):
            rule, source = item.key.split(":")[1:]
            if (rule, source) in taken:
                seen[item.key] = HIT
            elif (rule, source) in statuses:
                seen[item.key] = statuses[(rule, source)]
            elif start is None:
                seen[item.key] = f"observation refused ({observation.reason})"
            else:
                seen[item.key] = f"not evaluated (machine in {start})"
        return seen


def _items(machine: CompiledMachine) -> list[CoverageItem]:
    plan = machine.plan
    items = [CoverageItem(f"transition:{node.id}:{node.source}", "transitions", node.id,
                          f"{node.id}: {node.source} -> {node.to} taken", line_of(node.location))
             for state in plan.states for node in plan.outgoing.get(state, ())]
    fail_safe = plan.fail_safe
    if fail_safe is not None:
        items += [CoverageItem(f"transition:fail_safe:{source}", "transitions", "fail_safe",
                               f"fail_safe: {source} -> {fail_safe.to} taken", line_of(fail_safe.location))
                  for source in fail_safe.sources]
    return items


def _start_state(machine: CompiledMachine, spec: Mapping[str, Any], at: int) -> Any:
    unknown = sorted(set(spec) - set(_STATE_KEYS))
    if unknown:
        raise CaseSetupError(f"state: unknown field(s) {', '.join(unknown)}; use {', '.join(_STATE_KEYS)}")
    since = _time(spec.get("since", at), "since")
    data = machine.initial_state(since).model_dump()
    data.update({k: v for k, v in spec.items() if k in ("mode", "entry_trigger", "counters", "memory")})
    data.update({key: _time(spec[key], key) for key in _TIMES if spec.get(key) is not None})
    for key in ("timers", "windows"):
        data[key] = {name: _time(value, f"{key}.{name}") for name, value in (spec.get(key) or {}).items()}
    data.update(mode_since=since, updated_at=since, mode_reason="scenario state")
    return machine.load_state(data)


def _time(value: Any, what: str) -> int:
    at = now_to_us(value)
    if at is None:
        raise CaseSetupError(f"state.{what}: not a time: {value!r} (ISO 8601 with an offset, or µs)")
    return at


def _refused(refused: ObservationError) -> Observation:
    message = "; ".join(f"{path}: {text}" for path, text in refused.issues) or str(refused)
    return Observation("invalid_input", "invalid_input", None, message)


def _observed(result: StepResult, start_mode: str) -> Observation:
    moves = result.transitions
    last = moves[-1] if moves else None
    values: dict[str, Any] = {"items": result.items, "state": result.new_state.to_display()}
    values.update(result.outputs)
    steps = result.trace or ()
    statuses = {(s.rule, s.expression.split(" -> ")[0]): s.status for s in steps if s.kind == "transition"}
    if any(s.status == "taken" for s in steps if s.kind == "transition") and not moves:
        statuses = {k: "chosen, but the chain stopped" if v == "taken" else v for k, v in statuses.items()}
    return Observation(result.new_state.mode, last.trigger if last else None, last.rule if last else None,
                       last.reason if last else "", values, tuple(t.rule for t in moves),
                       tuple(e.type for e in result.events), tuple(steps),
                       {"start_mode": start_mode, "taken": [(t.rule, t.from_mode) for t in moves],
                        "statuses": statuses})
