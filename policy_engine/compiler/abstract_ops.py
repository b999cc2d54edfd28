"""The expression language's operators and functions over abstract values (``intervals``).

Each function here mirrors one entry of the language (``expr/functions.py``, the operators of
``expr/codegen.py``) on Abstracts: the result holds every value the concrete operation can give
for any operands the arguments admit, and ``error`` says whether it may raise. ``narrow`` is the
other direction: what an operand must have been for a comparison to have held.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from typing import Any, cast

from policy_engine.compiler.intervals import (
    BOOLS,
    BOTTOM,
    INF,
    RAISES,
    REALS,
    TOP,
    Abstract,
    Interval,
    absolute,
    add,
    div,
    join,
    meet_equal,
    mul,
    neg,
    of_schema,
    sub,
)
from policy_engine.expr import functions as fn

MAX_POWER = 100


# --- comparisons -------------------------------------------------------------------------------

def compare(left: Abstract, op: ast.cmpop, right: Abstract) -> Abstract:
    """``left op right``: which of True / False it may give, and whether it may raise."""
    may_true, may_false, error = _outcomes(left, op, right)
    bools = frozenset(b for b, possible in ((True, may_true), (False, may_false)) if possible)
    return Abstract(bools=bools, error=error or left.error or right.error)


def _outcomes(left: Abstract, op: ast.cmpop, right: Abstract) -> tuple[bool, bool, bool]:
    if isinstance(op, (ast.Eq, ast.NotEq)):
        equal, unequal = may_equal(left, right), not _same_single(left, right)
        return (equal, unequal, False) if isinstance(op, ast.Eq) else (unequal, equal, False)
    if isinstance(op, (ast.Is, ast.IsNot)):
        same, other = _identity(left, right)
        return (same, other, False) if isinstance(op, ast.Is) else (other, same, False)
    if isinstance(op, (ast.In, ast.NotIn)):
        inside, outside, error = _membership(left, right)
        return (inside, outside, error) if isinstance(op, ast.In) else (outside, inside, error)
    return _ordering(left, op, right)


def may_equal(a: Abstract, b: Abstract) -> bool:
    if a.num is not None and b.num is not None and a.num.meet(b.num) is not None:
        return True
    if (a.bools & b.bools) or (a.bools and b.num is not None) or (a.num is not None and b.bools):
        return True  # True == 1
    if (a.strs is None and (b.strs is None or b.strs)) or (b.strs is None and a.strs) or (a.strs or set()) & (b.strs or set()):
        return True
    return (a.none and b.none) or (a.other and b.other)


def _same_single(a: Abstract, b: Abstract) -> bool:
    (one, x), (two, y) = a.single(), b.single()
    return one and two and x == y and (x is None) == (y is None)


def _identity(left: Abstract, right: Abstract) -> tuple[bool, bool]:
    known, value = right.single()
    if not known or not (value is None or isinstance(value, bool)):
        return True, True
    has = left.none if value is None else value in left.bools
    only, left_value = left.single()
    return has, not (only and left_value is value)


def _membership(left: Abstract, right: Abstract) -> tuple[bool, bool, bool]:
    if right.seq is not None:
        inside = any(may_equal(left, Abstract.constant(v)) for v in right.seq)
        return inside, not _all_in(left, right.seq), False
    if right.items is not None:
        return True, True, right.none
    return True, True, True


def _all_in(value: Abstract, seq: tuple[Any, ...]) -> bool:
    if value.other or value.strs is None or value.num is not None and value.num.low != value.num.high:
        return False
    atoms: list[Any] = [*value.strs, *value.bools, *([None] if value.none else [])]
    atoms += [value.num.low] if value.num is not None else []
    return all(atom in seq for atom in atoms)


_ORDER: dict[type, Callable[[Interval, Interval], tuple[bool, bool]]] = {
    ast.Lt: lambda a, b: (a.low < b.high, a.high >= b.low),
    ast.LtE: lambda a, b: (a.low <= b.high, a.high > b.low),
    ast.Gt: lambda a, b: (a.high > b.low, a.low <= b.high),
    ast.GtE: lambda a, b: (a.high >= b.low, a.low < b.high),
}


def _ordering(left: Abstract, op: ast.cmpop, right: Abstract) -> tuple[bool, bool, bool]:
    may_true = may_false = False
    ln, rn = left.numeric, right.numeric
    if ln is not None and rn is not None:
        may_true, may_false = _ORDER[type(op)](ln, rn)
    if _has_strs(left) and _has_strs(right) or left.other and right.other:
        may_true = may_false = True
    mixed = (_has_strs(left) and rn is not None) or (ln is not None and _has_strs(right))
    error = left.none or right.none or left.other != right.other or mixed
    return may_true, may_false, bool(error)


def _has_strs(value: Abstract) -> bool:
    return value.strs is None or bool(value.strs)


def narrow(value: Abstract, op: ast.cmpop, other: Abstract) -> Abstract:
    """The values ``value`` may have had when ``value op other`` held (and did not raise)."""
    known, single = other.single()
    if isinstance(op, ast.Eq):
        return meet_equal(value, other)
    if isinstance(op, (ast.NotEq, ast.IsNot)) and known and not isinstance(single, float):
        return _remove(value, single)
    if isinstance(op, ast.Is) and known and (single is None or isinstance(single, bool)):
        return meet_equal(value, Abstract.constant(single))
    if isinstance(op, ast.In) and (other.seq is not None or other.items is not None):
        return meet_equal(value, other.member_values())
    if isinstance(op, ast.NotIn) and other.seq is not None:
        return _remove_all(value, [v for v in other.seq if v is None or isinstance(v, str)])
    if type(op) in _ORDER:
        return _narrow_order(value, op, other)
    return value.without()


def _remove(value: Abstract, atom: Any) -> Abstract:
    return _remove_all(value, [atom])


def _remove_all(value: Abstract, atoms: list[Any]) -> Abstract:
    strs = value.strs if value.strs is None else value.strs - {a for a in atoms if isinstance(a, str)}
    bools = value.bools - {a for a in atoms if isinstance(a, bool)}
    none = value.none and None not in atoms
    return Abstract(value.num, strs, bools, none, value.other, False, value.seq, value.items, value.schema)


def _narrow_order(value: Abstract, op: ast.cmpop, other: Abstract) -> Abstract:
    limit = other.numeric
    if limit is not None and not _has_strs(other):
        # Numbers are floats (or ints): x < c means x <= the float just below c.
        if isinstance(op, (ast.Lt, ast.LtE)):
            bound = Interval(-INF, math.nextafter(limit.high, -INF) if isinstance(op, ast.Lt) else limit.high)
        else:
            bound = Interval(math.nextafter(limit.low, INF) if isinstance(op, ast.Gt) else limit.low, INF)
        num = value.num.meet(bound) if value.num is not None else None
        bools = frozenset(b for b in value.bools if bound.contains(float(b)))
        return Abstract(num=num, bools=bools)
    if other.num is None and _has_strs(other):
        return Abstract(strs=value.strs)
    return value.without(none=True)


# --- arithmetic ----------------------------------------------------------------------------------

def binop(op: ast.operator, left: Abstract, right: Abstract) -> Abstract:
    error = left.error or right.error or not _arithmetic(left) or not _arithmetic(right)
    ln, rn = left.numeric, right.numeric
    result = BOTTOM if ln is None or rn is None else _numbers(op, ln, rn)
    if _has_strs(left) or _has_strs(right) or left.other or right.other:
        result = join([result, Abstract(strs=None, other=True)])  # concatenation, repetition
    return result.with_error(error)


def _arithmetic(value: Abstract) -> bool:
    """Only numbers and booleans: no operand that may make the operation raise."""
    return not (value.none or value.other or _has_strs(value))


def _numbers(op: ast.operator, a: Interval, b: Interval) -> Abstract:
    if isinstance(op, ast.Add):
        return Abstract(num=add(a, b))
    if isinstance(op, ast.Sub):
        return Abstract(num=sub(a, b))
    if isinstance(op, ast.Mult):
        return Abstract(num=mul(a, b))
    if isinstance(op, (ast.Div, ast.FloorDiv)):
        quotient = div(a, b)
        if quotient is None:
            return RAISES if b == Interval(0.0, 0.0) else REALS.with_error()
        return Abstract(num=quotient.map(math.floor) if isinstance(op, ast.FloorDiv) else quotient)
    if isinstance(op, ast.Mod):
        if b.low > 0:
            return Abstract(num=Interval(0.0, b.high))
        return Abstract(num=Interval(b.low, 0.0)) if b.high < 0 else REALS.with_error()
    return _power(a, b)


def _power(a: Interval, b: Interval) -> Abstract:
    if a.low == a.high and b.low == b.high and abs(b.low) <= MAX_POWER and abs(a.low) <= 1e15:
        try:
            result = a.low**b.low
        except (OverflowError, ZeroDivisionError):
            return RAISES
        if isinstance(result, (int, float)) and math.isfinite(result):
            return Abstract(num=Interval(math.nextafter(result, -INF), math.nextafter(result, INF)))
    return REALS.with_error()


def unary(op: ast.unaryop, operand: Abstract) -> Abstract:
    if isinstance(op, ast.Not):
        bools = frozenset(b for b, possible in ((True, operand.may_be_falsy()), (False, operand.may_be_truthy()))
                          if possible)
        return Abstract(bools=bools, error=operand.error)
    numbers = operand.numeric
    result = BOTTOM if numbers is None else Abstract(num=neg(numbers) if isinstance(op, ast.USub) else numbers)
    return result.with_error(operand.error or not _arithmetic(operand))


# --- functions -----------------------------------------------------------------------------------

def call(name: str, args: list[Abstract], keywords: dict[str, Abstract]) -> Abstract:
    """A whitelisted function applied to abstract arguments; unknown ones give TOP."""
    error = any(a.error for a in (*args, *keywords.values()))
    handler = _CALLS.get(name)
    return (handler(args, keywords) if handler else TOP).with_error(error)


def _monotone(function: Callable[[float], float]) -> Callable[[list[Abstract], dict[str, Abstract]], Abstract]:
    def apply(args: list[Abstract], keywords: dict[str, Abstract]) -> Abstract:
        if len(args) != 1:
            return TOP
        numbers = args[0].numeric
        result = BOTTOM if numbers is None else Abstract(num=numbers.map(function))
        return result.with_error(not _arithmetic(args[0]))
    return apply


def _round(args: list[Abstract], keywords: dict[str, Abstract]) -> Abstract:
    digits = args[1].single() if len(args) == 2 else (True, 0)
    if not digits[0] or not isinstance(digits[1], (int, float)):
        return REALS.with_error()
    places = int(digits[1])
    return _monotone(lambda x: round(x, places))(args[:1], keywords)


def _abs(args: list[Abstract], keywords: dict[str, Abstract]) -> Abstract:
    numbers = args[0].numeric if len(args) == 1 else None
    return (BOTTOM if numbers is None else Abstract(num=absolute(numbers))).with_error(not _arithmetic(args[0]))


def _extreme(smallest: bool) -> Callable[[list[Abstract], dict[str, Abstract]], Abstract]:
    def apply(args: list[Abstract], keywords: dict[str, Abstract]) -> Abstract:
        if len(args) == 1:
            return _extreme_of_list(args[0], keywords.get("default"))
        if all(a.is_number for a in args) and args:
            nums = [a.num for a in args if a.num is not None]
            pick = min if smallest else max
            return Abstract(num=Interval(pick(n.low for n in nums), pick(n.high for n in nums)))
        return join(a.without() for a in args).with_error()
    return apply


def _extreme_of_list(items: Abstract, default: Abstract | None) -> Abstract:
    result = items.member_values().without()
    may_be_empty = items.seq == () or items.seq is None
    if may_be_empty:
        result = join([result, default]) if default is not None else result.with_error()
    return result.with_error(items.none or not items.other or items.member_values().error)


def _clamp(args: list[Abstract], keywords: dict[str, Abstract]) -> Abstract:
    if len(args) != 3 or not all(a.numeric is not None for a in args):
        return REALS.with_error()
    x, low, high = (a.numeric for a in args)
    assert x is not None and low is not None and high is not None
    lifted = Interval(max(x.low, low.low), max(x.high, low.high))
    result = Abstract(num=Interval(min(lifted.low, high.low), min(lifted.high, high.high)))
    return result.with_error(low.high > high.low or not all(_arithmetic(a) for a in args))


def _coalesce(args: list[Abstract], keywords: dict[str, Abstract]) -> Abstract:
    result = BOTTOM
    for arg in args:
        result = join([result, arg.without(none=True, error=False)])
        if not arg.none:
            return result
    return join([result, Abstract(none=True)])


def _index(args: list[Abstract], keywords: dict[str, Abstract]) -> Abstract:
    if len(args) != 2 or args[0].seq is None:
        return Abstract(num=Interval(0.0, INF), error=True)
    seq, item = args[0].seq, args[1]
    found = [float(i) for i, v in enumerate(seq) if may_equal(item, Abstract.constant(v))]
    result = Abstract(num=Interval(min(found), max(found))) if found else BOTTOM
    return result.with_error(not _all_in(item, seq))


def _len(args: list[Abstract], keywords: dict[str, Abstract]) -> Abstract:
    if len(args) == 1 and args[0].seq is not None:
        return Abstract(num=Interval.point(len(args[0].seq)))
    return Abstract(num=Interval(0.0, INF), error=len(args) != 1 or args[0].none or args[0].num is not None)


def _sum(args: list[Abstract], keywords: dict[str, Abstract]) -> Abstract:
    if len(args) != 1:
        return REALS.with_error()
    if args[0].seq is not None and all(isinstance(v, (int, float)) for v in args[0].seq):
        total = math.fsum(args[0].seq)
        return Abstract(num=Interval(math.nextafter(total, -INF), math.nextafter(total, INF)))
    items = args[0].member_values().numeric
    low = 0.0 if items is not None and items.low >= 0 else -INF
    high = 0.0 if items is not None and items.high <= 0 else INF
    return Abstract(num=Interval(low, high), error=not args[0].other or args[0].none or items is None)


def _mid(args: list[Abstract], keywords: dict[str, Abstract]) -> Abstract:
    zone = args[0] if len(args) == 1 else TOP
    props = (zone.schema or {}).get("properties", {})
    low, high = of_schema(props.get("low")).numeric, of_schema(props.get("high")).numeric
    if zone.schema is None or low is None or high is None:
        return REALS.with_error()
    return Abstract(num=mul(add(low, high), Interval.point(0.5))).with_error(zone.none or not zone.other)


def _series(args: list[Abstract], keywords: dict[str, Abstract]) -> Abstract:
    items = args[0].member_values().numeric if args else None
    return Abstract(num=items if items is not None else REALS.num, error=True)


_CALLS: dict[str, Callable[[list[Abstract], dict[str, Abstract]], Abstract]] = {
    "abs": _abs, "min": _extreme(True), "max": _extreme(False), "clamp": _clamp, "coalesce": _coalesce,
    "index": _index, "len": _len, "sum": _sum, "mid": _mid, "round": _round,
    "floor": _monotone(fn.floor), "ceil": _monotone(fn.ceil), "round_half_up": _monotone(fn.round_half_up),
    "snap": _monotone(fn.snap), "ms": _monotone(fn.ms), "seconds": _monotone(fn.seconds),
    "minutes": _monotone(fn.minutes), "hours": _monotone(fn.hours),
    # durations in µs are integers at run time; the bounds of their intervals may not be
    "in_hours": _monotone(cast(Callable[[float], float], fn.in_hours)),
    "in_minutes": _monotone(cast(Callable[[float], float], fn.in_minutes)),
    "in_ms": _monotone(cast(Callable[[float], float], fn.in_ms)),
    "any": lambda args, kw: BOOLS.with_error(), "all": lambda args, kw: BOOLS.with_error(),
    "mean": _series, "median": _series,
    "stdev": lambda args, kw: Abstract(num=Interval(0.0, INF), error=True),
}
