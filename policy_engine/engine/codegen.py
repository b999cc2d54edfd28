"""Plan -> one straight-line Python function per policy (the fast path).

Like a template engine compiling templates to Python, the engine compiles a Plan into a single
function, so a decision costs about what hand-written code costs. The function is generated
only from the checked Plan (names it invents, ``repr`` of constants), never from raw policy
text. Its shape:

    def decide(inp, now, tracing):
        <input roots and sentinels>
        try:
            for _ in ONCE:            # gates, in order; `break` = first failing check
                ...
            <triggers, in priority order>
            <outputs, only when no gate rejected>
            return rejected_gate, rejected_check, fired, outputs, (locals() if tracing else None)
        except Exception as exc:     # fail closed: the caller turns this into a rejection
            return ERROR, step, exc, None, locals()

Values are computed when first needed: a value read on every path of a step is computed by a
statement just before it; a value read only on some paths (one branch of ``a if c else b``, the
right side of ``and``/``or``) is computed inline, memoized with ``:=``. Tracing reads the
function's locals after the fact, so with tracing off nothing is recorded at all.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

from policy_engine.compiler.plan import CheckNode, CompiledExpr, GateNode, Plan, TriggerNode, ValueNode
from policy_engine.expr.codegen import HELPERS, ExprCodegen
from policy_engine.expr.functions import FUNCTIONS

ERROR = -2


class Missing:
    """Sentinel for a value that was not computed (lazy, skipped or not reached)."""

    _instance: "Missing | None" = None

    def __new__(cls) -> "Missing":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<not computed>"


MISSING = Missing()
DecideFn = Callable[[dict[str, Any], int, bool], tuple[int, Any, Any, Any, Any, Any, Any]]


def value_var(name: str) -> str:
    return f"v_{name}"


@dataclass
class _Names:
    """Implements the expression code generator's NameRenderer for one function."""

    gen: "_FunctionGen"

    def is_input(self, name: str) -> bool:
        return name in self.gen.plan.input_roots

    def is_extra(self, name: str) -> bool:
        return name == "now"

    def extra(self, name: str) -> str:
        return name

    def input_root(self, name: str) -> str:
        self.gen.roots_used.add(name)
        return f"i_{name}"

    def param(self, name: str) -> str:
        value = self.gen.plan.params[name]
        if value is None or isinstance(value, (bool, int, float, str)):
            return repr(value)
        key = f"P_{name}"
        self.gen.namespace[key] = tuple(value) if isinstance(value, list) else value
        return key

    def value(self, name: str, conditional: bool) -> str:
        var = value_var(name)
        if self.gen.is_computed(name):
            return var
        return f"({var} if {var} is not _M else ({var} := {self.gen.value_expr(name)}))"


@dataclass
class _FunctionGen:
    plan: Plan
    lines: list[str] = field(default_factory=list)
    namespace: dict[str, Any] = field(default_factory=dict)
    roots_used: set[str] = field(default_factory=set)
    computed: list[set[str]] = field(default_factory=lambda: [set()])
    indent: int = 2

    def __post_init__(self) -> None:
        self.names = _Names(self)

    # --- bookkeeping --------------------------------------------------------------------
    def is_computed(self, name: str) -> bool:
        return any(name in frame for frame in self.computed)

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def push(self) -> None:
        self.indent += 1
        self.computed.append(set())

    def pop(self) -> None:
        self.indent -= 1
        self.computed.pop()

    # --- expressions --------------------------------------------------------------------
    def expr(self, compiled: CompiledExpr, conditional: bool = False) -> str:
        return ExprCodegen(self.names, compiled.node_kinds).render(compiled.tree, conditional)

    def hoist(self, compiled: CompiledExpr) -> None:
        """Compute, as statements, the values this expression needs computed beforehand."""
        for name in self._ordered(self._prerequisites(compiled)):
            self.hoist_value(name)

    def hoist_value(self, name: str) -> None:
        if self.is_computed(name):
            return
        node = self.plan.values[name]
        for expr in node.exprs:
            for dependency in self._ordered(self._prerequisites(expr)):
                self.hoist_value(dependency)
        var = value_var(name)
        self.emit(f"if {var} is _M: {var} = {self.value_expr(name)}")
        self.computed[-1].add(name)

    def _prerequisites(self, compiled: CompiledExpr) -> set[str]:
        """Values read on every path: computed by statements before the expression."""
        return set(compiled.always_values)

    def _ordered(self, names: frozenset[str]) -> list[str]:
        order = list(self.plan.values)
        return sorted(names, key=order.index)

    def value_expr(self, name: str) -> str:
        node = self.plan.values[name]
        if node.kind == "value":
            return self.expr(node.exprs[0], conditional=True)
        if node.kind == "combiner":
            return self._combiner(node)
        return self._table(node)

    def _bound(self, bound: float | CompiledExpr) -> str:
        return repr(bound) if isinstance(bound, float) else self.expr(bound, True)

    def _combiner(self, node: ValueNode) -> str:
        parts = [self.expr(e, True) for e in node.exprs[:len(node.exprs) - node._bound_exprs]]
        joined = {"product": " * ", "sum": " + "}.get(node.op)
        combined = f"({joined.join(parts)})" if joined else f"F_{node.op}({', '.join(parts)})"
        if node.bounds is None:
            return combined
        return f"F_clamp({combined}, {self._bound(node.bounds[0])}, {self._bound(node.bounds[1])})"

    def _table(self, node: ValueNode) -> str:
        t, b = f"t_{node.name}", f"b_{node.name}"
        of = self.expr(node.exprs[0], True)
        parts = [f"{t} := {of}" if node.cases else f"{t} := F_snap({of})"]
        if node.cases:
            key = f"C_{node.name}"
            self.namespace[key] = dict(node.cases)
            parts.append(f"{b} := {key}.get({t}, {node.else_value!r})")
        else:
            parts.append(f"{b} := {self._bands(node, t)}")
        for (times, set_to), when in zip(node.adjust, node.exprs[1:]):
            new = f"{b} * {times!r}" if times is not None else repr(set_to)
            parts.append(f"{b} := ({new} if {self.expr(when, True)} else {b})")
        if node.bounds is not None:
            parts.append(f"F_clamp({b}, {self._bound(node.bounds[0])}, {self._bound(node.bounds[1])})")
        else:
            parts.append(b)
        return f"({', '.join(parts)})[-1]"

    @staticmethod
    def _bands(node: ValueNode, t: str) -> str:
        ops = {"at_least": ">=", "above": ">", "below": "<", "at_most": "<="}
        chain = [f"{band.value!r} if {t} {ops[band.kind]} {band.threshold!r} else" for band in node.bands]
        return "(" + " ".join([*chain, repr(node.else_value)]) + ")"

    # --- rules --------------------------------------------------------------------------
    def gate(self, index: int, gate: GateNode) -> None:
        self.emit(f"st = {index}")
        if gate.applies_when is not None:
            self.hoist(gate.applies_when)
            self.emit(f"a_{index} = {self.expr(gate.applies_when)}")
            self.emit(f"if a_{index} is not False:")
            self.push()
        for check_index, check in enumerate(gate.checks):
            self.hoist(check.pass_if)
            var = f"k_{index}_{check_index}"
            self.emit(f"{var} = {self.expr(check.pass_if)}")
            self.emit(f"if {var} is not True: rg = {index}; rc = {check_index}; mv = {self.message(check)}; break")
        if gate.applies_when is not None:
            self.pop()

    def trigger(self, step: int, index: int, trigger: TriggerNode) -> None:
        self.emit(f"st = {step}")
        self.hoist(trigger.when)
        self.emit(f"r_{index} = {self.expr(trigger.when)} is True")
        if trigger.message_exprs:
            self.emit(f"if r_{index}: m_{index} = {self.message(trigger)}")

    def message(self, node: CheckNode | TriggerNode) -> str:
        """The placeholder values of a message, computed only when the message is needed."""
        parts = "".join(f"{self.expr(e, conditional=True)}, " for e in node.message_exprs)
        return f"({parts})"


def generate(plan: Plan) -> tuple[str, dict[str, Any]]:
    """The source of ``decide`` and the namespace it runs in."""
    gen = _FunctionGen(plan)
    gen.emit("for _ in ONCE:")
    gen.push()
    for index, gate in enumerate(plan.gates):
        gen.gate(index, gate)
    gen.emit("break")
    gen.pop()
    for index, trigger in enumerate(plan.triggers):
        gen.trigger(len(plan.gates) + index, index, trigger)
    fired = "".join(f"r_{i}, " for i in range(len(plan.triggers)))
    outputs = plan.outputs.names if plan.outputs else ()
    gen.emit("if rg < 0:")
    gen.push()
    gen.emit(f"st = {len(plan.gates) + len(plan.triggers)}")
    for name in outputs:
        gen.hoist_value(name)
    gen.emit(f"out = ({''.join(f'{value_var(n)}, ' for n in outputs)})")
    gen.pop()
    gen.emit("else: out = None")
    messages = "".join(f"m_{i}, " for i in range(len(plan.triggers)))
    gen.emit(f"return rg, rc, ({fired}), out, (locals() if tracing else None), mv, ({messages})")
    return _assemble(gen), gen.namespace


def _assemble(gen: _FunctionGen) -> str:
    plan = gen.plan
    sentinels = [value_var(n) for n in plan.values] + [f"t_{n}" for n, v in plan.values.items() if v.kind == "table"]
    sentinels += [f"b_{n}" for n, v in plan.values.items() if v.kind == "table"]
    sentinels += [f"a_{i}" for i, g in enumerate(plan.gates) if g.applies_when is not None]
    sentinels += [f"k_{i}_{j}" for i, g in enumerate(plan.gates) for j in range(len(g.checks))]
    sentinels += [f"r_{i}" for i in range(len(plan.triggers))]
    sentinels += [f"m_{i}" for i in range(len(plan.triggers))] + ["mv"]
    head = ["def decide(inp, now, tracing):", "    st = -1; rg = -1; rc = -1"]
    head += [f"    {' = '.join(sentinels[i:i + 40])} = _M" for i in range(0, len(sentinels), 40)]
    # .get: a top-level field the schema does not require may be absent; it reads as None.
    head += [f"    i_{root} = inp.get({root!r})" for root in sorted(gen.roots_used)]
    head.append("    try:")
    tail = ["    except Exception as exc:", "        return ERROR, st, exc, None, locals(), None, None"]
    return "\n".join(head + gen.lines + tail) + "\n"


def build_function(plan: Plan) -> tuple[DecideFn, str]:
    source, namespace = generate(plan)
    namespace.update({f"F_{name}": fn for name, fn in FUNCTIONS.items()})
    namespace.update(HELPERS)
    namespace.update({"_M": MISSING, "ONCE": (None,), "ERROR": ERROR,
                      "__builtins__": {"locals": locals, "Exception": Exception}})
    with warnings.catch_warnings():
        # CPython warns about some checked-but-odd expressions (``1[0]``): they fail closed at
        # run time, and a warning about generated code would mean nothing to a policy author.
        warnings.simplefilter("ignore", SyntaxWarning)
        code = compile(source, f"<policy {plan.info.id} {plan.info.version}>", "exec")
    exec(code, namespace)  # noqa: S102 - source generated from the checked plan only
    return namespace["decide"], source
