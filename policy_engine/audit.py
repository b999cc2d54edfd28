"""The audit trail: one durable, append-only record per action a policy takes.

    log = AuditLog("state.db")                       # SQLite; the machines' state file
    log.append(decision_records(decision, subject="HEDGE-SPY-TAIL-0142"))   # a roll decision
    MachineRunner(machine, MachineStore("state.db"), audit=True).feed(obs)  # a step and its records, atomically
    log.export(stream, "jsonl")                      # or "csv"; optionally a time window
    log.verify()                                     # [] when no record was removed or edited

Records are keyed by a deterministic id derived from what produced them (a decision: policy,
subject, time and input hash; a machine step: machine id, step number and position in the step),
so writing the same record again is a no-op, and writing a *different* record under an existing
id is refused (``AuditConflict``): the trail never changes silently.

Each record carries the policy id, version and content hash, a correlation id (shared by every
record of one decision or one machine step unless the caller gives its own), and the hash of the
previous record: a removed or edited record breaks the chain and ``verify`` names it. The
database also refuses UPDATE and DELETE on the table (triggers); the chain catches whoever drops
them. A chain cannot show that records were cut from its end: keep the last ``record_hash`` of
each export elsewhere to anchor it.

The records of a machine step are committed in the step's own transaction
(``MachineRunner(machine, store, audit=True)``: ``MachineStore.commit_step`` calls
``insert_records`` on its connection, and the table lives in the store's file), so a crash never
leaves a step without its records or records without their step. Stdlib only.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from policy_engine.decision import Decision, canonical_json, iso_from_us
from policy_engine.durable import DurableFile

GENESIS = "sha256:" + "0" * 64
FORMATS = ("jsonl", "csv")
_COLUMNS = ("seq", "record_id", "at", "action", "subject", "correlation_id", "policy_id", "policy_version",
            "content_hash", "rule", "reason", "details", "prev_hash", "record_hash")
# One statement each: a trigger body holds semicolons, so the text is never split on them.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS audit_records (
    seq INTEGER PRIMARY KEY, record_id TEXT NOT NULL UNIQUE, at INTEGER NOT NULL, action TEXT NOT NULL,
    subject TEXT NOT NULL, correlation_id TEXT NOT NULL, policy_id TEXT NOT NULL, policy_version TEXT NOT NULL,
    content_hash TEXT NOT NULL, rule TEXT NOT NULL, reason TEXT NOT NULL, details TEXT NOT NULL,
    prev_hash TEXT NOT NULL, record_hash TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS audit_records_by_time ON audit_records (at, seq)",
    """CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END""",
)


class AuditError(Exception):
    """The audit trail cannot be used as asked (unreadable file, unknown format)."""


class AuditConflict(AuditError):
    """A record id is already stored with different content."""


@dataclass(frozen=True)
class AuditRecord:
    """One action: what was done, when, to what, by which policy, and why."""

    record_id: str
    at: int  # microseconds since the epoch (UTC)
    action: str  # ROLL_TRIGGERED, ASSIGNMENT_DETECTED, KILL_SWITCH_ON, STATE_TRANSITION, ...
    subject: str  # a position id, a machine instance id
    correlation_id: str
    policy_id: str
    policy_version: str
    content_hash: str
    rule: str = ""
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def content(self) -> dict[str, Any]:
        """The fields a repeated write must match, as plain JSON data."""
        data = asdict(self)
        data["details"] = json.loads(canonical_json(self.details))
        return data


class PolicyInfo(Protocol):
    """What a record needs to know of the policy that acted (a CompiledMachine has it)."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def content_hash(self) -> str: ...


# --- building records ----------------------------------------------------------------------
def decision_records(decision: Decision, subject: str, *, correlation_id: str | None = None,
                     quiet_action: str = "DECISION", at: int | None = None) -> list[AuditRecord]:
    """One record for one decision. Its action is the type of the decision's first event
    (e.g. ROLL_TRIGGERED, ROLL_CHECK_REJECTED), else ``quiet_action`` (e.g. ROLL_NOT_DUE)."""
    prov = decision.provenance
    when = prov.now_us if prov.now_us is not None else at
    if when is None:
        raise AuditError(f"decision on {subject} has no time (invalid input): pass at=")
    record_id = f"{prov.policy_id}/{subject}@{iso_from_us(when)}/{prov.input_hash[7:23]}"
    details = {"outcome": decision.outcome, "message": decision.message, "values": dict(decision.values),
               "fired": [t.to_dict() for t in decision.fired], "events": [e.to_dict() for e in decision.events],
               "input_hash": prov.input_hash, "engine_version": prov.engine_version}
    if decision.input_errors:
        details["input_errors"] = [{"json_path": p, "message": m} for p, m in decision.input_errors]
    action = decision.events[0].type if decision.events else quiet_action
    return [AuditRecord(record_id, when, action, subject, correlation_id or record_id, prov.policy_id,
                        prov.policy_version, prov.content_hash, decision.rule or "", decision.reason or "",
                        details)]


def step_records(policy: PolicyInfo, machine_id: str, result: Any, *,
                 correlation_id: str | None = None) -> list[AuditRecord]:
    """Records of one machine step (a ``StepResult``): every transition (STATE_TRANSITION), every
    event (its type) and every action item (its ``action`` field, else the action's id)."""
    state = result.new_state
    base = f"{machine_id}#{state.seq}"
    make = _StepRecordMaker(policy, machine_id, correlation_id or base)
    records = [make(f"{base}.t{i}", t.transition_at, "STATE_TRANSITION", t.rule, t.trigger,
                    {"from": t.from_mode, "to": t.to_mode, "reason": t.reason, "manual": t.manual})
               for i, t in enumerate(result.transitions)]
    records += [make(f"{base}.e{i}", e.at, e.type, e.rule, e.reason, {"severity": e.severity, "message": e.message})
                for i, e in enumerate(result.events)]
    for i, act in enumerate(result.actions):
        records += [make(f"{base}.a{i}.{j}", state.updated_at, str(item.get("action") or act.action), act.action, "",
                         {"state": act.state, **item})
                    for j, item in enumerate(act.items)]
    return records


@dataclass(frozen=True)
class _StepRecordMaker:
    policy: PolicyInfo
    subject: str
    correlation_id: str

    def __call__(self, record_id: str, at: int, action: str, rule: str, reason: str,
                 details: dict[str, Any]) -> AuditRecord:
        p = self.policy
        return AuditRecord(record_id, at, action, self.subject, self.correlation_id, p.id, p.version,
                           p.content_hash, rule, reason, details)


# --- the log -------------------------------------------------------------------------------
def _record_hash(row: dict[str, Any]) -> str:
    body = {k: row[k] for k in _COLUMNS if k != "record_hash"}
    return "sha256:" + hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def create_audit_table(db: sqlite3.Connection) -> None:
    """Create the audit table and its append-only triggers in ``db`` if they are not there yet."""
    for statement in _SCHEMA:
        db.execute(statement)


def insert_records(db: sqlite3.Connection, records: Iterable[AuditRecord]) -> list[str]:
    """Chain the records onto the trail in ``db``; the ids newly written (repeats are skipped).

    The caller holds the write transaction (BEGIN IMMEDIATE) and commits or rolls back: the chain
    reads its last record inside it, and SQLite lets one writer at a time hold that lock, so
    writers in several connections or processes extend one linear chain. ``MachineStore`` calls
    this inside a machine step's transaction, ``AuditLog.append`` inside its own."""
    return [record.record_id for record in records if _insert_record(db, record)]


def _insert_record(db: sqlite3.Connection, record: AuditRecord) -> bool:
    content = record.content()
    names = [k for k in _COLUMNS if k in content]
    existing = db.execute(f"SELECT {', '.join(names)} FROM audit_records WHERE record_id = ?",
                          (record.record_id,)).fetchone()
    if existing is not None:
        stored = {k: json.loads(v) if k == "details" else v for k, v in zip(names, existing)}
        if stored != content:
            raise AuditConflict(f"audit record {record.record_id} is already stored with other content")
        return False
    last = db.execute("SELECT seq, record_hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
    row: dict[str, Any] = {**content, "details": canonical_json(record.details),
                           "seq": last[0] + 1 if last else 1, "prev_hash": last[1] if last else GENESIS}
    row["record_hash"] = _record_hash(row)
    db.execute(f"INSERT INTO audit_records ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
               [row[k] for k in _COLUMNS])
    return True


class AuditLog(DurableFile):
    """Append-only audit records in one SQLite file; ``":memory:"`` for a throwaway log.

    Records of a machine step are best written by the step's own transaction
    (``MachineRunner(..., audit=True)``, same file); this class writes the others (decisions)
    and reads, exports and verifies the whole trail."""

    def __init__(self, path: str | Path):
        try:
            super().__init__(path)
            with self._transaction():
                create_audit_table(self._db)
        except sqlite3.Error as problem:
            raise AuditError(f"{self.path}: {problem}") from None

    def append(self, records: Iterable[AuditRecord]) -> list[str]:
        """Write the records in one transaction; the ids newly written (repeats are skipped)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            written = insert_records(self._db, records)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return written

    def rows(self, since: int | None = None, until: int | None = None) -> list[dict[str, Any]]:
        """Stored records in write order; ``since`` inclusive, ``until`` exclusive (microseconds)."""
        where, args = _window(since, until)
        return [dict(r) for r in self._db.execute(f"SELECT * FROM audit_records {where} ORDER BY seq", args)]

    def records(self, since: int | None = None, until: int | None = None) -> list[dict[str, Any]]:
        """Like ``rows`` with ``details`` as data."""
        return [{**row, "details": json.loads(row["details"])} for row in self.rows(since, until)]

    def export(self, stream: TextIO, fmt: str = "jsonl", since: int | None = None, until: int | None = None) -> int:
        """Write the records of the window as JSONL or CSV; the number written."""
        rows = self.rows(since, until)
        write_export(rows, stream, fmt)
        return len(rows)

    def verify(self) -> list[str]:
        """Problems in the whole chain, each naming a record; [] when intact."""
        return verify_rows(self.rows(), anchored=True)


def _window(since: int | None, until: int | None) -> tuple[str, list[int]]:
    clauses, args = [], []
    if since is not None:
        clauses.append("at >= ?")
        args.append(since)
    if until is not None:
        clauses.append("at < ?")
        args.append(until)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), args


# --- export and verification ---------------------------------------------------------------
def write_export(rows: Sequence[dict[str, Any]], stream: TextIO, fmt: str) -> None:
    """Stored rows as JSONL (one object per line, ``details`` as an object) or CSV (``details``
    as canonical JSON text); both keep every column, so an export can be verified on its own."""
    if fmt == "jsonl":
        for row in rows:
            data = {**row, "details": json.loads(row["details"]), "at_iso": iso_from_us(row["at"])}
            stream.write(json.dumps(data, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n")
    elif fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow([*_COLUMNS, "at_iso"])
        for row in rows:
            writer.writerow([*(row[k] for k in _COLUMNS), iso_from_us(row["at"])])
    else:
        raise AuditError(f"unknown export format '{fmt}' (expected one of {', '.join(FORMATS)})")


def read_export(lines: Iterable[str], fmt: str) -> list[dict[str, Any]]:
    """Rows of a JSONL or CSV export, in the stored form (``details`` as canonical JSON text)."""
    if fmt == "jsonl":
        rows = [json.loads(line) for line in lines if line.strip()]
        return [{**{k: r.get(k) for k in _COLUMNS}, "details": canonical_json(r.get("details"))} for r in rows]
    if fmt == "csv":
        rows = list(csv.DictReader(lines))
        return [{**{k: r.get(k) for k in _COLUMNS}, "seq": _int(r.get("seq")), "at": _int(r.get("at"))} for r in rows]
    raise AuditError(f"unknown export format '{fmt}' (expected one of {', '.join(FORMATS)})")


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def verify_rows(rows: Sequence[dict[str, Any]], anchored: bool = False, partial: bool = False) -> list[str]:
    """Check the hash chain: every record against its own hash, and each against the one before.

    ``anchored``: the rows start at the first record ever written (a whole database). ``partial``:
    the rows are a time window of the trail, so records of other times may be absent between them
    (records written by several machines interleave); a gap in ``seq`` is then not reported and
    only records adjacent in ``seq`` are checked against each other."""
    return list(_chain_problems(rows, anchored, partial))


def _chain_problems(rows: Sequence[dict[str, Any]], anchored: bool, partial: bool) -> Iterator[str]:
    previous: dict[str, Any] | None = None
    for row in rows:
        name = f"record {row.get('record_id')} (seq {row.get('seq')})"
        if row.get("record_hash") != _record_hash(row):
            yield f"{name}: content does not match its hash (edited)"
        expected_seq = previous["seq"] + 1 if previous is not None else 1
        gap = isinstance(row.get("seq"), int) and row["seq"] != expected_seq and (previous is not None or anchored)
        if gap and partial:
            pass
        elif gap:
            missing = f"seq {expected_seq}" if row["seq"] == expected_seq + 1 else f"seq {expected_seq}-{row['seq'] - 1}"
            yield f"{name}: record(s) {missing} missing before it (removed)"
        elif previous is not None and row.get("prev_hash") != previous.get("record_hash"):
            before = previous.get("record_id")
            yield f"{name}: its previous-record hash does not match record {before} ({before} was edited or replaced)"
        elif previous is None and anchored and row.get("prev_hash") != GENESIS:
            yield f"{name}: the first record does not start the chain"
        previous = row
