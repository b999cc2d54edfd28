"""Money in the budget ledger: integer micro-dollars, so sums are exact and order-free.

Amounts arrive as floats (the sizing policy's ``risk_amount``, a fill's realized P&L). Each is
converted once, from its shortest decimal text (``repr``), to an integer number of millionths
of a dollar; every total, difference and comparison after that is integer arithmetic, so the
same ledger gives the same budget whatever order its rows are read in. Floats come back out
only at the edge (``dollars``), by one correctly rounded division.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

MICROS = 1_000_000  # micro-dollars per dollar: below any price tick, far inside int64 for any account


def to_micros(amount: float, what: str = "amount") -> int:
    """``1234.5`` -> ``1_234_500_000``; NaN, infinities and booleans are refused (ValueError:
    a bad amount is a bad value of the event, whatever its Python type)."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise ValueError(f"{what} must be a number, got {type(amount).__name__}")  # noqa: TRY004
    if isinstance(amount, float) and not math.isfinite(amount):
        raise ValueError(f"{what} must be finite, got {amount}")
    exact = Decimal(amount) if isinstance(amount, int) else Decimal(repr(amount))
    return int((exact * MICROS).to_integral_value(ROUND_HALF_EVEN))


def dollars(micros: int) -> float:
    return micros / MICROS


def share(micros: int, fraction: float) -> int:
    """``micros × fraction`` rounded half-even, with the fraction read from its decimal text:
    a 2 % budget of $100,000 is exactly $2,000."""
    return int((Decimal(micros) * Decimal(repr(float(fraction)))).to_integral_value(ROUND_HALF_EVEN))


def pro_rata_ceil(micros: int, part: int, whole: int) -> int:
    """``micros × part / whole`` rounded up: the open risk of a partly closed decision is never
    understated (fail closed), and a fully open one is exactly its risk."""
    return -(-micros * part // whole)  # integer ceiling division: exact


def at_least_fraction(used: int, total: int, fraction: float) -> bool:
    """``used / total >= fraction``, exactly (no float quotient at the threshold's edge)."""
    return Decimal(used) >= Decimal(total) * Decimal(repr(float(fraction)))
