"""The MachinePlan: a machine policy with every expression checked and every duration computed.

Frozen and shared: one plan serves every step of every instance of the machine. Transitions are
grouped by the state they leave, in the order a step considers them (priority, then file order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policy_engine.compiler.plan import PolicyInfo
from policy_engine.expr.template import Template
from policy_engine.ir import EventSpec
from policy_engine.machine.evaluate import MachineExpr


@dataclass(frozen=True)
class TransitionNode:
    id: str
    source: str
    to: str
    when: MachineExpr
    priority: int
    trigger: str
    reason: Template | None
    reason_exprs: Mapping[str, MachineExpr]  # placeholder name -> its expression
    min_time: int  # µs in the state before the move may be taken
    confirm: int  # µs `when` must hold continuously
    stable: bool  # require_stable_destination
    emit: tuple[EventSpec, ...]
    location: str


@dataclass(frozen=True)
class RegisterNode:
    """A counter or a memory slot."""

    name: str
    initial: Any
    update: MachineExpr


@dataclass(frozen=True)
class TimerNode:
    name: str
    condition: MachineExpr


@dataclass(frozen=True)
class GuardNode:
    id: str
    require: MachineExpr
    reason: str


@dataclass(frozen=True)
class ActionNode:
    id: str
    on_enter: tuple[str, ...]
    when: MachineExpr | None
    items: MachineExpr
    location: str


@dataclass(frozen=True)
class BounceNode:
    pattern: tuple[str, ...]
    within: int  # µs
    scale: float
    applies_to: str
    emit: EventSpec | None
    location: str


@dataclass(frozen=True)
class OverrideNode:
    allowed: MachineExpr
    input: str
    event: str
    severity: str
    location: str


@dataclass(frozen=True)
class FailSafeNode:
    sources: tuple[str, ...]
    to: str
    trigger: str
    event: EventSpec | None
    location: str


@dataclass(frozen=True)
class MachinePlan:
    info: PolicyInfo
    params: Mapping[str, Any]
    input_roots: tuple[str, ...]
    states: tuple[str, ...]
    initial: str
    on_enter: Mapping[str, tuple[EventSpec, ...]]
    outgoing: Mapping[str, tuple[TransitionNode, ...]]
    forbidden: Mapping[tuple[str, str], str]  # (from, to) -> reason
    values: Mapping[str, MachineExpr]
    counters: tuple[RegisterNode, ...]
    timers: tuple[TimerNode, ...]
    memory: tuple[RegisterNode, ...]
    guards: tuple[GuardNode, ...]
    actions: tuple[ActionNode, ...]
    outputs: tuple[tuple[str, MachineExpr], ...]
    bounce: BounceNode | None
    override: OverrideNode | None
    fail_safe: FailSafeNode | None
    transition_event: EventSpec | None
    history_size: int
    max_chain: int

    @property
    def transitions(self) -> tuple[TransitionNode, ...]:
        return tuple(node for state in self.states for node in self.outgoing.get(state, ()))
