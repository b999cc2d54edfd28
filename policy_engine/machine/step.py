"""The pure step: (plan, state, observation, now) -> StepResult. No clock, no I/O, no globals.

Phases, in order (docs/machines.md, "The step"):
  1. guards       the observation must pass them (else it is invalid: fail-safe or error)
  2. counters     and timers, computed from the previous step's names and the observation
  3. override     an operator's request, when the policy allows it (then no automatic move)
  4. transitions  chained: after a move, the new state's transitions are considered at once
  5. actions      of the state the step ends in (on_enter) or whose `when` holds
  6. outputs      named results; then memory for the next step
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from policy_engine.machine.errors import ObservationError, StepError
from policy_engine.machine.evaluate import Env, ExprFailure, condition, evaluate, number, plain_json
from policy_engine.machine.plan import MachinePlan
from policy_engine.machine.state import ActionRecord, MachineState, StepResult
from policy_engine.machine.transitions import enter, run_chain, take_override
from policy_engine.machine.work import Recorder, Work, duration_text, names
from policy_engine.trace import TraceStep

OBSERVATION_INVALID, EVALUATION_ERROR = "observation_invalid", "evaluation_error"


def run_step(plan: MachinePlan, state: MachineState, observation: dict[str, Any] | None, now: int, tracing: bool,
             issues: tuple[tuple[str, str], ...] = ()) -> StepResult:
    if issues:
        return _fail_safe(plan, state, now, tracing, issues, OBSERVATION_INVALID, [])
    recorder = Recorder(plan, tracing)
    try:
        return _step(plan, Work.start(state, now), recorder, _inputs(plan, observation or {}))
    except _Invalid as invalid:
        return _fail_safe(plan, state, now, tracing, invalid.issues, OBSERVATION_INVALID, recorder.trace)
    except ExprFailure as failure:
        recorder.step("error", failure.rule, failure.location, None, None, None, "error", message=failure.message)
        return _fail_safe(plan, state, now, tracing, ((failure.rule, failure.message),), EVALUATION_ERROR,
                          recorder.trace, failure)


class _Invalid(Exception):
    def __init__(self, issues: tuple[tuple[str, str], ...]):
        self.issues = issues


def _inputs(plan: MachinePlan, observation: dict[str, Any]) -> dict[str, Any]:
    """Observation fields by name; an optional field that is absent reads as null."""
    return {root: observation.get(root) for root in plan.input_roots}


def _step(plan: MachinePlan, work: Work, rec: Recorder, inputs: dict[str, Any]) -> StepResult:
    start = work.mode
    before = names(plan, work, inputs)
    _guards(plan, before, rec)
    work.counters = _counters(plan, before, rec)
    work.timers = _timers(plan, work, before, rec)
    if not take_override(plan, work, inputs, rec):
        run_chain(plan, work, inputs, rec)
    taken = [t.trigger for t in rec.transitions]
    env = names(plan, work, inputs, {"start_state": start, "taken": taken})
    _actions(plan, work, env, rec)
    env = env.extended({"action_items": [item for a in rec.actions for item in a.items]})
    outputs = _outputs(plan, env, rec)
    work.memory = _memory(plan, env.extended(outputs), rec)
    return _result(work, rec, outputs)


def _result(work: Work, rec: Recorder, outputs: dict[str, Any], invalid: tuple[tuple[str, str], ...] = ()) -> StepResult:
    return StepResult(work.freeze(), tuple(rec.transitions), tuple(rec.events),
                      tuple(rec.trace) if rec.tracing else None, tuple(rec.actions), outputs, invalid)


def _guards(plan: MachinePlan, env: Env, rec: Recorder) -> None:
    failed = []
    for guard in plan.guards:
        held = condition(guard.require, env, guard.id)
        rec.step("guard", guard.id, guard.require.location, guard.require, env, held,
                 "passed" if held else "failed", "" if held else guard.reason)
        if not held:
            failed.append((guard.id, guard.reason))
    if failed:
        raise _Invalid(tuple(failed))


def _counters(plan: MachinePlan, env: Env, rec: Recorder) -> dict[str, Any]:
    updated = {}
    for counter in plan.counters:
        updated[counter.name] = number(counter.update, env, counter.name)
        rec.step("counter", counter.name, counter.update.location, counter.update, env, updated[counter.name],
                 "computed", f"was {env[counter.name]!r}")
    return updated


def _timers(plan: MachinePlan, work: Work, env: Env, rec: Recorder) -> dict[str, int]:
    running = {}
    for timer in plan.timers:
        held = condition(timer.condition, env, timer.name)
        if held:
            running[timer.name] = work.timers.get(timer.name, work.now)
        held_for = work.now - running[timer.name] if held else 0
        rec.step("timer", timer.name, timer.condition.location, timer.condition, env, held_for,
                 "running" if held else "stopped", f"held for {duration_text(held_for)}" if held else "")
    return running


def _actions(plan: MachinePlan, work: Work, env: Env, rec: Recorder) -> None:
    settled_in_new_state = work.mode in work.entered
    for action in plan.actions:
        if action.on_enter and not (settled_in_new_state and work.mode in action.on_enter):
            continue
        if action.when is not None and not condition(action.when, env, action.id):
            rec.step("action", action.id, action.location, action.when, env, False, "skipped", "`when` is false")
            continue
        items = plain_json(evaluate(action.items, env, action.id), action.id, action.location)
        if not isinstance(items, list):
            raise ExprFailure(action.id, action.location, f"items gave {items!r}, not a list")
        rec.step("action", action.id, action.location, action.items, env, items,
                 "emitted" if items else "empty", f"in {work.mode}")
        if items:
            rec.actions.append(ActionRecord(action.id, work.mode, tuple(items)))


def _outputs(plan: MachinePlan, env: Env, rec: Recorder) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for name, expr in plan.outputs:
        outputs[name] = plain_json(evaluate(expr, env, name), name, expr.location)
        rec.step("output", name, expr.location, expr, env, outputs[name], "computed")
    return outputs


def _memory(plan: MachinePlan, env: Env, rec: Recorder) -> dict[str, Any]:
    memory = {}
    for slot in plan.memory:
        memory[slot.name] = plain_json(evaluate(slot.update, env, slot.name), slot.name, slot.update.location)
        rec.step("memory", slot.name, slot.update.location, slot.update, env, memory[slot.name], "computed")
    return memory


def _fail_safe(plan: MachinePlan, state: MachineState, now: int, tracing: bool, problems: tuple[tuple[str, str], ...],
               kind: str, trace: Iterable[TraceStep], failure: ExprFailure | None = None) -> StepResult:
    """An invalid observation or a failing expression: the fail-safe move, or an error when none is declared.

    Counters, timers and memory are left as they were: nothing computed from bad data is kept.
    """
    node = plan.fail_safe
    if node is None:
        if failure is not None:
            raise StepError(failure.rule, failure.location, failure.message)
        raise ObservationError(problems)
    work = Work.start(state, now)
    rec = Recorder(plan, tracing)
    rec.trace.extend(trace)
    summary = "; ".join(f"{path}: {message}" for path, message in problems[:3])
    event = node.event
    rec.event(work, event.event if event else kind.upper(), event.severity if event else "CRITICAL", "fail_safe",
              kind, summary)
    moves = work.mode in node.sources
    rec.step("fail_safe", "fail_safe", node.location, None, None, moves, "taken" if moves else "stays",
             f"{work.mode} -> {node.to}" if moves else f"{work.mode} is not a fail-safe source", summary, kind)
    if moves:
        enter(plan, work, rec, to=node.to, rule="fail_safe", trigger=node.trigger, reason=f"{kind}: {summary}")
    return _result(work, rec, {}, problems)
