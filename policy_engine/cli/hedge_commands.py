"""``policy-engine hedge-check``: the daily roll check of seed 000 over a file of hedge positions.

hedge-check POSITIONS.json [--now ISO] [--format text|json] [--policy-dir DIR] [--store DB]
    checks every position with DIR's roll_triggers.yaml and assignment.yaml (default: the shipped
    policies/hedging) and prints, per position, the roll trigger that fired (or none) with the
    numbers that decided it and the short leg's assignment-risk level, then the day's counters:
    assignment risks by level, rolls by reason. A bad position gets an error naming it and its
    field; the others are still checked. --store records ROLL_TRIGGERED and ASSIGNMENT_DETECTED
    audit records in DB, once per position and US-Eastern date (a repeated run is a no-op).
Exit codes: 0 every position checked (and recorded), 1 policy errors, 2 usage or unreadable file,
4 one or more positions bad (or a record refused: the day already holds another answer).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from policy_engine.audit import AuditConflict, AuditError, AuditLog
from policy_engine.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_POLICY,
    UsageError,
    print_diagnostics,
    read_json,
)
from policy_engine.decision import iso_from_us
from policy_engine.errors import PolicyError
from policy_engine.hedging import (
    DailyCheckReport,
    DailyRollCheck,
    PositionCheck,
    PositionsFileError,
    daily_check_records,
)
from policy_engine.hedging.daily_check import DEFAULT_POLICY_DIR

# How the text output shows a figure of the roll decision; others are shown as name=value.
FIGURES = (("dte", "DTE {}"), ("days_held", "held {} d"), ("delta_drift", "delta drift {:+.4f}"),
           ("extrinsic_ratio", "extrinsic {:.1%} of entry"), ("skew_zscore", "skew z {:+.2f}"),
           ("width_value_ratio", "width value {:.1%}"), ("long_leg_delta", "long |delta| {:.2f}"),
           ("short_leg_delta", "short |delta| {:.2f}"))


def register(sub: Any) -> None:
    """Add ``hedge-check`` to the main parser's subcommands."""
    check = sub.add_parser("hedge-check", help="the daily roll check of every active hedge position")
    check.add_argument("positions", metavar="POSITIONS.json")
    check.add_argument("--now", help="check time (ISO 8601 with offset); default: the file's `now`")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--policy-dir", metavar="DIR", default=str(DEFAULT_POLICY_DIR),
                       help="folder holding roll_triggers.yaml and assignment.yaml")
    check.add_argument("--store", metavar="DB", help="record ROLL_TRIGGERED / ASSIGNMENT_DETECTED audit records")
    check.set_defaults(run=hedge_check)


def hedge_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        checker = DailyRollCheck.from_policy_dir(args.policy_dir)
    except PolicyError as problem:
        print_diagnostics(problem.diagnostics, err)
        return EXIT_POLICY
    except PositionsFileError as problem:
        raise UsageError(str(problem)) from None
    try:
        report = checker.check(read_json(args.positions), args.now)
    except PositionsFileError as problem:
        raise UsageError(f"{args.positions}: {problem}") from None
    refused = _record(checker, report, args.store) if args.store else {}
    if args.format == "json":
        data = report.to_dict()
        if args.store:
            data["record_refused"] = refused
        out.write(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n")
    else:
        out.write("\n".join(_report_lines(report, refused)) + "\n")
    for position in report.bad:
        assert position.error is not None
        print(f"{args.positions}: {position.error.field}: {position.error.message} ({position.error.reason})",
              file=err)
    return EXIT_INVALID if report.bad or refused else EXIT_OK


def _record(checker: DailyRollCheck, report: DailyCheckReport, path: str) -> dict[str, str]:
    """Write each position's records as one batch; the refused ones by position id."""
    refused: dict[str, str] = {}
    try:
        with AuditLog(path) as log:
            for position_id, records in daily_check_records(checker, report).items():
                try:
                    log.append(records)
                except AuditConflict as conflict:
                    refused[position_id] = f"not recorded: {conflict} (the day's check is recorded once)"
    except AuditError as problem:
        raise UsageError(str(problem)) from None
    return refused


# --- text ------------------------------------------------------------------------------------
def _report_lines(report: DailyCheckReport, refused: dict[str, str]) -> list[str]:
    counters = report.counters()
    head = (f"daily hedge check {report.check_date} (US-Eastern) at {iso_from_us(report.now)}: "
            f"{counters['positions']} positions, {counters['checked']} checked, {counters['bad']} bad")
    lines = [head]
    for position in report.positions:
        lines += _position_lines(position)
        if position.position_id in refused:
            lines.append(f"    {refused[position.position_id]}")
    risks = counters["assignment_risks"]
    rolls = counters["roll_trigger_by_reason"]
    lines += ["counters",
              "  assignment risks: " + ", ".join(f"{level} {n}" for level, n in risks.items())
              + f" (assignment_risk_detected_count {counters['assignment_risk_detected_count']})",
              f"  rolls: {counters['rolls']}" + "".join(f"\n    {reason:<22} {n}" for reason, n in rolls.items())]
    return lines


def _position_lines(position: PositionCheck) -> list[str]:
    name = position.position_id or "(no id)"
    if position.error is not None:
        error = position.error
        return [f"  {name}  {position.where}  ERROR {error.reason}: {error.field}: {error.message}"]
    assert position.decision is not None
    verdict = f"ROLL {position.roll_reason}" if position.roll_reason else "no roll"
    risk = f"  assignment risk {position.risk_level}" if position.risk_level else ""
    lines = [f"  {name}  {position.template}  {verdict}{risk}"]
    lines += [f"    {t.id}: {t.message}" for t in position.decision.fired]
    lines += [f"    {item['action']}: {_item_text(item)}" for item in position.assignment]
    lines.append("    " + ", ".join(_figure_texts(position)))
    return lines


def _figure_texts(position: PositionCheck) -> list[str]:
    figures = position.figures()
    texts = [label.format(figures[name]) for name, label in FIGURES if name in figures]
    skipped = position.skew_skipped()
    return texts + ([f"skew check skipped: {skipped}"] if skipped else [])


def _item_text(item: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in item.items() if k not in ("action", "position_id"))
