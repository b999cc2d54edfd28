"""Series functions of the expression language, checked against Python's ``statistics``.

stdev, rolling_stdev, median and mean use the same arithmetic as ``statistics.stdev``,
``statistics.median`` and ``statistics.fmean`` (exact sums, correctly rounded square root), so the
comparisons are exact equality.
"""

from __future__ import annotations

import math
import statistics
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.expr.functions import (
    FUNCTIONS,
    MAX_SERIES,
    NUMERIC_RESULT,
    mean,
    median,
    returns,
    rolling_stdev,
    stdev,
    tail,
)
from policy_engine.expr.language import NUM, Scope, analyze
from policy_engine.expr.reference import ReferenceEvaluator

SETTINGS = settings(max_examples=150, deadline=None)

# Every finite float whose squares and sums stay finite, plus integers: what a series can hold.
finite = st.floats(min_value=-1e150, max_value=1e150, allow_nan=False, allow_infinity=False)
numbers = st.one_of(finite, st.integers(min_value=-10**12, max_value=10**12))
daily_returns = st.floats(min_value=-0.2, max_value=0.2, allow_nan=False)
prices = st.floats(min_value=0.01, max_value=1e6, allow_nan=False)


# --- agreement with statistics -------------------------------------------------------------

@SETTINGS
@given(st.lists(numbers, min_size=2, max_size=80))
def test_stdev_equals_statistics_stdev(xs: list[float]) -> None:
    assert stdev(xs) == statistics.stdev(xs)


@SETTINGS
@given(st.lists(daily_returns, min_size=2, max_size=80))
def test_stdev_of_returns_equals_statistics_stdev(xs: list[float]) -> None:
    assert stdev(xs) == statistics.stdev(xs)


@SETTINGS
@given(st.lists(numbers, min_size=0, max_size=80), st.integers(min_value=2, max_value=30))
def test_rolling_stdev_is_stdev_of_every_full_window(xs: list[float], window: int) -> None:
    expected = [statistics.stdev(xs[i:i + window]) for i in range(len(xs) - window + 1)]
    assert rolling_stdev(xs, window) == expected


@SETTINGS
@given(st.lists(numbers, min_size=1, max_size=80))
def test_median_equals_statistics_median(xs: list[float]) -> None:
    assert median(xs) == statistics.median(xs)


@SETTINGS
@given(st.lists(numbers, min_size=1, max_size=80))
def test_mean_equals_statistics_fmean(xs: list[float]) -> None:
    assert mean(xs) == statistics.fmean(xs)


@SETTINGS
@given(st.lists(prices, min_size=2, max_size=80))
def test_returns_are_simple_returns(closes: list[float]) -> None:
    result = returns(closes)
    assert len(result) == len(closes) - 1
    for r, previous, current in zip(result, closes, closes[1:]):
        assert r == current / previous - 1
        assert math.isclose(r, (current - previous) / previous, rel_tol=1e-12, abs_tol=1e-15)


@SETTINGS
@given(st.lists(st.integers(), max_size=50), st.integers(min_value=0, max_value=60))
def test_tail_is_the_last_n_items(xs: list[int], n: int) -> None:
    assert tail(xs, n) == xs[len(xs) - min(n, len(xs)):]
    assert len(tail(xs, n)) == min(n, len(xs))


# --- worked values ------------------------------------------------------------------------

def test_worked_values() -> None:
    assert stdev([1.5, 2.5, 2.5, 2.75, 3.25, 4.75]) == 1.0810874155219827  # statistics' own example
    assert stdev([0.1, 0.1, 0.1]) == 0.0  # a constant series is exactly 0, not 1e-17
    assert rolling_stdev([1, 2, 3, 4], 2) == [statistics.stdev([1, 2])] * 3
    assert rolling_stdev([1.0, 2.0], 3) == []  # no full window
    assert median([3, 1, 2]) == 2 and median([4, 1, 3, 2]) == 2.5
    assert returns([100, 110, 99]) == [110 / 100 - 1, 99 / 110 - 1]
    assert tail([1, 2, 3], 0) == [] and tail((1, 2, 3), 2) == [2, 3] and tail([1], 5) == [1]
    assert mean([1, 2, 3, 4]) == 2.5


def test_generator_arguments_are_accepted() -> None:
    assert stdev(x * 1.0 for x in [1, 2, 3]) == statistics.stdev([1.0, 2.0, 3.0])
    assert tail((x for x in range(5)), 2) == [3, 4]


# --- bad input: a clear ValueError ----------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda: stdev([1.0]),                      # too short
    lambda: stdev([]),
    lambda: median([]),
    lambda: mean([]),
    lambda: returns([100.0]),
    lambda: stdev([1.0, "2"]),                 # not numbers
    lambda: stdev([1.0, None]),
    lambda: median([True, False]),             # a bool is not a number here
    lambda: mean([1.0, float("nan")]),
    lambda: stdev([1.0, float("inf")]),
    lambda: stdev("12"),                       # not a list
    lambda: median({"a": 1}),
    lambda: tail(5, 1),
    lambda: returns([100.0, 0.0]),             # a price of 0 or less
    lambda: returns([-1.0, 2.0]),
    lambda: returns([1e-300, 1e300]),          # a return beyond float range
    lambda: rolling_stdev([1.0, 2.0, 3.0], 1),  # a window needs two values
    lambda: rolling_stdev([1.0, 2.0, 3.0], 2.0),
    lambda: rolling_stdev([1.0, 2.0, 3.0], True),
    lambda: tail([1, 2], -1),
    lambda: stdev([-1.5e308, 1.5e308]),        # result beyond float range
])
def test_bad_input_raises_value_error(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()


def test_series_are_bounded() -> None:
    too_long = [1.0] * (MAX_SERIES + 1)
    for name in ("stdev", "median", "mean", "returns"):
        with pytest.raises(ValueError, match="limit"):
            FUNCTIONS[name](too_long)
    with pytest.raises(ValueError, match="limit"):
        rolling_stdev(too_long, 20)
    with pytest.raises(ValueError, match="limit"):
        tail((x for x in too_long), 3)
    with pytest.raises(ValueError):
        tail([1.0], MAX_SERIES + 1)


# --- in the language ------------------------------------------------------------------------

def test_numeric_series_functions_are_known_numbers_to_the_checker() -> None:
    assert {"stdev", "median", "mean"} <= NUMERIC_RESULT
    analysis = analyze("stdev(returns([1.0, 2.0, 3.0])) / median(tail([1, 2, 3], 2)) + mean([1])",
                       Scope(inputs={}, params={}, value_kinds={}))
    assert analysis.issues == () and analysis.kind == NUM


def test_reference_evaluator_reads_the_series_functions() -> None:
    text = "median(rolling_stdev(returns(tail(closes, 6)), 3))"
    tree = analyze(text, Scope(inputs={"closes": {"type": "array"}}, params={}, value_kinds={})).tree
    closes = [100.0, 50.0, 101.0, 102.5, 99.0, 103.0, 101.5]
    rets = [b / a - 1 for a, b in pairwise(closes[1:])]
    expected = statistics.median([statistics.stdev(rets[i:i + 3]) for i in range(len(rets) - 2)])
    assert ReferenceEvaluator({"closes": closes}).evaluate(tree) == expected
