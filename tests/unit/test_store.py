"""The SQLite store and MachineRunner: idempotent writes, one transaction per step, conflicts,
the reader API, and a process killed with SIGKILL in the middle of a stream."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.machine import CompiledMachine, StateError
from policy_engine.store import ConflictError, MachineRunner, MachineStore, PolicyStamp

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies/risk/risk_modes.yaml"
LOG = ROOT / "policies/risk/examples/risk_modes.observations.jsonl"


@pytest.fixture(scope="module")
def machine() -> CompiledMachine:
    return policy_engine.load(POLICY)


def observations() -> list[dict[str, Any]]:
    return [json.loads(line) for line in LOG.read_text().splitlines()]


def transitions_of_a_clean_run(machine: CompiledMachine) -> list[tuple[int, str, str, str]]:
    state, found = machine.initial_state(observations()[0]["now"]), []
    for observation in observations():
        result = machine.step(state, observation, trace=False)
        found += [(t.step, t.from_mode, t.to_mode, t.trigger) for t in result.transitions]
        state = result.new_state
    return found


def stored_transitions(store: MachineStore) -> list[tuple[int, str, str, str]]:
    return [(t["seq"], t["from_mode"], t["to_mode"], t["trigger"]) for t in store.transitions("risk.risk_modes")]


def test_runner_commits_every_step_and_the_reader_api_sees_them(machine: CompiledMachine, tmp_path: Path) -> None:
    with MachineStore(tmp_path / "state.db") as store:
        runner = MachineRunner(machine, store)
        for observation in observations():
            assert not runner.feed(observation).duplicate
        (stored,) = store.machines()
        assert (stored.machine_id, stored.mode, stored.seq, stored.state_id) == (
            "risk.risk_modes", "REDUCE_ONLY", 10, "risk.risk_modes#10")
        assert stored_transitions(store) == transitions_of_a_clean_run(machine)
        assert [t["transition_id"] for t in store.transitions()][:2] == ["risk.risk_modes#2.t0", "risk.risk_modes#5.t0"]
        assert [s["seq"] for s in store.steps()] == list(range(1, 11))
        assert [s["seq"] for s in store.states("risk.risk_modes", last=2)] == [9, 10]
        assert store.events("risk.risk_modes", last=1)[0]["type"] == "REDUCE_ONLY_ACTIVATED"
        assert runner.state() == machine.load_state(stored.state)


def test_a_repeated_step_is_a_no_op(machine: CompiledMachine, tmp_path: Path) -> None:
    with MachineStore(tmp_path / "state.db") as store:
        runner = MachineRunner(machine, store)
        first = runner.feed(observations()[1])
        again = runner.feed(observations()[1])
        assert again.duplicate and again.step_id == first.step_id
        assert len(store.steps()) == 1 and len(store.transitions()) == 1


def test_commit_with_the_same_step_id_writes_nothing_twice(machine: CompiledMachine, tmp_path: Path) -> None:
    result = machine.step(machine.initial_state(observations()[0]["now"]), observations()[1])
    stamp = PolicyStamp(machine.id, machine.version, machine.content_hash)
    with MachineStore(tmp_path / "state.db") as store:
        assert store.commit_step("m", "step-1", "sha256:x", stamp, result, 0) is True
        assert store.commit_step("m", "step-1", "sha256:x", stamp, result, 0) is False
        assert (len(store.transitions()), len(store.events()), len(store.states())) == (1, 2, 1)


def test_a_stale_writer_gets_a_conflict_and_writes_nothing(machine: CompiledMachine, tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with MachineStore(path) as one, MachineStore(path) as two:
        first, second = MachineRunner(machine, one), MachineRunner(machine, two)
        first.feed(observations()[0])
        result = machine.step(machine.initial_state(observations()[0]["now"]), observations()[1])
        with pytest.raises(ConflictError):
            two.commit_step("risk.risk_modes", "other-step", "sha256:y", second.stamp, result, 0)
        assert len(one.steps()) == 1


def test_a_failure_inside_the_transaction_rolls_everything_back(machine: CompiledMachine, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    original = MachineStore._write_rows

    def write_then_fail(self: MachineStore, *args: Any) -> None:
        original(self, *args)
        raise OSError("disk full")

    with MachineStore(tmp_path / "state.db") as store:
        monkeypatch.setattr(MachineStore, "_write_rows", write_then_fail)
        with pytest.raises(OSError):
            MachineRunner(machine, store).feed(observations()[1])
        assert (store.machines(), store.steps(), store.transitions(), store.events()) == ([], [], [], [])


def test_wal_mode(tmp_path: Path) -> None:
    MachineStore(tmp_path / "state.db").close()
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_state_in_a_stored_row(machine: CompiledMachine, tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with MachineStore(path) as store:
        MachineRunner(machine, store).feed(observations()[0])
    with sqlite3.connect(path) as db:
        row = json.loads(db.execute("SELECT state_json FROM machines").fetchone()[0])
        db.execute("UPDATE machines SET state_json = ?", (json.dumps({**row, "mode": "HALTED"}),))
    with MachineStore(path) as store, pytest.raises(StateError, match="HALTED"):
        MachineRunner(machine, store).feed(observations()[1])


def test_restart_after_a_clean_stop_continues(machine: CompiledMachine, tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with MachineStore(path) as store:
        runner = MachineRunner(machine, store)
        for observation in observations()[:4]:
            runner.feed(observation)
    with MachineStore(path) as store:
        fed = [MachineRunner(machine, store).feed(o) for o in observations()]
        assert [f.duplicate for f in fed] == [True] * 4 + [False] * 6
        assert stored_transitions(store) == transitions_of_a_clean_run(machine)


CHILD = textwrap.dedent("""
    import json, sys
    import policy_engine
    from policy_engine.store import MachineRunner, MachineStore

    policy, log, db, pause_at, where = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]

    class PausingStore(MachineStore):
        def _write_rows(self, machine_id, step_id, digest, stamp, result):
            super()._write_rows(machine_id, step_id, digest, stamp, result)
            if where == "in_transaction" and result.new_state.seq == pause_at:
                print("paused", result.new_state.seq, flush=True)
                sys.stdin.readline()  # rows written, not committed: the parent kills us here

    runner = MachineRunner(policy_engine.load(policy), PausingStore(db))
    for line in open(log, encoding="utf-8"):
        fed = runner.feed(json.loads(line))
        print("committed", fed.result.new_state.seq, flush=True)
        if where == "between_steps" and fed.result.new_state.seq == pause_at:
            print("paused", pause_at, flush=True)
            sys.stdin.readline()
""")


@pytest.mark.parametrize("where, committed", [("in_transaction", 5), ("between_steps", 6)])
def test_sigkill_mid_stream_restarts_from_the_last_committed_state(machine: CompiledMachine, tmp_path: Path,
                                                                   where: str, committed: int) -> None:
    db = tmp_path / "state.db"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen([sys.executable, str(script), str(POLICY), str(LOG), str(db), "6", where],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env) as child:
        assert child.stdout is not None
        lines = [child.stdout.readline().strip() for _ in range(6 if where == "in_transaction" else 7)]
        assert lines[-1] == "paused 6", lines
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    with MachineStore(db) as store:
        (stored,) = store.machines()
        assert stored.seq == committed  # step 6 (NORMAL -> REDUCE_ONLY) is there only if it was committed
        fed = [MachineRunner(machine, store).feed(o) for o in observations()]
        assert [f.duplicate for f in fed] == [True] * committed + [False] * (10 - committed)
        assert stored_transitions(store) == transitions_of_a_clean_run(machine)
        ids = [t["transition_id"] for t in store.transitions()]
        assert len(ids) == len(set(ids)) == 5
        assert [s["seq"] for s in store.steps()] == list(range(1, 11))
