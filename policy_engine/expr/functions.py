"""The whitelisted functions of the expression language.

One table, one entry per function: adding a function is adding a line here (and to
docs/expressions.md). Every function is pure and total on its documented domain; anything else
raises, which the engine turns into a fail-closed rejection.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

# Values within this distance of an integer or of a band edge are treated as equal to it, so
# binary floating point never floors one contract short (contract reading 15).
EPSILON = 1e-9
SNAP_DIGITS = 9

US_PER_MS = 1_000
US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE


def snap(x: float) -> float:
    """Round to 9 decimals: the precision at which tier comparisons are made."""
    return round(x, SNAP_DIGITS)


def floor(x: float) -> int:
    """Floor, except that a value within 1e-9 of an integer is that integer."""
    nearest = round(x)
    return int(nearest) if abs(x - nearest) <= EPSILON else math.floor(x)


def ceil(x: float) -> int:
    """Ceil, except that a value within 1e-9 of an integer is that integer."""
    nearest = round(x)
    return int(nearest) if abs(x - nearest) <= EPSILON else math.ceil(x)


def round_half_up(x: float) -> int:
    """Round to the nearest integer, halves away from zero for positives (x.5 -> x+1)."""
    return floor(x + 0.5)


def clamp(x: float, low: float, high: float) -> float:
    if low > high:
        raise ValueError(f"clamp bounds reversed: {low} > {high}")
    return low if x < low else high if x > high else x


def mid(price_range: dict[str, float]) -> float:
    """Midpoint of a {low, high} price range."""
    return (price_range["low"] + price_range["high"]) / 2


def coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def index(items: Iterable[Any], item: Any) -> int:
    """Position of item in items; raises when absent so a typo'd enum fails closed."""
    return list(items).index(item)


def ms(n: float) -> int:
    """A duration of n milliseconds, in the engine's time unit (microseconds)."""
    return round(n * US_PER_MS)


def seconds(n: float) -> int:
    return round(n * US_PER_SECOND)


def minutes(n: float) -> int:
    return round(n * US_PER_MINUTE)


def hours(n: float) -> int:
    return round(n * US_PER_HOUR)


def in_hours(duration: int) -> float:
    """A duration (microseconds) expressed in hours."""
    return duration / US_PER_HOUR


def in_minutes(duration: int) -> float:
    return duration / US_PER_MINUTE


def in_ms(duration: int) -> float:
    return duration / US_PER_MS


def _min(*args: Any, default: Any = None) -> Any:
    if len(args) == 1:
        items = list(args[0])
        if not items:
            if default is None:
                raise ValueError("min() of an empty list needs default=")
            return default
        return min(items)
    return min(args)


def _max(*args: Any, default: Any = None) -> Any:
    if len(args) == 1:
        items = list(args[0])
        if not items:
            if default is None:
                raise ValueError("max() of an empty list needs default=")
            return default
        return max(items)
    return max(args)


MAX_RANGE = 1_000


def _range(n: int) -> range:
    """0 .. n-1, bounded so an expression cannot build a huge list."""
    if not isinstance(n, int) or n > MAX_RANGE:
        raise ValueError(f"range({n!r}) exceeds the limit {MAX_RANGE}")
    return range(n)


def _round(x: float, digits: int = 0) -> float:
    return round(x, digits)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "min": _min,
    "max": _max,
    "sum": sum,
    "len": len,
    "any": any,
    "all": all,
    "round": _round,
    "range": _range,
    "floor": floor,
    "ceil": ceil,
    "round_half_up": round_half_up,
    "snap": snap,
    "clamp": clamp,
    "mid": mid,
    "coalesce": coalesce,
    "index": index,
    "ms": ms,
    "seconds": seconds,
    "minutes": minutes,
    "hours": hours,
    "in_hours": in_hours,
    "in_minutes": in_minutes,
    "in_ms": in_ms,
}

# Functions whose result is always a number: lets the checker prove arithmetic safe.
NUMERIC_RESULT = frozenset(
    {"abs", "sum", "len", "round", "floor", "ceil", "round_half_up", "snap", "clamp", "mid", "index",
     "ms", "seconds", "minutes", "hours", "in_hours", "in_minutes", "in_ms"}
)
BOOL_RESULT = frozenset({"any", "all"})
# The only keyword argument the language knows.
KEYWORDS = {"min": {"default"}, "max": {"default"}}
