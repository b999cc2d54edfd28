"""Durability under fire: writer processes killed with SIGKILL at random points, several at once.

Each round starts four writer processes on one SQLite file — two with machines of their own, two
sharing one machine (so they race for every step and meet ``ConflictError``) — lets them commit,
then kills every one of them with SIGKILL at a random moment. After each round the file must pass
``PRAGMA integrity_check``, hold every step a writer acknowledged (printed after its commit
returned), hold each machine's steps as the contiguous sequence 1..n with no step twice, and
hold exactly the transitions a clean single-process run of the same n observations makes. Every
round restarts the writers from the first observation, so every already-stored step is fed again
and must be a no-op.

Rounds: ``DURABILITY_ROUNDS`` (default 6; the figures in docs/reliability.md are from a longer run); the figures are printed (``-s`` shows them).
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
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.machine import CompiledMachine
from policy_engine.store import MachineStore

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies/risk/risk_modes.yaml"
ROUNDS = int(os.environ.get("DURABILITY_ROUNDS", "6"))
WRITERS = ("alpha", "beta", "shared", "shared")

# The observation stream every writer feeds: a minute apart, daily loss moving through the
# risk-modes bands so the machine keeps changing mode (NORMAL <-> REDUCE_ONLY <-> STAND_DOWN).
LOSSES = (0.1, 0.78, 0.45, 0.2, 0.92, 0.5, 0.3, 0.1, 0.85, 0.4, 0.05, 0.6)


def observation(k: int) -> dict[str, Any]:
    """Observation k of the stream: a minute apart, the parent and every writer feed the same."""
    minute = 14 * 60 + k
    now = "2025-03-%02dT%02d:%02d:00Z" % (3 + minute // 1440, minute // 60 % 24, minute % 60)
    fresh = [{"name": "quotes", "as_of": now, "critical": True}, {"name": "regime", "as_of": now, "critical": True}]
    return {"now": now, "daily_loss_used_pct": LOSSES[k % len(LOSSES)], "weekly_loss_used_pct": 0.05,
            "current_drawdown_pct": 0.01, "regime": {"regime_type": "TRENDING_UP", "volatility_state": "NORMAL"},
            "kill_switch_active": False, "circuit_breaker_active": False, "critical_failure": False,
            "sizing_rejections": [], "last_limit_breach_at": None, "active_limit_breaches": [],
            "pending_risk_events": 0, "input_freshness": fresh}


WRITER = textwrap.dedent("""
    import sqlite3
    import sys
    from tests.unit.test_store_durability import observation
    import policy_engine
    from policy_engine.store import ConflictError, MachineRunner, MachineStore

    policy, db, machine_id = sys.argv[1], sys.argv[2], sys.argv[3]
    runner = MachineRunner(policy_engine.load(policy), MachineStore(db), machine_id)
    print("ready", flush=True)
    k = 0
    while True:
        try:
            fed = runner.feed(observation(k))
        except ConflictError:
            continue  # the other writer of this machine committed first: read its state, step again
        except sqlite3.OperationalError:
            continue  # the write lock was busy past the timeout (a loaded machine): nothing written, retry
        if fed.result is not None:
            print("ack", fed.step_id, fed.result.new_state.seq, flush=True)
        k += 1
""")


@pytest.fixture(scope="module")
def machine() -> CompiledMachine:
    return policy_engine.load(POLICY)


def clean_transitions(machine: CompiledMachine, steps: int) -> list[tuple[int, str, str]]:
    """What one process feeding the first ``steps`` observations records."""
    found: list[tuple[int, str, str]] = []
    state = machine.initial_state(machine.step_time(observation(0), None))
    for k in range(steps):
        result = machine.step(state, observation(k), trace=False)
        found += [(t.step, t.from_mode, t.to_mode) for t in result.transitions]
        state = result.new_state
    return found


def run_round(script: Path, db: Path, rng: random.Random) -> list[tuple[str, str, int]]:
    """Start the writers, kill each with SIGKILL at a random moment; the acknowledged steps."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen([sys.executable, str(script), str(POLICY), str(db), machine_id],
                                 stdout=subprocess.PIPE, text=True, env=env) for machine_id in WRITERS]
    acked: list[tuple[str, str, int]] = []
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + rng.uniform(0.05, 0.6)
        for machine_id, child in zip(WRITERS, children):
            time.sleep(max(0.0, deadline - time.monotonic()) * rng.random())
            child.send_signal(signal.SIGKILL)
    finally:
        for child in children:
            child.kill()
    for machine_id, child in zip(WRITERS, children):
        assert child.wait(timeout=60) == -signal.SIGKILL, f"writer {machine_id} ended on its own"
        assert child.stdout is not None
        with child.stdout:
            for line in child.stdout.read().splitlines():
                _, step_id, seq = line.split()
                acked.append((machine_id, step_id, int(seq)))
    return acked


def test_sigkilled_concurrent_writers_lose_nothing(machine: CompiledMachine, tmp_path: Path) -> None:
    db, script, rng = tmp_path / "state.db", tmp_path / "writer.py", random.Random(20261122)
    script.write_text(WRITER)
    every_ack: list[tuple[str, str, int]] = []
    for _ in range(ROUNDS):
        every_ack += run_round(script, db, rng)
        check_store(machine, db, every_ack)
    with MachineStore(db) as store:
        counts = {m.machine_id: m.seq for m in store.machines()}
    print(f"\n{ROUNDS} rounds, {ROUNDS * len(WRITERS)} writers killed with SIGKILL, "
          f"{len(every_ack)} acknowledged steps all present; steps stored per machine: {counts}")
    assert len(every_ack) > 0 and counts["shared"] > 0


def check_store(machine: CompiledMachine, db: Path, acked: list[tuple[str, str, int]]) -> None:
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with MachineStore(db) as store:
        stored = {row["step_id"]: (row["machine_id"], row["seq"]) for row in store.steps()}
        for machine_id, step_id, seq in acked:
            assert stored.get(step_id) == (machine_id, seq), f"acknowledged step {machine_id}#{seq} lost"
        for record in store.machines():
            seqs = [s["seq"] for s in store.steps(record.machine_id)]
            assert seqs == list(range(1, record.seq + 1)), f"{record.machine_id}: steps {seqs}"
            transitions = [(t["seq"], t["from_mode"], t["to_mode"]) for t in store.transitions(record.machine_id)]
            assert transitions == clean_transitions(machine, record.seq)


def test_a_repeated_write_of_the_same_step_id_is_a_no_op(machine: CompiledMachine, tmp_path: Path) -> None:
    with MachineStore(tmp_path / "state.db") as store:
        state = machine.initial_state(machine.step_time(observation(0), None))
        result = machine.step(state, observation(0), trace=False)
        stamp = _stamp(machine)
        assert store.commit_step("m", "step-1", "sha256:x", stamp, result, 0) is True
        before = _dump(store)
        assert store.commit_step("m", "step-1", "sha256:x", stamp, result, 0) is False
        assert _dump(store) == before


def _stamp(machine: CompiledMachine) -> Any:
    from policy_engine.store import PolicyStamp

    return PolicyStamp(machine.id, machine.version, machine.content_hash)


def _dump(store: MachineStore) -> tuple[Any, ...]:
    return (store.machines(), store.steps(), store.states(), store.transitions(), store.events())
