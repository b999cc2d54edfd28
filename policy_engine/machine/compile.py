"""The machine compiler: a shape-checked MachinePolicy -> a MachinePlan, or located Diagnostics.

Named stages, each returning diagnostics; compilation stops after the first stage with an error:
shape (JSON Schema), ir, params (``--set`` overrides), inputs (the observation schema),
structure (states, transitions, names), expressions (every expression checked against the
names its phase may read, durations computed from params, value cycles refused).
"""

from __future__ import annotations

from typing import Any

from policy_engine.compiler.compile import Locator, _content_hash, _load_inputs, _stage, check_policy_shape
from policy_engine.compiler.plan import PolicyInfo
from policy_engine.compiler.structure import apply_overrides
from policy_engine.errors import Code, Diagnostic
from policy_engine.expr.language import ANY, BOOL, LIST, NONE, NUM, STR, Scope, analyze
from policy_engine.expr.reference import ReferenceEvaluator
from policy_engine.expr.template import parse_template
from policy_engine.inputs import InputChecker
from policy_engine.ir import Expr, PolicySpec, build_ir
from policy_engine.machine.checks import check_structure
from policy_engine.machine.evaluate import MachineExpr
from policy_engine.machine.plan import (
    ActionNode,
    BounceNode,
    FailSafeNode,
    GuardNode,
    MachinePlan,
    OverrideNode,
    RegisterNode,
    TimerNode,
    TransitionNode,
)
from policy_engine.machine.spec import ActionSpec, MachineSpec, TransitionSpec, build_machine_spec
from policy_engine.source import SourceDoc

NOT_CONDITIONS = (NUM, STR, LIST, NONE)
# Names added after the transitions, by phase (docs/machines.md, "The step").
AFTER_TRANSITIONS = {"start_state": STR, "taken": LIST}
AFTER_ACTIONS = {**AFTER_TRANSITIONS, "action_items": LIST}


def compile_machine(doc: SourceDoc, overrides: dict[str, Any]) -> tuple[MachinePlan, InputChecker]:
    locate = Locator(doc)
    check_policy_shape(doc)
    policy = build_ir(doc.data)
    spec = _stage(_machine_spec(doc, locate))
    params = _stage(apply_overrides(policy, overrides, locate))
    checker, input_schema = _stage(_load_inputs(policy, doc, locate))
    inputs: dict[str, dict[str, Any]] = input_schema["properties"]
    _stage((None, check_structure(spec, policy, doc.data, inputs, locate)))
    builder = _PlanBuilder(policy, spec, params, inputs, locate)
    plan = _stage(builder.build(_content_hash(doc, input_schema, overrides)))
    return plan, checker


def _machine_spec(doc: SourceDoc, locate: Locator) -> tuple[MachineSpec | None, list[Diagnostic]]:
    """The IR stage: the schema vouches for the shape (and for every value's type), so it cannot fail."""
    return build_machine_spec(doc.data["machine"]), []


class _PlanBuilder:
    def __init__(self, policy: PolicySpec, spec: MachineSpec, params: dict[str, Any],
                 inputs: dict[str, dict[str, Any]], locate: Locator):
        self.policy, self.spec, self.params, self.inputs, self.locate = policy, spec, params, inputs, locate
        self.diagnostics: list[Diagnostic] = []
        self.names: dict[str, str] = {"now": NUM, "state": STR, "state_since": NUM, "time_in_state": NUM,
                                      "entry_trigger": STR, "previous_state": ANY}
        self.names.update({c.name: NUM for c in spec.counters})
        self.names.update({t.name: NUM for t in spec.timers})
        self.names.update({m.name: ANY for m in spec.memory})
        if spec.bounce is not None:
            self.names.update(threshold_scale=NUM, bounce_armed=BOOL)
        self.value_kinds = {v.name: ANY for v in policy.values}

    def build(self, content_hash: str) -> tuple[MachinePlan | None, list[Diagnostic]]:
        spec, meta = self.spec, self.policy.metadata
        values = {v.name: self.expr(v.expr) for v in self.policy.values}
        self._value_cycles(values)
        outputs = tuple((o.name, self.expr(o.expr, AFTER_ACTIONS)) for o in spec.outputs)
        after_outputs = {**AFTER_ACTIONS, **{o.name: ANY for o in spec.outputs}}
        info = PolicyInfo(meta.id, meta.version, "MachinePolicy", self.locate.doc.path, content_hash, meta.owners,
                          meta.description, meta.spec)
        plan = MachinePlan(
            info=info, params=self.params, input_roots=tuple(self.inputs), states=spec.state_names,
            initial=spec.initial, on_enter={s.name: s.on_enter for s in spec.states}, outgoing=self._outgoing(),
            forbidden={(f.source, f.to): f.reason for f in spec.forbidden}, values=values,
            counters=tuple(RegisterNode(c.name, c.initial, self.expr(c.update)) for c in spec.counters),
            timers=tuple(TimerNode(t.name, self.condition(t.condition)) for t in spec.timers),
            memory=tuple(RegisterNode(m.name, m.initial, self.expr(m.update, after_outputs)) for m in spec.memory),
            guards=tuple(GuardNode(g.id, self.condition(g.require), g.reason) for g in spec.guards),
            actions=tuple(self._action(a) for a in spec.actions), outputs=outputs, bounce=self._bounce(),
            override=self._override(), fail_safe=self._fail_safe(), transition_event=spec.transition_event,
            history_size=spec.history_size, max_chain=spec.max_chain)
        return (None, self.diagnostics) if self.diagnostics else (plan, [])

    # --- expressions --------------------------------------------------------------------
    def location(self, path: tuple[Any, ...]) -> str:
        return f"{self.locate.doc.path}:{self.locate.line_of(path)}"

    def expr(self, expr: Expr, extra: dict[str, str] | None = None) -> MachineExpr:
        scope = Scope(self.inputs, self.params, self.value_kinds, {**self.names, **(extra or {})})
        analysis = analyze(expr.text, scope)
        for issue in analysis.issues:
            self.diagnostics.append(self.locate.diag(issue.code, issue.message, expr.path, issue.hint, issue.col))
        reads = {*analysis.value_refs, *(".".join(p) for p in analysis.input_paths),
                 *(f"params.{p}" for p in analysis.param_refs)}
        shown = " ".join(expr.text.split())  # folded YAML keeps some line breaks; traces show one line
        return MachineExpr(shown, expr.path, self.location(expr.path), analysis.tree, tuple(sorted(reads)), analysis.kind)

    def condition(self, expr: Expr, extra: dict[str, str] | None = None) -> MachineExpr:
        compiled = self.expr(expr, extra)
        if compiled.kind in NOT_CONDITIONS:
            self.diagnostics.append(self.locate.diag(Code.INVALID_VALUE, f"'{expr.text}' is a {compiled.kind}, not a "
                                                     "condition", expr.path, "write a comparison, e.g. x > 0"))
        return compiled

    def constant(self, expr: Expr, what: str, high: float | None = None) -> float:
        """A number computed once from params (durations in µs, scales): checked, evaluated, bounded."""
        analysis = analyze(expr.text, Scope({}, self.params, {}, {}))
        for issue in analysis.issues:
            self.diagnostics.append(self.locate.diag(issue.code, f"{issue.message} ({what} may read params only)",
                                                     expr.path, issue.hint, issue.col))
        if analysis.issues:
            return 0
        try:
            value = ReferenceEvaluator({"params": dict(self.params)}).evaluate(analysis.tree)
        except Exception as exc:  # noqa: BLE001 - a param of the wrong type, a division by zero: located, not raised
            value = f"{type(exc).__name__}: {exc}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= (high or float("inf")):
            bound = f"between 0 and {high}" if high is not None else "a number >= 0"
            self.diagnostics.append(self.locate.diag(Code.INVALID_VALUE, f"{what} must be {bound}, got {value!r}",
                                                     expr.path))
            return 0
        return value

    def _value_cycles(self, values: dict[str, MachineExpr]) -> None:
        deps = {name: [r for r in expr.reads if r in values] for name, expr in values.items()}
        done: set[str] = set()

        def visit(name: str, stack: list[str]) -> None:
            if name in stack:
                cycle = stack[stack.index(name):]
                self.diagnostics.append(self.locate.diag(
                    Code.VALUE_CYCLE, "values depend on each other in a cycle: " + " -> ".join([*cycle, name]),
                    values[cycle[0]].path, "break the cycle: one of these values must not read the others"))
                return
            if name not in done:
                for dep in deps[name]:
                    visit(dep, [*stack, name])
                done.add(name)

        for name in values:
            visit(name, [])

    # --- nodes --------------------------------------------------------------------------
    def _outgoing(self) -> dict[str, tuple[TransitionNode, ...]]:
        forbidden = {(f.source, f.to) for f in self.spec.forbidden}
        nodes: list[tuple[int, int, TransitionNode]] = []
        for index, t in enumerate(self.spec.transitions):
            when, min_time, confirm = self.condition(t.when), self._duration(t.min_time_in_state), \
                self._duration(t.confirm_for)
            reason, reason_exprs = self._reason(t)
            for source in t.sources if t.sources is not None else self.spec.state_names:
                if source != t.to and (source, t.to) not in forbidden:
                    nodes.append((t.priority, index, TransitionNode(
                        t.id, source, t.to, when, t.priority, t.trigger, reason, reason_exprs, min_time, confirm,
                        t.require_stable_destination, t.emit, self.location(t.path))))
        nodes.sort(key=lambda n: (n[0], n[1]))
        return {state: tuple(n for _, _, n in nodes if n.source == state) for state in self.spec.state_names}

    def _action(self, action: ActionSpec) -> ActionNode:
        when = self.condition(action.when, AFTER_TRANSITIONS) if action.when is not None else None
        return ActionNode(action.id, action.on_enter, when, self.expr(action.items, AFTER_TRANSITIONS),
                          self.location(action.path))

    def _duration(self, expr: Expr | None) -> int:
        return 0 if expr is None else round(self.constant(expr, "a duration"))

    def _reason(self, t: TransitionSpec) -> tuple[Any, dict[str, MachineExpr]]:
        if t.reason is None:
            return None, {}
        parsed = parse_template(t.reason)
        if isinstance(parsed, str):
            self.diagnostics.append(self.locate.diag(Code.TEMPLATE, parsed, (*t.path, "reason")))
            return None, {}
        return parsed, {name: self.expr(Expr(path=(*t.path, "reason"), text=name)) for name in parsed.names}

    def _bounce(self) -> BounceNode | None:
        b = self.spec.bounce
        if b is None:
            return None
        scale = self.constant(b.scale, "the bounce scale", high=1.0)
        return BounceNode(b.pattern, round(self.constant(b.within, "a duration")), scale, b.applies_to, b.emit,
                          self.location(b.path))

    def _override(self) -> OverrideNode | None:
        o = self.spec.manual_override
        if o is None:
            return None
        request = self.inputs.get(o.input)
        if request is None or "to" not in (request.get("properties") or {}):
            self.diagnostics.append(self.locate.diag(
                Code.BAD_REFERENCE, f"the observation has no field '{o.input}' with a `to` state", (*o.path, "input"),
                "declare it in the observation schema: {to, by, reason} or null"))
        return OverrideNode(self.condition(o.allowed), o.input, o.event, o.severity, self.location(o.path))

    def _fail_safe(self) -> FailSafeNode | None:
        f = self.spec.fail_safe
        if f is None:
            return None
        return FailSafeNode(f.sources, f.to, f.trigger, f.event, self.location(f.path))
