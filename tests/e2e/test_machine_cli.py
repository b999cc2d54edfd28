"""`policy-engine replay` and `policy-engine state show`, in-process: byte-identical replays,
snapshots of the replay traces, durable state, bad observations, exit codes."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from policy_engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
RISK_MODES = "policies/risk/risk_modes.yaml"
BREAKER = "policies/risk/circuit_breaker.yaml"
RISK_LOG = "policies/risk/examples/risk_modes.observations.jsonl"
BREAKER_LOG = "policies/risk/examples/circuit_breaker.observations.jsonl"


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # relative paths: the output names files as given


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_replay_twice_is_byte_identical() -> None:
    first = cli("replay", RISK_MODES, RISK_LOG, "--format", "json", "--trace")
    second = cli("replay", RISK_MODES, RISK_LOG, "--format", "json", "--trace")
    assert first[0] == 0 and first == second
    data = json.loads(first[1])
    assert [(t["from_mode"], t["to_mode"], t["trigger"]) for s in data["steps"] for t in s["transitions"]] == [
        ("NORMAL", "REDUCE_ONLY", "daily_loss_warning"), ("REDUCE_ONLY", "NORMAL", "recovery"),
        ("NORMAL", "REDUCE_ONLY", "daily_loss_warning"), ("REDUCE_ONLY", "STAND_DOWN", "kill_switch"),
        ("STAND_DOWN", "REDUCE_ONLY", "stand_down_recovery")]
    assert data["final"]["mode"] == "REDUCE_ONLY"
    assert data["steps"][4]["trace"][-1]["rule"] == "active_risk_flags"


@pytest.mark.parametrize("policy, log", [(RISK_MODES, RISK_LOG), (BREAKER, BREAKER_LOG)])
def test_replay_trace_snapshot(snapshot: Any, policy: str, log: str) -> None:
    code, out, err = cli("replay", policy, log, "--trace")
    assert (code, err) == (0, "")
    assert out == snapshot


def test_replay_prints_transitions_with_reasons() -> None:
    code, out, _ = cli("replay", BREAKER, BREAKER_LOG)
    assert code == 0
    assert "  normal -> level_1 [nav_drop_level_1] daily NAV change -3.50% is a drop of more than 3%" in out
    assert "  action SELL_ON_LEVEL_1: AAA 50 (timing=now, day=2025-03-04); BBB 50 (timing=deferred, day=2025-03-04)" in out
    assert out.splitlines()[-1] == ("end: normal since 2025-03-18T21:00:00.000Z (recovery_rebalance), step 13; "
                                    "13 steps, 4 transitions, 0 skipped")


def test_replay_with_set_override() -> None:
    code, out, _ = cli("replay", RISK_MODES, RISK_LOG, "--set", "reduce_loss_used_pct=0.9")
    assert code == 0
    assert "[daily_loss_warning]" not in out and "[kill_switch]" in out


def test_replay_commits_to_a_state_file_and_resumes(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    assert cli("replay", RISK_MODES, RISK_LOG, "--state", db)[0] == 0
    code, out, _ = cli("replay", RISK_MODES, RISK_LOG, "--state", db)
    assert code == 0
    assert out.count("skipped, already committed") == 10
    assert out.splitlines()[-1].endswith("0 steps, 0 transitions, 10 skipped")
    code, shown, _ = cli("state", "show", "--state", db)
    assert code == 0
    assert "machine risk.risk_modes (policy risk.risk_modes 1.0.0, step 10)" in shown
    assert "  mode: REDUCE_ONLY since 2025-03-03T15:30:00.000Z (stand_down_recovery: " in shown
    code, shown_json, _ = cli("state", "show", "--state", db, "--machine", "risk.risk_modes", "--format", "json")
    data = json.loads(shown_json)
    assert [m["state"]["mode"] for m in data["machines"]] == ["REDUCE_ONLY"]
    assert len(data["machines"][0]["state"]["mode_history"]) == 5
    assert data["machines"][0]["recent_events"][-1]["type"] == "REDUCE_ONLY_ACTIVATED"


def test_state_show_errors(tmp_path: Path) -> None:
    assert cli("state", "show", "--state", str(tmp_path / "missing.db"))[0] == 2
    db = str(tmp_path / "state.db")
    cli("replay", BREAKER, BREAKER_LOG, "--state", db)
    code, _, err = cli("state", "show", "--state", db, "--machine", "nope")
    assert code == 2 and "machines: risk.circuit_breaker" in err


def write_log(tmp_path: Path, observations: list[Any]) -> str:
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(o if isinstance(o, str) else json.dumps(o) for o in observations) + "\n")
    return str(path)


def breaker_day(day: str, nav: Any, prev: float = 100.0) -> dict[str, Any]:
    return {"now": f"{day}T21:00:00Z", "trading_day": day, "nav": nav, "prev_nav": prev,
            "rebalance_scheduled": False, "positions": []}


def test_bad_observation_stops_the_replay_with_a_clear_error(tmp_path: Path) -> None:
    missing = breaker_day("2025-03-04", 99.0)
    del missing["nav"]
    log = write_log(tmp_path, [breaker_day("2025-03-03", 101.0), missing, breaker_day("2025-03-05", 99.0)])
    code, out, err = cli("replay", BREAKER, log)
    assert code == 4
    assert "refused: invalid observation: $.nav: required field missing" in err
    assert out.splitlines()[-2] == "line 2: refused: invalid observation: $.nav: required field missing"


def test_time_going_backwards_and_non_json_lines(tmp_path: Path) -> None:
    log = write_log(tmp_path, [breaker_day("2025-03-04", 101.0), breaker_day("2025-03-05", 99.0) | {
        "now": "2025-03-01T00:00:00Z"}])
    code, _, err = cli("replay", BREAKER, log)
    assert code == 4 and "time went backwards" in err
    code, _, err = cli("replay", BREAKER, write_log(tmp_path, ['{"now": NaN}']))
    assert code == 4 and "line 1: not valid JSON" in err


def test_unknown_state_in_the_state_file(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    cli("replay", BREAKER, BREAKER_LOG, "--state", str(db))
    with sqlite3.connect(db) as connection:
        row = json.loads(connection.execute("SELECT state_json FROM machines").fetchone()[0])
        connection.execute("UPDATE machines SET state_json = ?", (json.dumps({**row, "mode": "level_9"}),))
    extra = write_log(tmp_path, [breaker_day("2025-03-20", 99.0)])
    code, _, err = cli("replay", BREAKER, extra, "--state", str(db))
    assert code == 4 and "stored mode 'level_9' is not a state" in err


def test_replay_refuses_a_decision_policy_and_reports_policy_errors(tmp_path: Path) -> None:
    assert cli("replay", "policies/risk/position_sizing.yaml", RISK_LOG)[0] == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text((ROOT / BREAKER).read_text().replace("to: level_2\n", "to: level_3\n", 1)
                      .replace("../../schemas/", str(ROOT / "schemas") + "/"))
    code, _, err = cli("replay", str(broken), BREAKER_LOG)
    assert code == 1 and "error[E403]: unknown state 'level_3'" in err


def test_machine_instances_share_one_state_file(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    assert cli("replay", BREAKER, BREAKER_LOG, "--state", db, "--machine", "fund-a")[0] == 0
    assert cli("replay", BREAKER, BREAKER_LOG, "--state", db, "--machine", "fund-b")[0] == 0
    code, out, _ = cli("state", "show", "--state", db, "--format", "json")
    assert code == 0
    assert [(m["machine_id"], m["policy"], m["step"]) for m in json.loads(out)["machines"]] == [
        ("fund-a", "risk.circuit_breaker", 13), ("fund-b", "risk.circuit_breaker", 13)]
