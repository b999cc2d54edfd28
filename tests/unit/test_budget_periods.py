"""Budget period boundaries: trading days in an IANA timezone, weekends and holidays folded into
the trading day before them, weeks and months as runs of trading days, daylight saving."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.budget import BudgetConfig, CalendarError, TradingCalendar
from policy_engine.budget.periods import Period
from policy_engine.risk.construct import iso
from policy_engine.risk.models_out import BudgetPeriod
from policy_engine.timestamps import parse_date_time

DAILY, WEEKLY, MONTHLY = BudgetPeriod.DAILY, BudgetPeriod.WEEKLY, BudgetPeriod.MONTHLY
NYSE_2025 = BudgetConfig.model_validate(
    {"holidays": ["2025-01-01", "2025-01-20", "2025-04-18", "2025-12-25"]}).calendar()


def us(text: str) -> int:
    value = parse_date_time(text)
    assert value is not None
    return value


def span(period: Period) -> tuple[str, str, str]:
    return period.label, iso(period.start), iso(period.end)


@pytest.mark.parametrize("now, expected", [
    # a Wednesday in EDT: local midnight is 04:00Z
    ("2025-04-02T14:00:00Z", ("2025-04-02", "2025-04-02T04:00:00Z", "2025-04-03T04:00:00Z")),
    # 23:59 ET is still Wednesday; 00:00 ET Thursday is the next day
    ("2025-04-03T03:59:59.999999Z", ("2025-04-02", "2025-04-02T04:00:00Z", "2025-04-03T04:00:00Z")),
    ("2025-04-03T04:00:00Z", ("2025-04-03", "2025-04-03T04:00:00Z", "2025-04-04T04:00:00Z")),
    # Saturday belongs to Friday, whose period runs to Monday's midnight
    ("2025-04-05T16:00:00Z", ("2025-04-04", "2025-04-04T04:00:00Z", "2025-04-07T04:00:00Z")),
    # Good Friday (holiday) belongs to Thursday: Thursday 00:00 to Monday 00:00
    ("2025-04-18T15:00:00Z", ("2025-04-17", "2025-04-17T04:00:00Z", "2025-04-21T04:00:00Z")),
    # spring forward (Sunday 2025-03-09): Friday starts in EST, ends on Monday in EDT
    ("2025-03-08T12:00:00Z", ("2025-03-07", "2025-03-07T05:00:00Z", "2025-03-10T04:00:00Z")),
    # fall back (Sunday 2025-11-02): Friday starts in EDT, ends on Monday in EST
    ("2025-11-01T12:00:00Z", ("2025-10-31", "2025-10-31T04:00:00Z", "2025-11-03T05:00:00Z")),
])
def test_daily_periods(now: str, expected: tuple[str, str, str]) -> None:
    assert span(NYSE_2025.period(DAILY, us(now))) == expected


@pytest.mark.parametrize("kind, now, expected", [
    (WEEKLY, "2025-04-02T14:00:00Z", ("2025-03-31/P1W", "2025-03-31T04:00:00Z", "2025-04-07T04:00:00Z")),
    # Sunday is still the week of the Friday before it
    (WEEKLY, "2025-04-06T16:00:00Z", ("2025-03-31/P1W", "2025-03-31T04:00:00Z", "2025-04-07T04:00:00Z")),
    # MLK day (Monday holiday): the week starts on Tuesday; the holiday itself is last week's Friday
    (WEEKLY, "2025-01-21T15:00:00Z", ("2025-01-20/P1W", "2025-01-21T05:00:00Z", "2025-01-27T05:00:00Z")),
    (WEEKLY, "2025-01-20T15:00:00Z", ("2025-01-13/P1W", "2025-01-13T05:00:00Z", "2025-01-21T05:00:00Z")),
    # Good Friday week ends on Thursday's day, which runs to Monday
    (WEEKLY, "2025-04-18T15:00:00Z", ("2025-04-14/P1W", "2025-04-14T04:00:00Z", "2025-04-21T04:00:00Z")),
    (MONTHLY, "2025-04-02T14:00:00Z", ("2025-04", "2025-04-01T04:00:00Z", "2025-05-01T04:00:00Z")),
    # New Year's Day is a holiday: January starts on the 2nd (in EST)
    (MONTHLY, "2025-01-15T15:00:00Z", ("2025-01", "2025-01-02T05:00:00Z", "2025-02-03T05:00:00Z")),
    # Saturday 31 May belongs to Friday 30 May: still May, which ends at Monday 2 June's midnight
    (MONTHLY, "2025-05-31T16:00:00Z", ("2025-05", "2025-05-01T04:00:00Z", "2025-06-02T04:00:00Z")),
    # 2026-01-01 is not in this calendar's holidays: December ends at its midnight
    (MONTHLY, "2025-12-31T16:00:00Z", ("2025-12", "2025-12-01T05:00:00Z", "2026-01-01T05:00:00Z")),
])
def test_weekly_and_monthly_periods(kind: BudgetPeriod, now: str, expected: tuple[str, str, str]) -> None:
    assert span(NYSE_2025.period(kind, us(now))) == expected


def test_other_timezone_and_week_start() -> None:
    tokyo = BudgetConfig(timezone="Asia/Tokyo", week_start="SUNDAY", weekend=("FRIDAY", "SATURDAY")).calendar()
    # Tokyo midnight is 15:00Z the day before; Friday and Saturday are the weekend here
    assert span(tokyo.period(DAILY, us("2025-04-03T16:00:00Z"))) == \
        ("2025-04-03", "2025-04-02T15:00:00Z", "2025-04-05T15:00:00Z")
    assert span(tokyo.period(WEEKLY, us("2025-04-03T16:00:00Z"))) == \
        ("2025-03-30/P1W", "2025-03-29T15:00:00Z", "2025-04-05T15:00:00Z")


def test_a_midnight_that_does_not_exist() -> None:
    # Sao Paulo, 2018-11-04: clocks jumped from 00:00 to 01:00; with no weekend that Sunday trades
    calendar = TradingCalendar("America/Sao_Paulo", weekend=frozenset())
    day = calendar.period(DAILY, us("2018-11-04T12:00:00Z"))
    assert span(day) == ("2018-11-04", "2018-11-04T03:00:00Z", "2018-11-05T02:00:00Z")
    assert calendar.period(DAILY, day.start - 1).end == day.start


def test_a_day_that_does_not_exist_is_skipped() -> None:
    # Samoa skipped 2011-12-30 entirely: the 29th runs straight into the 31st
    calendar = TradingCalendar("Pacific/Apia", weekend=frozenset())
    days = [calendar.period(DAILY, us("2011-12-30T09:59:59Z")), calendar.period(DAILY, us("2011-12-30T10:00:00Z"))]
    assert [d.label for d in days] == ["2011-12-29", "2011-12-31"]
    assert days[0].end == days[1].start == us("2011-12-30T10:00:00Z")


ZONES = ["America/New_York", "Europe/London", "Asia/Tokyo", "America/Sao_Paulo", "Australia/Lord_Howe",
         "Pacific/Apia", "UTC"]


@settings(max_examples=300, deadline=None)
@given(moment=st.integers(us("2000-01-01T00:00:00Z"), us("2035-12-31T00:00:00Z")), zone=st.sampled_from(ZONES),
       kind=st.sampled_from(list(BudgetPeriod)), weekend=st.sampled_from([(5, 6), (), (4, 5), (6,)]),
       holidays=st.lists(st.dates(date(1999, 12, 1), date(2036, 1, 31)), max_size=30))
def test_periods_tile_the_time_line(moment: int, zone: str, kind: BudgetPeriod, weekend: tuple[int, ...],
                                    holidays: list[date]) -> None:
    calendar = TradingCalendar(zone, frozenset(weekend), frozenset(holidays))
    period = calendar.period(kind, moment)
    assert period.contains(moment)
    assert calendar.period(kind, period.start) == period  # the start belongs to it
    assert calendar.period(kind, period.end).start == period.end  # the next one starts where it ends
    assert calendar.period(kind, period.start - 1).end == period.start  # and the previous one ends there
    day = calendar.period(DAILY, moment)
    assert period.start <= day.start and day.end <= period.end  # a day never straddles a boundary
    assert calendar.is_trading_day(date.fromisoformat(day.label))


def test_calendar_refusals() -> None:
    with pytest.raises(CalendarError):
        TradingCalendar("Mars/Olympus_Mons")
    with pytest.raises(CalendarError):
        TradingCalendar(weekend=frozenset(range(7)))
    with pytest.raises(CalendarError):
        TradingCalendar(week_start=7)
    # every day of a year a holiday: there is no trading day to own the time
    year = frozenset(date.fromordinal(date(2025, 1, 1).toordinal() + i) for i in range(400))
    with pytest.raises(CalendarError, match="no trading day"):
        TradingCalendar(holidays=year).period(DAILY, us("2025-06-01T12:00:00Z"))
