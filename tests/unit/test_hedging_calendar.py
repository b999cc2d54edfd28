"""The US-Eastern calendar written in the hedging policies' expressions (contract stateful.md
reading 15) agrees with zoneinfo's America/New_York: every daylight-saving switch 2007-2099, the
instants around New York midnight, and generated instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policy_engine

ROOT = Path(__file__).resolve().parents[2]
ROLL = policy_engine.load(ROOT / "policies/hedging/roll_triggers.yaml")
ASSIGNMENT = policy_engine.load(ROOT / "policies/hedging/assignment.yaml")
NEW_YORK = ZoneInfo("America/New_York")
EPOCH = date(1970, 1, 1)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def eastern_day(moment: datetime) -> int:
    return (moment.astimezone(NEW_YORK).date() - EPOCH).days


def policy_dte(now: datetime, expiry: datetime) -> Any:
    position = {"position_id": "P", "template": "tail", "underlying": "SPY", "opened_at": iso(now),
                "expiry": iso(expiry), "underlying_price": 500.0, "short_leg": None,
                "long_leg": {"option_type": "put", "strike": 450.0, "entry_delta": -0.1, "current_delta": -0.1,
                             "entry_price": 1.0, "current_price": 1.0}}
    decision = ROLL.evaluate({"now": iso(now), "position": position, "iv_history": None})
    return decision.values.get("dte") if decision.approved else decision.reason


def _switch_instants() -> list[datetime]:
    """One second either side of every DST switch and of New York midnight on those days."""
    moments = []
    for year in range(2007, 2100):
        for month, first in ((3, 8), (11, 1)):            # second Sunday of March, first of November
            day = next(d for d in range(first, first + 7) if date(year, month, d).weekday() == 6)
            switch = datetime(year, month, day, 2, tzinfo=NEW_YORK).astimezone(UTC)
            midnight = datetime(year, month, day, tzinfo=NEW_YORK).astimezone(UTC)
            for anchor in (switch, midnight):
                moments += [anchor - timedelta(seconds=1), anchor, anchor + timedelta(seconds=1)]
    return moments


def test_dst_switches_and_midnights_match_zoneinfo() -> None:
    expiry = datetime(2100, 1, 15, 21, tzinfo=UTC)
    wrong = [m for m in _switch_instants() if policy_dte(m, expiry) != eastern_day(expiry) - eastern_day(m)]
    assert wrong == []


@pytest.mark.parametrize("moment", [
    datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC),
    datetime(2025, 1, 1, 4, 59, 59, tzinfo=UTC), datetime(2025, 1, 1, 5, 0, 0, tzinfo=UTC),
    datetime(2028, 2, 29, 12, tzinfo=UTC), datetime(2099, 12, 31, 23, tzinfo=UTC),
])
def test_year_ends_and_leap_days_match_zoneinfo(moment: datetime) -> None:
    expiry = datetime(2100, 6, 1, tzinfo=UTC)
    assert policy_dte(moment, expiry) == eastern_day(expiry) - eastern_day(moment)


INSTANTS = st.datetimes(min_value=datetime(2007, 1, 1), max_value=datetime(2099, 6, 30)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC))


@settings(max_examples=100, deadline=None)
@given(INSTANTS, st.integers(min_value=0, max_value=800), st.integers(min_value=0, max_value=86_399))
def test_generated_instants_match_zoneinfo(now: datetime, days: int, second: int) -> None:
    expiry = now + timedelta(days=days, seconds=second)
    assert policy_dte(now, expiry) == eastern_day(expiry) - eastern_day(now)


@settings(max_examples=50, deadline=None)
@given(INSTANTS, st.integers(min_value=0, max_value=2 * 86_400))
def test_assignment_same_day_matches_zoneinfo(now: datetime, seconds_before: int) -> None:
    assigned = now - timedelta(seconds=seconds_before)
    observation = {"now": iso(now), "short_legs": [], "assignments": [
        {"assignment_id": "A1", "position_id": "P", "assigned_at": iso(assigned), "resolved_at": iso(now),
         "procedure": "B", "long_leg_exercisable": False}]}
    result = ASSIGNMENT.step(ASSIGNMENT.initial_state(iso(now)), observation, trace=False)
    same_day = eastern_day(assigned) == eastern_day(now)
    assert result.outputs["assignment_count_today"] == (1 if same_day else 0)
