"""What a machine remembers between steps, and what one step reports.

``MachineState`` is an explicit, immutable value: the step reads one and returns a new one, the
store persists it as JSON. Times are integer microseconds since the epoch (UTC), like every
timestamp the engine handles; ``to_display`` renders them as ISO 8601 for people.
The field names follow seed 004 §4.8 (RiskState, ModeTransition) and §4.9 (RiskEvent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from policy_engine.decision import iso_from_us
from policy_engine.trace import TraceStep


class ModeTransition(BaseModel):
    """One move between states (seed 004 §4.8), with the rule that took it and its step."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    from_mode: str
    to_mode: str
    transition_at: int
    reason: str
    trigger: str
    rule: str  # the transition's id, or manual_override / fail_safe
    step: int  # the step (MachineState.seq) that took it
    manual: bool = False

    def to_display(self) -> dict[str, Any]:
        return {**self.model_dump(), "transition_at": iso_from_us(self.transition_at)}


class MachineState(BaseModel):
    """The state between steps. ``windows`` are confirmation windows: transition id -> start."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    policy_id: str
    mode: str
    mode_since: int
    mode_reason: str
    entry_trigger: str
    mode_history: tuple[ModeTransition, ...] = ()
    counters: dict[str, int | float] = {}
    timers: dict[str, int] = {}  # timer -> start of the current unbroken run of its condition
    windows: dict[str, int] = {}
    memory: dict[str, Any] = {}
    bounce_armed_at: int | None = None
    seq: int = 0  # steps taken
    updated_at: int  # time of the last step (of creation before the first)

    def to_display(self) -> dict[str, Any]:
        """JSON for people: timestamps as ISO 8601."""
        data = self.model_dump(mode="json")
        for key in ("mode_since", "updated_at", "bounce_armed_at"):
            data[key] = iso_from_us(data[key]) if data[key] is not None else None
        data["timers"] = {k: iso_from_us(v) for k, v in self.timers.items()}
        data["windows"] = {k: iso_from_us(v) for k, v in self.windows.items()}
        data["mode_history"] = [t.to_display() for t in self.mode_history]
        return data


@dataclass(frozen=True, slots=True)
class MachineEvent:
    """A RiskEvent-like record (seed 004 §4.9): what happened, how severe, which rule, why."""

    type: str
    severity: str
    at: int
    rule: str
    reason: str
    message: str = ""
    step: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "severity": self.severity, "at": iso_from_us(self.at), "rule": self.rule,
                "reason": self.reason, "message": self.message, "step": self.step}


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """What one action emitted in one step: a list of JSON objects (e.g. sell orders)."""

    action: str
    state: str
    items: tuple[Any, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "state": self.state, "items": list(self.items)}


@dataclass(frozen=True)
class StepResult:
    """One step: the new state, the transitions and events it recorded, its actions and outputs,
    the observation problems a fail-safe handled, and (when asked) its trace."""

    new_state: MachineState
    transitions: tuple[ModeTransition, ...]
    events: tuple[MachineEvent, ...]
    trace: tuple[TraceStep, ...] | None
    actions: tuple[ActionRecord, ...] = ()
    outputs: Mapping[str, Any] = field(default_factory=dict)
    invalid: tuple[tuple[str, str], ...] = ()

    @property
    def items(self) -> list[Any]:
        """Every action item of the step, in order."""
        return [item for record in self.actions for item in record.items]

    def to_dict(self, trace: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "step": self.new_state.seq, "at": iso_from_us(self.new_state.updated_at), "mode": self.new_state.mode,
            "transitions": [t.to_display() for t in self.transitions],
            "events": [e.to_dict() for e in self.events],
            "actions": [a.to_dict() for a in self.actions], "outputs": dict(self.outputs),
        }
        if self.invalid:
            data["invalid"] = [{"json_path": p, "message": m} for p, m in self.invalid]
        if trace and self.trace is not None:
            data["trace"] = [s.to_dict() for s in self.trace]
        return data
