"""Diagnostics: every problem with a policy or an input is data, never a traceback.

A Diagnostic carries a stable code, a location (file, line, column, JSON path), a message for
people and a hint. Stages collect diagnostics and return them; the public API raises
``PolicyError`` carrying all of them, sorted by location, and the CLI prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable


class Code(str, Enum):
    """Stable diagnostic codes. Tests assert these, never message text."""

    # source stage
    FILE_NOT_FOUND = "E001"
    FILE_NOT_UTF8 = "E002"
    FILE_EMPTY = "E003"
    YAML_SYNTAX = "E004"
    YAML_DUPLICATE_KEY = "E005"
    YAML_FORBIDDEN = "E006"  # tags, anchors/aliases, non-string keys
    # schema stage
    UNKNOWN_API_VERSION = "E101"
    UNKNOWN_FIELD = "E102"
    WRONG_TYPE = "E103"
    MISSING_FIELD = "E104"
    INVALID_VALUE = "E105"
    # ir / structural checks
    DUPLICATE_ID = "E201"
    GATE_WITHOUT_REASON = "E202"
    TABLE_UNORDERED = "E203"
    TABLE_OVERLAP = "E204"
    TABLE_NO_ELSE = "E205"
    BAD_BOUNDS = "E206"
    BAD_REFERENCE = "E207"  # a rule refers to something that does not exist
    INPUT_SCHEMA = "E208"  # the declared input schema is missing or unusable
    # static verification (warnings of `validate`; docs/workflow.md, "Static verification")
    RANGE_EXCEEDS_BOUNDS = "E209"  # a table / combiner computes values its bounds must clamp
    UNREACHABLE_ROW = "E210"  # a band, case or adjustment no admitted request reaches
    CHECK_NEVER_FAILS = "E211"  # a gate check that can never reject, or a gate that never applies
    CHECK_NEVER_PASSES = "E212"  # a gate check that rejects every request reaching it
    VERIFY_INCOMPLETE = "E213"  # static verification could not finish (the policy itself compiles)
    # expressions
    EXPR_SYNTAX = "E301"
    EXPR_UNKNOWN_NAME = "E302"
    EXPR_UNSAFE = "E303"
    EXPR_TOO_COMPLEX = "E304"
    TEMPLATE = "E305"  # message template error
    # graph
    VALUE_CYCLE = "E401"
    UNREACHABLE_STATE = "E402"
    UNKNOWN_STATE = "E403"
    DEAD_END_STATE = "E404"  # warning: a state no transition or fail-safe leaves
    # params overrides (--set)
    PARAM_OVERRIDE = "E501"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One located problem. Ordering sorts by file, line, column, then code."""

    file: str
    line: int
    col: int
    code: Code
    message: str
    json_path: str = "$"
    hint: str = ""
    severity: Severity = Severity.ERROR
    source_line: str = field(default="", compare=False)

    def format_text(self) -> str:
        """``file:line:col: error[CODE]: message`` then the source line, a caret and the hint."""
        head = f"{self.file}:{self.line}:{self.col}: {self.severity.value}[{self.code.value}]: {self.message}"
        lines = [head]
        if self.source_line:
            lines.append(f"    {self.source_line.rstrip()}")
            lines.append("    " + " " * max(self.col - 1, 0) + "^")
        if self.hint:
            lines.append(f"    hint: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code.value,
            "name": self.code.name,
            "severity": self.severity.value,
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "json_path": self.json_path,
            "message": self.message,
            "hint": self.hint,
        }


MAX_DIAGNOSTICS = 50


def sorted_capped(diagnostics: Iterable[Diagnostic], cap: int = MAX_DIAGNOSTICS) -> list[Diagnostic]:
    """Deduplicate, sort by location and cap, so output is stable and readable."""
    unique = sorted(set(diagnostics))
    return unique[:cap]


class PolicyError(Exception):
    """Raised by the public API when a policy cannot be loaded or compiled."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = sorted_capped(diagnostics)
        first = self.diagnostics[0].format_text() if self.diagnostics else "unknown policy error"
        more = len(self.diagnostics) - 1
        super().__init__(first + (f"\n(and {more} more)" if more > 0 else ""))

    @property
    def codes(self) -> list[Code]:
        return [d.code for d in self.diagnostics]
