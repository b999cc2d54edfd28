"""Why a step could not be taken: every refusal names what was wrong, nothing is stepped silently."""

from __future__ import annotations

from collections.abc import Iterable


class MachineError(Exception):
    """Base of the machine's run-time errors (compile-time problems are PolicyErrors)."""


class ObservationError(MachineError):
    """The observation is invalid (schema, guard, clock) and no fail-safe transition applies."""

    def __init__(self, issues: Iterable[tuple[str, str]]):
        self.issues = tuple(issues)
        shown = "; ".join(f"{path}: {message}" for path, message in self.issues[:3])
        more = len(self.issues) - 3
        super().__init__(f"invalid observation: {shown}" + (f" (and {more} more)" if more > 0 else ""))


class StateError(MachineError):
    """A stored state does not fit this machine (unknown state, another policy, bad data)."""


class StepError(MachineError):
    """An expression failed while stepping and no fail-safe transition applies."""

    def __init__(self, rule: str, location: str, message: str):
        self.rule, self.location = rule, location
        super().__init__(f"{location}: {rule}: {message}")
