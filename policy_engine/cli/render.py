"""How the CLI shows decisions, explanations and graphs."""

from __future__ import annotations

import importlib
import json
from typing import Any, Callable

from policy_engine.compiler.graph import build_graph, node_key
from policy_engine.compiler.plan import GateNode, OutputsNode, TriggerNode, ValueNode
from policy_engine.decision import APPROVED, Decision
from policy_engine.engine.run import CompiledPolicy
from policy_engine.trace import FAILED, FIRED

# Policies whose decisions have a domain contract: policy id -> "module:function" rendering
# (policy, request, decision) into the contract's JSON object.
DOMAIN_RENDERERS = {"risk.position_sizing": "policy_engine.risk.facade:decision_json"}


def domain_renderer(policy: CompiledPolicy) -> Callable[[CompiledPolicy, Any, Decision], dict[str, Any]] | None:
    target = DOMAIN_RENDERERS.get(policy.id)
    if target is None:
        return None
    module, _, function = target.partition(":")
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as missing:
        if missing.name != module:
            raise
        return None  # the domain package is not installed: show the generic decision
    renderer: Callable[[CompiledPolicy, Any, Decision], dict[str, Any]] = getattr(loaded, function)
    return renderer


def jsonl_renderer(policy: CompiledPolicy, trace: bool) -> Callable[[Any, Decision], str]:
    """The line writer of ``eval --jsonl``: one compact JSON object per decision, keys sorted.

    Resolved once per batch. A domain module may offer ``decision_json_line`` (the same JSON as
    its ``decision_json``, already as text, built faster); with a trace the generic path is used."""
    renderer = domain_renderer(policy)
    line = getattr(importlib.import_module(renderer.__module__), "decision_json_line", None) if renderer else None
    if line is not None and not trace:
        return lambda request, decision: line(policy, request, decision)

    def render(request: Any, decision: Decision) -> str:
        data = renderer(policy, request, decision) if renderer else decision.to_dict()
        if trace and decision.trace is not None:
            data["trace"] = decision.trace.to_list()
        return _JSON_LINE(data)

    return render


_JSON_LINE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def render_decision(policy: CompiledPolicy, request: Any, decision: Decision, fmt: str, trace: bool) -> str:
    renderer = domain_renderer(policy)
    if fmt == "jsonl":
        return jsonl_renderer(policy, trace)(request, decision)
    if fmt == "json":
        data = renderer(policy, request, decision) if renderer else decision.to_dict()
        if trace and decision.trace is not None:
            data["trace"] = decision.trace.to_list()
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    lines = [_headline(decision)]
    if renderer is not None and decision.outcome == APPROVED:  # the contract's sizing in one line
        explain = getattr(importlib.import_module(renderer.__module__), "explain_decision", None)
        if explain is not None:
            lines.append(f"  {explain(policy, request, decision)}")
    if decision.input_errors:
        lines += [f"  input error at {path}: {message}" for path, message in decision.input_errors]
    for name, value in decision.values.items():
        lines.append(f"  {name} = {_show(value)}")
    for fired in decision.fired:
        lines.append(f"  trigger {fired.id}: {fired.reason} ({fired.severity})" +
                     (f" — {fired.message}" if fired.message != fired.reason else ""))
    for event in decision.events:
        lines.append(f"  event {event.type} [{event.severity}] from {event.rule}: {event.reason}")
    info = decision.provenance
    lines.append(f"  policy {info.policy_id} {info.policy_version} ({info.content_hash[:19]}…)")
    if trace and decision.trace is not None:
        lines += ["", "trace:", decision.trace.format_text()]
    return "\n".join(lines)


def _show(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # an integer beyond Python's int-to-str digit limit
        return "<value too large to show>"


def _headline(decision: Decision) -> str:
    if decision.outcome == APPROVED:
        return "APPROVED" + (f" ({decision.rule}: {decision.reason})" if decision.reason else "")
    text = f"REJECTED by {decision.rule}: {decision.reason}"
    if decision.message and decision.message != decision.reason:
        text += f" — {decision.message}"
    return text


def explain_text(policy: CompiledPolicy, decision: Decision) -> str:
    """Which rule decided and with which numbers, in plain words."""
    lines = [_headline(decision)]
    if decision.input_errors:
        return "\n".join(lines + [f"The request is invalid at {p}: {m}." for p, m in decision.input_errors])
    trace = decision.trace
    if trace is None:
        return lines[0]
    if decision.outcome == APPROVED:
        gates = [s for s in trace.steps if s.kind == "gate"]
        passed = sum(1 for s in gates if s.status == "passed")
        skipped = sum(1 for s in gates if s.status == "skipped")
        lines.append(f"All {len(gates)} gates allowed it ({passed} passed, {skipped} did not apply).")
        for name, value in decision.values.items():
            lines.append(f"  {name} = {_show(value)}")
    else:
        step = next((s for s in trace.steps if s.status in (FAILED, "error")), None)
        if step is not None:
            lines.append(f"Rule {step.rule} ({step.location}) checks: {step.expression}")
            lines += [f"  {name} = {_show(value)}" for name, value in step.reads]
    for step in trace.steps:
        if step.status == FIRED:
            lines.append(f"Trigger {step.rule} fired: {step.message or step.detail}")
    return "\n".join(lines)


def graph_text(policy: CompiledPolicy, fmt: str) -> str:
    plan = policy.plan
    graph = build_graph(plan.values, plan.rules)
    labels = {node_key(step): _label(step) for step in plan.order}
    ids = {key: f"n{index}" for index, key in enumerate(labels)}
    if fmt == "dot":
        lines = [f'digraph "{plan.info.id}" {{', "  rankdir=LR;"]
        lines += [f'  {ids[k]} [label="{label}"];' for k, label in labels.items()]
        lines += [f"  {ids[a]} -> {ids[b]}{' [style=dashed]' if d['why'] == 'order' else ''};"
                  for (a, b), d in sorted(graph.edges.items())]
        return "\n".join(lines + ["}"])
    lines = ["flowchart LR"]
    lines += [f'  {ids[k]}["{label}"]' for k, label in labels.items()]
    lines += [f"  {ids[a]} {'-.->' if d['why'] == 'order' else '-->'} {ids[b]}"
              for (a, b), d in sorted(graph.edges.items())]
    return "\n".join(lines)


def _label(step: Any) -> str:
    if isinstance(step, ValueNode):
        return f"{step.kind}: {step.name}"
    if isinstance(step, GateNode):
        return f"gate: {step.id}"
    if isinstance(step, TriggerNode):
        return f"trigger: {step.id}"
    assert isinstance(step, OutputsNode)
    return "outputs"
