"""Audit records of a daily roll check (``policy-engine hedge-check --store``): ROLL_TRIGGERED for
every position that must roll and ASSIGNMENT_DETECTED for every short leg at high or critical
assignment risk (seed 000, "Record ROLL_TRIGGERED / ASSIGNMENT_DETECTED to audit trail").

Ids derive from the check date, the position and the action
(``hedge-check/2025-03-03/HEDGE-SPY-TAIL-0142/ROLL_TRIGGERED``): the day's check is recorded
once per position, running the same check again is a no-op, and a run of the same day that
reaches another answer is refused (``AuditConflict``) rather than changing the trail.
"""

from __future__ import annotations

from typing import Any

from policy_engine.audit import AuditRecord, PolicyInfo
from policy_engine.hedging.daily_check import DailyCheckReport, DailyRollCheck, PositionCheck

RECORDED_RISK_LEVELS = ("high", "critical")


def daily_check_records(check: DailyRollCheck, report: DailyCheckReport) -> dict[str, list[AuditRecord]]:
    """The records of every checked position that has any, by position id (one batch each)."""
    correlation = f"hedge-check/{report.check_date}"
    batches: dict[str, list[AuditRecord]] = {}
    for position in report.positions:
        if position.error is not None or position.position_id is None:
            continue
        records = _roll_records(check.roll, report, position, correlation)
        records += _assignment_records(check.assignment, report, position, correlation)
        if records:
            batches[position.position_id] = records
    return batches


def _record(policy: PolicyInfo, report: DailyCheckReport, position: PositionCheck, action: str, correlation: str,
            rule: str, reason: str, details: dict[str, Any]) -> AuditRecord:
    record_id = f"hedge-check/{report.check_date}/{position.position_id}/{action}"
    return AuditRecord(record_id, report.now, action, str(position.position_id), correlation, policy.id,
                       policy.version, policy.content_hash, rule, reason,
                       {"check_date": report.check_date, **details})


def _roll_records(policy: PolicyInfo, report: DailyCheckReport, position: PositionCheck,
                  correlation: str) -> list[AuditRecord]:
    if position.roll_reason is None or position.decision is None:
        return []
    fired = position.decision.fired
    details = {"template": position.template, "fired": [t.to_dict() for t in fired], "figures": position.figures(),
               "input_hash": position.decision.provenance.input_hash}
    return [_record(policy, report, position, "ROLL_TRIGGERED", correlation, fired[0].id, position.roll_reason,
                    details)]


def _assignment_records(policy: PolicyInfo, report: DailyCheckReport, position: PositionCheck,
                        correlation: str) -> list[AuditRecord]:
    detected = [item for item in position.assignment
                if item.get("action") == "ASSIGNMENT_DETECTED" and item.get("level") in RECORDED_RISK_LEVELS]
    return [_record(policy, report, position, "ASSIGNMENT_DETECTED", correlation, "ASSIGNMENT_RISK",
                    str(item["level"]), {k: v for k, v in item.items() if k != "action"})
            for item in detected[:1]]
