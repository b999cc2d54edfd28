"""The whitelisted functions of the expression language.

One table, one entry per function: adding a function is adding a line here (and to
docs/expressions.md). Every function is pure and total on its documented domain; anything else
raises, which the engine turns into a fail-closed rejection.
"""

from __future__ import annotations

import math
from itertools import islice, pairwise
from types import GeneratorType
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


# --- series functions (docs/expressions.md, "Series functions") ---------------------------
# Pure and bounded: a series is a list, tuple or comprehension of at most MAX_SERIES items.
# stdev and rolling_stdev are exact: sums are taken over integers (every float is an integer
# times a power of two) and the square root is correctly rounded, so they equal
# statistics.stdev bit for bit, do not depend on summation order, and a constant window is
# exactly 0.0.

MAX_SERIES = 100_000
_SQRT_GUARD_BITS = 2 * 53 + 3  # enough extra bits for a correctly rounded float square root


def _series(xs: Any, function: str) -> list[Any] | tuple[Any, ...]:
    items: list[Any] | tuple[Any, ...]
    if isinstance(xs, GeneratorType):
        items = list(islice(xs, MAX_SERIES + 1))
    elif isinstance(xs, (list, tuple)):
        items = xs
    else:
        raise ValueError(f"{function}() expects a list, got {type(xs).__name__}")
    if len(items) > MAX_SERIES:
        raise ValueError(f"{function}() of {len(items)} items exceeds the limit {MAX_SERIES}")
    return items


def _numbers(xs: Any, function: str, at_least: int) -> list[Any] | tuple[Any, ...]:
    """A bounded series of finite int/float items (bool is not a number here), long enough."""
    values = _series(xs, function)
    for position, x in enumerate(values):
        kind = type(x)
        if not (kind is int or (kind is float and math.isfinite(x))):
            raise ValueError(f"{function}(): item {position} is {x!r}, not a finite number")
    if len(values) < at_least:
        raise ValueError(f"{function}() needs at least {at_least} values, got {len(values)}")
    return values


def _count(n: Any, function: str, at_least: int) -> int:
    if type(n) is not int or not at_least <= n <= MAX_SERIES:
        raise ValueError(f"{function}(): {n!r} is not a whole number from {at_least} to {MAX_SERIES}")
    return n


def _scaled(values: Iterable[int | float]) -> tuple[list[int], int]:
    """Integers a_i and a shift s with values[i] == a_i / 2**s exactly."""
    ratios = [x.as_integer_ratio() for x in values]  # float denominators are powers of two
    shift = max(d.bit_length() - 1 for _, d in ratios)
    return [n << (shift - d.bit_length() + 1) for n, d in ratios], shift


def _sqrt_of_fraction(n: int, m: int) -> float:
    """sqrt(n / m), correctly rounded: round-to-odd on an integer square root with guard bits
    (the method of statistics._float_sqrt_of_frac)."""
    q = (n.bit_length() - m.bit_length() - _SQRT_GUARD_BITS) // 2
    if q >= 0:
        numerator, denominator = _isqrt_round_to_odd(n, m << 2 * q) << q, 1
    else:
        numerator, denominator = _isqrt_round_to_odd(n << -2 * q, m), 1 << -q
    try:
        return numerator / denominator
    except OverflowError:
        raise ValueError("standard deviation is too large for a float") from None


def _isqrt_round_to_odd(n: int, m: int) -> int:
    root = math.isqrt(n // m)
    return root | (root * root * m != n)


def _window_stdev(total: int, squares: int, count: int, shift: int) -> float:
    """Sample standard deviation of `count` values a_i / 2**shift from their exact sums."""
    return _sqrt_of_fraction(count * squares - total * total, (count * (count - 1)) << 2 * shift)


def returns(xs: Any) -> list[float]:
    """Simple returns x[i] / x[i-1] - 1 of positive values (e.g. closes): one fewer item."""
    values = _numbers(xs, "returns", 2)
    if any(x <= 0 for x in values):
        raise ValueError("returns() needs positive values (prices), got one <= 0")
    result = [b / a - 1 for a, b in pairwise(values)]
    if not all(math.isfinite(r) for r in result):
        raise ValueError("returns(): a return overflows a float")
    return result


def mean(xs: Any) -> float:
    """Arithmetic mean, as statistics.fmean (an exactly rounded sum divided by n)."""
    values = _numbers(xs, "mean", 1)
    return math.fsum(values) / len(values)


def stdev(xs: Any) -> float:
    """Sample standard deviation (n - 1), exact as statistics.stdev."""
    scaled, shift = _scaled(_numbers(xs, "stdev", 2))
    return _window_stdev(sum(scaled), sum(a * a for a in scaled), len(scaled), shift)


def median(xs: Any) -> Any:
    """Middle value; for an even count the mean of the two middle values (statistics.median)."""
    ordered = sorted(_numbers(xs, "median", 1))
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def rolling_stdev(xs: Any, window: int) -> list[float]:
    """stdev of every full window of `window` consecutive items, oldest first; [] when the
    series is shorter than one window. Exact sums slide in O(n)."""
    values = _numbers(xs, "rolling_stdev", 0)
    window = _count(window, "rolling_stdev", 2)
    if len(values) < window:
        return []
    scaled, shift = _scaled(values)
    total, squares = sum(scaled[:window]), sum(a * a for a in scaled[:window])
    result = [_window_stdev(total, squares, window, shift)]
    for old, new in zip(scaled, scaled[window:]):
        total += new - old
        squares += new * new - old * old
        result.append(_window_stdev(total, squares, window, shift))
    return result


def tail(xs: Any, n: int) -> list[Any]:
    """The last n items (all of them when there are fewer)."""
    items = _series(xs, "tail")
    n = _count(n, "tail", 0)
    return list(items[max(len(items) - n, 0):])


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
    "returns": returns,
    "mean": mean,
    "stdev": stdev,
    "median": median,
    "rolling_stdev": rolling_stdev,
    "tail": tail,
}

# Functions whose result is always a number: lets the checker prove arithmetic safe.
NUMERIC_RESULT = frozenset(
    {"abs", "sum", "len", "round", "floor", "ceil", "round_half_up", "snap", "clamp", "mid", "index",
     "ms", "seconds", "minutes", "hours", "in_hours", "in_minutes", "in_ms", "mean", "stdev", "median"}
)
BOOL_RESULT = frozenset({"any", "all"})
# The only keyword argument the language knows.
KEYWORDS = {"min": {"default"}, "max": {"default"}}
