"""The daily roll check of seed 000 ("Daily Roll Check (3:45 PM ET) -> Check All Active Positions"):
every active hedge position through the roll-trigger policy, every spread's short leg through the
assignment policy's risk levels, and the day's counters.

    check = DailyRollCheck.from_policy_dir()                 # policies/hedging
    report = check.check(json.load(open("positions.json")))  # or check(doc, now="2025-03-03T20:45:00Z")
    report.positions[0].roll_reason, report.counters(), report.bad

The positions file: ``{"now": ISO, "positions": [position, ...]}``; a position has the fields of
``schemas/roll_triggers.request.schema.json#/$defs/HedgePosition`` plus an optional
``iv_history`` (absent: no IV history). A bad position (a missing leg, a delta outside [-1, 1],
an expiry in the past, a field that does not parse, an id given twice) gets its own error naming
the position and the field; the others are still checked. A file that cannot be read as a list
of positions at a time raises ``PositionsFileError``.

The assignment levels come from one step of the assignment machine from its initial state with
an empty assignment register: the check reads the machine's thresholds, not its durable state.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import policy_engine
from policy_engine.decision import Decision, iso_from_us
from policy_engine.engine.run import CompiledPolicy, now_to_us
from policy_engine.machine import CompiledMachine, StepResult

DEFAULT_POLICY_DIR = Path(__file__).resolve().parents[2] / "policies" / "hedging"
ROLL_POLICY, ASSIGNMENT_POLICY = "roll_triggers.yaml", "assignment.yaml"
LEVELS = ("warning", "high", "critical")
# The field each of roll_triggers.yaml's position gates is about (its message names it too).
REJECTION_FIELDS = {"missing_long_leg": "long_leg", "missing_short_leg": "short_leg",
                    "unexpected_short_leg": "short_leg", "zero_width_spread": "short_leg.strike",
                    "expired_position": "expiry", "opened_in_future": "opened_at"}
_NEW_YORK = ZoneInfo("America/New_York")  # reading 15: the check date is the US-Eastern date of `now`


class PositionsFileError(ValueError):
    """The positions file as a whole cannot be checked (not a list of positions, no time)."""


@dataclass(frozen=True)
class PositionError:
    """Why one position could not be checked: the field (a path into the file) and the reason."""

    field: str
    reason: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason, "message": self.message}


@dataclass(frozen=True)
class PositionCheck:
    """One position: its roll decision and assignment-risk actions, or its error."""

    index: int
    position_id: str | None
    template: str | None
    decision: Decision | None = None
    error: PositionError | None = None
    assignment: tuple[dict[str, Any], ...] = ()  # the assignment policy's action items for its short leg

    @property
    def where(self) -> str:
        return f"positions[{self.index}]"

    @property
    def roll_reason(self) -> str | None:
        return self.decision.reason if self.decision is not None and self.error is None else None

    @property
    def risk_level(self) -> str | None:
        levels = [item["level"] for item in self.assignment if "level" in item]
        return levels[0] if levels else None

    def figures(self) -> dict[str, Any]:
        """The decision's numbers that apply to this position (null outputs left out)."""
        if self.decision is None or self.error is not None:
            return {}
        values = self.decision.values
        skew_applies = values.get("skew_check") != "not_applicable"
        return {k: v for k, v in values.items()
                if v is not None and k != "skew_check_reason" and (skew_applies or not k.startswith("skew_"))}

    def skew_skipped(self) -> str | None:
        """Why the skew check was skipped (the policy's stated reason), or None."""
        values = self.decision.values if self.decision is not None else {}
        skipped = str(values.get("skew_check", "")).startswith("skipped")
        return str(values.get("skew_check_reason")) if skipped else None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "position_id": self.position_id, "template": self.template}
        if self.error is not None:
            return {**data, "status": "error", "error": self.error.to_dict()}
        assert self.decision is not None
        return {**data, "status": "roll" if self.roll_reason else "no_roll", "roll_reason": self.roll_reason,
                "fired": [t.to_dict() for t in self.decision.fired], "figures": self.figures(),
                "skew_skipped": self.skew_skipped(),
                "assignment_risk": self.risk_level, "assignment_actions": list(self.assignment)}


@dataclass(frozen=True)
class DailyCheckReport:
    """Every position of one check, and the day's counters (the seed's metrics)."""

    now: int
    check_date: str  # US-Eastern calendar date of `now`
    positions: tuple[PositionCheck, ...]
    roll_reasons: tuple[str, ...]  # every reason of the roll policy, in priority order
    assignment_step: StepResult | None = field(default=None, compare=False)

    @property
    def bad(self) -> list[PositionCheck]:
        return [p for p in self.positions if p.error is not None]

    def counters(self) -> dict[str, Any]:
        """Assignment risks by level, rolls by reason (every reason, zeros included), totals."""
        risks = Counter(p.risk_level for p in self.positions if p.risk_level is not None)
        rolls = Counter(p.roll_reason for p in self.positions if p.roll_reason is not None)
        return {"positions": len(self.positions), "checked": len(self.positions) - len(self.bad),
                "bad": len(self.bad), "rolls": sum(rolls.values()),
                "roll_trigger_by_reason": {reason: rolls[reason] for reason in self.roll_reasons},
                "assignment_risks": {level: risks[level] for level in LEVELS},
                "assignment_risk_detected_count": risks["high"] + risks["critical"]}

    def to_dict(self) -> dict[str, Any]:
        return {"check_date": self.check_date, "now": iso_from_us(self.now),
                "positions": [p.to_dict() for p in self.positions], "counters": self.counters()}


class DailyRollCheck:
    """The roll-trigger policy and the assignment machine, compiled once; ``check`` any number of files."""

    def __init__(self, roll: CompiledPolicy, assignment: CompiledMachine):
        # a position file is held to its whole schema: a bad field is an error even if no trigger reads it
        self.roll, self.assignment = roll.contract_checked(), assignment

    @classmethod
    def from_policy_dir(cls, policy_dir: str | Path = DEFAULT_POLICY_DIR) -> DailyRollCheck:
        """Load ``roll_triggers.yaml`` and ``assignment.yaml`` of the folder (PolicyError if they fail)."""
        roll = policy_engine.load(Path(policy_dir) / ROLL_POLICY)
        assignment = policy_engine.load(Path(policy_dir) / ASSIGNMENT_POLICY)
        if not isinstance(roll, CompiledPolicy) or not isinstance(assignment, CompiledMachine):
            raise PositionsFileError(f"{policy_dir}: {ROLL_POLICY} must be a DecisionPolicy and "
                                     f"{ASSIGNMENT_POLICY} a MachinePolicy")
        return cls(roll, assignment)

    def check(self, document: Any, now: str | None = None) -> DailyCheckReport:
        entries, now_text, now_us = _read_document(document, now)
        checks = [self._check_position(i, entry, now_text) for i, entry in enumerate(entries)]
        checks = _refuse_duplicate_ids(checks)
        step = self._assignment_step(checks, now_text)
        if step is not None:
            checks = [_with_assignment(c, step) for c in checks]
        reasons = tuple(dict.fromkeys(t.reason for t in self.roll.plan.triggers))
        return DailyCheckReport(now_us, _new_york_date(now_us), tuple(checks), reasons, step)

    def _check_position(self, index: int, entry: Any, now: str) -> PositionCheck:
        where = f"positions[{index}]"
        if not isinstance(entry, dict):
            return PositionCheck(index, None, None, error=PositionError(where, "invalid_input", "not a JSON object"))
        position = {k: v for k, v in entry.items() if k != "iv_history"}
        position_id = entry.get("position_id") if isinstance(entry.get("position_id"), str) else None
        template = entry.get("template") if isinstance(entry.get("template"), str) else None
        decision = self.roll.evaluate({"now": now, "position": position, "iv_history": entry.get("iv_history")})
        error = _decision_error(decision, where)
        return PositionCheck(index, position_id, template, decision, error)

    def _assignment_step(self, checks: list[PositionCheck], now: str) -> StepResult | None:
        legs = [{"position_id": c.position_id, "long_leg_exercisable": True,
                 "short_leg_delta": c.decision.values["short_leg_delta"]}
                for c in checks if c.error is None and c.decision is not None and c.template == "spread"]
        observation = {"now": now, "short_legs": legs, "assignments": []}
        result = self.assignment.step(self.assignment.initial_state(now), observation, trace=False)
        if result.invalid:
            problems = "; ".join(f"{path}: {message}" for path, message in result.invalid)
            raise PositionsFileError(f"the assignment check refused the short legs: {problems}")
        return result


def _read_document(document: Any, now: str | None) -> tuple[list[Any], str, int]:
    if not isinstance(document, dict) or not isinstance(document.get("positions"), list):
        raise PositionsFileError('expected an object {"now": ISO, "positions": [position, ...]}')
    now_text = now if now is not None else document.get("now")
    now_us = now_to_us(now_text) if isinstance(now_text, str) else None
    if now_us is None or not isinstance(now_text, str):
        raise PositionsFileError(f"the check time must be an ISO 8601 time with an offset (`now` or --now), "
                                 f"got {now_text!r}")
    return document["positions"], now_text, now_us


def _decision_error(decision: Decision, where: str) -> PositionError | None:
    if decision.approved:
        return None
    if decision.input_errors:
        path, message = decision.input_errors[0]
        return PositionError(_file_path(path, where), decision.reason or "invalid_input", message)
    field = REJECTION_FIELDS.get(decision.reason or "")
    return PositionError(f"{where}.{field}" if field else where, decision.reason or "rejected", decision.message)


def _file_path(json_path: str, where: str) -> str:
    """``$.position.long_leg.current_delta`` of the request -> ``positions[3].long_leg.current_delta``."""
    for prefix in ("$.position", "$"):
        if json_path == prefix or json_path.startswith((prefix + ".", prefix + "[")):
            rest = json_path[len(prefix):]
            return "now" if rest == ".now" else where + rest
    return f"{where} {json_path}"


def _refuse_duplicate_ids(checks: list[PositionCheck]) -> list[PositionCheck]:
    """An id given twice: both positions are refused (which one is real cannot be told)."""
    seen = Counter(c.position_id for c in checks if c.position_id is not None)
    return [c if c.position_id is None or seen[c.position_id] == 1 else
            PositionCheck(c.index, c.position_id, c.template, c.decision,
                          PositionError(f"{c.where}.position_id", "duplicate_position_id",
                                        f"position {c.position_id} appears {seen[c.position_id]} times in the file"))
            for c in checks]


def _with_assignment(check: PositionCheck, step: StepResult) -> PositionCheck:
    items = tuple(i for i in step.items if isinstance(i, dict) and i.get("position_id") == check.position_id
                  and check.error is None and check.template == "spread")
    return PositionCheck(check.index, check.position_id, check.template, check.decision, check.error, items)


def _new_york_date(now_us: int) -> str:
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=now_us)
    return instant.astimezone(_NEW_YORK).date().isoformat()
