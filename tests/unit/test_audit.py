"""policy_engine.audit: one durable record per action, written once (a repeat is a no-op), exported
as JSONL or CSV with policy version and hash, and a hash chain that names a removed or edited
record."""

from __future__ import annotations

import copy
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.audit import (
    GENESIS,
    AuditConflict,
    AuditError,
    AuditLog,
    AuditRecord,
    _record_hash,
    decision_records,
    read_export,
    step_records,
    verify_rows,
)
from policy_engine.store import MachineRunner, MachineStore

ROOT = Path(__file__).resolve().parents[2]
ROLL = policy_engine.load(ROOT / "policies/hedging/roll_triggers.yaml")
ASSIGNMENT = policy_engine.load(ROOT / "policies/hedging/assignment.yaml")
ESCALATION = policy_engine.load(ROOT / "policies/ops/escalation.yaml")
EXAMPLES = ROOT / "policies/hedging/examples"


def roll_request() -> dict[str, Any]:
    return json.loads((EXAMPLES / "tail_delta_drift.json").read_text(encoding="utf-8"))


def observations(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    with AuditLog(tmp_path / "state.db") as opened:
        yield opened


def fill(log: AuditLog) -> None:
    """A roll decision and the assignment example's six steps."""
    log.append(decision_records(ROLL.evaluate(roll_request()), "HEDGE-SPY-TAIL-0142"))
    state = ASSIGNMENT.initial_state("2025-03-03T19:00:00Z")
    for observation in observations(EXAMPLES / "assignment.observations.jsonl"):
        result = ASSIGNMENT.step(state, observation, trace=False)
        log.append(step_records(ASSIGNMENT, "hedging.assignment", result))
        state = result.new_state


# --- records of a decision ---------------------------------------------------------------------
def test_roll_decision_record() -> None:
    decision = ROLL.evaluate(roll_request())
    (record,) = decision_records(decision, "HEDGE-SPY-TAIL-0142")
    assert (record.action, record.reason, record.rule) == ("ROLL_TRIGGERED", "delta_drift_itm", "TAIL_DELTA_DRIFT_ITM")
    assert record.policy_id == "hedging.roll_triggers" and record.policy_version == "1.0.0"
    assert record.content_hash == decision.provenance.content_hash
    assert record.details["fired"][0]["reason"] == "delta_drift_itm"
    assert record.correlation_id == record.record_id


def test_quiet_and_rejected_decisions() -> None:
    request = roll_request()
    request["position"]["long_leg"]["current_delta"] = -0.16
    (quiet,) = decision_records(ROLL.evaluate(request), "P", quiet_action="ROLL_NOT_DUE")
    assert quiet.action == "ROLL_NOT_DUE" and quiet.reason == ""
    request["position"]["long_leg"] = None
    (rejected,) = decision_records(ROLL.evaluate(request), "P")
    assert (rejected.action, rejected.reason) == ("ROLL_CHECK_REJECTED", "missing_long_leg")


def test_invalid_input_needs_a_time() -> None:
    request = roll_request()
    request["position"]["long_leg"]["current_delta"] = 3.0
    decision = ROLL.evaluate(request)
    with pytest.raises(AuditError):
        decision_records(decision, "P")
    (record,) = decision_records(decision, "P", at=1)
    assert record.reason == "invalid_input" and record.details["input_errors"][0]["json_path"].endswith("current_delta")


# --- records of a machine step ------------------------------------------------------------------
def test_step_records_cover_transitions_events_and_action_items() -> None:
    state = ASSIGNMENT.initial_state("2025-03-04T14:00:00Z")
    observation = {"now": "2025-03-04T19:00:00Z", "short_legs": [], "assignments": [
        {"assignment_id": "A1", "position_id": "P", "assigned_at": "2025-03-04T14:30:00Z", "resolved_at": None,
         "procedure": None, "long_leg_exercisable": True}]}
    result = ASSIGNMENT.step(state, observation, trace=False)
    records = step_records(ASSIGNMENT, "desk-1", result, correlation_id="check-2025-03-04")
    assert [(r.record_id, r.action) for r in records] == [
        ("desk-1#1.t0", "STATE_TRANSITION"), ("desk-1#1.e0", "ASSIGNMENT_MODE_CHANGE"),
        ("desk-1#1.e1", "HEDGING_HALTED"), ("desk-1#1.a0.0", "KILL_SWITCH_ON"),
        ("desk-1#1.a1.0", "ESCALATION_REQUESTED"), ("desk-1#1.a2.0", "ASSIGNMENT_RECEIVED"),
        ("desk-1#1.a3.0", "ASSIGNMENT_UNRESOLVED")]
    assert {r.correlation_id for r in records} == {"check-2025-03-04"}
    assert records[0].details == {"from": "NORMAL", "to": "HALTED", "manual": False,
                                  "reason": "1 assignment(s) unresolved for more than 4 hours"}


# --- written once ----------------------------------------------------------------------------------
def test_a_repeated_write_is_a_no_op(log: AuditLog) -> None:
    records = decision_records(ROLL.evaluate(roll_request()), "HEDGE-SPY-TAIL-0142")
    assert log.append(records) == [records[0].record_id]
    assert log.append(records) == []
    assert log.append(decision_records(ROLL.evaluate(roll_request()), "HEDGE-SPY-TAIL-0142")) == []
    assert len(log.rows()) == 1


def test_other_content_under_an_existing_id_is_refused(log: AuditLog) -> None:
    (record,) = decision_records(ROLL.evaluate(roll_request()), "P")
    log.append([record])
    changed = AuditRecord(**{**record.__dict__, "reason": "dte_threshold"})
    with pytest.raises(AuditConflict):
        log.append([changed])
    assert len(log.rows()) == 1


def test_a_failed_batch_writes_nothing(log: AuditLog) -> None:
    (record,) = decision_records(ROLL.evaluate(roll_request()), "P")
    log.append([record])
    fresh = AuditRecord("new", 1, "X", "s", "c", "p", "1", "h")
    with pytest.raises(AuditConflict):
        log.append([fresh, AuditRecord(**{**record.__dict__, "action": "OTHER"})])
    assert [r["record_id"] for r in log.rows()] == [record.record_id]


def test_refeeding_a_machine_stream_writes_each_record_once(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    lines = observations(ROOT / "policies/ops/examples/escalation.observations.jsonl")
    counts = []
    for _ in range(2):          # e.g. a restart that feeds the whole stream again
        with MachineStore(db) as store, AuditLog(db) as log:
            runner = MachineRunner(ESCALATION, store, "INC-2025-0304-01")
            for line in lines:
                fed = runner.feed(line)
                if fed.result is not None:
                    log.append(step_records(ESCALATION, runner.machine_id, fed.result))
            counts.append(len(log.rows()))
    assert counts == [8, 8]     # 4 transitions and 4 events, once
    with AuditLog(db) as log:
        assert log.verify() == []


def test_records_are_append_only_in_the_database(log: AuditLog, tmp_path: Path) -> None:
    fill(log)
    raw = sqlite3.connect(tmp_path / "state.db")
    for statement in ("UPDATE audit_records SET reason = 'x'", "DELETE FROM audit_records"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(statement)
    raw.close()


# --- export ------------------------------------------------------------------------------------------
def test_export_jsonl_then_verify(log: AuditLog) -> None:
    fill(log)
    stream = io.StringIO()
    count = log.export(stream, "jsonl")
    lines = stream.getvalue().splitlines()
    assert count == len(lines) == len(log.rows())
    first = json.loads(lines[0])
    assert first["policy_version"] == "1.0.0" and first["content_hash"].startswith("sha256:")
    assert first["prev_hash"] == GENESIS and first["at_iso"] == "2025-03-03T20:45:00.000Z"
    actions = [json.loads(line)["action"] for line in lines]
    for expected in ("ROLL_TRIGGERED", "ASSIGNMENT_DETECTED", "KILL_SWITCH_ON", "ESCALATION_REQUESTED",
                     "ASSIGNMENT_EXERCISED", "ASSIGNMENT_CLOSED", "RESUME_REFUSED", "HEDGING_RESUMED",
                     "KILL_SWITCH_OFF"):
        assert expected in actions
    assert verify_rows(read_export(lines, "jsonl")) == []


def test_export_csv_then_verify(log: AuditLog) -> None:
    fill(log)
    stream = io.StringIO()
    log.export(stream, "csv")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("seq,record_id,at,action,subject,correlation_id,policy_id,policy_version,content_hash")
    rows = read_export(io.StringIO(stream.getvalue()), "csv")
    assert len(rows) == len(log.rows()) and verify_rows(rows) == []


def test_export_window(log: AuditLog) -> None:
    fill(log)
    since, until = 1741100000000000, 1741107000000000        # 2025-03-04 14:53:20Z .. 16:50:00Z
    rows = log.rows(since, until)
    assert rows and all(since <= r["at"] < until for r in rows)
    assert len(rows) < len(log.rows())
    assert verify_rows(rows) == []                             # a window verifies on its own


def test_unknown_format_is_refused(log: AuditLog) -> None:
    with pytest.raises(AuditError):
        log.export(io.StringIO(), "xml")


# --- verification names a removed or edited record -----------------------------------------------
def tamper(tmp_path: Path, statement: str) -> None:
    raw = sqlite3.connect(tmp_path / "state.db")
    raw.execute("DROP TRIGGER audit_records_no_update")
    raw.execute("DROP TRIGGER audit_records_no_delete")
    raw.execute(statement)
    raw.commit()
    raw.close()


def test_verify_names_a_deleted_record(log: AuditLog, tmp_path: Path) -> None:
    fill(log)
    assert log.verify() == []
    tamper(tmp_path, "DELETE FROM audit_records WHERE seq = 5")
    (problem,) = log.verify()
    assert "seq 5 missing" in problem and log.rows()[4]["record_id"] in problem


def test_verify_names_an_edited_record(log: AuditLog, tmp_path: Path) -> None:
    fill(log)
    third = log.rows()[2]["record_id"]
    tamper(tmp_path, "UPDATE audit_records SET reason = 'nothing happened' WHERE seq = 3")
    (problem,) = log.verify()
    assert third in problem and "edited" in problem


def test_verify_names_a_record_edited_with_a_recomputed_hash(log: AuditLog) -> None:
    fill(log)
    rows = copy.deepcopy(log.rows())
    rows[2]["action"] = "NOTHING"
    rows[2]["record_hash"] = _record_hash(rows[2])        # a forger recomputes the edited record's hash
    (problem,) = verify_rows(rows, anchored=True)
    assert rows[3]["record_id"] in problem and rows[2]["record_id"] in problem


def test_verify_an_edited_export(log: AuditLog) -> None:
    fill(log)
    stream = io.StringIO()
    log.export(stream, "jsonl")
    lines = stream.getvalue().splitlines()
    edited = json.loads(lines[1])
    edited["details"]["short_leg_delta"] = 0.5
    lines[1] = json.dumps(edited)
    (problem,) = verify_rows(read_export(lines, "jsonl"))
    assert edited["record_id"] in problem
    del lines[3]
    assert any("missing" in p for p in verify_rows(read_export(lines, "jsonl")))


def test_shares_the_file_with_the_machine_store(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with AuditLog(db) as log:
        fill(log)
    with MachineStore(db) as store:
        assert store.machines() == []
    with AuditLog(db) as log:
        assert log.verify() == [] and len(log.rows()) > 10


def test_partial_verify_skips_gaps_but_not_edits(log: AuditLog) -> None:
    fill(log)
    window = [row for row in log.rows() if row["seq"] % 3]            # records of other times left out
    assert any("missing" in p for p in verify_rows(window))
    assert verify_rows(window, partial=True) == []
    window[1] = {**window[1], "reason": "edited"}
    (problem,) = verify_rows(window, partial=True)
    assert window[1]["record_id"] in problem and "edited" in problem
