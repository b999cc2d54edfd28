"""What can stop a limits call: bad input rows, a limit that fails the call, a rule that raised.

Each is raised before any result exists, so a caller never sees half-applied limits. Input
problems are data, like Diagnostics: a stable code, the table, the row and the column.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Input problem codes (stable: tests assert them, never message text).
INPUT_INVALID = "INPUT_INVALID"  # the row breaks the input schema (type, NaN, <= 0, side, missing)
INPUT_DUPLICATE_ORDER_ID = "INPUT_DUPLICATE_ORDER_ID"
INPUT_DUPLICATE_POSITION = "INPUT_DUPLICATE_POSITION"
INPUT_DUPLICATE_SECURITY = "INPUT_DUPLICATE_SECURITY"
INPUT_NO_PRICE = "INPUT_NO_PRICE"
INPUT_AMBIGUOUS_PRICE = "INPUT_AMBIGUOUS_PRICE"  # two different closes at a symbol's latest timestamp
INPUT_NOT_IN_SECURITY_MASTER = "INPUT_NOT_IN_SECURITY_MASTER"
INPUT_NOT_A_TABLE = "INPUT_NOT_A_TABLE"

TABLE_ORDER = ("equity", "current_equity", "peak_equity", "orders", "positions", "prices", "security_master")
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class InputProblem:
    """One bad input row: ``table`` and ``row`` (0-based position; None for a scalar input)."""

    table: str
    row: int | None
    column: str
    code: str
    message: str
    label: str = ""  # what identifies the row for people, e.g. "AAPL, order_id o-4"

    @property
    def json_path(self) -> str:
        path = f"$.{self.table}" + (f"[{self.row}]" if self.row is not None else "")
        return path + (f".{self.column}" if self.column and self.column != self.table else "")

    @property
    def where(self) -> str:
        if self.row is None:
            return self.table
        return f"{self.table} row {self.row}" + (f" ({self.label})" if self.label else "")

    def format_text(self) -> str:
        column = f"{self.column}: " if self.column and self.column != self.table else ""
        return f"{self.where}: {column}{self.message} [{self.code}]"

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "row": self.row, "column": self.column, "code": self.code,
                "message": self.message, "label": self.label, "json_path": self.json_path}


def sort_problems(problems: Iterable[InputProblem]) -> list[InputProblem]:
    def key(problem: InputProblem) -> tuple[int, int, str, str]:
        rank = TABLE_ORDER.index(problem.table) if problem.table in TABLE_ORDER else len(TABLE_ORDER)
        return rank, -1 if problem.row is None else problem.row, problem.column, problem.code

    return sorted(set(problems), key=key)[:MAX_PROBLEMS]


class LimitsError(Exception):
    """Base of everything a limits call raises instead of returning a result."""


class LimitsInputError(LimitsError):
    """The inputs are invalid; ``problems`` name every bad row (sorted, capped at 50)."""

    def __init__(self, problems: Iterable[InputProblem]):
        self.problems = tuple(sort_problems(problems))
        first = self.problems[0].format_text() if self.problems else "invalid input"
        more = len(self.problems) - 1
        super().__init__(first + (f" (and {more} more)" if more > 0 else ""))

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.problems]


class LimitsRuleFailure(LimitsError):
    """A limit whose action is ``fail`` was breached: the whole call fails with its reason."""

    def __init__(self, rule: str, reason: str, keys: Iterable[str], trace: Any = None):
        self.rule, self.reason, self.keys = rule, reason, tuple(keys)
        self.trace = trace
        shown = ", ".join(self.keys[:10]) + (" ..." if len(self.keys) > 10 else "")
        super().__init__(f"{rule}: {reason}" + (f" ({shown})" if shown else ""))


class LimitsEvaluationError(LimitsError):
    """An expression of a limit raised or returned the wrong kind of value: fail closed."""

    def __init__(self, rule: str, location: str, expression: str, key: str | None, problem: str, trace: Any = None):
        self.rule, self.location, self.expression, self.key = rule, location, expression, key
        self.trace = trace
        where = f" for {key}" if key is not None else ""
        super().__init__(f"{location}: {rule}{where}: {problem} in `{expression}`")
