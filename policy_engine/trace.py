"""Traces: what every step read, computed and concluded, in evaluation order.

A trace is built after the decision from what the evaluation left behind (the compiled
function's locals), so an untraced decision records nothing at all and a traced one is the
same decision by construction. Every step names its rule, kind, ``file:line``, expression,
the values it read, its result, its status and, for a failed gate, the rendered message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from policy_engine.compiler.plan import CompiledExpr, GateNode, OutputsNode, Plan, Step, TriggerNode, ValueNode
from policy_engine.decision import bounded_int
from policy_engine.engine.codegen import MISSING, value_var

COMPUTED, NOT_REACHED, PASSED, FAILED, SKIPPED, FIRED, CLEAR, ERROR = (
    "computed", "not reached", "passed", "failed", "skipped", "fired", "clear", "error")


@dataclass(frozen=True, slots=True)
class TraceStep:
    rule: str
    kind: str
    location: str
    expression: str
    reads: tuple[tuple[str, Any], ...]
    result: Any
    status: str
    message: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule, "kind": self.kind, "location": self.location, "expression": self.expression,
            "reads": {name: _plain(value) for name, value in self.reads}, "result": _plain(self.result),
            "status": self.status,
        }
        if self.message:
            data["message"] = self.message
        if self.detail:
            data["detail"] = self.detail
        return data

    def format_text(self) -> str:
        reads = ", ".join(f"{name}={_short(value)}" for name, value in self.reads)
        line = f"{self.status:>11}  {self.kind:<8} {self.rule:<30} {self.location}"
        parts = [line, f"{'':13}{self.expression}"]
        if reads:
            parts.append(f"{'':13}reads: {reads}")
        if self.status not in (NOT_REACHED, SKIPPED):
            parts.append(f"{'':13}-> {_short(self.result)}" + (f"  ({self.detail})" if self.detail else ""))
        if self.message:
            parts.append(f"{'':13}message: {self.message}")
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class Trace:
    steps: tuple[TraceStep, ...]

    def to_list(self) -> list[dict[str, Any]]:
        return [step.to_dict() for step in self.steps]

    def format_text(self) -> str:
        return "\n".join(step.format_text() for step in self.steps)

    def step(self, rule: str) -> TraceStep:
        return next(s for s in self.steps if s.rule == rule)


def _plain(value: Any) -> Any:
    if value is MISSING:
        return "<not computed>"
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    if isinstance(value, int) and not isinstance(value, bool):
        return bounded_int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # JSON has no NaN or infinity: shown as in Decision.values
    return value


def _short(value: Any) -> str:
    text = repr(_plain(value))
    return text if len(text) <= 80 else text[:77] + "..."


class TraceBuilder:
    """Reads one evaluation's locals and renders every plan step as a TraceStep."""

    def __init__(self, plan: Plan, inputs: Mapping[str, Any], now: int, frame: Mapping[str, Any],
                 rejected_gate: int, rejected_check: int, error_step: int | None, messages: Mapping[int, str]):
        self.plan, self.inputs, self.now, self.frame = plan, inputs, now, frame
        self.rejected_gate, self.rejected_check, self.error_step = rejected_gate, rejected_check, error_step
        self.messages = messages

    def build(self) -> Trace:
        steps = [self._step(step) for step in self.plan.order]
        return Trace(tuple(steps))

    def lookup(self, name: str) -> Any:
        """The value of a dotted name as this evaluation saw it."""
        root, *rest = name.split(".")
        if root == "params":
            return self.plan.params.get(rest[0], MISSING) if rest else MISSING
        if root == "now":
            return self.now
        if root in self.plan.values:
            value = self.frame.get(value_var(root), MISSING)
        else:
            value = self.inputs.get(root, MISSING)
        for part in rest:
            if not isinstance(value, dict):
                return MISSING
            value = value.get(part, MISSING)
        return value

    def _reads(self, exprs: Iterable[CompiledExpr | None]) -> tuple[tuple[str, Any], ...]:
        names = sorted({name for expr in exprs if expr is not None for name in expr.reads})
        return tuple((name, self.lookup(name)) for name in names)

    def _location(self, line: int) -> str:
        return f"{self.plan.info.file}:{line}"

    def _step(self, step: Step) -> TraceStep:
        if isinstance(step, ValueNode):
            return self._value(step)
        if isinstance(step, GateNode):
            return self._gate(step)
        if isinstance(step, TriggerNode):
            return self._trigger(step)
        return self._outputs(step)

    def _value(self, node: ValueNode) -> TraceStep:
        result = self.frame.get(value_var(node.name), MISSING)
        status = NOT_REACHED if result is MISSING else COMPUTED
        detail = self._table_detail(node) if node.kind == "table" and result is not MISSING else ""
        return TraceStep(node.name, node.kind, self._location(node.line), node.text, self._reads(node.exprs),
                         result, status, detail=detail)

    def _table_detail(self, node: ValueNode) -> str:
        looked_up = self.frame.get(f"t_{node.name}", MISSING)
        if node.cases:
            hit = dict(node.cases).get(looked_up) if isinstance(looked_up, str) else None
            return f"case {looked_up!r} -> {hit!r}" if hit is not None else f"else -> {node.else_value!r}"
        ops = {"at_least": ">=", "above": ">", "below": "<", "at_most": "<="}
        for band in node.bands:
            if _compare(looked_up, ops[band.kind], band.threshold):
                return f"{_short(looked_up)} {ops[band.kind]} {band.threshold!r} -> {band.value!r}"
        return f"else -> {node.else_value!r}"

    def _gate(self, gate: GateNode) -> TraceStep:
        index = self.plan.gates.index(gate)
        exprs = [gate.applies_when, *(c.pass_if for c in gate.checks)]
        text = " and ".join(c.pass_if.text for c in gate.checks)
        if gate.applies_when is not None:
            text = f"when {gate.applies_when.text}: {text}"
        applies = self.frame.get(f"a_{index}", MISSING)
        checks = tuple(self.frame.get(f"k_{index}_{j}", MISSING) for j in range(len(gate.checks)))
        status, message, detail = self._gate_status(index, gate, applies, checks)
        result: Any = checks[0] if len(checks) == 1 else checks
        return TraceStep(gate.id, "gate", self._location(gate.line), text, self._reads(exprs), result, status,
                         message, detail)

    def _gate_status(self, index: int, gate: GateNode, applies: Any, checks: tuple[Any, ...]) -> tuple[str, str, str]:
        if self.error_step == index:
            return ERROR, self.messages.get(index, ""), ""
        if applies is False:
            return SKIPPED, "", "applies_when is false"
        if index == self.rejected_gate:
            check = gate.checks[self.rejected_check]
            return FAILED, self.messages.get(index, ""), check.reject
        if all(c is True for c in checks):
            return PASSED, "", ""
        return NOT_REACHED, "", ""

    def _trigger(self, trigger: TriggerNode) -> TraceStep:
        index = self.plan.triggers.index(trigger)
        fired = self.frame.get(f"r_{index}", MISSING)
        status = NOT_REACHED if fired is MISSING else FIRED if fired is True else CLEAR
        if self.error_step == len(self.plan.gates) + index:
            status = ERROR
        message = self.messages.get(len(self.plan.gates) + index, "") if status in (FIRED, ERROR) else ""
        return TraceStep(trigger.id, "trigger", self._location(trigger.line), trigger.when.text,
                         self._reads([trigger.when]), fired, status, message,
                         trigger.reason if status == FIRED else "")

    def _outputs(self, outputs: OutputsNode) -> TraceStep:
        reads = tuple((name, self.frame.get(value_var(name), MISSING)) for name in outputs.names)
        reached = self.rejected_gate < 0 and self.error_step is None
        status, message = COMPUTED if reached else NOT_REACHED, ""
        step = len(self.plan.gates) + len(self.plan.triggers)
        if self.error_step == step:  # a value only the outputs read failed
            status, message = ERROR, self.messages.get(step, "")
        return TraceStep("outputs", "outputs", self._location(outputs.line), ", ".join(outputs.names), reads,
                         None, status, message)


def _compare(left: Any, op: str, right: float) -> bool:
    try:
        return bool({">=": left >= right, ">": left > right, "<": left < right, "<=": left <= right}[op])
    except TypeError:
        return False
