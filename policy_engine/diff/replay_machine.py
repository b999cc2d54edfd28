"""Impact replay of a MachinePolicy: both versions stepped through the same observation log.

A corpus line is an observation (its ``now`` is the step time), or a step-log record
``{"observation": {...}, "now": "..."}``, or ``{"state": {...}}``: both versions (re)start from
that state — a stored ``MachineState`` as the store keeps it (``MachineStore.states()``,
``read_machine().state``) or the scenario files' short form (``mode``, ``since``, ``counters``,
...). Without one, both start as new machines at the first step's time. Several recorded
episodes can follow one another, each opened by its state.

Each version carries its own state from step to step, as it would have in production, and a
refused observation leaves a version's state as it was. A step flips when the versions end it in
different modes, took different transitions, emitted different action items, or one refused the
observation. Once two versions part, later steps often differ only because their states do: the
first flip is where the change shows, and the report names it. Steps whose events or outputs
differ without a flip are counted apart.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from policy_engine.diff.records import UNREADABLE
from policy_engine.diff.replay import Example, Flip, Progress, ReplayReport, replay_lines
from policy_engine.diff.steps import first_step_difference
from policy_engine.engine.run import now_to_us
from policy_engine.machine import CompiledMachine, MachineError, MachineState, StateError, StepResult
from policy_engine.testing.adapters import CaseSetupError
from policy_engine.testing.machine_adapter import (
    _start_state as scenario_state,  # the scenario files' short form
)

MACHINE_FLIP_ORDER = ("stepped -> refused", "refused -> stepped", "mode changed", "transitions changed",
                      "actions changed")
DECISIVE_KINDS = ("transition", "fail_safe", "override", "guard", "action", "error")


@dataclass(frozen=True)
class _Stepped:
    """What one version did with one observation."""

    start: MachineState | None  # the state the step started from (None: the machine is new)
    result: StepResult | None  # None when refused
    refusal: str = ""

    def summary(self) -> str:
        if self.result is None:
            return f"refused: {self.refusal}"
        moves = "; ".join(f"{t.from_mode} -> {t.to_mode} by {t.rule}" for t in self.result.transitions)
        items = len(self.result.items)
        return (f"{self.result.new_state.mode}" + (f" ({moves})" if moves else ", no move")
                + (f", {items} action item{'s' if items != 1 else ''}" if items else ""))


def classify_step(old: _Stepped, new: _Stepped) -> str | None:
    """The flip category of one step, or None when both versions did the same."""
    if (old.result is None) != (new.result is None):
        return "stepped -> refused" if new.result is None else "refused -> stepped"
    if old.result is None or new.result is None:
        return None
    if old.result.new_state.mode != new.result.new_state.mode:
        return "mode changed"
    if _moves(old.result) != _moves(new.result):
        return "transitions changed"
    if _canonical(old.result.items) != _canonical(new.result.items):
        return "actions changed"
    return None


def _moves(result: StepResult) -> list[tuple[str, str, str]]:
    return [(t.rule, t.from_mode, t.to_mode) for t in result.transitions]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _quiet_change(old: _Stepped, new: _Stepped) -> bool:
    if old.result is None or new.result is None:
        return False
    events = [(e.type, e.severity, e.rule) for e in old.result.events] != [
        (e.type, e.severity, e.rule) for e in new.result.events]
    return events or _canonical(dict(old.result.outputs)) != _canonical(dict(new.result.outputs))


class _Side:
    """One version of the machine and the state it has reached."""

    def __init__(self, machine: CompiledMachine):
        self.machine = machine
        self.state: MachineState | None = None

    def step(self, observation: Any, now: Any, trace: bool = False) -> _Stepped:
        start = self.state
        try:
            state = start if start is not None else self.machine.initial_state(self.machine.step_time(observation, now))
            result = self.machine.step(state, observation, now, trace=trace)
        except MachineError as refused:
            return _Stepped(start, None, str(refused))
        self.state = result.new_state
        return _Stepped(start, result)

    def again(self, stepped: _Stepped, observation: Any, now: Any) -> tuple[Any, ...]:
        """The trace of a step taken before, taken again from the same start (pure: same result)."""
        side = _Side(self.machine)
        side.state = stepped.start
        again = side.step(observation, now, trace=True)
        return tuple(again.result.trace or ()) if again.result is not None else ()


def _start_state(machine: CompiledMachine, spec: dict[str, Any]) -> MachineState:
    if "policy_id" in spec:  # a stored MachineState; each version reads it as its own
        return machine.load_state({**spec, "policy_id": machine.id})
    since = now_to_us(spec.get("since"))
    if since is None:
        raise StateError("a short-form start state needs `since`: when its mode was entered (ISO 8601 or µs)")
    state: MachineState = scenario_state(machine, spec, since)
    return state


def replay_machine_corpus(old: CompiledMachine, new: CompiledMachine, corpus: str, examples: int = 3,
                          progress: Progress | None = None) -> ReplayReport:
    """Step both versions through ``corpus``; see the module docstring."""
    started = time.perf_counter()
    report = ReplayReport(corpus, kind="MachinePolicy", order=MACHINE_FLIP_ORDER, unit="steps",
                          quiet_label="events or outputs changed without a flip", sequential=True)
    sides = (_Side(old), _Side(new))
    shown = {category: 0 for category in MACHINE_FLIP_ORDER}
    replay_lines(corpus, progress, lambda entry: _replay_line(report, sides, entry, shown, examples))
    report.seconds = time.perf_counter() - started
    return report


def _replay_line(report: ReplayReport, sides: tuple[_Side, _Side], entry: Any, shown: dict[str, int],
                 examples: int) -> None:
    record = entry.value
    if record is UNREADABLE or not isinstance(record, dict):
        report.unreadable.append(entry.line)
        return
    if set(record) == {"state"}:
        try:
            starts = [_start_state(side.machine, record["state"]) for side in sides]
        except (MachineError, CaseSetupError, ValueError, TypeError, AttributeError):
            report.unreadable.append(entry.line)  # not a state of this machine
            return
        for side, start in zip(sides, starts):
            side.state = start
        return
    observation, now = (record["observation"], record.get("now")) if "observation" in record else (record, None)
    report.records += 1
    old, new = (side.step(observation, now) for side in sides)
    category = classify_step(old, new)
    if category is None:
        report.warnings_changed += _quiet_change(old, new)
        return
    flip = Flip(entry.line, entry.offset, category, old.summary(), new.summary(), f"step {report.records}")
    report.flips.append(flip)
    if shown[category] < examples:
        shown[category] += 1
        report.examples.append(_example(sides, flip, old, new, observation, now))


def _example(sides: tuple[_Side, _Side], flip: Flip, old: _Stepped, new: _Stepped, observation: Any,
             now: Any) -> Example:
    """Where the two traces of the step part, when both versions started it in the same mode;
    otherwise the traces differ everywhere, and the note says why."""
    modes = [stepped.start.mode if stepped.start is not None else side.machine.plan.initial
             for side, stepped in zip(sides, (old, new))]
    if modes[0] != modes[1]:
        return Example(flip, None, f"(the versions entered this step in different modes: {modes[0]} and "
                                   f"{modes[1]}, because of an earlier flip)")
    traces = (sides[0].again(old, observation, now), sides[1].again(new, observation, now))
    return Example(flip, first_step_difference(*traces, DECISIVE_KINDS))
