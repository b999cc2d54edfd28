"""MachineRunner: load the last committed state, step, commit. A restart continues where it stopped.

Every observation gets a step id derived from the machine id, the step time and the observation's
content. A step whose id is already stored is skipped, so feeding a stream again after a crash
neither loses nor repeats a transition: committed steps are no-ops, the rest are stepped.
With ``audit=True`` every step's audit records (``policy_engine.audit.step_records``) are
committed in the step's own transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from policy_engine.audit import step_records
from policy_engine.machine import CompiledMachine, MachineState, StepResult
from policy_engine.store.sqlite import MachineStore, PolicyStamp


@dataclass(frozen=True)
class Fed:
    """What feeding one observation did: the step's result, or None when it was already committed."""

    step_id: str
    result: StepResult | None

    @property
    def duplicate(self) -> bool:
        return self.result is None


def observation_hash(observation: Any) -> str:
    """A content hash of any observation, even one the schema will refuse (NaN, odd types)."""
    text = json.dumps(observation, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


class MachineRunner:
    """Steps one machine instance over a store. ``machine_id`` defaults to the policy id."""

    def __init__(self, machine: CompiledMachine, store: MachineStore, machine_id: str | None = None, *,
                 audit: bool = False):
        self.machine, self.store = machine, store
        self.machine_id = machine_id or machine.id
        self.stamp = PolicyStamp(machine.id, machine.version, machine.content_hash)
        self.audit = audit

    def state(self) -> MachineState | None:
        """The last committed state, checked against the machine (StateError if it does not fit)."""
        stored = self.store.read_machine(self.machine_id)
        return self.machine.load_state(stored.state) if stored is not None else None

    def feed(self, observation: Any, now: Any = None, *, trace: bool = False,
             correlation_id: str | None = None) -> Fed:
        at = self.machine.step_time(observation, now)
        digest = observation_hash(observation)
        step_id = hashlib.sha256(f"{self.machine_id}\n{at}\n{digest}".encode()).hexdigest()[:32]
        if self.store.has_step(step_id):
            return Fed(step_id, None)
        state = self.state()
        start = state if state is not None else self.machine.initial_state(at)
        result = self.machine.step(start, observation, at, trace=trace)
        records = (step_records(self.machine, self.machine_id, result, correlation_id=correlation_id)
                   if self.audit else ())
        committed = self.store.commit_step(self.machine_id, step_id, digest, self.stamp, result, start.seq, records)
        return Fed(step_id, result if committed else None)
