"""Per-kind adapters: how scenarios run, and what coverage means, for each policy kind.

The runner, the comparison, the coverage tally and the reports are generic: they work on an
``Observation`` (what one case's evaluation answered, with its trace) and on ``CoverageItem``s
(what a policy's scenarios should exercise, each with a stable key). A kind plugs in with one
adapter class, named here like ``policy_engine.kinds.KIND_COMPILERS`` names compilers:

    run(policy, case)            -> Observation
    coverage_items(policy, doc)  -> the universe: CoverageItem per gate check x outcome, band, ...
    sightings(policy, case, observation) -> item key -> "hit" or what happened instead
                                    ("skipped (applies_when false)", "not reached", ...), which
                                    the tally turns into the reason an item stays uncovered.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from policy_engine.source import SourceDoc
from policy_engine.testing.scenarios import Case
from policy_engine.trace import TraceStep

HIT = "hit"

SCENARIO_ADAPTERS: dict[str, str] = {
    "DecisionPolicy": "policy_engine.testing.decision_adapter:DecisionAdapter",
    "MachinePolicy": "policy_engine.testing.machine_adapter:MachineAdapter",
    "LimitsPolicy": "policy_engine.testing.limits_adapter:LimitsAdapter",
}


class CaseSetupError(Exception):
    """The case cannot be run as written (a state or input its kind cannot use): the case is an
    error, with this message, not a failure."""


@dataclass(frozen=True)
class Observation:
    """What a case's evaluation answered, in the terms expectations use."""

    outcome: str
    reason: str | None
    rule: str | None
    message: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    fired: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    trace: tuple[TraceStep, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)  # kind-specific extras for sightings

    def field(self, name: str) -> Any:
        return {"outcome": self.outcome, "reason": self.reason, "rule": self.rule, "fired": list(self.fired),
                "events": list(self.events)}[name]


@dataclass(frozen=True)
class CoverageItem:
    """One thing scenarios should exercise. ``key`` is stable across runs and versions."""

    key: str
    group: str  # gates | bands | triggers | outputs | transitions | ...
    rule: str
    label: str
    line: int


class KindAdapter(Protocol):
    kind: str

    def run(self, policy: Any, case: Case) -> Observation: ...

    def coverage_items(self, policy: Any, doc: SourceDoc) -> tuple[list[CoverageItem], list[tuple[CoverageItem, str]]]:
        """The items to cover, and the items left out as unreachable (with why)."""
        ...

    def sightings(self, policy: Any, case: Case, observation: Observation) -> Mapping[str, str]: ...


def line_of(location: str) -> int:
    """The line of a ``file:line`` location (0 when there is none)."""
    tail = location.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def adapter_for(kind: str) -> KindAdapter | None:
    """The adapter of a kind, or None when scenarios cannot run it (yet) in this installation."""
    target = SCENARIO_ADAPTERS.get(kind)
    if target is None:
        return None
    module_name, _, name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as missing:
        if missing.name is None or not module_name.startswith(missing.name):
            raise
        return None
    adapter: KindAdapter = getattr(module, name)()
    return adapter
