"""What a breached limit does to the orders it acts on: the new quantity of each.

Every reduce is a factor in [0, 1] applied to the orders acted on (or, for an order-scope
``target_qty``, a quantity clamped to [0, qty]), so a reduce never flips a side or grows an
order. Factors come from the limit's expression:

* ``scale``: the factor itself, clamped to [0, 1];
* ``target_qty`` (symbol): the signed post-trade quantity to end at; the factor is
  (target - what the other orders leave) / the acted orders' delta, clamped (the seed's R1 formula);
* ``target_gross`` (group, portfolio): the gross notional to end at; the factor is the largest f in
  [0, 1] whose post-trade gross stays at or under it (reading 10). Gross exposure is convex and
  piecewise linear in f, so f is exact: walk the breakpoints where a position crosses zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from math import fsum

from policy_engine.limits.aggregate import SymbolState
from policy_engine.limits.tolerance import EPS, clamp01, exceeds, is_zero, same, truncate


def signed_sum(orders: Iterable[int], signs: list[int], qty: list[float]) -> float:
    return fsum([signs[i] * qty[i] for i in orders])


def target_qty_factor(target: float, state: SymbolState, acted: list[int], signs: list[int],
                      qty: list[float]) -> float:
    acted_delta = signed_sum(acted, signs, qty)
    if is_zero(acted_delta, abs(state.post)):
        return 1.0
    return clamp01((target - (state.post - acted_delta)) / acted_delta)


def target_gross_factor(target: float, members: list[SymbolState], acted: set[int], signs: list[int],
                        qty: list[float]) -> float:
    """The largest f in [0, 1] with sum |base + f x acted delta| x close <= target."""
    terms: list[tuple[float, float, float]] = []
    fixed: list[float] = []
    for state in members:
        moved = signed_sum((i for i in state.orders if i in acted), signs, qty)
        if moved == 0.0:
            fixed.append(abs(state.post) * state.close)
        else:
            terms.append((state.post - moved, moved, state.close))
    fixed_gross = fsum(fixed)

    def gross(f: float) -> float:
        return fixed_gross + fsum([abs(base + f * moved) * close for base, moved, close in terms])

    if not exceeds(gross(1.0), target):
        return 1.0
    low, g_low = 0.0, gross(0.0)
    if exceeds(g_low, target):
        return 0.0
    crossings = sorted({-base / moved for base, moved, _ in terms if 0.0 < -base / moved < 1.0})
    for high in (*crossings, 1.0):
        g_high = gross(high)
        if g_high > target:
            return low + (target - g_low) * (high - low) / (g_high - g_low)
        low, g_low = high, g_high
    return 1.0


def apply_factor(acted: list[int], qty: list[float], factor: float, rounding: str) -> list[tuple[int, float, float]]:
    """(order, old, new) for every acted order that ``qty x factor`` (rounded) changes.

    A new quantity within the tolerance of 0 is 0 (the order is dropped); one within the
    tolerance of the old quantity leaves the order unchanged. One loop, written out: it runs
    for every order of a portfolio-wide scale.
    """
    changes: list[tuple[int, float, float]] = []
    toward_zero = rounding == "toward_zero"
    for i in acted:
        old = qty[i]
        new = old * factor
        if toward_zero:
            nearest = round(new)
            new = float(nearest) if abs(new - nearest) <= (EPS * new if new > 1.0 else EPS) else float(int(new))
        tolerance = EPS * old if old > 1.0 else EPS
        if new >= old - tolerance:
            continue
        changes.append((i, old, 0.0 if new <= tolerance else new))
    return changes


def new_quantity(old: float, proposed: float, rounding: str) -> float:
    """One order's new quantity: ``proposed`` rounded, snapped to 0 or to ``old``, never above ``old``."""
    new = truncate(proposed) if rounding == "toward_zero" else proposed
    if is_zero(new, old) or new < 0.0:
        return 0.0
    return old if same(new, old) or new > old else new
