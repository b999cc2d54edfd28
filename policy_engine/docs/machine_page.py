"""The MachinePolicy sections of a page: the state diagram (Mermaid), states, transitions with
their hysteresis, forbidden moves, guards, timers, counters, memory, actions, bounce prevention,
manual override, fail-safe and outputs."""

from __future__ import annotations

from typing import Any

from policy_engine.docs.markdown import code, prose, section, table, value_code
from policy_engine.docs.page import PageContext, group_titles, lead_paragraph
from policy_engine.machine import CompiledMachine

ROOT = ("machine",)
_MERMAID_WORDS = {"state", "note", "direction", "end", "class", "classdef", "as", "click", "style", "fork", "join",
                  "choice"}
_EDGE_LABEL_IDS = 3  # an edge with more transitions names the first and counts the rest


def machine_sections(context: PageContext) -> list[str]:
    spec = context.data.get("machine") or {}
    return [*_diagram(context), *_states(context, spec), *_transitions(context, spec), *_forbidden(context, spec),
            *_guards(context, spec), *_registers(context, spec), *_actions(context, spec),
            *_specials(context, spec), *_outputs(context, spec)]


# --- the diagram ----------------------------------------------------------------------------------
def _diagram(context: PageContext) -> list[str]:
    machine: CompiledMachine = context.policy
    plan = machine.plan
    edges: dict[tuple[str, str], list[str]] = {}
    for state in plan.states:
        for node in plan.outgoing.get(state, ()):
            edges.setdefault((state, node.to), []).append(node.id)
    if plan.fail_safe is not None:
        for source in plan.fail_safe.sources:
            edges.setdefault((source, plan.fail_safe.to), []).append(f"fail-safe ({plan.fail_safe.trigger})")
    lines = ["```mermaid", "stateDiagram-v2"]
    lines += [f"    state \"{name}\" as {_node(name)}" for name in plan.states if _node(name) != name]
    lines.append(f"    [*] --> {_node(plan.initial)}")
    lines += [f"    {_node(a)} --> {_node(b)}: {_edge_label(ids)}" for (a, b), ids in edges.items()]
    lines.append("```")
    intro = (f"{len(plan.states)} states, {len(plan.transitions)} transitions (one edge per pair of states, "
             "named by its transitions in the order a step considers them). An operator's manual override may "
             "force any move the policy does not forbid." if plan.override is not None else
             f"{len(plan.states)} states, {len(plan.transitions)} transitions (one edge per pair of states, named "
             "by its transitions in the order a step considers them).")
    return [*section("State diagram"), intro, "", *lines, ""]


def _node(name: str) -> str:
    return f"state_{name}" if name.lower() in _MERMAID_WORDS else name


def _edge_label(ids: list[str]) -> str:
    if len(ids) <= _EDGE_LABEL_IDS:
        return ", ".join(ids)
    safe = [name for name in ids if name.startswith("fail-safe")]
    return ", ".join([f"{len(ids) - len(safe)} transitions", *safe])


# --- states and transitions -------------------------------------------------------------------------
def _states(context: PageContext, spec: dict[str, Any]) -> list[str]:
    rows = []
    for name, state in (spec.get("states") or {}).items():
        state = state or {}
        events = ", ".join(f"{code(e['event'])} ({e.get('severity', 'INFO')})" for e in state.get("on_enter", []))
        rows.append((code(name) + (" (initial)" if name == spec.get("initial") else ""),
                     prose(state.get("description", "")), events))
    lines = [*section("States"), *table(["state", "meaning", "events on entering it"], rows), ""]
    event = spec.get("transition_event")
    if event:
        lines += [f"Every move emits {code(event['event'])} ({event.get('severity', 'INFO')}).", ""]
    return lines


def _transitions(context: PageContext, spec: dict[str, Any]) -> list[str]:
    transitions = spec.get("transitions") or []
    if not transitions:
        return []
    machine: CompiledMachine = context.policy
    nodes = {node.id: node for node in machine.plan.transitions}
    lines = section("Transitions")
    lines += [("A step considers the transitions out of the current state by priority (lower first, then file "
              "order) and takes the first whose condition holds and whose hysteresis is satisfied; a move may "
              "chain into the next state's transitions within the same step."), ""]
    rows = []
    for index, item in enumerate(transitions):
        path = (*ROOT, "transitions", index)
        rows += [("", f"*{text}*", "", "", "", "", "") for text in group_titles(context.lead(path))]
        rows.append((str(item.get("priority", 100)), code(item["id"]) + _description(item),
                     f"{_sources(item.get('from'))} → {code(item.get('to', ''))}",
                     code(item.get("trigger", str(item["id"]).lower())), code(item.get("when", "")),
                     _hysteresis(item, nodes.get(item["id"])), code(item.get("reason", ""))))
    return lines + table(["priority", "transition", "move", "trigger", "when", "hysteresis", "reason"], rows,
                         align="r") + [""]


def _description(item: dict[str, Any]) -> str:
    return f"<br>{prose(item['description'])}" if item.get("description") else ""


def _sources(source: Any) -> str:
    if source == "*":
        return "any state"
    names = [source] if isinstance(source, str) else list(source or [])
    return ", ".join(code(name) for name in names)


def _hysteresis(item: dict[str, Any], node: Any) -> str:
    parts = []
    if item.get("min_time_in_state"):
        parts.append(f"at least {_duration(node, 'min_time')} in the state ({code(item['min_time_in_state'])})")
    if item.get("confirm_for"):
        parts.append(f"holds for {_duration(node, 'confirm')} ({code(item['confirm_for'])})")
    if item.get("require_stable_destination"):
        parts.append("not while the destination would move on at once")
    return "; ".join(parts)


def _duration(node: Any, field: str) -> str:
    """A duration the compiler computed from params, in the largest unit that divides it."""
    microseconds = int(getattr(node, field, 0) or 0)
    for unit, size in (("h", 3_600_000_000), ("min", 60_000_000), ("s", 1_000_000), ("ms", 1_000)):
        if microseconds and microseconds % size == 0:
            return f"{microseconds // size} {unit}"
    return f"{microseconds} µs"


def _forbidden(context: PageContext, spec: dict[str, Any]) -> list[str]:
    moves = spec.get("forbidden") or []
    if not moves:
        return []
    rows = [(code(m["from"]), code(m["to"]), prose(m.get("reason", ""))) for m in moves]
    return [*section("Forbidden moves"), "Refused whatever asks for them, a manual override included.", "",
            *table(["from", "to", "why"], rows), ""]


# --- what a step reads and keeps --------------------------------------------------------------------
def _guards(context: PageContext, spec: dict[str, Any]) -> list[str]:
    guards = spec.get("guards") or []
    if not guards:
        return []
    rows = [(code(g["id"]), code(g.get("require", "")), prose(g.get("reason", "")) + _note(context, ("guards", n)))
            for n, g in enumerate(guards)]
    then = " (see the fail-safe)" if spec.get("fail_safe") else ": the step is refused"
    return [*section("Guards"), ("Checks an observation must pass beyond its JSON Schema; one that fails makes "
            f"the observation invalid{then}."), "", *table(["guard", "requires", "else"], rows), ""]


def _registers(context: PageContext, spec: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key, title, field, header in (("timers", "Timers", "while", ["timer", "runs while", "note"]),
                                      ("counters", "Counters", "update", ["counter", "update", "initial", "note"]),
                                      ("memory", "Memory", "update", ["slot", "update", "initial", "note"])):
        registers = spec.get(key) or {}
        rows = []
        for name, item in registers.items():
            note = _join(prose(item.get("description", "")), *context.lead((*ROOT, key, name, field)),
                         context.note((*ROOT, key, name)))
            initial = [value_code(item["initial"]) if "initial" in item else ""] if key != "timers" else []
            rows.append((code(name), code(item.get(field, "")), *initial, note))
        if rows:
            lines += [*section(title), *table(header, rows), ""]
    return lines


def _actions(context: PageContext, spec: dict[str, Any]) -> list[str]:
    actions = spec.get("actions") or []
    if not actions:
        return []
    rows = []
    for index, action in enumerate(actions):
        path = (*ROOT, "actions", index)
        runs = (f"on entering {_sources(action['on_enter'])}" if action.get("on_enter") else
                f"when {code(action.get('when', ''))}")
        rows.append((code(action["id"]), runs, code(action.get("items", "")),
                     _join(prose(action.get("description", "")), *context.lead(path), context.note(path))))
    return [*section("Actions"), ("Run in this order after the step's transitions; each emits a list of items "
            "(e.g. orders)."), "", *table(["action", "runs", "items", "note"], rows), ""]


def _specials(context: PageContext, spec: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    bounce = spec.get("bounce")
    if bounce:
        lines += [*section("Bounce prevention"), *lead_paragraph(context, (*ROOT, "bounce")),
                  f"The round trip {' → '.join(code(s) for s in bounce['pattern'])} within {code(bounce['within'])} "
                  f"arms it: `threshold_scale` is then {code(bounce['scale'])} until the next move into "
                  f"{code(bounce['applies_to'])}." + _emits(bounce.get("emit")), ""]
    override = spec.get("manual_override")
    if override:
        lines += [*section("Manual override"), *lead_paragraph(context, (*ROOT, "manual_override")),
                  f"Allowed when {code(override['allowed'])}; requested in the observation's "
                  f"{code(override['input'])} field." + _emits(override), ""]
    fail_safe = spec.get("fail_safe")
    if fail_safe:
        lines += [*section("Fail-safe"), *lead_paragraph(context, (*ROOT, "fail_safe")),
                  f"An invalid observation or a failing expression moves the machine from "
                  f"{_sources(fail_safe['from'])} to {code(fail_safe['to'])} (trigger {code(fail_safe['trigger'])})."
                  + _emits(fail_safe.get("event")), ""]
    return lines


def _outputs(context: PageContext, spec: dict[str, Any]) -> list[str]:
    outputs = spec.get("outputs") or {}
    if not outputs:
        return []
    rows = [(code(name), code(expression)) for name, expression in outputs.items()]
    return [*section("Outputs"), *lead_paragraph(context, (*ROOT, "outputs")),
            "Computed at the end of every step, after the actions.", "", *table(["output", "expression"], rows), ""]


# --- small pieces --------------------------------------------------------------------------------------
def _emits(event: dict[str, Any] | None) -> str:
    if not event or "event" not in event:
        return ""
    return f" It emits {code(event['event'])} ({event.get('severity', 'INFO')})."


def _note(context: PageContext, path: tuple[Any, ...]) -> str:
    note = context.note((*ROOT, *path))
    return f" ({note})" if note else ""


def _join(*parts: str) -> str:
    """Notes from several places (a description, the comment block above, the line's comment) as one."""
    return " ".join(part.removeprefix("- ") for part in parts if part)
