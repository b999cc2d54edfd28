"""A compiled machine: the plan plus its observation checker, ready to step any number of instances.

``step`` is pure: it reads a ``MachineState`` and returns a new one inside a ``StepResult``. It
refuses (``ObservationError``) an observation that fails its schema or its guards, or whose time
is before the state's last step, unless the policy declares a fail-safe transition for it; it
refuses (``StateError``) a state that does not belong to this machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from policy_engine.compiler.plan import PolicyIdentity
from policy_engine.decision import iso_from_us
from policy_engine.engine.run import now_to_us
from policy_engine.inputs import InputChecker
from policy_engine.machine.errors import ObservationError, StateError
from policy_engine.machine.plan import MachinePlan

if TYPE_CHECKING:
    from policy_engine.machine.state import MachineState, StepResult

# The state models (pydantic) and the step are imported on first use, not at load: loading and
# compiling a machine policy needs neither, and pydantic alone costs more than the whole compile.


class CompiledMachine(PolicyIdentity):
    """Build it with ``policy_engine.load`` (kind MachinePolicy). Immutable: share it freely."""

    def __init__(self, plan: MachinePlan, checker: InputChecker):
        self.plan = plan
        self.checker = checker

    def initial_state(self, now: Any) -> MachineState:
        """A new machine in the initial state, with every counter and memory slot at its initial value."""
        from policy_engine.machine.state import MachineState

        at = self._time(now, "now")
        return MachineState(policy_id=self.id, mode=self.plan.initial, mode_since=at, mode_reason="initial state",
                            entry_trigger="initial", counters={c.name: c.initial for c in self.plan.counters},
                            memory={m.name: m.initial for m in self.plan.memory}, updated_at=at)

    def load_state(self, data: Mapping[str, Any] | MachineState) -> MachineState:
        """A stored state, checked against this machine; StateError when it does not fit."""
        from pydantic import ValidationError

        from policy_engine.machine.state import MachineState

        try:
            state = data if isinstance(data, MachineState) else MachineState.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise StateError(f"stored state is malformed at {where}: {first['msg']}") from None
        return self.check_state(state)

    def check_state(self, state: MachineState) -> MachineState:
        if state.policy_id != self.id:
            raise StateError(f"the state belongs to policy '{state.policy_id}', not '{self.id}'")
        if state.mode not in self.plan.states:
            raise StateError(f"stored mode '{state.mode}' is not a state of {self.id} "
                             f"(states: {', '.join(self.plan.states)})")
        unknown = sorted(set(state.counters) - {c.name for c in self.plan.counters})
        if unknown:
            raise StateError(f"stored counters {unknown} are not counters of {self.id}")
        # Counters and memory slots added to the policy since the state was stored start at their initial value.
        counters = {c.name: state.counters.get(c.name, c.initial) for c in self.plan.counters}
        memory = {m.name: state.memory.get(m.name, m.initial) for m in self.plan.memory}
        return state.model_copy(update={"counters": counters, "memory": memory})

    def check_observation(self, observation: Any) -> tuple[dict[str, Any] | None, tuple[tuple[str, str], ...]]:
        normalized, issues = self.checker.check(observation)
        return normalized, tuple((i.json_path, i.message) for i in issues)  # type: ignore[return-value]

    def step(self, state: MachineState, observation: Any, now: Any = None, *, trace: bool = True) -> StepResult:
        """One step. ``now`` defaults to the observation's own ``now`` field."""
        from policy_engine.machine.step import run_step

        state = self.check_state(state)
        normalized, issues = self.check_observation(observation)
        at = self._step_time(now, normalized if not issues else None, observation)
        if at < state.updated_at:
            backwards = f"time went backwards: {iso_from_us(at)} is before the last step at {iso_from_us(state.updated_at)}"
            raise ObservationError([("$.now", backwards)])
        return run_step(self.plan, state, normalized, at, trace, issues)

    def step_time(self, observation: Any, now: Any = None) -> int:
        """When a step on this observation happens: ``now`` if given, else the observation's ``now``."""
        normalized, issues = self.check_observation(observation) if now is None else (None, ())
        return self._step_time(now, normalized if not issues else None, observation)

    def _step_time(self, now: Any, normalized: dict[str, Any] | None, raw: Any) -> int:
        if now is not None:
            return self._time(now, "now")
        if normalized is not None and isinstance(normalized.get("now"), int):
            return int(normalized["now"])
        if isinstance(raw, dict) and isinstance(raw.get("now"), str):
            parsed = now_to_us(raw["now"])  # the observation is invalid, but its clock can still place the step
            if parsed is not None:
                return parsed
        raise ObservationError([("$.now", "the step time is required (an observation `now` or now=...)")])

    @staticmethod
    def _time(value: Any, what: str) -> int:
        at = now_to_us(value)
        if at is None:
            raise ObservationError([(f"$.{what}", f"not a time: {value!r} (ISO 8601 with offset, or µs)")])
        return at
