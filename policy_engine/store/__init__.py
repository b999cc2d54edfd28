"""Durable machine state: SQLite by default (a file path, nothing to start).

    store = MachineStore("state.db")
    runner = MachineRunner(policy_engine.load("policies/risk/risk_modes.yaml"), store)
    fed = runner.feed(observation)          # steps and commits, or skips an already committed step
    store.machines(), store.transitions("risk.risk_modes"), store.events(...)   # the reader API
"""

from __future__ import annotations

from policy_engine.store.runner import Fed, MachineRunner, observation_hash
from policy_engine.store.sqlite import ConflictError, MachineStore, PolicyStamp, StoredMachine, StoreError

__all__ = [
    "ConflictError", "Fed", "MachineRunner", "MachineStore", "PolicyStamp", "StoreError", "StoredMachine",
    "observation_hash",
]
