"""Halts start escalations: every move of a machine into a halt state opens an incident that the
escalation machine (``policies/ops/escalation.yaml``) walks operator -> admin -> engineering, and
the incident is resolved when the machine leaves that halt.

    escalations = HaltEscalation(policy_engine.load("policies/ops/escalation.yaml"), store)
    fed = runner.feed(observation)                 # e.g. hedging.assignment or ops.controls
    escalations.sync(runner.machine_id, now)       # after every step of it, and on a clock tick

Everything is read from the store: the halt transitions the source machine committed and each
incident's own committed state. A crash between the source's step and ``sync`` therefore loses
no escalation (the next ``sync`` raises it, at the halt's time), and a repeated ``sync`` is a
no-op (incident ids derive from the halt, step ids from the observation). Each incident is its
own escalation machine instance whose steps commit with their audit records.

Time-outs are checked when an incident is fed: call ``sync`` (or ``sync_all``) at least every
minute while an incident is open, as docs/hedging-and-ops.md says for the escalation machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from policy_engine.decision import iso_from_us
from policy_engine.machine import CompiledMachine
from policy_engine.store.runner import Fed, MachineRunner
from policy_engine.store.sqlite import MachineStore

RESOLVED = "RESOLVED"
_MAX_ID = 64  # the escalation observation's incident_id


@dataclass(frozen=True)
class Incident:
    """One halt of a source machine: when it began, and when and how it was left (None: still halted)."""

    incident_id: str
    source: str
    halt_state: str
    halted_at: int
    trigger: str
    reason: str
    left_at: int | None = None
    left_by: str | None = None

    def observation(self, now: int, raised: bool = False) -> dict[str, Any]:
        """The escalation machine's observation of this incident at ``now`` (``raised``: the first one,
        open whatever followed, so the incident reaches the operator even if the halt was already left)."""
        left = not raised and self.left_at is not None and self.left_at <= now
        data: dict[str, Any] = {"now": iso_from_us(now), "incident_id": self.incident_id, "open": not left,
                                "summary": f"{self.source} {self.halt_state} ({self.trigger}): {self.reason}"[:500]}
        if left:
            data["resolution"] = {"by": str(self.left_by)[:_MAX_ID], "at": iso_from_us(self.left_at or now),
                                  "note": f"{self.source} left {self.halt_state}"[:500]}
        return data


def incident_id(source: str, step: int) -> str:
    """``<source>#<step>``; a long source id is shortened with a hash so the id fits its field."""
    suffix = f"#{step}"
    if len(source) + len(suffix) <= _MAX_ID:
        return source + suffix
    digest = hashlib.sha256(source.encode()).hexdigest()[:8]
    return f"{source[:_MAX_ID - len(suffix) - 9]}~{digest}{suffix}"


def halt_incidents(transitions: Iterable[dict[str, Any]], source: str,
                   halt_states: frozenset[str]) -> list[Incident]:
    """The incidents of a machine's committed transitions (``MachineStore.transitions`` rows, in order)."""
    found: list[Incident] = []
    for row in transitions:
        still_open = found[-1] if found and found[-1].left_at is None else None
        if still_open is not None and row["to_mode"] not in halt_states:
            found[-1] = replace(still_open, left_at=row["at"], left_by=row["rule"])
        elif still_open is None and row["to_mode"] in halt_states:
            found.append(Incident(incident_id(source, row["seq"]), source, row["to_mode"], row["at"],
                                  row["trigger"], row["reason"]))
    return found   # a move from one halt state to another keeps its incident open


class HaltEscalation:
    """Opens and walks one escalation incident per halt of the machines of a store."""

    def __init__(self, escalation: CompiledMachine, store: MachineStore, halt_states: Iterable[str] = ("HALTED",)):
        self.escalation, self.store = escalation, store
        self.halt_states = frozenset(halt_states)

    def incidents(self, source: str) -> list[Incident]:
        return halt_incidents(self.store.transitions(source), source, self.halt_states)

    def sync(self, source: str, now: int) -> list[Fed]:
        """Raise the incidents of ``source`` not raised yet and feed every unresolved one at ``now``."""
        fed: list[Fed] = []
        for incident in self.incidents(source):
            fed += self._walk(incident, now)
        return fed

    def sync_all(self, now: int) -> list[Fed]:
        """``sync`` every machine of the store that is not an escalation itself (the clock tick)."""
        sources = [m.machine_id for m in self.store.machines() if m.policy_id != self.escalation.id]
        return [f for source in sources for f in self.sync(source, now)]

    def _walk(self, incident: Incident, now: int) -> list[Fed]:
        runner = MachineRunner(self.escalation, self.store, incident.incident_id, audit=True)
        stored = self.store.read_machine(incident.incident_id)
        if stored is not None and (stored.mode == RESOLVED or stored.updated_at > now):
            return []   # the walk has stopped, or this clock is behind the incident's own
        fed = []
        if stored is None:
            raised = incident.observation(incident.halted_at, raised=True)
            fed.append(runner.feed(raised, correlation_id=incident.incident_id))
        if now > incident.halted_at:
            fed.append(runner.feed(incident.observation(now), correlation_id=incident.incident_id))
        return fed
