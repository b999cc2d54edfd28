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

Each value is computed once, by a statement where it is first needed, and read as a plain local
afterwards (``engine/lowering.py`` knows at each point what is computed already); a value needed
only on some paths is computed inside that path. Tracing reads the function's locals after the
fact, so with tracing off nothing is recorded at all.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

from policy_engine.compiler.plan import CheckNode, GateNode, Plan, TriggerNode
from policy_engine.engine.lowering import Emitter, value_var
from policy_engine.errors import Code, Diagnostic, PolicyError
from policy_engine.expr.codegen import HELPERS
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
PASSED = ("#no gate rejected", "true")  # the condition "the gates' loop ran to its end"

__all__ = ["ERROR", "MISSING", "DecideFn", "Missing", "build_function", "generate", "value_var"]


def _gate(out: Emitter, index: int, gate: GateNode) -> None:
    out.emit(f"st = {index}")
    if gate.applies_when is None:
        _checks(out, index, gate)
        return
    out.expr(gate.applies_when, into=f"a_{index}")
    with out.block(f"if a_{index} is not False:", out.condition(gate.applies_when.tree.body, None)):
        _checks(out, index, gate)


def _checks(out: Emitter, index: int, gate: GateNode) -> None:
    for check_index, check in enumerate(gate.checks):
        var = f"k_{index}_{check_index}"
        out.expr(check.pass_if, into=var)
        with out.block(f"if {var} is not True:", out.facts.marker()):
            out.emit(f"rg = {index}; rc = {check_index}; mv = {_message(out, check)}; break")


def _trigger(out: Emitter, step: int, index: int, trigger: TriggerNode) -> None:
    out.emit(f"st = {step}")
    out.emit(f"r_{index} = ({out.expr(trigger.when)}) is True")
    if trigger.message_exprs:
        with out.block(f"if r_{index}:", out.facts.marker()):
            out.emit(f"m_{index} = {_message(out, trigger)}")


def _message(out: Emitter, node: CheckNode | TriggerNode) -> str:
    """The placeholder values of a message: computed only where the message is needed."""
    return "(" + "".join(f"{out.expr(e)}, " for e in node.message_exprs) + ")"


def generate(plan: Plan) -> tuple[str, dict[str, Any]]:
    """The source of ``decide`` and the namespace it runs in."""
    out = Emitter(plan, indent=2)
    with out.block("for _ in ONCE:", PASSED):
        for index, gate in enumerate(plan.gates):
            _gate(out, index, gate)
        out.emit("break")
    for index, trigger in enumerate(plan.triggers):
        _trigger(out, len(plan.gates) + index, index, trigger)
    outputs = plan.outputs.names if plan.outputs else ()
    with out.block("if rg < 0:", PASSED):
        out.emit(f"st = {len(plan.gates) + len(plan.triggers)}")
        for name in outputs:
            out.ensure(name)
        out.emit("out = {" + ", ".join(f"{name!r}: {value_var(name)}" for name in outputs) + "}")
    fired = "".join(f"r_{i}, " for i in range(len(plan.triggers)))
    messages = "".join(f"m_{i}, " if t.message_exprs else "None, " for i, t in enumerate(plan.triggers))
    out.emit(f"return rg, rc, ({fired}), out, (locals() if tracing else None), mv, ({messages})")
    return _assemble(out), out.namespace


def _assemble(out: Emitter) -> str:
    plan = out.plan
    sentinels = sorted(out.sentinels, key=lambda var: (len(var), var)) + ["mv"]
    sentinels += [f"m_{i}" for i, trigger in enumerate(plan.triggers) if trigger.message_exprs]
    head = ["def decide(inp, now, tracing):", "    st = -1; rg = -1; rc = -1; out = None"]
    head += [f"    {' = '.join(sentinels[i:i + 40])} = _M" for i in range(0, len(sentinels), 40)]
    # .get: a top-level field the schema does not require may be absent; it reads as None.
    head += [f"    i_{root} = inp.get({root!r})" for root in sorted(out.roots_used)]
    head.append("    try:")
    tail = ["    except Exception as exc:", "        return ERROR, st, exc, None, locals(), None, None"]
    return "\n".join(head + out.lines + tail) + "\n"


def build_function(plan: Plan) -> tuple[DecideFn, str]:
    try:
        source, namespace = generate(plan)
        decide, source = _compile(plan, source, namespace)
    except (SyntaxError, RecursionError, MemoryError) as exc:  # nesting beyond what Python compiles
        first = next(iter(plan.values.values()), None)
        raise PolicyError([Diagnostic(
            plan.info.file, first.line if first else 1, 1, Code.EXPR_TOO_COMPLEX,
            f"the values depend on each other too deeply to compile ({type(exc).__name__})", "$.values",
            "split a long chain of conditional values, or compute parts unconditionally")]) from None
    return decide, source


def _compile(plan: Plan, source: str, namespace: dict[str, Any]) -> tuple[DecideFn, str]:
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
