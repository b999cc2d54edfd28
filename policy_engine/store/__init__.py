"""Durable machine state: SQLite by default (a file path, nothing to start).

    store = MachineStore("state.db")
    runner = MachineRunner(policy_engine.load("policies/risk/risk_modes.yaml"), store)
    fed = runner.feed(observation)          # steps and commits, or skips an already committed step
    store.machines(), store.transitions("risk.risk_modes"), store.events(...)   # the reader API
    MachineRunner(machine, store, audit=True)   # each step commits with its audit records
    HaltEscalation(escalation_machine, store).sync(runner.machine_id, now)   # halts -> escalation incidents
"""

from __future__ import annotations

from policy_engine.store.escalation import HaltEscalation, Incident
from policy_engine.store.runner import Fed, MachineRunner, observation_hash
from policy_engine.store.sqlite import ConflictError, MachineStore, PolicyStamp, StoredMachine, StoreError

__all__ = [
    "ConflictError", "Fed", "HaltEscalation", "Incident", "MachineRunner", "MachineStore", "PolicyStamp",
    "StoreError", "StoredMachine", "observation_hash",
]
