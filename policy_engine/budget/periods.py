"""Budget periods: DAILY, WEEKLY and MONTHLY boundaries on a trading-day calendar.

A trading day is a date of the calendar's IANA timezone that is neither a weekend day nor a
listed holiday. Trading day D owns the time from local midnight of D up to local midnight of the
next trading day, so a weekend or a holiday belongs to the trading day before it and the days
tile the time line with no gap and no overlap. A WEEKLY period is the run of trading days of
one calendar week (weeks start on ``week_start``), a MONTHLY period those of one calendar
month; each runs from the start of its first trading day to the start of the first trading day
after it. Every boundary is therefore the start of a trading day, where the budget refreshes.

Times are integer microseconds since the epoch (UTC), like everywhere in the engine. Daylight
saving is the timezone database's business: a local midnight that does not exist or occurs
twice resolves to its first instant (``fold=0``), and ``trading_day_at`` checks the instant
against those boundaries, so a period always contains the times it is asked about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from policy_engine.risk.models_out import BudgetPeriod

WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
MAX_GAP_DAYS = 366  # a calendar with no trading day within a year of a date is refused
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_DAY = timedelta(days=1)
_US = timedelta(microseconds=1)


class CalendarError(ValueError):
    """The calendar cannot place a time: no trading day near it, or a date out of range."""


@dataclass(frozen=True)
class Period:
    """One budget period: ``start`` inclusive, ``end`` exclusive, both µs since the epoch."""

    kind: BudgetPeriod
    label: str  # 2025-04-02 (DAILY), 2025-03-31/P1W (WEEKLY: the week's first date), 2025-04 (MONTHLY)
    start: int
    end: int

    def contains(self, us: int) -> bool:
        return self.start <= us < self.end


@dataclass(frozen=True)
class TradingCalendar:
    """Weekdays 0 (Monday) to 6 (Sunday); holidays are local dates of ``timezone``."""

    timezone: str = "America/New_York"
    weekend: frozenset[int] = frozenset({5, 6})
    holidays: frozenset[date] = frozenset()
    week_start: int = 0

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as problem:
            raise CalendarError(f"unknown timezone {self.timezone!r}") from problem
        if not self.weekend < frozenset(range(7)):
            raise CalendarError("weekend days must be weekdays 0-6, and not all seven")
        if self.week_start not in range(7):
            raise CalendarError(f"week_start must be a weekday 0-6, got {self.week_start}")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # zoneinfo caches one instance per key

    # --- trading days -------------------------------------------------------------------
    def is_trading_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays

    def trading_day_on_or_after(self, day: date) -> date:
        return self._walk(day, _ONE_DAY)

    def trading_day_on_or_before(self, day: date) -> date:
        return self._walk(day, -_ONE_DAY)

    def next_trading_day(self, day: date) -> date:
        return self._walk(_shift(day, _ONE_DAY), _ONE_DAY)

    def previous_trading_day(self, day: date) -> date:
        return self._walk(_shift(day, -_ONE_DAY), -_ONE_DAY)

    def _walk(self, start: date, step: timedelta) -> date:
        day = start
        for _ in range(MAX_GAP_DAYS + 1):
            if self.is_trading_day(day):
                return day
            day = _shift(day, step)
        raise CalendarError(f"no trading day within {MAX_GAP_DAYS} days of {start}")

    def day_start(self, day: date) -> int:
        """Local midnight of ``day`` in µs since the epoch (the first instant, if it repeats)."""
        local = datetime(day.year, day.month, day.day, tzinfo=self.zone)
        return (local - _EPOCH) // _US

    def trading_day_at(self, us: int) -> date:
        """The trading day that owns the instant ``us``."""
        local = (_EPOCH + timedelta(microseconds=us)).astimezone(self.zone).date()
        day = self.trading_day_on_or_before(local)
        while us < self.day_start(day):  # a repeated or skipped midnight: trust the boundaries
            day = self.previous_trading_day(day)
        while us >= self.day_start(following := self.next_trading_day(day)):
            day = following
        return day

    # --- periods ------------------------------------------------------------------------
    def period(self, kind: BudgetPeriod, us: int) -> Period:
        """The period of ``kind`` that contains the instant ``us``."""
        day = self.trading_day_at(us)
        if kind is BudgetPeriod.DAILY:
            end = self.day_start(self.next_trading_day(day))
            return Period(kind, day.isoformat(), self.day_start(day), end)
        if kind is BudgetPeriod.WEEKLY:
            first = _shift(day, -timedelta(days=(day.weekday() - self.week_start) % 7))
            return self._span(kind, f"{first.isoformat()}/P1W", first, _shift(first, timedelta(days=7)))
        first = day.replace(day=1)
        after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return self._span(kind, first.isoformat()[:7], first, after)

    def _span(self, kind: BudgetPeriod, label: str, first: date, after: date) -> Period:
        """The trading days of the dates [first, after): start of the first to start of the next."""
        return Period(kind, label, self.day_start(self.trading_day_on_or_after(first)),
                      self.day_start(self.trading_day_on_or_after(after)))


def _shift(day: date, step: timedelta) -> date:
    try:
        return day + step
    except OverflowError as problem:
        raise CalendarError(f"{day} is at the edge of the calendar") from problem
