"""Structural checks of a machine that JSON Schema cannot express.

Every state a transition, a forbidden move, an action, the bounce rule or the fail-safe names
must be declared; ``initial`` must be a state; every state must be reachable from ``initial``;
a transition may not go to its own state nor take a forbidden move; ids and names are unique.
Static verification (``verify_machine``, run by ``validate``) adds a warning for every state
nothing leaves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from policy_engine.compiler.compile import Locator
from policy_engine.compiler.structure import suggest
from policy_engine.errors import Code, Diagnostic, Severity
from policy_engine.ir import Path, PolicySpec
from policy_engine.machine.spec import ROOT, MachineSpec, build_machine_spec
from policy_engine.source import SourceDoc, format_json_path

# Sections of other kinds that mean nothing in a MachinePolicy.
FOREIGN_SECTIONS = ("tables", "combiners", "gates", "triggers", "outputs", "on_reject", "limits")
# Names the machine itself provides to expressions (docs/machines.md).
MACHINE_NAMES = ("now", "state", "state_since", "time_in_state", "entry_trigger", "previous_state",
                 "threshold_scale", "bounce_armed", "start_state", "taken", "action_items", "params")


def at_key(locate: Locator, code: Code, message: str, path: Path, hint: str = "") -> Diagnostic:
    """A diagnostic at a mapping key (``NORMAL:``) rather than at its value's first line."""
    line, col = locate.doc.source_map.locate(path)
    return Diagnostic(locate.doc.path, line, col, code, message, format_json_path(path), hint,
                      source_line=locate.doc.source_map.line_text(line))


def check_structure(spec: MachineSpec, policy: PolicySpec, data: dict[str, Any], input_roots: Iterable[str],
                    locate: Locator) -> list[Diagnostic]:
    diagnostics = _foreign_sections(data, locate)
    diagnostics += _state_references(spec, locate)
    if diagnostics:
        return diagnostics
    diagnostics += _transitions(spec, locate)
    diagnostics += _unreachable(spec, locate)
    diagnostics += _unique_names(spec, policy, set(input_roots), locate)
    if spec.bounce is not None and spec.history_size < len(spec.bounce.pattern) - 1:
        diagnostics.append(locate.diag(Code.INVALID_VALUE, f"history_size {spec.history_size} is shorter than the "
                                       "bounce pattern's round trip", (*ROOT, "history_size")))
    return diagnostics


def _foreign_sections(data: dict[str, Any], locate: Locator) -> list[Diagnostic]:
    return [at_key(locate, Code.INVALID_VALUE, f"a MachinePolicy has no `{key}`", (key,),
                   "a machine uses values, params and its machine section")
            for key in FOREIGN_SECTIONS if key in data]


def _state_references(spec: MachineSpec, locate: Locator) -> list[Diagnostic]:
    """Every name used as a state must be declared, located at the name itself."""
    raw = locate.doc.data["machine"]
    refs: list[tuple[str, Path]] = [(spec.initial, (*ROOT, "initial"))]
    for t in spec.transitions:
        if t.sources is not None:
            refs += _name_paths(raw["transitions"][t.path[-1]]["from"], (*t.path, "from"))
        refs.append((t.to, (*t.path, "to")))
    refs += [(n, (*f.path, key)) for f in spec.forbidden for n, key in ((f.source, "from"), (f.to, "to"))]
    for action in spec.actions:
        refs += _name_paths(raw["actions"][action.path[-1]].get("on_enter", []), (*action.path, "on_enter"))
    if spec.bounce is not None:
        refs += _name_paths(list(spec.bounce.pattern), (*spec.bounce.path, "pattern"))
        refs.append((spec.bounce.applies_to, (*spec.bounce.path, "applies_to")))
    if spec.fail_safe is not None:
        refs += _name_paths(list(spec.fail_safe.sources), (*spec.fail_safe.path, "from"))
        refs.append((spec.fail_safe.to, (*spec.fail_safe.path, "to")))
    states = spec.state_names
    return [locate.diag(Code.UNKNOWN_STATE, f"unknown state '{name}'", path,
                        suggest(name, states) or f"declared states: {', '.join(states)}")
            for name, path in refs if name not in states]


def _name_paths(raw: str | list[str], path: Path) -> list[tuple[str, Path]]:
    return [(raw, path)] if isinstance(raw, str) else [(name, (*path, i)) for i, name in enumerate(raw)]


def _transitions(spec: MachineSpec, locate: Locator) -> list[Diagnostic]:
    diagnostics = _duplicates([(t.id, t.path) for t in spec.transitions], locate)
    diagnostics += _duplicates([(g.id, g.path) for g in spec.guards], locate)
    diagnostics += _duplicates([(a.id, a.path) for a in spec.actions], locate)
    forbidden = {(f.source, f.to) for f in spec.forbidden}
    for t in spec.transitions:
        for source in t.sources or ():
            if source == t.to:
                diagnostics.append(locate.diag(Code.INVALID_VALUE, f"transition '{t.id}' goes from {source} to itself",
                                               (*t.path, "to"), "a transition changes the state; use an action"))
            elif (source, t.to) in forbidden:
                diagnostics.append(locate.diag(Code.INVALID_VALUE, f"transition '{t.id}' takes the forbidden move "
                                               f"{source} -> {t.to}", (*t.path, "to"),
                                               "remove it, or route it through an allowed state"))
    return diagnostics


def _duplicates(items: list[tuple[str, Path]], locate: Locator) -> list[Diagnostic]:
    seen: dict[str, Path] = {}
    diagnostics = []
    for name, path in items:
        if name in seen:
            diagnostics.append(locate.diag(Code.DUPLICATE_ID, f"'{name}' is defined twice (first at "
                                           f"{format_json_path(seen[name])})", (*path, "id"),
                                           "ids must be unique: traces and transitions name rules by id"))
        else:
            seen[name] = path
    return diagnostics


def edges(spec: MachineSpec) -> set[tuple[str, str]]:
    """Every automatic move: declared transitions (wildcards expanded) and the fail-safe."""
    forbidden = {(f.source, f.to) for f in spec.forbidden}
    found: set[tuple[str, str]] = set()
    for t in spec.transitions:
        for source in t.sources if t.sources is not None else spec.state_names:
            if source != t.to and (source, t.to) not in forbidden:
                found.add((source, t.to))
    if spec.fail_safe is not None:
        found |= {(s, spec.fail_safe.to) for s in spec.fail_safe.sources if s != spec.fail_safe.to}
    return found


def _unreachable(spec: MachineSpec, locate: Locator) -> list[Diagnostic]:
    moves = edges(spec)
    reached, frontier = {spec.initial}, [spec.initial]
    while frontier:
        state = frontier.pop()
        for source, target in sorted(moves):
            if source == state and target not in reached:
                reached.add(target)
                frontier.append(target)
    return [at_key(locate, Code.UNREACHABLE_STATE, f"state '{s.name}' cannot be reached from '{spec.initial}'",
                   s.path, "add a transition into it, or remove it") for s in spec.states if s.name not in reached]


def _unique_names(spec: MachineSpec, policy: PolicySpec, input_roots: set[str], locate: Locator) -> list[Diagnostic]:
    """Values, counters, timers, memory and outputs share one namespace with the inputs and the machine."""
    diagnostics = []
    taken: dict[str, str] = {name: "a name the machine provides" for name in MACHINE_NAMES}
    taken.update({root: "an observation field" for root in input_roots if root != "now"})
    named = [(v.name, v.path, "value") for v in policy.values]
    named += [(c.name, c.path, "counter") for c in spec.counters] + [(t.name, t.path, "timer") for t in spec.timers]
    named += [(m.name, m.path, "memory slot") for m in spec.memory] + [(o.name, o.path, "output") for o in spec.outputs]
    for name, path, what in named:
        if name in taken:
            diagnostics.append(at_key(locate, Code.DUPLICATE_ID, f"{what} '{name}' clashes with {taken[name]}", path,
                                      "every name an expression reads must mean one thing"))
        else:
            taken[name] = f"the {what} at {format_json_path(path)}"
    return diagnostics


def dead_ends(spec: MachineSpec, locate: Locator) -> list[Diagnostic]:
    """States no transition and no fail-safe leaves. The format has no terminal states, so a
    machine that enters one stays there until an operator moves it, or for ever."""
    leaving = {source for source, _ in edges(spec)}
    way_out = "only a manual override can move the machine out" if spec.manual_override else \
        "nothing can move the machine out"
    return [replace(at_key(locate, Code.DEAD_END_STATE, f"state '{s.name}' has no way out: no transition leaves it; "
                           f"{way_out}", s.path, "add a transition out of it (or route the moves into it elsewhere)"),
                    severity=Severity.WARNING)
            for s in spec.states if s.name not in leaving]


def verify_machine(doc: SourceDoc) -> tuple[list[Diagnostic], list[Any]]:
    """Static verification of a MachinePolicy that compiles (``policy_engine.compiler.verify``)."""
    return dead_ends(build_machine_spec(doc.data["machine"]), Locator(doc)), []
