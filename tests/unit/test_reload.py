"""Hot reload: a clean compile swaps in atomically, a broken edit never replaces the running
version, concurrent readers only ever see whole versions, and the watcher notices a change.

Every test works on a private copy of tests/fixtures/tiny.yaml and its input schema. Files are
replaced with ``os.replace`` (what a deploy does), so a reload reads either version in full.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import Code, Engine, ReloadResult
from policy_engine.decision import APPROVED, REJECTED

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
V1 = (FIXTURES / "tiny.yaml").read_text(encoding="utf-8")
# V2 shifts every rule down one line (so trace locations differ) and lowers the notional
# limit below the request's 1000 (so the outcome differs too).
V2 = V1.replace("kind: DecisionPolicy\n", "kind: DecisionPolicy\n# v2: tighter notional\n", 1) \
       .replace("max_notional: 10000", "max_notional: 500", 1)
BROKEN = V1.replace("pass_if: notional <= params.max_notional", "pass_if: notional <= params.max_notionl", 1)
REQUEST: dict[str, Any] = {
    "now": "2025-01-01T00:00:05Z", "account": {"balance": 1500.0, "drawdown": 0.15},
    "order": {"qty": 10, "price": 100.0, "placed_at": "2025-01-01T00:00:01.250Z", "tags": []},
}
THREADS, RELOADS = 8, 100


def _write(path: Path, text: str) -> None:
    staging = path.with_suffix(".staging")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    (tmp_path / "tiny.schema.json").write_bytes((FIXTURES / "tiny.schema.json").read_bytes())
    path = tmp_path / "tiny.yaml"
    _write(path, V1)
    return path


def _fingerprint(path: Path, text: str) -> tuple[str, str, tuple[str, ...]]:
    """content hash, outcome and trace locations of REQUEST under one version, loaded alone."""
    _write(path, text)
    decision = policy_engine.load(path).evaluate(REQUEST, trace=True)
    return decision.provenance.content_hash, decision.outcome, tuple(s.location for s in decision.trace.steps)


def test_reload_swaps_in_the_new_version(policy_file: Path) -> None:
    engine = Engine(policy_file)
    before = engine.evaluate(REQUEST)
    _write(policy_file, V2)
    result = engine.reload()
    after = engine.evaluate(REQUEST)
    assert before.outcome == APPROVED and after.outcome == REJECTED and after.rule == "NOTIONAL_GATE"
    assert result == ReloadResult(True, "1.0.0", after.provenance.content_hash, ())
    assert after.provenance.content_hash != before.provenance.content_hash
    assert engine.content_hash == after.provenance.content_hash and engine.reloads == 1


def test_reload_of_an_unchanged_file_keeps_the_same_version(policy_file: Path) -> None:
    engine = Engine(policy_file)
    running = engine.policy
    result = engine.reload()
    assert result.ok and result.content_hash == engine.content_hash
    assert engine.policy is running and engine.reloads == 0


def test_broken_edit_keeps_the_old_version_serving(policy_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = Engine(policy_file)
    serving = engine.content_hash
    _write(policy_file, BROKEN)
    with caplog.at_level(logging.ERROR, logger="policy_engine.reload"):
        result = engine.reload()
    assert not result.ok and result.content_hash == serving and result.version == "1.0.0"
    assert [(d.code, d.line) for d in result.diagnostics] == [(Code.EXPR_UNKNOWN_NAME, 31)]
    assert result.diagnostics[0].file == str(policy_file)
    assert engine.content_hash == serving and engine.reloads == 0
    decision = engine.evaluate(REQUEST)
    assert decision.outcome == APPROVED and decision.provenance.content_hash == serving
    assert [r.levelno for r in caplog.records] == [logging.ERROR] and "E302" in caplog.records[0].getMessage()


def test_deleted_file_keeps_the_old_version_serving(policy_file: Path) -> None:
    engine = Engine(policy_file)
    serving = engine.content_hash
    policy_file.unlink()
    result = engine.reload()
    assert not result.ok and result.content_hash == serving and len(result.diagnostics) == 1
    assert engine.evaluate(REQUEST).provenance.content_hash == serving


def test_first_load_of_a_broken_policy_raises(policy_file: Path) -> None:
    _write(policy_file, BROKEN)
    with pytest.raises(policy_engine.PolicyError) as caught:
        Engine(policy_file)
    assert caught.value.codes == [Code.EXPR_UNKNOWN_NAME]


def _wait_until(condition: Any, what: str, timeout: float = 30.0) -> None:
    """Poll until ``condition()`` holds; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def _advanced_by(counts: list[int], floor: list[int], calls: int) -> Any:
    return lambda: all(count >= start + calls for count, start in zip(counts, floor, strict=True))


def test_threads_evaluating_through_reloads_only_see_whole_versions(policy_file: Path) -> None:
    versions = {fp[0]: fp[1:] for fp in (_fingerprint(policy_file, V2), _fingerprint(policy_file, V1))}
    assert len(versions) == 2
    engine = Engine(policy_file)
    stop = threading.Event()
    counts = [0] * THREADS
    seen: list[list[tuple[str, str, tuple[str, ...] | None]]] = [[] for _ in range(THREADS)]

    def evaluate_until_stopped(index: int) -> None:
        while not stop.is_set():
            traced = counts[index] % 2 == 0
            decision = engine.evaluate(REQUEST, trace=traced)
            steps = tuple(s.location for s in decision.trace.steps) if traced else None
            seen[index].append((decision.provenance.content_hash, decision.outcome, steps))
            counts[index] += 1
            time.sleep(0)  # hand the GIL over so the reloading thread is not starved

    workers = [threading.Thread(target=evaluate_until_stopped, args=(i,)) for i in range(THREADS)]
    for worker in workers:
        worker.start()
    try:
        results = []
        for round_ in range(RELOADS):
            _write(policy_file, V2 if round_ % 2 == 0 else V1)
            results.append(engine.reload())
            # every reader finishes two more calls, so at least one ran wholly on this version
            _wait_until(_advanced_by(counts, list(counts), 2), f"readers in round {round_}")
    finally:
        stop.set()
        for worker in workers:
            worker.join()

    assert all(r.ok for r in results) and engine.reloads == RELOADS
    decisions = [d for per_thread in seen for d in per_thread]
    assert len(decisions) >= THREADS * RELOADS * 2
    for content_hash, outcome, steps in decisions:
        assert content_hash in versions
        assert outcome == versions[content_hash][0]
        assert steps is None or steps == versions[content_hash][1]
    assert all({h for h, _, _ in per_thread} == set(versions) for per_thread in seen)
    traced = sum(steps is not None for _, _, steps in decisions)
    print(f"hot reload: {engine.reloads} reloads under {THREADS} threads, {len(decisions)} decisions "
          f"({traced} traced) checked, 0 mixed")


def test_watcher_picks_up_a_change_and_close_stops_it(policy_file: Path) -> None:
    with Engine(policy_file, watch=True, interval=0.01) as engine:
        first = engine.content_hash
        _write(policy_file, V2)
        _wait_until(lambda: engine.content_hash != first, "the watcher to reload")
        assert engine.evaluate(REQUEST).rule == "NOTIONAL_GATE"
        watcher = engine._watcher
        assert watcher is not None and watcher.daemon
    assert not watcher.is_alive()
    _write(policy_file, V1)  # after close, edits are no longer picked up ...
    assert engine.content_hash != policy_engine.load(policy_file).plan.info.content_hash
    assert engine.evaluate(REQUEST).outcome == REJECTED  # ... and the engine still serves


def test_watcher_skips_a_broken_edit_then_takes_the_fix(policy_file: Path) -> None:
    with Engine(policy_file, watch=True, interval=0.01) as engine:
        first = engine.content_hash
        _write(policy_file, BROKEN)
        _wait_until(lambda: engine._stamp == (policy_file.stat().st_mtime_ns, policy_file.stat().st_size),
                    "the watcher to see the broken edit")
        assert engine.content_hash == first and engine.reloads == 0
        _write(policy_file, V2)
        _wait_until(lambda: engine.reloads == 1, "the watcher to take the fix")
        assert engine.evaluate(REQUEST).rule == "NOTIONAL_GATE"
