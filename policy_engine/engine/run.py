"""The engine: one compiled policy, evaluated many times, from many threads.

``CompiledPolicy.evaluate`` checks the inputs against the policy's input schema, runs the
generated function, and turns what it returns into a Decision. Everything per call lives on the
call's stack: the policy object is immutable after construction, so threads can share it.
Fail closed: invalid input, a missing clock, or any error inside a rule is a rejection with a
reason code and the rule's id — never an approval, never an exception to the caller.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Mapping, NamedTuple

from policy_engine.compiler.plan import GateNode, Plan, PolicyIdentity
from policy_engine.decision import (
    APPROVED, ENGINE_ERROR, INVALID_INPUT, REJECTED, Decision, Event, FiredTrigger, LazyText, Provenance,
)
from policy_engine.engine.codegen import ERROR, build_function
from policy_engine.expr.template import Template
from policy_engine.inputs import InputChecker
from policy_engine.trace import TraceBuilder

if TYPE_CHECKING:
    from policy_engine.compiler.plan import CompiledExpr
    from policy_engine.source import SourceDoc


class _Run(NamedTuple):
    """What the generated function returned, by name."""

    rejected_gate: int
    check: Any  # the failing check's index, or the failing step's index on error
    fired: Any  # one bool per trigger, or the exception on error
    outputs: Any
    frame: Any  # the function's locals when tracing (and always on error)
    reject_values: Any  # placeholder values of the failing check's message
    trigger_values: Any  # placeholder values of each fired trigger's message


def _lazy(trigger: Any, values: Any) -> "LazyText | str":
    """A fired trigger's message, rendered only when someone reads it."""
    if trigger.message is None:
        return str(trigger.reason)
    return LazyText(lambda: _render(trigger.message, trigger.message_exprs, values, trigger.reason))


def _render(template: Template | None, exprs: "tuple[CompiledExpr, ...]", values: Any, fallback: str) -> str:
    if template is None:
        return fallback
    # A message without placeholders computes no values (the sentinel stays): nothing to look up.
    lookup = dict(zip((e.text for e in exprs), values if isinstance(values, tuple) else ()))
    return template.render(lambda name: lookup.get(name))

INPUTS_RULE = "INPUT_SCHEMA"


def now_to_us(now: Any) -> int | None:
    """Accept an aware datetime, an ISO 8601 string with offset, or integer microseconds."""
    if isinstance(now, bool):
        return None
    if isinstance(now, int):
        return now
    if isinstance(now, str):
        try:
            now = datetime.fromisoformat(now.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(now, datetime) and now.tzinfo is not None:
        delta = now - datetime(1970, 1, 1, tzinfo=timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return None


class CompiledPolicy(PolicyIdentity):
    """A policy ready to evaluate. Build it with ``policy_engine.load``."""

    def __init__(self, plan: Plan, checker: InputChecker):
        self.plan = plan
        self.checker = checker
        self._decide, self.source = build_function(plan)
        self._outputs = plan.outputs.names if plan.outputs else ()
        self._clock_in_inputs = "now" in plan.input_roots

    def evaluate(self, inputs: Mapping[str, Any], now: Any = None, *, trace: bool = False) -> Decision:
        """Decide on one request. ``now`` defaults to the request's own ``now`` field."""
        started = time.perf_counter()
        normalized, issues = self.checker.check(inputs)
        if issues:
            errors = tuple((issue.json_path, issue.message) for issue in issues)
            return self._invalid(errors, normalized, started)
        now_us = now_to_us(now) if now is not None else normalized.get("now") if self._clock_in_inputs else None
        if now_us is None:
            return self._invalid((("$.now", "the decision time is required (pass now=...)"),), normalized, started)
        rg, rc, fired, out, frame, reject_values, trigger_values = self._decide(normalized, now_us, trace)
        result = _Run(rg, rc, fired, out, frame, reject_values, trigger_values)
        return self._decision(normalized, now_us, result, started, trace)

    def invalid_request(self, message: str, json_path: str = "$") -> Decision:
        """The ``invalid_input`` rejection of a request that cannot even be read (a malformed
        JSONL line): the same Decision an unreadable field gets, naming what was wrong."""
        return self._invalid(((json_path, message),), None, time.perf_counter())

    def evaluate_batch(self, requests: "Iterable[Mapping[str, Any]]", now: Any = None) -> list[Decision]:
        """Decide on many requests in order (tracing off): one call, the same decisions."""
        evaluate = self.evaluate
        return [evaluate(request, now) for request in requests]

    # --- building the Decision ----------------------------------------------------------
    def _decision(self, inputs: Any, now: int, run: "_Run", started: float, trace: bool) -> Decision:
        rg, rc = run.rejected_gate, run.check
        if rg == ERROR:
            return self._error(self._trace_builder(inputs, now, run), rc, run.fired, started, trace)
        triggers = self.plan.triggers
        fired_at = [index for index, hit in enumerate(run.fired) if hit is True]
        fired = [FiredTrigger(triggers[i].id, triggers[i].reason, triggers[i].priority, triggers[i].severity,
                              _lazy(triggers[i], run.trigger_values[i]))
                 for i in fired_at]
        events = [Event(triggers[i].event, f.severity, f.id, f.reason, f.text)
                  for i, f in zip(fired_at, fired) if triggers[i].event]
        if rg >= 0:
            gate = self.plan.gates[rg]
            check = gate.checks[rc]
            message = _render(check.message, check.message_exprs, run.reject_values, check.reject)
            events = self._reject_events(gate, check.reject, message) + events
            outcome, reason, rule, values = REJECTED, check.reject, gate.id, {}
        else:
            outcome, message = APPROVED, ""
            reason, rule = (fired[0].reason, fired[0].id) if fired else (None, None)
            values = dict(zip(self._outputs, run.outputs))
        traced = None
        if trace:  # the trace is read off the evaluation afterwards: nothing above depends on it
            builder = self._trace_builder(inputs, now, run)
            first_trigger = len(self.plan.gates)
            builder.messages = {first_trigger + i: f.message for i, f in zip(fired_at, fired)}
            if rg >= 0:
                builder.messages[rg] = message
            traced = builder.build()
        return Decision(outcome, reason, rule, message, values, tuple(fired), tuple(events),
                        self._provenance(inputs, now, started), traced)

    def _trace_builder(self, inputs: Any, now: int, run: "_Run") -> TraceBuilder:
        rg, rc = run.rejected_gate, run.check
        return TraceBuilder(self.plan, inputs, now, run.frame or {}, rg, rc if rg >= 0 else -1,
                            rc if rg == ERROR else None, {})

    def _reject_events(self, gate: GateNode, reason: str, message: str) -> list[Event]:
        events = []
        if gate.emit is not None:
            events.append(Event(gate.emit.event, gate.emit.severity, gate.id, reason, message))
        if self.plan.on_reject is not None:
            events.append(Event(self.plan.on_reject.event, self.plan.on_reject.severity, gate.id, reason, message))
        return events

    def _error(self, builder: TraceBuilder, step: int, exc: Any, started: float, trace: bool) -> Decision:
        rules = self.plan.rules
        rule = rules[step].id if 0 <= step < len(rules) else "engine"
        culprit = self._failing_value(builder)
        where = f" computing '{culprit}'" if culprit else ""
        message = f"{rule}: {type(exc).__name__}{where}: {exc}"
        builder.messages = {step: message}
        events: list[Event] = []
        if self.plan.on_reject is not None:
            events.append(Event(self.plan.on_reject.event, self.plan.on_reject.severity, rule, ENGINE_ERROR, message))
        return Decision(REJECTED, ENGINE_ERROR, rule, message, {}, (), tuple(events),
                        self._provenance(builder.inputs, builder.now, started),
                        builder.build() if trace else None)

    def _failing_value(self, builder: TraceBuilder) -> str | None:
        """The value whose computation raised: the first in plan order that a reader needed but never got."""
        from policy_engine.engine.interpret import find_failing_value

        return find_failing_value(self.plan, builder.inputs, builder.now)

    def _invalid(self, errors: tuple[tuple[str, str], ...], inputs: Any, started: float) -> Decision:
        path, text = errors[0]
        message = f"invalid input at {path}: {text}"
        events: tuple[Event, ...] = ()
        if self.plan.on_reject is not None:
            events = (Event(self.plan.on_reject.event, self.plan.on_reject.severity, INPUTS_RULE, INVALID_INPUT,
                            message),)
        return Decision(REJECTED, INVALID_INPUT, INPUTS_RULE, message, {}, (), events,
                        self._provenance(inputs, None, started), None, errors)

    def _provenance(self, inputs: Any, now: int | None, started: float) -> Provenance:
        info = self.plan.info
        elapsed = (time.perf_counter() - started) * 1e6
        return Provenance(info.id, info.version, info.content_hash, now, elapsed, inputs)


def compile_decision_policy(doc: "SourceDoc", overrides: dict[str, Any]) -> CompiledPolicy:
    """The DecisionPolicy kind's compiler (see policy_engine.kinds)."""
    from policy_engine.compiler.compile import compile_document

    plan, checker = compile_document(doc, overrides)
    return CompiledPolicy(plan, checker)
