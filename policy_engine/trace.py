"""Traces: what every step read, computed and concluded, in evaluation order.

A trace is built after the decision from what the evaluation left behind (for a
DecisionPolicy, the compiled function's locals: ``engine/tracing.py``), so an untraced decision
records nothing at all and a traced one is the same decision by construction. Every step names
its rule, kind, ``file:line``, expression, the values it read, its result, its status and, for a
failed gate, the rendered message.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

from policy_engine.decision import bounded_int
from policy_engine.engine.codegen import MISSING

COMPUTED, NOT_REACHED, PASSED, FAILED, SKIPPED, FIRED, CLEAR, ERROR = (
    "computed", "not reached", "passed", "failed", "skipped", "fired", "clear", "error")


class TraceStep(NamedTuple):
    """One step of a trace. Immutable; a tuple underneath (a traced decision builds one per step)."""

    rule: str
    kind: str
    location: str
    expression: str
    reads: tuple[tuple[str, Any], ...]
    result: Any
    status: str
    message: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule, "kind": self.kind, "location": self.location, "expression": self.expression,
            "reads": {name: _plain(value) for name, value in self.reads}, "result": _plain(self.result),
            "status": self.status,
        }
        if self.message:
            data["message"] = self.message
        if self.detail:
            data["detail"] = self.detail
        return data

    def format_text(self) -> str:
        reads = ", ".join(f"{name}={short_repr(value)}" for name, value in self.reads)
        line = f"{self.status:>11}  {self.kind:<8} {self.rule:<30} {self.location}"
        parts = [line, f"{'':13}{self.expression}"]
        if reads:
            parts.append(f"{'':13}reads: {reads}")
        if self.status not in (NOT_REACHED, SKIPPED):
            parts.append(f"{'':13}-> {short_repr(self.result)}" + (f"  ({self.detail})" if self.detail else ""))
        if self.message:
            parts.append(f"{'':13}message: {self.message}")
        return "\n".join(parts)


class Trace:
    """The steps of one evaluation, in evaluation order. Immutable.

    ``Trace.deferred(build)``: a trace whose every part was captured at decision time, turned
    into TraceStep objects on first read (a traced decision nobody reads does not pay for them).
    ``build`` must be pure over what it captured, so the steps are the same whenever they are made."""

    __slots__ = ("_build", "_steps")

    def __init__(self, steps: tuple[TraceStep, ...]):
        self._steps = steps
        self._build: Callable[[], tuple[TraceStep, ...]] | None = None

    @classmethod
    def deferred(cls, build: Callable[[], tuple[TraceStep, ...]]) -> "Trace":
        trace = cls(())
        trace._build = build
        return trace

    @property
    def steps(self) -> tuple[TraceStep, ...]:
        build = self._build
        if build is not None:  # two threads may both build: the same steps either way
            self._steps, self._build = build(), None
        return self._steps

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trace) and self.steps == other.steps

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Trace(steps={self.steps!r})"

    def to_list(self) -> list[dict[str, Any]]:
        return [step.to_dict() for step in self.steps]

    def format_text(self) -> str:
        return "\n".join(step.format_text() for step in self.steps)

    def step(self, rule: str) -> TraceStep:
        return next(s for s in self.steps if s.rule == rule)


def _plain(value: Any) -> Any:
    if value is MISSING:
        return "<not computed>"
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    if isinstance(value, int) and not isinstance(value, bool):
        return bounded_int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # JSON has no NaN or infinity: shown as in Decision.values
    return value


def short_repr(value: Any) -> str:
    """A value as one short line of a text trace."""
    text = repr(_plain(value))
    return text if len(text) <= 80 else text[:77] + "..."
