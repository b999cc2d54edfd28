"""policy_engine.hedging: the daily roll check over a positions file (seed 000 "Daily Roll Check"):
per position the roll reason and its numbers or a per-position error, the assignment-risk level of
every spread's short leg, the day's counters, and the audit records it writes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from policy_engine.audit import AuditConflict, AuditLog
from policy_engine.hedging import DailyRollCheck, PositionsFileError, daily_check_records

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "policies/hedging/examples"
CHECK = DailyRollCheck.from_policy_dir()


def document(name: str = "positions.json") -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def by_id(report: Any) -> dict[str, Any]:
    return {p.position_id: p for p in report.positions}


def test_the_example_has_a_roll_per_reason_and_a_risk_per_level() -> None:
    report = CHECK.check(document())
    positions = by_id(report)
    assert report.check_date == "2025-03-03" and report.bad == []
    assert {p.position_id: p.roll_reason for p in report.positions} == {
        "HEDGE-SPY-TAIL-0140": "dte_threshold", "HEDGE-SPY-TAIL-0142": "delta_drift_itm",
        "HEDGE-QQQ-TAIL-0051": "delta_drift_otm", "HEDGE-IWM-TAIL-0019": "extrinsic_decay",
        "HEDGE-DIA-TAIL-0007": "skew_regime_change", "HEDGE-SPY-TAIL-0150": None,
        "HEDGE-QQQ-SPRD-0070": "cadence_due", "HEDGE-QQQ-SPRD-0077": "width_value_decay",
        "HEDGE-XLF-SPRD-0012": "long_leg_delta_drift", "HEDGE-SPY-SPRD-0090": "short_leg_delta_drift",
        "HEDGE-IWM-SPRD-0031": "long_leg_delta_drift", "HEDGE-QQQ-SPRD-0081": "long_leg_delta_drift",
        "HEDGE-EEM-SPRD-0004": "long_leg_delta_drift", "HEDGE-TLT-SPRD-0022": None}
    assert {p.position_id: p.risk_level for p in report.positions if p.risk_level} == {
        "HEDGE-IWM-SPRD-0031": "warning", "HEDGE-QQQ-SPRD-0081": "high", "HEDGE-EEM-SPRD-0004": "critical"}
    assert report.counters() == {
        "positions": 14, "checked": 14, "bad": 0, "rolls": 12,
        "roll_trigger_by_reason": {"dte_threshold": 1, "delta_drift_itm": 1, "delta_drift_otm": 1,
                                   "extrinsic_decay": 1, "skew_regime_change": 1, "cadence_due": 1,
                                   "width_value_decay": 1, "long_leg_delta_drift": 4, "short_leg_delta_drift": 1},
        "assignment_risks": {"warning": 1, "high": 1, "critical": 1},
        "assignment_risk_detected_count": 2}
    assert positions["HEDGE-TLT-SPRD-0022"].figures()["width_value_ratio"] == 0.3   # exactly 30 %: no roll


def test_each_position_carries_the_numbers_that_decided_it() -> None:
    positions = by_id(CHECK.check(document()))
    drift = positions["HEDGE-SPY-TAIL-0142"]                 # seed manual test 2: entry 0.15 -> 0.28
    assert drift.figures()["delta_drift"] == pytest.approx(0.13) and drift.figures()["dte"] == 109
    assert drift.skew_skipped() == "no IV history given"
    assert positions["HEDGE-IWM-TAIL-0019"].figures()["extrinsic_ratio"] == pytest.approx(0.171875)
    assert positions["HEDGE-DIA-TAIL-0007"].skew_skipped() is None
    assert positions["HEDGE-DIA-TAIL-0007"].figures()["skew_zscore"] > 2
    spread = positions["HEDGE-QQQ-SPRD-0081"].to_dict()
    assert not any(name.startswith("skew_") for name in spread["figures"])
    assert spread["fired"][0]["message"] == "long leg |delta| 0.92 > 0.5"
    assert spread["assignment_actions"] == [{"action": "ASSIGNMENT_DETECTED", "position_id": "HEDGE-QQQ-SPRD-0081",
                                             "short_leg_delta": 0.85, "level": "high", "halt_candidate": False,
                                             "procedure": "C"}]


def test_bad_positions_are_named_and_the_others_still_checked() -> None:
    report = CHECK.check(document("positions_with_errors.json"))
    errors = [(p.index, p.position_id, p.error.field, p.error.reason) for p in report.bad if p.error]
    assert errors == [
        (1, "BAD-MISSING-LONG-LEG", "positions[1].long_leg", "missing_long_leg"),
        (2, "BAD-NO-SHORT-LEG", "positions[2].short_leg", "invalid_input"),
        (3, "BAD-DELTA", "positions[3].short_leg.current_delta", "invalid_input"),
        (4, "BAD-EXPIRED", "positions[4].expiry", "expired_position"),
        (5, "BAD-DATE", "positions[5].expiry", "invalid_input"),
        (6, None, "positions[6]", "invalid_input"),
        (7, "BAD-DUPLICATE", "positions[7].position_id", "duplicate_position_id"),
        (8, "BAD-DUPLICATE", "positions[8].position_id", "duplicate_position_id")]
    assert all(p.position_id in p.error.message for p in report.bad if p.error and p.error.reason in (
        "missing_long_leg", "expired_position", "duplicate_position_id"))
    checked = [(p.position_id, p.roll_reason, p.risk_level) for p in report.positions if p.error is None]
    assert checked == [("HEDGE-SPY-TAIL-0142", "delta_drift_itm", None),
                       ("HEDGE-QQQ-SPRD-0081", "long_leg_delta_drift", "high")]
    assert report.counters()["bad"] == 8 and report.counters()["checked"] == 2


def test_a_bad_short_leg_does_not_reach_the_assignment_check() -> None:
    doc = document("positions_with_errors.json")
    report = CHECK.check(doc)
    assert report.assignment_step is not None
    legs = [item["position_id"] for item in report.assignment_step.items]
    assert legs == ["HEDGE-QQQ-SPRD-0081"] and report.assignment_step.new_state.mode == "NORMAL"


@pytest.mark.parametrize(("now", "date", "reason"), [
    ("2025-03-04T04:59:59Z", "2025-03-03", None),              # 23:59:59 EST: still 3 March
    ("2025-03-04T05:00:00Z", "2025-03-04", "dte_threshold"),   # midnight in New York: DTE 44
])
def test_now_overrides_the_file_and_dates_are_new_york_dates(now: str, date: str, reason: str | None) -> None:
    doc = document()
    tail = copy.deepcopy(doc["positions"][1])
    tail["expiry"], tail["long_leg"]["current_delta"] = "2025-04-17T16:00:00-04:00", -0.15
    report = CHECK.check({"now": "2020-01-01T00:00:00Z", "positions": [tail]}, now=now)
    assert report.check_date == date and report.positions[0].roll_reason == reason


@pytest.mark.parametrize(("doc", "now"), [
    ([], None), ({"now": "2025-03-03T20:45:00Z"}, None), ({"positions": []}, None),
    ({"now": "yesterday", "positions": []}, None), ({"positions": []}, "2025-03-03T20:45:00"),
])
def test_a_file_that_is_not_a_list_of_positions_at_a_time_is_refused(doc: Any, now: str | None) -> None:
    with pytest.raises(PositionsFileError):
        CHECK.check(doc, now=now)


# --- audit records (hedge-check --store) ---------------------------------------------------------
def test_records_of_the_day(tmp_path: Path) -> None:
    report = CHECK.check(document())
    batches = daily_check_records(CHECK, report)
    assert len(batches) == 12                                       # every rolled position
    (roll, detected) = batches["HEDGE-EEM-SPRD-0004"]
    assert (roll.record_id, roll.action, roll.rule, roll.reason) == (
        "hedge-check/2025-03-03/HEDGE-EEM-SPRD-0004/ROLL_TRIGGERED", "ROLL_TRIGGERED", "SPREAD_LONG_LEG_DELTA",
        "long_leg_delta_drift")
    assert roll.policy_id == "hedging.roll_triggers" and roll.correlation_id == "hedge-check/2025-03-03"
    assert (detected.action, detected.reason, detected.policy_id) == ("ASSIGNMENT_DETECTED", "critical",
                                                                       "hedging.assignment")
    assert detected.details == {"check_date": "2025-03-03", "position_id": "HEDGE-EEM-SPRD-0004",
                                "short_leg_delta": 0.95, "level": "critical", "halt_candidate": True,
                                "procedure": "C"}
    assert "HEDGE-IWM-SPRD-0031" in batches and len(batches["HEDGE-IWM-SPRD-0031"]) == 1   # warning: not recorded
    with AuditLog(tmp_path / "state.db") as log:
        for records in batches.values():
            log.append(records)
        assert all(log.append(records) == [] for records in daily_check_records(CHECK, report).values())
        assert len(log.rows()) == 14 and log.verify() == []
        later = CHECK.check(document(), now="2025-03-03T20:50:00Z")          # same day, another answer
        with pytest.raises(AuditConflict):
            log.append(daily_check_records(CHECK, later)["HEDGE-SPY-TAIL-0142"])
