"""The reference interpreter: the Plan evaluated by simpleeval, one node at a time.

Slow and plain on purpose. It defines what the generated fast path must compute — tests run
both on generated inputs and compare outcome, reasons, fired triggers, outputs and every
computed value — and, when a compiled decision fails, it pinpoints the value that raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from policy_engine.compiler.plan import CompiledExpr, Plan, ValueNode
from policy_engine.expr.functions import FUNCTIONS
from policy_engine.expr.reference import ReferenceEvaluator


class ValueError_(Exception):
    """Raised when computing a named value fails; carries the value's name."""

    def __init__(self, name: str, cause: BaseException):
        super().__init__(f"{name}: {type(cause).__name__}: {cause}")
        self.name, self.cause = name, cause


@dataclass
class Record:
    rejected_gate: int = -1
    rejected_check: int = -1
    fired: tuple[bool, ...] = ()
    outputs: tuple[Any, ...] | None = None
    values: dict[str, Any] = field(default_factory=dict)
    error: ValueError_ | BaseException | None = None
    messages: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # rule id -> its message's placeholder values


class _Names(dict[str, Any]):
    """Names visible to expressions; named values are computed on first read."""

    def __init__(self, interpreter: "Interpreter"):
        super().__init__()
        self.interpreter = interpreter

    def __missing__(self, name: str) -> Any:
        return self.interpreter.value(name)


class Interpreter:
    def __init__(self, plan: Plan, inputs: Mapping[str, Any], now: int):
        self.plan, self.now = plan, now
        self.values: dict[str, Any] = {}
        self.names = _Names(self)
        # A top-level field the schema does not require may be absent: it reads as None (as in codegen).
        self.names.update({root: inputs.get(root) for root in plan.input_roots})
        self.names.update({"now": now, "params": dict(plan.params)})

    def eval(self, expr: CompiledExpr, locals_: Mapping[str, Any] | None = None) -> Any:
        return ReferenceEvaluator(self.names).evaluate(expr.tree)

    def value(self, name: str) -> Any:
        if name not in self.plan.values:
            raise KeyError(name)
        if name not in self.values:
            node = self.plan.values[name]
            try:
                self.values[name] = self._compute(node)
            except ValueError_:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure is reported with the value's name
                raise ValueError_(name, exc) from exc
        return self.values[name]

    def _compute(self, node: ValueNode) -> Any:
        if node.kind == "value":
            return self.eval(node.exprs[0])
        bounds = [b if isinstance(b, float) else self.eval(b) for b in node.bounds or ()]
        if node.kind == "combiner":
            parts = [self.eval(e) for e in node.exprs[:len(node.exprs) - node._bound_exprs]]
            result = _combine(node.op, parts)
        else:
            result = self._table(node)
        return FUNCTIONS["clamp"](result, *bounds) if bounds else result

    def _table(self, node: ValueNode) -> Any:
        looked_up = self.eval(node.exprs[0])
        if node.cases:
            result = dict(node.cases).get(looked_up, node.else_value)
        else:
            x = FUNCTIONS["snap"](looked_up)
            result = next((band.value for band in node.bands if _holds(x, band.kind, band.threshold)), node.else_value)
        for (times, set_to), when in zip(node.adjust, node.exprs[1:]):
            if self.eval(when):
                result = result * times if times is not None else set_to
        return result


def _combine(op: str, parts: list[Any]) -> Any:
    if op == "product":
        result = parts[0]
        for part in parts[1:]:
            result = result * part
        return result
    if op == "sum":
        return sum(parts)
    return FUNCTIONS[op](*parts)


def _holds(x: Any, kind: str, threshold: float) -> bool:
    if kind == "at_least":
        return bool(x >= threshold)
    if kind == "above":
        return bool(x > threshold)
    if kind == "below":
        return bool(x < threshold)
    return bool(x <= threshold)


def interpret(plan: Plan, inputs: Mapping[str, Any], now: int) -> Record:
    """Evaluate the plan by the book; errors are recorded, not raised."""
    run = Interpreter(plan, inputs, now)
    record = Record()
    try:
        _gates(plan, run, record)
        record.fired = _triggers(plan, run, record)
        if record.rejected_gate < 0 and plan.outputs:
            record.outputs = tuple(run.value(name) for name in plan.outputs.names)
    except Exception as exc:  # noqa: BLE001 - the reference records every failure
        record.error = exc
    record.values = dict(run.values)
    return record


def _gates(plan: Plan, run: Interpreter, record: Record) -> None:
    for index, gate in enumerate(plan.gates):
        if gate.applies_when is not None and run.eval(gate.applies_when) is False:
            continue
        for check_index, check in enumerate(gate.checks):
            if run.eval(check.pass_if) is not True:
                record.rejected_gate, record.rejected_check = index, check_index
                record.messages[gate.id] = tuple(run.eval(e) for e in check.message_exprs)
                return


def _triggers(plan: Plan, run: Interpreter, record: Record) -> tuple[bool, ...]:
    """Each trigger in priority order; a fired trigger's message values right after it."""
    fired = []
    for trigger in plan.triggers:
        fired.append(run.eval(trigger.when) is True)
        if fired[-1]:
            record.messages[trigger.id] = tuple(run.eval(e) for e in trigger.message_exprs)
    return tuple(fired)


def find_failing_value(plan: Plan, inputs: Mapping[str, Any], now: int) -> str | None:
    record = interpret(plan, inputs, now)
    return record.error.name if isinstance(record.error, ValueError_) else None
