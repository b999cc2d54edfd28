"""Typed IR of a MachinePolicy's ``machine`` section: shape-checked YAML data as frozen dataclasses.

``build_machine_spec`` runs after the schema stage, so it trusts the shape; it only normalizes
(``from: X`` -> ``(X,)``, ``from: '*'`` -> None, a boolean ``allowed`` -> an expression) and records,
for every node, the JSON path it came from so later stages report at ``file:line:col``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policy_engine.ir import EventSpec, Expr, Path, event_spec, expr_at, optional_expr

ROOT: Path = ("machine",)
DEFAULT_PRIORITY = 100
DEFAULT_HISTORY = 10  # RiskState.mode_history keeps the last 10 ModeTransitions (seed 004 §4.8)
DEFAULT_MAX_CHAIN = 3


@dataclass(frozen=True, kw_only=True)
class _Node:
    path: Path


@dataclass(frozen=True, kw_only=True)
class StateSpec(_Node):
    name: str
    description: str = ""
    on_enter: tuple[EventSpec, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TransitionSpec(_Node):
    id: str
    description: str = ""
    sources: tuple[str, ...] | None  # None: from '*' (every state but `to`, minus forbidden moves)
    to: str
    when: Expr
    priority: int = DEFAULT_PRIORITY
    trigger: str
    reason: str | None = None
    min_time_in_state: Expr | None = None
    confirm_for: Expr | None = None
    require_stable_destination: bool = False
    emit: tuple[EventSpec, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ForbiddenSpec(_Node):
    source: str
    to: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class RegisterSpec(_Node):
    """A counter (updated before the transitions) or a memory slot (updated after the actions)."""

    name: str
    initial: Any
    update: Expr
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class TimerSpec(_Node):
    name: str
    condition: Expr
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class GuardSpec(_Node):
    id: str
    require: Expr
    reason: str
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class ActionSpec(_Node):
    id: str
    description: str = ""
    on_enter: tuple[str, ...] = ()
    when: Expr | None = None
    items: Expr


@dataclass(frozen=True, kw_only=True)
class OutputSpec(_Node):
    name: str
    expr: Expr


@dataclass(frozen=True, kw_only=True)
class BounceSpec(_Node):
    pattern: tuple[str, ...]
    within: Expr
    scale: Expr
    applies_to: str
    emit: EventSpec | None = None


@dataclass(frozen=True, kw_only=True)
class OverrideSpec(_Node):
    allowed: Expr
    input: str
    event: str = "MODE_CHANGE"
    severity: str = "WARNING"


@dataclass(frozen=True, kw_only=True)
class FailSafeSpec(_Node):
    sources: tuple[str, ...]
    to: str
    trigger: str
    event: EventSpec | None = None


@dataclass(frozen=True, kw_only=True)
class MachineSpec(_Node):
    initial: str
    states: tuple[StateSpec, ...]
    transitions: tuple[TransitionSpec, ...]
    forbidden: tuple[ForbiddenSpec, ...] = ()
    counters: tuple[RegisterSpec, ...] = ()
    timers: tuple[TimerSpec, ...] = ()
    memory: tuple[RegisterSpec, ...] = ()
    guards: tuple[GuardSpec, ...] = ()
    actions: tuple[ActionSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = ()
    bounce: BounceSpec | None = None
    manual_override: OverrideSpec | None = None
    fail_safe: FailSafeSpec | None = None
    transition_event: EventSpec | None = None
    history_size: int = DEFAULT_HISTORY
    max_chain: int = DEFAULT_MAX_CHAIN

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)


def build_machine_spec(data: dict[str, Any]) -> MachineSpec:
    """The shape-checked ``machine`` mapping -> MachineSpec."""
    return MachineSpec(
        path=ROOT, initial=data["initial"],
        states=tuple(_state(name, body or {}) for name, body in data["states"].items()),
        transitions=tuple(_transition(t, (*ROOT, "transitions", i)) for i, t in enumerate(data["transitions"])),
        forbidden=tuple(ForbiddenSpec(path=(*ROOT, "forbidden", i), source=f["from"], to=f["to"],
                                      reason=f.get("reason", "")) for i, f in enumerate(data.get("forbidden") or [])),
        counters=_registers(data.get("counters"), "counters"),
        timers=tuple(TimerSpec(path=(*ROOT, "timers", name), name=name,
                               condition=expr_at(body["while"], (*ROOT, "timers", name, "while")),
                               description=body.get("description", ""))
                     for name, body in (data.get("timers") or {}).items()),
        memory=_registers(data.get("memory"), "memory"),
        guards=tuple(_guard(g, (*ROOT, "guards", i)) for i, g in enumerate(data.get("guards") or [])),
        actions=tuple(_action(a, (*ROOT, "actions", i)) for i, a in enumerate(data.get("actions") or [])),
        outputs=tuple(OutputSpec(path=(*ROOT, "outputs", name), name=name,
                                 expr=expr_at(text, (*ROOT, "outputs", name)))
                      for name, text in (data.get("outputs") or {}).items()),
        bounce=_bounce(data.get("bounce")),
        manual_override=_override(data.get("manual_override")),
        fail_safe=_fail_safe(data.get("fail_safe")),
        transition_event=event_spec(data.get("transition_event"), (*ROOT, "transition_event")),
        history_size=int(data.get("history_size", DEFAULT_HISTORY)),
        max_chain=int(data.get("max_chain", DEFAULT_MAX_CHAIN)),
    )


def _events(items: list[dict[str, Any]] | None, path: Path) -> tuple[EventSpec, ...]:
    return tuple(EventSpec(path=(*path, i), event=e["event"], severity=e.get("severity", "INFO"))
                 for i, e in enumerate(items or []))


def _names(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _state(name: str, body: dict[str, Any]) -> StateSpec:
    path = (*ROOT, "states", name)
    return StateSpec(path=path, name=name, description=body.get("description", ""),
                     on_enter=_events(body.get("on_enter"), (*path, "on_enter")))


def _transition(data: dict[str, Any], path: Path) -> TransitionSpec:
    source = data["from"]
    return TransitionSpec(
        path=path, id=data["id"], description=data.get("description", ""),
        sources=None if source == "*" else _names(source), to=data["to"], when=expr_at(data["when"], (*path, "when")),
        priority=int(data.get("priority", DEFAULT_PRIORITY)), trigger=data.get("trigger", data["id"].lower()),
        reason=data.get("reason"), min_time_in_state=optional_expr(data, "min_time_in_state", path),
        confirm_for=optional_expr(data, "confirm_for", path),
        require_stable_destination=data.get("require_stable_destination", False),
        emit=_events(data.get("emit"), (*path, "emit")),
    )


def _registers(data: dict[str, Any] | None, section: str) -> tuple[RegisterSpec, ...]:
    return tuple(RegisterSpec(path=(*ROOT, section, name), name=name, initial=body["initial"],
                              update=expr_at(body["update"], (*ROOT, section, name, "update")),
                              description=body.get("description", ""))
                 for name, body in (data or {}).items())


def _guard(data: dict[str, Any], path: Path) -> GuardSpec:
    return GuardSpec(path=path, id=data["id"], require=expr_at(data["require"], (*path, "require")),
                     reason=data["reason"], description=data.get("description", ""))


def _action(data: dict[str, Any], path: Path) -> ActionSpec:
    return ActionSpec(path=path, id=data["id"], description=data.get("description", ""),
                      on_enter=_names(data["on_enter"]) if "on_enter" in data else (),
                      when=optional_expr(data, "when", path), items=expr_at(data["items"], (*path, "items")))


def _bounce(data: dict[str, Any] | None) -> BounceSpec | None:
    if data is None:
        return None
    path = (*ROOT, "bounce")
    return BounceSpec(path=path, pattern=tuple(data["pattern"]), within=expr_at(data["within"], (*path, "within")),
                      scale=expr_at(data["scale"], (*path, "scale")), applies_to=data["applies_to"],
                      emit=event_spec(data.get("emit"), (*path, "emit")))


def _override(data: dict[str, Any] | None) -> OverrideSpec | None:
    if data is None:
        return None
    path = (*ROOT, "manual_override")
    allowed = data["allowed"]
    text = ("True" if allowed else "False") if isinstance(allowed, bool) else allowed
    return OverrideSpec(path=path, allowed=expr_at(text, (*path, "allowed")), input=data["input"],
                        event=data.get("event", "MODE_CHANGE"), severity=data.get("severity", "WARNING"))


def _fail_safe(data: dict[str, Any] | None) -> FailSafeSpec | None:
    if data is None:
        return None
    path = (*ROOT, "fail_safe")
    return FailSafeSpec(path=path, sources=tuple(data["from"]), to=data["to"], trigger=data["trigger"],
                        event=event_spec(data.get("event"), (*path, "event")))
