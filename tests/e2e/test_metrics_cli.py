"""``policy-engine metrics`` on a store written by the decision log and the risk-modes runner."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import policy_engine
from policy_engine.cli import main
from policy_engine.metrics import DecisionLog
from policy_engine.risk.facade import RiskManager
from policy_engine.store import MachineRunner, MachineStore

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "policies/risk/examples"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("metrics") / "state.db"
    manager = RiskManager.from_policy()
    with DecisionLog(db) as log:
        for name in ("approved.json", "rejected_daily_loss_gate.json", "rejected_liquidity_gate.json"):
            log.sized(manager, json.loads((EXAMPLES / name).read_text()))
    machine = policy_engine.load(ROOT / "policies/risk/risk_modes.yaml")
    with MachineStore(db) as machines:
        runner = MachineRunner(machine, machines)
        for line in (EXAMPLES / "risk_modes.observations.jsonl").read_text().splitlines():
            runner.feed(json.loads(line))
    return db


WINDOW = ("--since", "2025-01-01T00:00:00Z", "--until", "2026-01-01T00:00:00Z")


def test_json(store: Path) -> None:
    code, out, _ = run("metrics", "--store", str(store), *WINDOW, "--format", "json")
    metrics = json.loads(out)
    assert code == 0
    assert (metrics["sizing_requests"], metrics["sizing_approved"], metrics["sizing_rejected"]) == (3, 1, 2)
    assert metrics["rejections_by_gate"] == {"DAILY_LOSS_GATE": 1, "LIQUIDITY_GATE": 1}
    assert metrics["breaches_by_type"] == {"daily_loss_limit_reached": 1}
    assert metrics["mode_transitions"] > 0
    shares = metrics["time_in_normal_pct"] + metrics["time_in_reduce_only_pct"] + metrics["time_in_stand_down_pct"]
    assert shares == pytest.approx(1.0)


def test_text_and_prometheus(store: Path) -> None:
    code, out, _ = run("metrics", "--store", str(store), *WINDOW)
    assert code == 0 and "3 requests, 1 approved, 2 rejected" in out and "LIQUIDITY_GATE" in out
    code, out, _ = run("metrics", "--store", str(store), *WINDOW, "--format", "prometheus")
    assert code == 0 and "policy_engine_risk_sizing_requests 3.0" in out


def test_usage_errors(store: Path, tmp_path: Path) -> None:
    code, _, err = run("metrics", "--store", str(store), "--since", "yesterday", "--until", "2026-01-01T00:00:00Z")
    assert code == 2 and "--since expects an ISO 8601 time" in err
    code, _, err = run("metrics", "--store", str(store), "--since", WINDOW[3], "--until", WINDOW[1])
    assert code == 2 and "later than --since" in err
    code, _, err = run("metrics", "--store", str(tmp_path / "none.db"), *WINDOW)
    assert code == 2 and "no such file" in err
