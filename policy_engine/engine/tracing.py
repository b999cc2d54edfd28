"""A decision's trace, read off the generated function's locals after the decision.

A trace has one step per plan node, and almost all of a step does not depend on the request:
its rule, kind, location, expression text and the names it reads. So, like the decision itself,
the trace is made by functions generated once per policy (``TracePlan``, prepared on the first
traced decision). At decision time, ``capture`` reads every name any step reads — input paths,
values, params, ``now`` — once (steps that read the same field share the read); the TraceStep
objects are made from those reads and the function's locals when the trace is first read, so
they are the same whenever that happens. The generated text holds names it invents and
``repr`` of strings and numbers, nothing else.
"""

from __future__ import annotations

import operator
from functools import partial
from math import isfinite
from typing import Any, Callable, Mapping

from policy_engine.compiler.plan import GateNode, Plan, TriggerNode, ValueNode
from policy_engine.decision import Text
from policy_engine.engine.codegen import MISSING, value_var
from policy_engine.trace import (
    CLEAR, COMPUTED, ERROR, FAILED, FIRED, NOT_REACHED, PASSED, SKIPPED, Trace, TraceStep, short_repr,
)

_OPS = {"at_least": ">=", "above": ">", "below": "<", "at_most": "<="}
_COMPARE = {"at_least": operator.ge, "above": operator.gt, "below": operator.lt, "at_most": operator.le}
StepsFn = Callable[..., tuple[TraceStep, ...]]


class TracePlan:
    """A plan's trace, prepared once; ``build`` reads one evaluation's locals into a Trace."""

    def __init__(self, plan: Plan):
        self.plan = plan
        (self._capture, self._steps), self.source = _TraceGen(plan).generate()

    def build(self, inputs: Mapping[str, Any], now: int | None, frame: Mapping[str, Any], rejected_gate: int,
              rejected_check: int, error_step: int | None, messages: Mapping[int, Text]) -> Trace:
        """The trace of one evaluation. Every name the steps read is read now; the TraceStep
        objects are made from those reads when the trace is first read (``Trace.deferred``)."""
        captured = self._capture(frame, inputs, now)
        return Trace.deferred(partial(self._steps, captured, frame, rejected_gate, rejected_check, error_step,
                                      messages))


class _TraceGen:
    """Writes ``capture(frame, inputs, now)``, which reads every name any step reads, and
    ``build_steps(captured, frame, rg, rc, es, msg)``: rg/rc the rejecting gate and check, es the
    step that raised (or None), msg the messages by step number."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.capture = ["def capture(frame, inputs, now):", "    get = frame.get"]
        self.lines = ["def build_steps(captured, frame, rg, rc, es, msg):", "    get = frame.get"]
        self.namespace: dict[str, Any] = {
            "_M": MISSING, "_new": tuple.__new__, "_Step": TraceStep, "_str": str,
            "__builtins__": {"isinstance": isinstance, "dict": dict},
            "_NR": NOT_REACHED, "_OK": COMPUTED, "_PA": PASSED, "_FA": FAILED, "_SK": SKIPPED, "_FI": FIRED,
            "_CL": CLEAR, "_ER": ERROR}
        self.variables: dict[str, str] = {}
        self.captured: list[str] = []
        self.pairs: set[str] = set()

    def generate(self) -> tuple[tuple[Callable[..., Any], StepsFn], str]:
        steps = [self._step(index, node) for index, node in enumerate(self.plan.order)]
        self.capture.append("    return (" + "".join(f"{var}, " for var in self.captured) + ")")
        unpack = [f"    ({''.join(f'{var}, ' for var in self.captured)}) = captured"] if self.captured else []
        self.lines[2:2] = unpack
        self.lines.append("    return (\n        " + ",\n        ".join(steps) + ",\n    )")
        source = "\n".join(self.capture) + "\n\n\n" + "\n".join(self.lines) + "\n"
        exec(compile(source, f"<trace of {self.plan.info.id}>", "exec"), self.namespace)
        return (self.namespace["capture"], self.namespace["build_steps"]), source

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)

    def read(self, name: str) -> str:
        """A variable holding ``name`` as the evaluation saw it: a value from the locals, an input
        path from the inputs (a missing key, or a step into something that is not an object,
        reads as not computed), ``params.NAME`` from the plan, ``now`` as the decision time."""
        if name in self.variables:
            return self.variables[name]
        root, *rest = name.split(".")
        var = self.variables[name] = f"x{len(self.variables)}"
        if root == "params":  # as the plan holds it: constant for the policy's life
            self.namespace[var] = self.plan.params.get(rest[0], MISSING) if rest else MISSING
            return var
        if root == "now":
            source = "now"
        elif not rest:
            value = root in self.plan.values
            source = f"get({value_var(root)!r}, _M)" if value else f"inputs.get({root!r}, _M)"
        else:
            parent = self.read(".".join([root, *rest[:-1]]))
            source = f"{parent}.get({rest[-1]!r}, _M) if isinstance({parent}, dict) else _M"
        self.capture.append(f"    {var} = {source}")
        self.captured.append(var)
        return var

    def reads(self, names: list[str] | tuple[str, ...]) -> str:
        """A step's reads; each (name, value) pair is built once per decision and shared by the
        steps that read it (a param's pair once per policy)."""
        return "(" + "".join(f"{self.pair(name)}, " for name in names) + ")"

    def pair(self, name: str) -> str:
        var = self.read(name)
        pair = f"p{var[1:]}"
        if pair in self.pairs:
            return pair
        self.pairs.add(pair)
        if var in self.namespace:  # a param: a constant
            self.namespace[pair] = (name, self.namespace[var])
        else:
            self.emit(f"{pair} = ({name!r}, {var})")
        return pair

    def _step(self, index: int, node: Any) -> str:
        """The step's tuple display; statements for its status are emitted before the return."""
        location = f"{self.plan.info.file}:{node.line}"
        if isinstance(node, ValueNode):
            return self._value(index, node, location)
        if isinstance(node, GateNode):
            return self._gate(index, node, location)
        if isinstance(node, TriggerNode):
            return self._trigger(index, node, location)
        number = len(self.plan.gates) + len(self.plan.triggers)
        self.emit(f"s{index}, m{index} = (_ER, _str(msg.get({number}, ''))) if es == {number} else "
                  f"(_OK if rg < 0 and es is None else _NR, '')")
        reads = "(" + "".join(f"({name!r}, get({value_var(name)!r}, _M)), " for name in node.names) + ")"
        static = f"'outputs', 'outputs', {location!r}, {', '.join(node.names)!r}"
        return f"_new(_Step, ({static}, {reads}, None, s{index}, m{index}, ''))"

    def _value(self, index: int, node: ValueNode, location: str) -> str:
        reads = self.reads(sorted({name for expr in node.exprs for name in expr.reads}))
        result = self.read(node.name)  # the value itself, read
        detail = "''"
        if node.kind == "table":
            self.namespace[f"D{index}"] = _TableDetail(node)
            detail = f"'' if {result} is _M else D{index}(get('t_{node.name}', _M))"
        static = f"{node.name!r}, {node.kind!r}, {location!r}, {node.text!r}"
        return f"_new(_Step, ({static}, {reads}, {result}, _NR if {result} is _M else _OK, '', {detail}))"

    def _gate(self, index: int, gate: GateNode, location: str) -> str:
        number = self.plan.gates.index(gate)
        exprs = [gate.applies_when, *(c.pass_if for c in gate.checks)]
        reads = self.reads(sorted({name for expr in exprs if expr is not None for name in expr.reads}))
        checks = [f"get('k_{number}_{j}', _M)" for j in range(len(gate.checks))]
        result = f"r{index}"
        self.emit(f"{result} = {checks[0] if len(checks) == 1 else '(' + ', '.join(checks) + ',)'}")
        passed = f"{result} is True" if len(checks) == 1 else " and ".join(f"{result}[{j}] is True"
                                                                               for j in range(len(checks)))
        self.namespace[f"R{index}"] = tuple(check.reject for check in gate.checks)
        self.emit(f"if es == {number}: s{index}, m{index}, d{index} = _ER, _str(msg.get({number}, '')), ''")
        self.emit(f"elif get('a_{number}', _M) is False: s{index}, m{index}, d{index} = _SK, '', "
                  "'applies_when is false'")
        self.emit(f"elif rg == {number}: s{index}, m{index}, d{index} = "
                  f"_FA, _str(msg.get({number}, '')), R{index}[rc]")
        self.emit(f"else: s{index}, m{index}, d{index} = (_PA if {passed} else _NR), '', ''")
        text = " and ".join(c.pass_if.text for c in gate.checks)
        if gate.applies_when is not None:
            text = f"when {gate.applies_when.text}: {text}"
        static = f"{gate.id!r}, 'gate', {location!r}, {text!r}"
        return f"_new(_Step, ({static}, {reads}, {result}, s{index}, m{index}, d{index}))"

    def _trigger(self, index: int, trigger: TriggerNode, location: str) -> str:
        number = self.plan.triggers.index(trigger)
        step = len(self.plan.gates) + number
        reads = self.reads(trigger.when.reads)
        fired = f"r{index}"
        self.emit(f"{fired} = get('r_{number}', _M)")
        self.emit(f"s{index} = _ER if es == {step} else _NR if {fired} is _M else "
                  f"_FI if {fired} is True else _CL")
        self.emit(f"m{index} = _str(msg.get({step}, '')) if s{index} is _FI or s{index} is _ER else ''")
        static = f"{trigger.id!r}, 'trigger', {location!r}, {trigger.when.text!r}"
        return f"_new(_Step, ({static}, {reads}, {fired}, s{index}, m{index}, " \
               f"{trigger.reason!r} if s{index} is _FI else ''))"


class _TableDetail:
    """Which case or band a table took, for the looked-up value the evaluation left behind."""

    def __init__(self, node: ValueNode):
        self.cases, self.else_text = dict(node.cases), f"else -> {node.else_value!r}"
        self.bands = [(_COMPARE[band.kind], band.threshold,
                       f" {_OPS[band.kind]} {band.threshold!r} -> {band.value!r}") for band in node.bands]

    def __call__(self, looked_up: Any) -> str:
        if self.cases:
            hit = self.cases.get(looked_up) if isinstance(looked_up, str) else None
            return f"case {looked_up!r} -> {hit!r}" if hit is not None else self.else_text
        for holds, threshold, text in self.bands:
            try:
                if holds(looked_up, threshold):
                    plain = type(looked_up) is float and isfinite(looked_up)
                    return (repr(looked_up) if plain else short_repr(looked_up)) + text
            except TypeError:
                continue
        return self.else_text
