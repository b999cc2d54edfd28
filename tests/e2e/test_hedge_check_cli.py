"""`policy-engine hedge-check` in-process: the daily roll check of the example positions, its text
and JSON output, exit codes (0 all checked, 4 a bad position, 2 usage, 1 policy errors) and the
audit records of --store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.cli_helpers import at_repo_root, cli  # noqa: F401  (fixture used by pytestmark)

ROOT = Path(__file__).resolve().parents[2]
POSITIONS = "policies/hedging/examples/positions.json"
WITH_ERRORS = "policies/hedging/examples/positions_with_errors.json"


pytestmark = pytest.mark.usefixtures("at_repo_root")


def test_text_report_of_the_example() -> None:
    code, out, err = cli("hedge-check", POSITIONS)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == ("daily hedge check 2025-03-03 (US-Eastern) at 2025-03-03T20:45:00.000Z: "
                        "14 positions, 14 checked, 0 bad")
    assert lines[1:4] == ["  HEDGE-SPY-TAIL-0140  tail  ROLL dte_threshold", "    TAIL_DTE: DTE 39 < 45",
                          ("    DTE 39, held 47 d, delta drift +0.0200, extrinsic 81.2% of entry, long |delta| 0.17, "
                           "skew check skipped: no IV history given")]
    assert "  HEDGE-QQQ-SPRD-0081  spread  ROLL long_leg_delta_drift  assignment risk high" in lines
    assert "  HEDGE-TLT-SPRD-0022  spread  no roll" in lines
    assert lines[lines.index("counters") + 1] == \
        "  assignment risks: warning 1, high 1, critical 1 (assignment_risk_detected_count 2)"
    assert "    long_leg_delta_drift   4" in lines and lines[-1] == "    short_leg_delta_drift  1"


def test_json_report_and_now_override() -> None:
    code, out, _ = cli("hedge-check", POSITIONS, "--format", "json", "--now", "2025-03-04T14:30:00Z")
    report = json.loads(out)
    assert code == 0 and report["check_date"] == "2025-03-04"
    first = report["positions"][0]
    assert (first["position_id"], first["status"], first["roll_reason"]) == ("HEDGE-SPY-TAIL-0140", "roll",
                                                                              "dte_threshold")
    assert first["figures"]["dte"] == 38
    assert report["counters"]["assignment_risks"] == {"warning": 1, "high": 1, "critical": 1}


def test_bad_positions_exit_4_and_are_named() -> None:
    code, out, err = cli("hedge-check", WITH_ERRORS)
    assert code == 4
    assert ("  BAD-DELTA  positions[3]  ERROR invalid_input: positions[3].short_leg.current_delta: must be >= -1"
            in out.splitlines())
    assert "  HEDGE-QQQ-SPRD-0081  spread  ROLL long_leg_delta_drift  assignment risk high" in out.splitlines()
    errors = err.splitlines()
    assert len(errors) == 8
    assert errors[3] == (f"{WITH_ERRORS}: positions[4].expiry: position BAD-EXPIRED: expiry is 10 day(s) before "
                         "the check date (US-Eastern) (expired_position)")
    code, out, _ = cli("hedge-check", WITH_ERRORS, "--format", "json")
    statuses = [p["status"] for p in json.loads(out)["positions"]]
    assert code == 4 and statuses == ["roll"] + ["error"] * 8 + ["roll"]


def test_store_records_once_per_day(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    assert cli("hedge-check", POSITIONS, "--store", db)[0] == 0
    assert cli("hedge-check", POSITIONS, "--store", db)[0] == 0          # the same check again: a no-op
    code, out, _ = cli("audit", "export", "--db", db)
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(records) == 14
    assert sorted({r["action"] for r in records}) == ["ASSIGNMENT_DETECTED", "ROLL_TRIGGERED"]
    assert cli("audit", "verify", "--db", db)[0] == 0
    code, out, _ = cli("hedge-check", POSITIONS, "--store", db, "--now", "2025-03-03T21:00:00Z", "--format", "json")
    refused = json.loads(out)["record_refused"]
    assert code == 4 and len(refused) == 12 and "recorded once" in refused["HEDGE-SPY-TAIL-0142"]
    assert cli("hedge-check", POSITIONS, "--store", db, "--now", "2025-03-04T20:45:00Z")[0] == 0   # the next day


def test_usage_and_policy_errors(tmp_path: Path) -> None:
    not_a_list = tmp_path / "positions.json"
    not_a_list.write_text('{"now": "2025-03-03T20:45:00Z", "positions": {}}', encoding="utf-8")
    assert cli("hedge-check", str(not_a_list))[0] == 2
    assert cli("hedge-check", "no/such/positions.json")[0] == 2
    assert cli("hedge-check", POSITIONS, "--now", "tomorrow")[0] == 2
    broken = tmp_path / "policies"
    shutil.copytree(ROOT / "policies/hedging", broken)
    (broken / "roll_triggers.yaml").write_text("apiVersion: policy-engine/v1\nkind: DecisionPolicy\n",
                                               encoding="utf-8")
    code, _, err = cli("hedge-check", POSITIONS, "--policy-dir", str(broken))
    assert code == 1 and "error" in err
