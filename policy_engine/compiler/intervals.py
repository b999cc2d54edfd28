"""The abstract values of static verification: what an expression may evaluate to.

An ``Abstract`` over-approximates every value an expression can take over the requests the input
schema admits: a numeric ``Interval``, the strings, booleans and None it may be, whether it may be
a list or a map (with, when known, the exact list or what its items may be), and whether
evaluating it may raise (which the engine turns into a fail-closed rejection). Over-approximation
is the contract: a verified claim ("never", "always", "within") holds for every admitted request;
"may" only says the analysis could not rule it out.

Interval arithmetic rounds outwards: a bound computed in floating point is moved one float
further when it is not exact, so the engine's own rounded result always lies inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property
from typing import Any

INF = math.inf


@dataclass(frozen=True)
class Interval:
    """The closed interval [low, high]; either end may be infinite. Strict bounds are widened
    to closed ones, which only ever over-approximates."""

    low: float
    high: float

    @staticmethod
    def point(x: float) -> Interval:
        return Interval(float(x), float(x))

    def hull(self, other: Interval | None) -> Interval:
        return self if other is None else Interval(min(self.low, other.low), max(self.high, other.high))

    def meet(self, other: Interval | None) -> Interval | None:
        if other is None:
            return None
        low, high = max(self.low, other.low), min(self.high, other.high)
        return Interval(low, high) if low <= high else None

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def within(self, other: Interval, tolerance: float = 0.0) -> bool:
        return other.low - tolerance <= self.low and self.high <= other.high + tolerance

    def map(self, monotone: Callable[[float], float]) -> Interval:
        """The image under a non-decreasing function (floor, snap, a positive scale)."""
        return Interval(_image(monotone, self.low, -INF), _image(monotone, self.high, INF))

    def format(self) -> str:
        return f"[{_number(self.low)}, {_number(self.high)}]"


def _image(monotone: Callable[[float], float], x: float, overflow: float) -> float:
    if not math.isfinite(x):
        return x
    try:
        return float(monotone(x))
    except (OverflowError, ValueError):  # beyond what a float holds: unbounded on that side
        return overflow


def _number(x: float) -> str:
    return "-inf" if x == -INF else "inf" if x == INF else f"{x:.6g}"


# --- outward-rounded arithmetic ------------------------------------------------------------------

def _exact(x: float) -> Fraction | None:
    return Fraction(x) if math.isfinite(x) else None


def _down(result: float, exact: Fraction | None) -> float:
    if math.isnan(result):
        return -INF
    if exact is not None and math.isfinite(result) and Fraction(result) > exact:
        return math.nextafter(result, -INF)
    return result


def _up(result: float, exact: Fraction | None) -> float:
    if math.isnan(result):
        return INF
    if exact is not None and math.isfinite(result) and Fraction(result) < exact:
        return math.nextafter(result, INF)
    return result


def _exact_op(op: str, a: float, b: float) -> Fraction | None:
    x, y = _exact(a), _exact(b)
    if x is None or y is None:
        return None
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    return x / y if y else None


def _apply(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return 0.0 if a == 0 or b == 0 else a * b  # an infinite end is never attained: 0 * it is 0
    return a / b


def _bounds(op: str, pairs: Iterable[tuple[float, float]]) -> Interval:
    lows, highs = [], []
    for a, b in pairs:
        exact = _exact_op(op, a, b)
        result = _apply(op, a, b)
        lows.append(_down(result, exact))
        highs.append(_up(result, exact))
    return Interval(min(lows), max(highs))


def add(a: Interval, b: Interval) -> Interval:
    return _bounds("+", [(a.low, b.low), (a.high, b.high)])


def sub(a: Interval, b: Interval) -> Interval:
    return _bounds("-", [(a.low, b.high), (a.high, b.low)])


def mul(a: Interval, b: Interval) -> Interval:
    return _bounds("*", [(x, y) for x in (a.low, a.high) for y in (b.low, b.high)])


def div(a: Interval, b: Interval) -> Interval | None:
    """a / b, or None when b may be 0 (the quotient is then unbounded and may raise)."""
    if b.contains(0.0):
        return None
    return _bounds("/", [(x, y) for x in (a.low, a.high) for y in (b.low, b.high)])


def neg(a: Interval) -> Interval:
    return Interval(-a.high, -a.low)


def absolute(a: Interval) -> Interval:
    if a.low >= 0:
        return a
    if a.high <= 0:
        return neg(a)
    return Interval(0.0, max(-a.low, a.high))


# --- abstract values ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Abstract:
    """Everything an expression may evaluate to (see the module docstring)."""

    num: Interval | None = None
    strs: frozenset[str] | None = frozenset()  # None: any string
    bools: frozenset[bool] = frozenset()
    none: bool = False
    other: bool = False  # a list, a map, or something not tracked
    error: bool = False  # evaluating it may raise
    seq: tuple[Any, ...] | None = None  # exactly this list (params, literals)
    items: Abstract | None = None  # a list whose items may be these
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)  # an input object's

    def __hash__(self) -> int:
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.num, self.strs, self.bools, self.none, self.other, self.error, self.seq, self.items))

    @staticmethod
    def constant(value: Any) -> Abstract:
        if isinstance(value, bool):
            return Abstract(bools=frozenset({value}))
        if isinstance(value, (int, float)):
            return Abstract(num=Interval.point(value))
        if isinstance(value, str):
            return Abstract(strs=frozenset({value}))
        if value is None:
            return Abstract(none=True)
        if isinstance(value, (list, tuple)) and all(_scalar(v) for v in value):
            return Abstract(other=True, seq=tuple(value))
        return Abstract(other=True)

    @property
    def is_bottom(self) -> bool:
        return (self.num is None and self.strs is not None and not self.strs and not self.bools
                and not self.none and not self.other)

    @property
    def is_number(self) -> bool:
        """Only numbers (no None, string, boolean or container), though it may still raise."""
        return self.num is not None and self == Abstract(num=self.num, error=self.error)

    @property
    def numeric(self) -> Interval | None:
        """The numbers it may be in arithmetic, booleans counted as 0 and 1."""
        bools = Interval(float(min(self.bools)), float(max(self.bools))) if self.bools else None
        return bools.hull(self.num) if bools else self.num

    def member_values(self) -> Abstract:
        """What an item of this list may be."""
        if self.seq is not None:
            return join(Abstract.constant(v) for v in self.seq)
        return self.items if self.items is not None else TOP

    def single(self) -> tuple[bool, Any]:
        """(True, v) when v is its only value: a number point, one string, a boolean or None."""
        atoms = self._atoms()
        kinds = len(atoms) + (self.num is not None) + self.other + (self.strs is None)
        if kinds != 1:
            return False, None
        if self.num is not None:
            return self.num.low == self.num.high, self.num.low
        return bool(atoms), atoms[0] if atoms else None

    def _atoms(self) -> list[Any]:
        atoms: list[Any] = sorted(self.strs or ()) + sorted(self.bools)
        return atoms + [None] if self.none else atoms

    def without(self, *, none: bool = False, error: bool = True) -> Abstract:
        return replace(self, none=self.none and not none, error=self.error and not error)

    def with_error(self, error: bool = True) -> Abstract:
        return replace(self, error=self.error or error)

    # --- truthiness ----------------------------------------------------------------------
    def may_be_truthy(self) -> bool:
        return (self.num is not None and self.num != Interval(0.0, 0.0)) or self.strs is None \
            or any(self.strs) or True in self.bools or (self.other and self.seq != ())

    def may_be_falsy(self) -> bool:
        return (self.num is not None and self.num.contains(0.0)) or self.strs is None or "" in self.strs \
            or False in self.bools or self.none or (self.other and not self.seq)

    def truthy_part(self) -> Abstract:
        num = self.num if self.num != Interval(0.0, 0.0) else None
        strs = None if self.strs is None else frozenset(s for s in self.strs if s)
        return Abstract(num, strs, self.bools & {True}, False, self.other and self.seq != (),
                        seq=self.seq, items=self.items, schema=self.schema)

    def falsy_part(self) -> Abstract:
        num = Interval(0.0, 0.0) if self.num is not None and self.num.contains(0.0) else None
        strs = frozenset({""}) if self.strs is None or "" in self.strs else frozenset()
        other = self.other and not self.seq
        return Abstract(num, strs, self.bools & {False}, self.none, other, seq=() if other else None)

    def leq(self, other: Abstract) -> bool:
        """Every value of self is a value of other (conservative: False when unsure)."""
        if self.num is not None and (other.num is None or not self.num.within(other.num)):
            return False
        strs_ok = other.strs is None or (self.strs is not None and self.strs <= other.strs)
        containers_ok = not self.other or (other.other and (other.seq is None and other.items is None
                                                            or (self.seq, self.items) == (other.seq, other.items)))
        return strs_ok and containers_ok and self.bools <= other.bools and (not self.none or other.none) \
            and (not self.error or other.error)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


BOTTOM = Abstract()
RAISES = Abstract(error=True)
BOOLS = Abstract(bools=frozenset({True, False}))
REALS = Abstract(num=Interval(-INF, INF))
TOP = Abstract(num=Interval(-INF, INF), strs=None, bools=frozenset({True, False}), none=True, other=True, error=True)


def join(values: Iterable[Abstract]) -> Abstract:
    result = BOTTOM
    for value in values:
        result = _join2(result, value)
    return result


def _join2(a: Abstract, b: Abstract) -> Abstract:
    if a.is_bottom and not a.error:
        return b
    if b.is_bottom and not b.error:
        return a
    num = b.num if a.num is None else a.num.hull(b.num)
    strs = None if a.strs is None or b.strs is None else a.strs | b.strs
    seq, items = _join_containers(a, b)
    schema = a.schema if a.schema is b.schema or not b.other else b.schema if not a.other else None
    return Abstract(num, strs, a.bools | b.bools, a.none or b.none, a.other or b.other, a.error or b.error,
                    seq, items, schema)


def _join_containers(a: Abstract, b: Abstract) -> tuple[tuple[Any, ...] | None, Abstract | None]:
    if not (a.other and b.other):
        source = a if a.other else b
        return source.seq, source.items
    if a.seq is not None and a.seq == b.seq:
        return a.seq, None
    if (a.seq is not None or a.items is not None) and (b.seq is not None or b.items is not None):
        return None, _join2(a.member_values(), b.member_values())
    return None, None


def meet(a: Abstract, b: Abstract) -> Abstract:
    """The values both may be (a refinement of a, which keeps a's container details)."""
    num = a.num.meet(b.num) if a.num is not None else None
    strs = b.strs if a.strs is None else a.strs if b.strs is None else a.strs & b.strs
    return Abstract(num, strs, a.bools & b.bools, a.none and b.none, a.other and b.other, a.error and b.error,
                    a.seq, a.items, a.schema)


def meet_equal(value: Abstract, other: Abstract) -> Abstract:
    """The values of ``value`` that may equal one of ``other``'s (a comparison that held)."""
    if (value.bools or other.bools) and (value.num is not None or other.num is not None):
        return value.without()  # True == 1: too subtle to narrow
    return meet(value, other).without()


def of_schema(schema: Any) -> Abstract:
    """What a JSON Schema node (local $refs inlined) admits, as the engine sees it."""
    if not isinstance(schema, dict) or any(k in schema for k in ("anyOf", "oneOf", "allOf", "not")):
        return TOP.without()
    if "const" in schema:
        return Abstract.constant(schema["const"])
    if isinstance(schema.get("enum"), list):
        return join(Abstract.constant(v) for v in schema["enum"])
    types = schema.get("type")
    kinds = [types] if isinstance(types, str) else types if isinstance(types, list) else None
    if kinds is None:
        return TOP.without()
    return join(_of_type(kind, schema) for kind in kinds)


def _of_type(kind: str, schema: dict[str, Any]) -> Abstract:
    if kind in ("number", "integer"):
        low = max(_bound(schema, "minimum", -INF), _bound(schema, "exclusiveMinimum", -INF))
        high = min(_bound(schema, "maximum", INF), _bound(schema, "exclusiveMaximum", INF))
        return Abstract(num=Interval(low, high)) if low <= high else BOTTOM
    if kind == "string":
        return REALS if schema.get("format") == "date-time" else Abstract(strs=None)
    if kind == "boolean":
        return BOOLS
    if kind == "null":
        return Abstract(none=True)
    if kind == "array":
        items = schema.get("items")
        return Abstract(other=True, items=of_schema(items) if isinstance(items, dict) else None)
    if kind == "object":
        return Abstract(other=True, schema=schema)
    return TOP.without()


def _bound(schema: dict[str, Any], key: str, default: float) -> float:
    value = schema.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
