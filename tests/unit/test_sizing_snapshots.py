"""Syrupy snapshots of the position-sizing decisions of the example requests: the engine decision
and its full trace (every value, gate and trigger: what it read, computed and concluded) as readable
YAML (``policy_engine.testing``'s ``TraceExtension``: no timings, hashes or locations), and the
PositionSizingDecision JSON without the measured ``processing_duration_ms``. A policy change shows
up in review as a diff of these files; update them with
``python -m pytest tests/unit/test_sizing_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from policy_engine.testing.snapshot import TraceExtension
from tests.sizing_helpers import EXAMPLES, decide, scrub, size

DECIDED = sorted(p for p in EXAMPLES.glob("*.json") if not p.stem.startswith("invalid_input"))
ALL = sorted(EXAMPLES.glob("*.json"))


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("path", DECIDED, ids=[p.stem for p in DECIDED])
def test_trace_snapshot(path: Path, snapshot: SnapshotAssertion) -> None:
    decision, engine = decide(_load(path))
    assert engine.trace is not None
    steps = scrub(engine.trace.to_list())
    decided = [s for s in steps if s["status"] == "failed"]
    assert [s["rule"] for s in decided] == ([decision.rejection_gate.value] if decision.rejection_gate else [])
    assert engine == snapshot(extension_class=TraceExtension)


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_decision_snapshot(path: Path, snapshot_json: SnapshotAssertion) -> None:
    decision, _ = decide(_load(path))
    assert scrub(decision.to_json_dict()) == snapshot_json


def test_traced_and_untraced_runs_decide_alike() -> None:
    for path in ALL:
        traced, _ = decide(_load(path))
        assert scrub(size(_load(path)).to_json_dict()) == scrub(traced.to_json_dict()), path.name
