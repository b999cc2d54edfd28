"""The engine: one compiled policy, evaluated many times, from many threads.

``CompiledPolicy.evaluate`` checks the inputs against the policy's input schema, runs the
generated function, and turns what it returns into a Decision. Everything per call lives on the
call's stack: the policy object is immutable after construction, so threads can share it.
Fail closed: invalid input, a missing clock, or any error inside a rule is a rejection with a
reason code and the rule's id — never an approval, never an exception to the caller.

Building the Decision is cheap on purpose: what a rule contributes (its reason, events, message
template) is prepared once per policy (``engine/outcomes.py``); an approval that fired nothing
is one tuple; messages are rendered when read.
"""

from __future__ import annotations

import copy
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from policy_engine.compiler.plan import Plan, PolicyIdentity
from policy_engine.decision import APPROVED, ENGINE_ERROR, INVALID_INPUT, REJECTED, Decision, Event, Provenance, Text
from policy_engine.engine.codegen import ERROR, build_function
from policy_engine.engine.outcomes import Outcomes
from policy_engine.engine.tracing import TracePlan
from policy_engine.inputs import InputChecker

if TYPE_CHECKING:
    from policy_engine.source import SourceDoc

INPUTS_RULE = "INPUT_SCHEMA"
NO_CLOCK = (("$.now", "the decision time is required (pass now=...)"),)
_new = tuple.__new__
_clock = time.perf_counter


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
        self._outcomes = Outcomes(plan)
        self._clock_in_inputs = "now" in plan.input_roots
        self._identity = (plan.info.id, plan.info.version, plan.info.content_hash)
        self._trace_plan: TracePlan | None = None

    def evaluate(self, inputs: Mapping[str, Any], now: Any = None, *, trace: bool = False) -> Decision:
        """Decide on one request. ``now`` defaults to the request's own ``now`` field."""
        started = _clock()
        normalized: Any
        normalized, issues = self.checker.check(inputs)
        if issues:
            errors = tuple((issue.json_path, issue.message) for issue in issues)
            return self._invalid(errors, normalized, started)
        if now is not None:
            now_us = now_to_us(now)
        else:
            now_us = normalized.get("now") if self._clock_in_inputs else None
        if now_us is None:
            return self._invalid(NO_CLOCK, normalized, started)
        run = self._decide(normalized, now_us, trace)
        if run[0] == -1 and not trace and True not in run[2]:  # approved, nothing fired: the common case
            provenance = _new(Provenance, (*self._identity, now_us, (_clock() - started) * 1e6, normalized))
            return _new(Decision, (APPROVED, None, None, "", run[3], (), (), provenance, None, ()))
        return self._decision(normalized, now_us, run, started, trace)

    def contract_checked(self) -> "CompiledPolicy":
        """This policy checking the *whole* input schema, not only what its rules read.

        ``evaluate`` checks every field a rule reads (an unread field cannot change the decision,
        and not reading it is part of being fast). Callers that hold a request to its full
        contract — the risk facade, the command line — evaluate through this twin, which shares
        the compiled decision function and refuses a malformed field anywhere (~3 µs more)."""
        full = self.checker.full
        if full is self.checker:
            return self
        twin = copy.copy(self)
        twin.checker = full
        return twin

    def invalid_request(self, message: str, json_path: str = "$") -> Decision:
        """The ``invalid_input`` rejection of a request that cannot even be read (a malformed
        JSONL line): the same Decision an unreadable field gets, naming what was wrong."""
        return self._invalid(((json_path, message),), None, _clock())

    def evaluate_batch(self, requests: "Iterable[Mapping[str, Any]]", now: Any = None) -> list[Decision]:
        """Decide on many requests in order (tracing off): one call, the same decisions."""
        evaluate = self.evaluate
        return [evaluate(request, now) for request in requests]

    # --- building the Decision ----------------------------------------------------------
    def _decision(self, inputs: Any, now: int, run: tuple[Any, ...], started: float, trace: bool) -> Decision:
        rejected_gate, check, flags, out, frame, reject_values, trigger_values = run
        if rejected_gate == ERROR:
            return self._error(inputs, now, frame, check, flags, started, trace)
        fired, events = self._outcomes.fired(flags, trigger_values)
        message: Text = ""
        if rejected_gate >= 0:
            rejection = self._outcomes.rejections[rejected_gate][check]
            message, reject_events = rejection.build(reject_values)
            outcome, reason, rule, values = REJECTED, rejection.reason, rejection.rule, {}
            events = reject_events + events
        else:
            outcome, values = APPROVED, out
            reason, rule = (fired[0].reason, fired[0].id) if fired else (None, None)
        traced = None
        if trace:  # read off the evaluation afterwards: nothing above depends on it
            messages: dict[int, Text]
            first_trigger = len(self.plan.gates)
            messages = {first_trigger + i: f.text for i, f in zip(self._outcomes.fired_at(flags), fired)}
            if rejected_gate >= 0:
                messages[rejected_gate] = message
            check = check if rejected_gate >= 0 else -1
            traced = self.trace_plan.build(inputs, now, frame, rejected_gate, check, None, messages)
        return _new(Decision, (outcome, reason, rule, message, values, fired, events,
                               self._provenance(inputs, now, started), traced, ()))

    @property
    def trace_plan(self) -> TracePlan:
        """The trace's per-policy part, prepared on the first traced decision."""
        if self._trace_plan is None:
            self._trace_plan = TracePlan(self.plan)
        return self._trace_plan

    def _error(self, inputs: Any, now: int, frame: Any, step: int, exc: Any, started: float,
               trace: bool) -> Decision:
        from policy_engine.engine.interpret import find_failing_value

        rules = self.plan.rules
        rule = rules[step].id if 0 <= step < len(rules) else "engine"
        culprit = find_failing_value(self.plan, inputs, now)  # the value whose computation raised
        where = f" computing '{culprit}'" if culprit else ""
        message = f"{rule}: {type(exc).__name__}{where}: {exc}"
        events = self._reject_event(rule, ENGINE_ERROR, message)
        traced = self.trace_plan.build(inputs, now, frame, ERROR, -1, step, {step: message}) if trace else None
        return Decision(REJECTED, ENGINE_ERROR, rule, message, {}, (), events,
                        self._provenance(inputs, now, started), traced)

    def _invalid(self, errors: tuple[tuple[str, str], ...], inputs: Any, started: float) -> Decision:
        path, text = errors[0]
        message = f"invalid input at {path}: {text}"
        events = self._reject_event(INPUTS_RULE, INVALID_INPUT, message)
        return Decision(REJECTED, INVALID_INPUT, INPUTS_RULE, message, {}, (), events,
                        self._provenance(inputs, None, started), None, errors)

    def _reject_event(self, rule: str, reason: str, message: str) -> tuple[Event, ...]:
        spec = self.plan.on_reject
        return (Event(spec.event, spec.severity, rule, reason, message),) if spec is not None else ()

    def _provenance(self, inputs: Any, now: int | None, started: float) -> Provenance:
        return _new(Provenance, (*self._identity, now, (_clock() - started) * 1e6, inputs))


def compile_decision_policy(doc: "SourceDoc", overrides: dict[str, Any]) -> CompiledPolicy:
    """The DecisionPolicy kind's compiler (see policy_engine.kinds)."""
    from policy_engine.compiler.compile import compile_document

    plan, checker = compile_document(doc, overrides)
    return CompiledPolicy(plan, checker)
