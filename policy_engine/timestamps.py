"""RFC 3339 date-times with a mandatory offset -> integer microseconds since the Unix epoch (UTC).

Accepted: ``YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)``, ``t``/``z`` in either case, years 0001-9999,
real calendar dates, offsets up to ±23:59. Refused: anything else, including more than 6 fraction
digits and leap seconds (neither has an exact µs value) and every extra form ISO 8601 or
``datetime.fromisoformat`` allows (week dates, basic format, a space separator, ``+0100``).

``parse_date_time`` is the fast path: a strict shape check, then C code (``fromisoformat``) for
the calendar, then integer arithmetic on a timedelta, which is exact (no float timestamp).
``reference_date_time`` is the grammar spelled out as regexes with integer calendar arithmetic,
slower and independent of ``datetime``; a property test keeps the two in agreement.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# The shape, checked in C: ASCII, and with every digit written as 0 one of these 56 spellings.
# Digit ranges are fromisoformat's to check (month, day of month and leap years, hour, minute,
# second: 60 is refused, year 0 is refused), except the offset's, checked below: fromisoformat
# would read "+05:60" as +06:00.
_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_SHAPES = frozenset(f"0000-00-00{sep}00:00:00{fraction}{offset}".encode("ascii")
                    for sep in "Tt" for fraction in ["", *("." + "0" * n for n in range(1, 7))]
                    for offset in ("Z", "z", "+00:00", "-00:00"))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_from_iso = datetime.fromisoformat

# Whole strings -> µs. Snapshot timestamps (regime, quote, ...) recur from request to request; a
# hit costs one dict lookup. Cleared when full: bounded memory, no eviction bookkeeping.
DATES: dict[str, int] = {}
CACHE_SIZE = 8192


def parse_date_time(text: str) -> int | None:
    """``2025-04-02T06:10:54.151Z`` -> µs since the epoch, UTC; None unless RFC 3339 with offset."""
    if text.__class__ is not str:  # a subclass's own methods and hash are not to be trusted
        text = str.__str__(text)
    value = DATES.get(text)
    return value if value is not None else parse_uncached(text)


def parse_uncached(text: str) -> int | None:
    """``parse_date_time`` of an exact ``str`` not in the cache (the input checker looks first)."""
    if not text.isascii() or text.encode("ascii").translate(_ZEROS) not in _SHAPES:
        return None
    iso = text
    if text[-1] not in "Zz":
        if text[-2] > "5" or text[-5:-3] > "23":  # offset minutes 00-59, hours 00-23
            return None
    elif text[-1] == "z":  # fromisoformat reads "Z" only; any separator, so "t" too
        iso = text[:-1] + "Z"
    try:
        since = _from_iso(iso) - _EPOCH
    except ValueError:
        return None
    value = since.days * 86_400_000_000 + since.seconds * 1_000_000 + since.microseconds
    if len(DATES) >= CACHE_SIZE:
        DATES.clear()
    DATES[text] = value
    return value


# --- the reference: the grammar with groups, calendar arithmetic on integers ---------------------

_HEAD = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt]([01]\d|2[0-3]):([0-5]\d):([0-5]\d)", re.ASCII)
_TAIL = re.compile(r"(?:\.(\d{1,6}))?(?:[Zz]|([+-])([01]\d|2[0-3]):([0-5]\d))", re.ASCII)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era, yoe = divmod(y, 400)
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _head(text: str) -> int | None:
    match = _HEAD.fullmatch(text)
    if match is None:
        return None
    y, m, d, hh, mm, ss = map(int, match.groups())
    leap = m == 2 and y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if y == 0 or not 1 <= m <= 12 or not 1 <= d <= _MONTH_DAYS[m - 1] + leap:
        return None
    return ((_days_from_civil(y, m, d) * 24 + hh) * 3600 + mm * 60 + ss) * 1_000_000


def _tail(text: str) -> int | None:
    match = _TAIL.fullmatch(text)
    if match is None:
        return None
    fraction, sign, hh, mm = match.groups()
    micros = int(fraction.ljust(6, "0")) if fraction else 0
    offset = (int(hh) * 60 + int(mm)) * 60_000_000 if sign else 0
    return micros - offset if sign == "+" else micros + offset


def reference_date_time(text: str) -> int | None:
    """The same function as ``parse_date_time``, written from the grammar (no cache, no datetime)."""
    head, tail = _head(text[:19]), _tail(text[19:])
    return None if head is None or tail is None else head + tail
