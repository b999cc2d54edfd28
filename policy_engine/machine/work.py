"""What one step works on: the state being built, the recorder, the names expressions read."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from policy_engine.machine.evaluate import Env, MachineExpr, lookup
from policy_engine.machine.plan import MachinePlan
from policy_engine.machine.state import ActionRecord, MachineEvent, MachineState, ModeTransition
from policy_engine.trace import TraceStep


@dataclass
class Work:
    """The state one step is building; mutable inside the step only, frozen into a MachineState."""

    policy_id: str
    now: int
    seq: int
    mode: str
    since: int
    reason: str
    entry_trigger: str
    history: tuple[ModeTransition, ...]
    counters: dict[str, Any]
    timers: dict[str, int]
    windows: dict[str, int]
    memory: dict[str, Any]
    bounce_armed_at: int | None
    entered: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, state: MachineState, now: int) -> Work:
        return cls(state.policy_id, now, state.seq + 1, state.mode, state.mode_since, state.mode_reason,
                   state.entry_trigger, state.mode_history, dict(state.counters), dict(state.timers),
                   dict(state.windows), dict(state.memory), state.bounce_armed_at)

    def copy(self) -> Work:
        return replace(self, counters=dict(self.counters), timers=dict(self.timers), windows=dict(self.windows),
                       memory=dict(self.memory), entered=list(self.entered))

    def freeze(self) -> MachineState:
        return MachineState(policy_id=self.policy_id, mode=self.mode, mode_since=self.since, mode_reason=self.reason,
                            entry_trigger=self.entry_trigger, mode_history=self.history, counters=self.counters,
                            timers=self.timers, windows=self.windows, memory=self.memory,
                            bounce_armed_at=self.bounce_armed_at, seq=self.seq, updated_at=self.now)


class Recorder:
    """Collects what a step records. With ``tracing`` off, trace steps cost one branch."""

    def __init__(self, plan: MachinePlan, tracing: bool):
        self.plan, self.tracing = plan, tracing
        self.trace: list[TraceStep] = []
        self.transitions: list[ModeTransition] = []
        self.events: list[MachineEvent] = []
        self.actions: list[ActionRecord] = []

    def step(self, kind: str, rule: str, location: str, expr: MachineExpr | None, env: Env | None, result: Any,
             status: str, detail: str = "", message: str = "", expression: str = "") -> None:
        if not self.tracing:
            return
        reads = tuple((name, lookup(env, self.plan.params, name)) for name in expr.reads) if expr and env else ()
        text = expression or (expr.text if expr else "")
        self.trace.append(TraceStep(rule, kind, location, text, reads, result, status, message, detail))

    def event(self, work: Work, type_: str, severity: str, rule: str, reason: str, message: str) -> None:
        self.events.append(MachineEvent(type_, severity, work.now, rule, reason, message, work.seq))


def names(plan: MachinePlan, work: Work, inputs: dict[str, Any], extra: dict[str, Any] | None = None) -> Env:
    """The evaluation context for the machine as ``work`` stands."""
    fixed = dict(inputs)
    fixed.update(params=plan.params, now=work.now, state=work.mode, state_since=work.since,
                 time_in_state=work.now - work.since, entry_trigger=work.entry_trigger,
                 previous_state=work.history[-1].from_mode if work.history else None)
    fixed.update(work.counters)
    fixed.update({t.name: work.now - work.timers[t.name] if t.name in work.timers else 0 for t in plan.timers})
    fixed.update(work.memory)
    if plan.bounce is not None:
        armed = work.bounce_armed_at is not None
        fixed.update(threshold_scale=plan.bounce.scale if armed else 1.0, bounce_armed=armed)
    fixed.update(extra or {})
    return Env(fixed, plan.values)


def duration_text(us: int) -> str:
    """Microseconds as 1h05m00s / 4m30s / 12.5s: stable, readable, exact to the second."""
    seconds, micros = divmod(abs(us), 1_000_000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    sign = "-" if us < 0 else ""
    if hours:
        return f"{sign}{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{sign}{minutes}m{secs:02d}s"
    return f"{sign}{secs}.{micros // 100_000}s" if micros else f"{sign}{secs}s"
