"""What each rule contributes to a Decision, prepared once per policy.

A fired trigger's or a failed check's reason, rule id, events and message template do not depend
on the request; only the message's placeholder values do. ``Outcomes`` holds them; a message
without placeholders is rendered once, and the (immutable) objects that carry it are built once
and shared by every decision. Other messages are rendered when someone reads them.
"""

from __future__ import annotations

from typing import Any, Sequence

from policy_engine.compiler.plan import CheckNode, CompiledExpr, GateNode, Plan, TriggerNode
from policy_engine.decision import Event, FiredTrigger, LazyText, Text
from policy_engine.expr.template import Template

_new = tuple.__new__


class Message:
    """A rule's message: its template and the texts of its placeholder expressions."""

    __slots__ = ("constant", "names", "template")

    def __init__(self, template: Template | None, exprs: tuple[CompiledExpr, ...], fallback: str):
        self.template, self.names = template, tuple(e.text for e in exprs)
        self.constant: str | None = fallback if template is None else None if exprs else self.render(())

    def render(self, values: Any) -> str:
        """The message with the placeholder values the generated function computed."""
        assert self.template is not None
        lookup = dict(zip(self.names, values if isinstance(values, tuple) else ()))
        return self.template.render(lookup.get)

    def text(self, values: Any) -> Text:
        return self.constant if self.constant is not None else LazyText(self.render, values)


class TriggerOutcome:
    """A fired trigger: its FiredTrigger and, when it has one, its event."""

    def __init__(self, trigger: TriggerNode):
        self.message = Message(trigger.message, trigger.message_exprs, trigger.reason)
        self.head = (trigger.id, trigger.reason, trigger.priority, trigger.severity)
        self.event_head = (trigger.event, trigger.severity, trigger.id, trigger.reason) if trigger.event \
            else None
        constant = self.message.constant
        self.shared = self._build(constant) if constant is not None else None

    def _build(self, text: Text) -> tuple[FiredTrigger, Event | None]:
        event = _new(Event, (*self.event_head, text)) if self.event_head else None
        return _new(FiredTrigger, (*self.head, text)), event

    def build(self, values: Any) -> tuple[FiredTrigger, Event | None]:
        return self.shared or self._build(self.message.text(values))


class Rejection:
    """A failed check: its reason, the gate's id, its message and the events it emits."""

    def __init__(self, plan: Plan, gate: GateNode, check: CheckNode):
        self.rule, self.reason = gate.id, check.reject
        self.message = Message(check.message, check.message_exprs, check.reject)
        emits = (gate.emit, plan.on_reject)
        self.kinds = tuple((spec.event, spec.severity) for spec in emits if spec is not None)
        constant = self.message.constant
        self.shared = self._build(constant) if constant is not None else None

    def _build(self, text: Text) -> tuple[Text, tuple[Event, ...]]:
        return text, tuple([_new(Event, (kind, severity, self.rule, self.reason, text))
                            for kind, severity in self.kinds])

    def build(self, values: Any) -> tuple[Text, tuple[Event, ...]]:
        return self.shared or self._build(self.message.text(values))


class Outcomes:
    """Every trigger's and every check's outcome, in plan order."""

    def __init__(self, plan: Plan):
        self.triggers = [TriggerOutcome(trigger) for trigger in plan.triggers]
        self.rejections = [[Rejection(plan, gate, check) for check in gate.checks] for gate in plan.gates]
        # trigger flags -> indices of the fired ones
        self._fired_at: dict[tuple[Any, ...], tuple[int, ...]] = {}

    def fired_at(self, flags: tuple[Any, ...]) -> tuple[int, ...]:
        found = self._fired_at.get(flags)
        if found is None:  # at most 2**triggers patterns; a race only computes one twice
            found = self._fired_at[flags] = tuple(index for index, hit in enumerate(flags) if hit is True)
        return found

    def fired(self, flags: tuple[Any, ...],
              values: Sequence[Any]) -> tuple[tuple[FiredTrigger, ...], tuple[Event, ...]]:
        """The fired triggers, in priority order, and their events."""
        if True not in flags:
            return (), ()
        triggers, fired, events = self.triggers, [], []
        for index in self.fired_at(flags):
            trigger, event = triggers[index].build(values[index])
            fired.append(trigger)
            if event is not None:
                events.append(event)
        return tuple(fired), tuple(events)
