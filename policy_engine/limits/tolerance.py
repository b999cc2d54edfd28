"""Edges (contract reading 15): values within 1e-11 are equal, comparisons and truncations alike.

The tolerance is absolute up to magnitude 1 and relative above it (1e-11 x the larger magnitude),
so a quantity of a million shares compares as exactly as a fraction of equity does. These run
once per symbol or order; the per-order loop of a scale inlines them (actions.apply_factor).
"""

from __future__ import annotations

import math

EPS = 1e-11


def tolerance(magnitude: float) -> float:
    """The tolerance at a magnitude: 1e-11 up to 1, relative above."""
    return EPS * magnitude if magnitude > 1.0 else EPS


def exceeds(measure: float, cap: float) -> bool:
    """measure > cap, by more than the tolerance."""
    return measure - cap > tolerance(max(abs(measure), abs(cap)))


def reaches(measure: float, cap: float) -> bool:
    """measure >= cap, within the tolerance."""
    return measure - cap >= -tolerance(max(abs(measure), abs(cap)))


def same(a: float, b: float) -> bool:
    return abs(a - b) <= tolerance(max(abs(a), abs(b)))


def is_zero(x: float, scale: float = 1.0) -> bool:
    """|x| is 0 within the tolerance of ``scale`` (the magnitude x was computed from)."""
    return abs(x) <= tolerance(abs(scale))


def sign(x: float, scale: float = 1.0) -> int:
    return 0 if is_zero(x, scale) else 1 if x > 0 else -1


def truncate(x: float) -> float:
    """Toward zero, except that a value within the tolerance of an integer is that integer."""
    nearest = round(x)
    if abs(x - nearest) <= tolerance(abs(x)):
        return float(nearest)
    return float(math.trunc(x))


def clamp01(x: float) -> float:
    return 0.0 if x < 0.0 else min(x, 1.0)
