"""The hedging and ops policies through the CLI, in-process: `eval` of the roll-check examples,
`replay` of the machines' example logs, and `audit export` / `audit verify` with their exit codes."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.audit import AuditLog, decision_records, step_records
from policy_engine.store import MachineRunner, MachineStore
from tests.e2e.cli_helpers import at_repo_root, cli  # noqa: F401  (fixture used by pytestmark)

ROOT = Path(__file__).resolve().parents[2]
ROLL = "policies/hedging/roll_triggers.yaml"
MACHINES = [("policies/hedging/assignment.yaml", "policies/hedging/examples/assignment.observations.jsonl"),
            ("policies/ops/controls.yaml", "policies/ops/examples/controls.observations.jsonl"),
            ("policies/ops/escalation.yaml", "policies/ops/examples/escalation.observations.jsonl")]


pytestmark = pytest.mark.usefixtures("at_repo_root")


def test_validate_the_hedging_and_ops_policies() -> None:
    code, out, _ = cli("validate", "policies/hedging", "policies/ops")
    assert code == 0
    assert out.splitlines() == ["policies/hedging/assignment.yaml: ok", "policies/hedging/roll_triggers.yaml: ok",
                                "policies/ops/controls.yaml: ok", "policies/ops/escalation.yaml: ok"]


@pytest.mark.parametrize(("example", "reason"), [
    ("tail_delta_drift.json", "delta_drift_itm"), ("spread_width_decay.json", "width_value_decay"),
])
def test_eval_roll_examples(example: str, reason: str) -> None:
    code, out, err = cli("eval", ROLL, f"policies/hedging/examples/{example}", "--format", "json")
    assert (code, err) == (0, "")
    decision = json.loads(out)
    assert decision["reason"] == reason and decision["events"][0]["type"] == "ROLL_TRIGGERED"


def test_eval_with_a_threshold_set() -> None:
    code, out, _ = cli("eval", ROLL, "policies/hedging/examples/tail_delta_drift.json", "--format", "json",
                       "--set", "tail_delta_drift_threshold=0.2")
    assert code == 0 and json.loads(out)["reason"] is None


def test_replay_the_machine_examples() -> None:
    finals = {}
    for policy, log in MACHINES:
        code, out, err = cli("replay", policy, log, "--format", "json")
        assert (code, err) == (0, "")
        finals[policy] = json.loads(out)["final"]["mode"]
    assert finals == {"policies/hedging/assignment.yaml": "NORMAL", "policies/ops/controls.yaml": "TRADING",
                      "policies/ops/escalation.yaml": "RESOLVED"}


# --- audit export / verify -----------------------------------------------------------------------
def _observations(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (ROOT / path).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def built_trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state file holding the machines' states and the audit trail of every example (built once)."""
    db = tmp_path_factory.mktemp("trail") / "state.db"
    roll = policy_engine.load(ROOT / ROLL)
    with MachineStore(db) as store, AuditLog(db) as log:
        for example in ("tail_delta_drift.json", "spread_width_decay.json"):
            request = json.loads((ROOT / "policies/hedging/examples" / example).read_text(encoding="utf-8"))
            log.append(decision_records(roll.evaluate(request), request["position"]["position_id"]))
        for policy, path in MACHINES:
            machine = policy_engine.load(ROOT / policy)
            runner = MachineRunner(machine, store)
            for observation in _observations(path):
                fed = runner.feed(observation)
                assert fed.result is not None
                log.append(step_records(machine, runner.machine_id, fed.result))
    return db


@pytest.fixture
def trail(built_trail: Path, tmp_path: Path) -> Path:
    """A copy each test may tamper with."""
    copy = tmp_path / "state.db"
    shutil.copyfile(built_trail, copy)
    return copy


def test_export_jsonl_and_verify(trail: Path, tmp_path: Path) -> None:
    code, out, err = cli("audit", "export", "--db", str(trail))
    assert code == 0 and err.startswith("exported ")
    records = [json.loads(line) for line in out.splitlines()]
    assert {r["policy_id"] for r in records} == {"hedging.roll_triggers", "hedging.assignment", "ops.controls",
                                                  "ops.escalation"}
    assert all(r["policy_version"] == "1.0.0" and r["content_hash"].startswith("sha256:") for r in records)
    export = tmp_path / "audit.jsonl"
    assert cli("audit", "export", "--db", str(trail), "--out", str(export))[0] == 0
    assert export.read_text(encoding="utf-8") == out
    code, out, _ = cli("audit", "verify", "--file", str(export))
    assert code == 0 and out.endswith(f"{len(records)} audit records, chain intact\n")
    assert cli("audit", "verify", "--db", str(trail))[0] == 0


def test_export_csv_window(trail: Path, tmp_path: Path) -> None:
    export = tmp_path / "audit.csv"
    code, _, err = cli("audit", "export", "--db", str(trail), "--format", "csv", "--since", "2025-03-04T15:00:00Z",
                       "--until", "2025-03-04T16:00:00Z", "--out", str(export))
    assert code == 0
    lines = export.read_text(encoding="utf-8").splitlines()
    assert err == f"exported {len(lines) - 1} audit records (a time window: verify it with --partial)\n"
    assert len(lines) > 2 and all(",2025-03-04T15:" in line for line in lines[1:])
    # the machines' records interleave in the chain, so the window leaves gaps between its records
    code, out, _ = cli("audit", "verify", "--file", str(export))
    assert code == 4 and "missing" in out
    assert cli("audit", "verify", "--file", str(export), "--partial")[0] == 0


def test_verify_fails_and_names_the_removed_record(trail: Path) -> None:
    raw = sqlite3.connect(trail)
    removed = raw.execute("SELECT record_id FROM audit_records WHERE seq = 7").fetchone()[0]
    raw.execute("DROP TRIGGER audit_records_no_delete")
    raw.execute("DELETE FROM audit_records WHERE seq = 7")
    raw.commit()
    raw.close()
    code, out, _ = cli("audit", "verify", "--db", str(trail))
    assert code == 4
    assert "seq 7 missing" in out and "FAILED verification" in out
    assert removed not in out  # its id is gone; the record after it is named instead


def test_verify_fails_on_an_edited_export(trail: Path, tmp_path: Path) -> None:
    _, out, _ = cli("audit", "export", "--db", str(trail))
    lines = out.splitlines()
    edited = json.loads(lines[2])
    edited["action"] = "NOTHING_TO_SEE"
    lines[2] = json.dumps(edited)
    export = tmp_path / "edited.jsonl"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, _ = cli("audit", "verify", "--file", str(export))
    assert code == 4 and edited["record_id"] in out


@pytest.mark.parametrize("argv", [
    ("audit", "export", "--db", "no/such/file.db"),
    ("audit", "export", "--db", "{trail}", "--since", "yesterday"),
    ("audit", "export", "--db", "{trail}", "--format", "xml"),
    ("audit", "verify", "--file", "no/such/export.jsonl"),
    ("audit", "verify"),
])
def test_usage_errors(trail: Path, argv: tuple[str, ...]) -> None:
    code, _, _ = cli(*(a.replace("{trail}", str(trail)) for a in argv))
    assert code == 2
