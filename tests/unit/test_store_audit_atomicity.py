"""A machine step and its audit records commit in one transaction (``MachineRunner(audit=True)``):
writers killed with SIGKILL at random moments never leave a step without its audit records, nor
audit records without their step, and the hash chain of the trail stays whole.

The writers are forked from one helper process that has already compiled the policy, so a kill
costs a fork rather than an interpreter start and the test can kill many of them. Each round
forks three writers on one SQLite file — one with a machine of its own, two racing for one shared
machine (``ConflictError``) — and kills each with SIGKILL at a random moment while it steps. After
every round the file must pass ``PRAGMA integrity_check``, hold every step a writer acknowledged,
and hold for every stored step exactly the audit records a clean single-process run makes for it
(same ids, same actions), with no other record; ``AuditLog.verify`` must find the chain intact.
Every round feeds the stream from its start again, so already-stored steps are fed again too.

Rounds: ``ATOMICITY_ROUNDS`` (default 12).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.audit import AuditConflict, AuditLog, AuditRecord, step_records
from policy_engine.machine import CompiledMachine
from policy_engine.store import MachineRunner, MachineStore

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies/ops/controls.yaml"
ROUNDS = int(os.environ.get("ATOMICITY_ROUNDS", "12"))
WRITERS = ("alpha", "shared", "shared")


def observation(k: int) -> dict[str, Any]:
    """Observation k, a minute apart, cycling so that nearly every step records something:
    calm, VaR breach (BLOCKED), daily loss (HALTED), review (TRADING), broker down, broker back."""
    now = f"2025-03-{4 + k // 1440:02d}T{k // 60 % 24:02d}:{k % 60:02d}:00Z"
    data: dict[str, Any] = {"now": now, "daily_loss_pct": 0.005, "var_pct": 0.01, "drawdown_pct": 0.02,
                            "leverage": 1.0, "feeds": [{"name": "quotes", "last_update_at": now}],
                            "broker_connected": True}
    phase = k % 6
    if phase in (1, 2):
        data["var_pct"] = 0.04
    if phase == 2:
        data["daily_loss_pct"] = 0.03
    if phase == 3:
        data["review"] = {"by": "risk", "at": now}
    if phase == 4:
        data["broker_connected"] = False
    return data


# The helper: compiles the policy once, then forks a writer per request line "fork DB MACHINE_ID"
# (answering "child PID") and reaps one per "reap PID" (answering "dead PID STATUS"). A writer
# prints "ack PID MACHINE_ID STEP_ID SEQ" after each commit returned; it stops by itself after 30 s
# (printing "done PID"), so that nothing waits forever on a writer that cannot commit.
HELPER = textwrap.dedent("""
    import os, sys, time
    import policy_engine
    from policy_engine.store import ConflictError, MachineRunner, MachineStore
    from tests.unit.test_store_audit_atomicity import observation

    machine = policy_engine.load(sys.argv[1])

    def write(db, machine_id):
        runner = MachineRunner(machine, MachineStore(db), machine_id, audit=True)
        k, stop, pid = 0, time.monotonic() + 30, os.getpid()
        while time.monotonic() < stop:
            try:
                fed = runner.feed(observation(k))
            except ConflictError:
                continue
            if fed.result is not None:
                os.write(1, f"ack {pid} {machine_id} {fed.step_id} {fed.result.new_state.seq}\\n".encode())
            k += 1
        os.write(1, f"done {pid}\\n".encode())

    print("ready", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "fork":
            pid = os.fork()
            if pid == 0:
                try:
                    write(*args)
                finally:
                    os._exit(0)
            print("child", pid, flush=True)
        elif command == "reap":
            _, status = os.waitpid(int(args[0]), 0)
            print("dead", args[0], status, flush=True)
""")


@pytest.fixture(scope="module")
def machine() -> CompiledMachine:
    return policy_engine.load(POLICY)


class Helper:
    def __init__(self, script: Path):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen([sys.executable, str(script), str(POLICY)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        self.acks: list[tuple[str, str, int]] = []
        self.acked: set[int] = set()    # writers that committed at least once
        self.done: set[int] = set()     # writers that stopped by themselves
        assert self._line() == ["ready"]

    def _read(self) -> list[str]:
        """The next line; an acknowledgement or a stop is kept."""
        assert self.process.stdout is not None
        words = self.process.stdout.readline().split()
        assert words, "the helper stopped"
        if words[0] == "ack":
            self.acked.add(int(words[1]))
            self.acks.append((words[2], words[3], int(words[4])))
        elif words[0] == "done":
            self.done.add(int(words[1]))
        return words

    def _line(self) -> list[str]:
        """The next answer to a request."""
        while True:
            words = self._read()
            if words[0] not in ("ack", "done"):
                return words

    def wait_for_commit(self, pid: int) -> None:
        """Until the writer has committed a step (or stopped by itself)."""
        while pid not in self.acked and pid not in self.done:
            assert self._read()[0] in ("ack", "done")

    def ask(self, *words: str) -> list[str]:
        assert self.process.stdin is not None
        self.process.stdin.write(" ".join(words) + "\n")
        self.process.stdin.flush()
        return self._line()

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def helper(tmp_path: Path) -> Iterator[Helper]:
    script = tmp_path / "helper.py"
    script.write_text(HELPER)
    started = Helper(script)
    yield started
    started.close()


def run_round(helper: Helper, db: Path, rng: random.Random) -> None:
    """Fork the writers; once each has committed, SIGKILL it at a random moment; reap them."""
    pids = [int(helper.ask("fork", str(db), machine_id)[1]) for machine_id in WRITERS]
    for pid in pids:
        helper.wait_for_commit(pid)
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(pid, signal.SIGKILL)
    for pid in pids:
        answer = helper.ask("reap", str(pid))
        assert answer[:2] == ["dead", str(pid)] and os.WIFSIGNALED(int(answer[2]))
        assert os.WTERMSIG(int(answer[2])) == signal.SIGKILL


class CleanRun:
    """What one process feeding the stream records, step by step (grown as the rounds need it)."""

    def __init__(self, machine: CompiledMachine, machine_id: str):
        self.machine, self.machine_id = machine, machine_id
        self.state = machine.initial_state(machine.step_time(observation(0), None))
        self.records: list[list[tuple[str, str]]] = []

    def first(self, steps: int) -> list[tuple[str, str]]:
        """(record id, action) of the first ``steps`` steps."""
        while len(self.records) < steps:
            result = self.machine.step(self.state, observation(len(self.records)), trace=False)
            self.records.append([(r.record_id, r.action) for r in step_records(self.machine, self.machine_id, result)])
            self.state = result.new_state
        return [pair for step in self.records[:steps] for pair in step]


def check_file(clean: dict[str, CleanRun], db: Path, acks: list[tuple[str, str, int]]) -> int:
    """The invariants after a round; the number of audit records checked."""
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with MachineStore(db) as store, AuditLog(db) as log:
        stored = {row["step_id"]: (row["machine_id"], row["seq"]) for row in store.steps()}
        for machine_id, step_id, seq in acks:
            assert stored.get(step_id) == (machine_id, seq), f"acknowledged step {machine_id}#{seq} lost"
        records = log.rows()
        assert log.verify() == []
        expected: list[tuple[str, str]] = []
        for record in store.machines():
            assert [s["seq"] for s in store.steps(record.machine_id)] == list(range(1, record.seq + 1))
            expected += clean[record.machine_id].first(record.seq)
        # every stored step has its records, and every record has its stored step
        assert sorted((r["record_id"], r["action"]) for r in records) == sorted(expected)
    return len(records)


def test_sigkilled_writers_never_split_a_step_from_its_audit_records(
        machine: CompiledMachine, helper: Helper, tmp_path: Path) -> None:
    db, rng = tmp_path / "state.db", random.Random(20250304)
    checked, clean = 0, {machine_id: CleanRun(machine, machine_id) for machine_id in WRITERS}
    for _ in range(ROUNDS):
        run_round(helper, db, rng)
        checked = check_file(clean, db, helper.acks)
    with MachineStore(db) as store:
        steps = {m.machine_id: m.seq for m in store.machines()}
    assert helper.done == set()                    # every writer was killed while writing
    print(f"\n{ROUNDS} rounds, {ROUNDS * len(WRITERS)} writers killed with SIGKILL, {len(helper.acks)} "
          f"acknowledged steps; steps stored {steps}, {checked} audit records, each with its step")
    assert steps["alpha"] > 0 and steps["shared"] > 0 and checked > 0


# --- the same, without processes -----------------------------------------------------------------
def test_a_failing_audit_write_writes_nothing_of_the_step(machine: CompiledMachine, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with MachineStore(db) as store, AuditLog(db) as log:
        runner = MachineRunner(machine, store, "alpha", audit=True)
        runner.feed(observation(0))
        state = runner.state()
        assert state is not None
        (first, *_) = step_records(machine, "alpha", machine.step(state, observation(1), trace=False))
        log.append([AuditRecord(**{**first.__dict__, "reason": "written elsewhere first"})])
        before = (store.steps(), store.transitions(), store.events(), log.rows())
        with pytest.raises(AuditConflict):
            runner.feed(observation(1))       # its first record's id is taken by other content
        assert (store.steps(), store.transitions(), store.events(), log.rows()) == before
        assert store.read_machine("alpha").seq == 1   # type: ignore[union-attr]


def test_records_commit_with_the_step_and_a_repeat_is_a_no_op(machine: CompiledMachine, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with MachineStore(db) as store:
        runner = MachineRunner(machine, store, "alpha", audit=True)
        fed = runner.feed(observation(1), correlation_id="desk-check-1")
        assert fed.result is not None
        assert runner.feed(observation(1)).duplicate
    with AuditLog(db) as log:
        rows = log.records()
    assert [(r["record_id"], r["action"]) for r in rows] == [
        ("alpha#1.t0", "STATE_TRANSITION"), ("alpha#1.e0", "CONTROL_MODE_CHANGE"),
        ("alpha#1.e1", "RISK_LIMIT_ALERT"), ("alpha#1.e2", "NEW_TRADES_BLOCKED"),
        ("alpha#1.a0.0", "LIMIT_BREACH_ALERT")]
    assert {r["correlation_id"] for r in rows} == {"desk-check-1"}
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]


def test_without_audit_the_runner_writes_no_records(machine: CompiledMachine, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with MachineStore(db) as store:
        MachineRunner(machine, store, "alpha").feed(observation(1))
    with AuditLog(db) as log:
        assert log.rows() == []
