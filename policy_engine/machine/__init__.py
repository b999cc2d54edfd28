"""The MachinePolicy kind: a state machine stepped over observations (docs/machines.md).

    machine = policy_engine.load("policies/risk/risk_modes.yaml")
    state = machine.initial_state("2025-03-03T14:00:00Z")
    result = machine.step(state, observation)          # now: the observation's `now`
    result.new_state.mode, result.transitions, result.events, result.trace

Package layout, one stage per module: ``spec`` (typed IR of the machine section), ``checks``
(states, reachability, names), ``compile`` (expressions, durations -> ``plan``), ``step`` with
``transitions`` and ``work`` (the pure step), ``state`` (MachineState, ModeTransition, events,
StepResult), ``compiled`` (CompiledMachine).
"""

from __future__ import annotations

from typing import Any

from policy_engine.machine.compile import compile_machine
from policy_engine.machine.compiled import CompiledMachine
from policy_engine.machine.errors import MachineError, ObservationError, StateError, StepError
from policy_engine.source import SourceDoc

_STATE_MODELS = ("ActionRecord", "MachineEvent", "MachineState", "ModeTransition", "StepResult")

__all__ = [
    "ActionRecord", "CompiledMachine", "MachineError", "MachineEvent", "MachineState", "ModeTransition",
    "ObservationError", "StateError", "StepError", "StepResult", "compile_machine_policy",
]


def __getattr__(name: str) -> Any:
    """The state models (pydantic) load on first use: compiling a machine policy does not need them."""
    if name in _STATE_MODELS:
        from policy_engine.machine import state

        return getattr(state, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def compile_machine_policy(doc: SourceDoc, overrides: dict[str, Any]) -> CompiledMachine:
    """The MachinePolicy kind's compiler (see policy_engine.kinds)."""
    plan, checker = compile_machine(doc, overrides)
    return CompiledMachine(plan, checker)
