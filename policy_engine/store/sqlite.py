"""Machine state, transitions and events in SQLite (stdlib; a file path, nothing to start).

Write contract (seed 004 §10.2): every record has an id and a repeated write is a no-op; a step's
new state, its transitions, its events and its audit records (``policy_engine.audit``, table
``audit_records`` in the same file) are committed in one transaction, so after a crash the store
holds either the whole step or none of it. WAL journal with synchronous=FULL: a
committed step survives the process being killed (and the machine losing power).

Concurrency: a commit names the sequence number it started from; if another writer committed
the same machine in between, ``ConflictError`` is raised and nothing is written. One
``MachineStore`` per thread; any number of processes may share the file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy_engine.audit import AuditRecord, create_audit_table, insert_records
from policy_engine.durable import DurableFile
from policy_engine.machine.state import StepResult

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS machines (
    machine_id TEXT PRIMARY KEY, policy_id TEXT NOT NULL, policy_version TEXT NOT NULL,
    content_hash TEXT NOT NULL, seq INTEGER NOT NULL, state_id TEXT NOT NULL, mode TEXT NOT NULL,
    updated_at INTEGER NOT NULL, state_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS states (
    state_id TEXT PRIMARY KEY, machine_id TEXT NOT NULL, seq INTEGER NOT NULL, mode TEXT NOT NULL,
    at INTEGER NOT NULL, state_json TEXT NOT NULL, UNIQUE (machine_id, seq));
CREATE TABLE IF NOT EXISTS steps (
    step_id TEXT PRIMARY KEY, machine_id TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL,
    observation_hash TEXT NOT NULL, actions_json TEXT NOT NULL, outputs_json TEXT NOT NULL,
    UNIQUE (machine_id, seq));
CREATE TABLE IF NOT EXISTS transitions (
    transition_id TEXT PRIMARY KEY, machine_id TEXT NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL,
    from_mode TEXT NOT NULL, to_mode TEXT NOT NULL, at INTEGER NOT NULL, trigger TEXT NOT NULL,
    rule TEXT NOT NULL, reason TEXT NOT NULL, manual INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS transitions_by_machine ON transitions (machine_id, seq, idx);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, machine_id TEXT NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL,
    type TEXT NOT NULL, severity TEXT NOT NULL, at INTEGER NOT NULL, rule TEXT NOT NULL,
    reason TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_machine ON events (machine_id, seq, idx);
"""


class StoreError(Exception):
    """The store cannot be used (wrong schema version, unreadable file)."""


class ConflictError(StoreError):
    """Another writer committed this machine since its state was read."""


@dataclass(frozen=True)
class StoredMachine:
    """The latest committed state of one machine instance."""

    machine_id: str
    policy_id: str
    policy_version: str
    content_hash: str
    seq: int
    state_id: str
    mode: str
    updated_at: int
    state: dict[str, Any]


@dataclass(frozen=True)
class PolicyStamp:
    """Which policy produced a state: recorded with every commit."""

    policy_id: str
    version: str
    content_hash: str


def _dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class MachineStore(DurableFile):
    """One SQLite file: ``MachineStore("state.db")``; ``":memory:"`` for a throwaway store."""

    def __init__(self, path: str | Path):
        super().__init__(path)
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise StoreError(f"{self.path}: store schema version {version}, this engine reads {SCHEMA_VERSION}")
        with self._transaction():
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(statement)
            create_audit_table(self._db)  # here, not in a file of its own: a step and its records commit together
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # --- writing ------------------------------------------------------------------------
    def commit_step(self, machine_id: str, step_id: str, observation_hash: str, policy: PolicyStamp,
                    result: StepResult, expected_seq: int, audit: Sequence[AuditRecord] = ()) -> bool:
        """Write one step and its ``audit`` records atomically; False (and nothing written) if
        ``step_id`` is already stored. An audit id stored with other content (``AuditConflict``)
        or a conflicting writer (``ConflictError``) writes nothing of the step."""
        state = result.new_state
        with self._transaction():
            if self._db.execute("SELECT 1 FROM steps WHERE step_id = ?", (step_id,)).fetchone():
                return False
            current = self._db.execute("SELECT seq FROM machines WHERE machine_id = ?", (machine_id,)).fetchone()
            found = current["seq"] if current else 0
            if found != expected_seq or state.seq != expected_seq + 1:
                raise ConflictError(f"machine {machine_id} is at step {found}, this step expected {expected_seq}")
            self._write_rows(machine_id, step_id, observation_hash, policy, result)
            insert_records(self._db, audit)
        return True

    def _write_rows(self, machine_id: str, step_id: str, observation_hash: str, policy: PolicyStamp,
                    result: StepResult) -> None:
        state, seq = result.new_state, result.new_state.seq
        state_id, state_json = f"{machine_id}#{seq}", _dumps(state.model_dump(mode="json"))
        self._db.execute("INSERT OR IGNORE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (step_id, machine_id, seq, state.updated_at, observation_hash,
                          _dumps([a.to_dict() for a in result.actions]), _dumps(dict(result.outputs))))
        self._db.executemany(
            "INSERT OR IGNORE INTO transitions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(f"{state_id}.t{i}", machine_id, seq, i, t.from_mode, t.to_mode, t.transition_at, t.trigger, t.rule,
              t.reason, int(t.manual)) for i, t in enumerate(result.transitions)])
        self._db.executemany(
            "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(f"{state_id}.e{i}", machine_id, seq, i, e.type, e.severity, e.at, e.rule, e.reason, e.message)
             for i, e in enumerate(result.events)])
        self._db.execute("INSERT OR IGNORE INTO states VALUES (?, ?, ?, ?, ?, ?)",
                         (state_id, machine_id, seq, state.mode, state.updated_at, state_json))
        self._db.execute(
            "INSERT INTO machines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (machine_id) DO UPDATE SET "
            "policy_id = excluded.policy_id, policy_version = excluded.policy_version, "
            "content_hash = excluded.content_hash, seq = excluded.seq, state_id = excluded.state_id, "
            "mode = excluded.mode, updated_at = excluded.updated_at, state_json = excluded.state_json",
            (machine_id, policy.policy_id, policy.version, policy.content_hash, seq, state_id, state.mode,
             state.updated_at, state_json))

    # --- reading ------------------------------------------------------------------------
    def has_step(self, step_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM steps WHERE step_id = ?", (step_id,)).fetchone() is not None

    def read_machine(self, machine_id: str) -> StoredMachine | None:
        row = self._db.execute("SELECT * FROM machines WHERE machine_id = ?", (machine_id,)).fetchone()
        return _machine(row) if row else None

    def machines(self) -> list[StoredMachine]:
        return [_machine(row) for row in self._db.execute("SELECT * FROM machines ORDER BY machine_id")]

    def transitions(self, machine_id: str | None = None, last: int | None = None) -> list[dict[str, Any]]:
        return self._rows("transitions", machine_id, last)

    def events(self, machine_id: str | None = None, last: int | None = None) -> list[dict[str, Any]]:
        return self._rows("events", machine_id, last)

    def steps(self, machine_id: str | None = None, last: int | None = None) -> list[dict[str, Any]]:
        rows = self._rows("steps", machine_id, last, order="machine_id, seq")
        for row in rows:
            row["actions"], row["outputs"] = json.loads(row.pop("actions_json")), json.loads(row.pop("outputs_json"))
        return rows

    def states(self, machine_id: str | None = None, last: int | None = None) -> list[dict[str, Any]]:
        rows = self._rows("states", machine_id, last, order="machine_id, seq")
        for row in rows:
            row["state"] = json.loads(row.pop("state_json"))
        return rows

    def _rows(self, table: str, machine_id: str | None, last: int | None,
              order: str = "machine_id, seq, idx") -> list[dict[str, Any]]:
        where, args = ("WHERE machine_id = ?", [machine_id]) if machine_id is not None else ("", [])
        rows = [dict(r) for r in self._db.execute(f"SELECT * FROM {table} {where} ORDER BY {order}", args)]
        return rows[-last:] if last else rows


def _machine(row: sqlite3.Row) -> StoredMachine:
    data = dict(row)
    data["state"] = json.loads(data.pop("state_json"))
    return StoredMachine(**data)
