"""The first step where two traces of the same request differ (old policy vs new policy).

Steps are matched by kind and rule id, so a reordered rule does not shift every later
comparison. Two steps differ when their status, result or detail (the table row used, the
failing check's reason) differ; reads alone may differ (a changed param) without the step
concluding anything else. Differences that are only effects (a value one side never needed,
the outputs of an approval) or that let the request through (a new gate that passed) give way
to the difference that decided: a gate failing on one side, a removed gate that failed, a table
row that changed. ``first_step_difference`` does the same for the traces of the other kinds (a
machine step, a limits call), where a rule may appear more than once.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from policy_engine.decision import APPROVED, Decision
from policy_engine.trace import CLEAR, COMPUTED, NOT_REACHED, PASSED, SKIPPED, TraceStep

_RULE_KINDS = ("gate", "trigger", "outputs")
_LETS_THROUGH = (PASSED, SKIPPED, CLEAR, COMPUTED, NOT_REACHED)


@dataclass(frozen=True)
class StepDifference:
    kind: str
    rule: str
    old: TraceStep | None  # None: the rule is new
    new: TraceStep | None  # None: the rule was removed

    @property
    def location(self) -> str:
        step = self.new or self.old
        return step.location if step is not None else ""

    def lines(self) -> list[str]:
        old, new = _reads(self.old), _reads(self.new)
        changed = {k for k in {*old, *new} if old.get(k, _ABSENT) != new.get(k, _ABSENT)
                   and _NOT_COMPUTED not in (old.get(k), new.get(k))}
        return [f"first difference: {self.kind} {self.rule} ({self.location})",
                f"  old: {_side(self.old, changed)}", f"  new: {_side(self.new, changed)}"]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rule": self.rule, "location": self.location,
                "old": self.old.to_dict() if self.old else None, "new": self.new.to_dict() if self.new else None}


_ABSENT = object()
_NOT_COMPUTED = "<not computed>"  # how a trace shows a value a side never computed


def _reads(step: TraceStep | None) -> dict[str, Any]:
    return step.to_dict()["reads"] if step is not None else {}


def _side(step: TraceStep | None, changed: set[str]) -> str:
    """Status, result (a gate's checks as T/F/-), detail, and the reads that differ between the
    two sides (all of them, up to four, when none differ)."""
    if step is None:
        return "(no such rule)"
    data = step.to_dict()
    result = data["result"]
    shown = _checks(result) if step.kind == "gate" and isinstance(result, list) else _short(result)
    text = f"{step.status} -> {shown}" + (f" ({step.detail})" if step.detail else "")
    reads = data["reads"]
    names = sorted(changed & set(reads)) or sorted(reads)[:4]
    if names:
        text += "   reads: " + ", ".join(f"{k}={_short(reads[k])}" for k in names)
    return text


def _checks(results: list[Any]) -> str:
    return "checks " + "".join("T" if r is True else "F" if r is False else "-" if r == _NOT_COMPUTED else "?"
                               for r in results)


def _short(value: Any) -> str:
    text = json.dumps(value, default=repr, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def _signature(step: TraceStep) -> str:
    data = step.to_dict()
    return json.dumps([data["status"], data["result"], data.get("detail", "")], default=repr, sort_keys=True)


def _consequence(old: TraceStep, new: TraceStep) -> bool:
    """A value computed on one side only: computed lazily for a rule that one side never ran, so
    an effect of an earlier difference, not a cause."""
    return old.kind not in _RULE_KINDS and NOT_REACHED in (old.status, new.status)


def _benign(difference: StepDifference, gates_decided: bool) -> bool:
    """A difference that cannot have changed the decision by itself: the outputs step (reached
    or not because of a gate), a rule on one side only that let the request through, or, when a
    gate made the difference, a trigger (triggers never approve or reject)."""
    if difference.kind == "outputs" or (gates_decided and difference.kind == "trigger"):
        return True
    alone = difference.new if difference.old is None else difference.old if difference.new is None else None
    return alone is not None and alone.status in _LETS_THROUGH


def first_difference(old: Decision, new: Decision) -> StepDifference | None:
    """Where the two traces of one request part: the first step, in the new trace's order (then
    rules the new version removed, in the old order), that concludes differently and could have
    changed the decision; else the first difference of any kind; None when a trace is missing
    or nothing differs."""
    if old.trace is None or new.trace is None:
        return None
    before = {(s.kind, s.rule): s for s in old.trace.steps}
    after = {(s.kind, s.rule) for s in new.trace.steps}
    found = []
    for step in new.trace.steps:
        previous = before.get((step.kind, step.rule))
        if previous is None or (not _consequence(previous, step) and _signature(previous) != _signature(step)):
            found.append(StepDifference(step.kind, step.rule, previous, step))
    found += [StepDifference(s.kind, s.rule, s, None) for s in old.trace.steps if (s.kind, s.rule) not in after]
    gates_decided = old.outcome != new.outcome or (old.outcome != APPROVED and old.rule != new.rule)
    decisive = [difference for difference in found if not _benign(difference, gates_decided)]
    return (decisive or found)[0] if found else None


def first_step_difference(old: Sequence[TraceStep], new: Sequence[TraceStep],
                          decisive: Collection[str]) -> StepDifference | None:
    """Where two traces of one record part when a rule may run more than once (a machine's chained
    moves): steps matched by kind, rule and occurrence; the first that differs in a ``decisive``
    kind (a transition, an action, a limit), else the first of any kind; None when none differs."""
    before = _occurrences(old)
    after = _occurrences(new)
    found = [StepDifference(step.kind, step.rule, before.get(key), step) for key, step in after.items()
             if key not in before or _signature(before[key]) != _signature(step)]
    found += [StepDifference(step.kind, step.rule, step, None) for key, step in before.items() if key not in after]
    decisive_found = [difference for difference in found if difference.kind in decisive]
    return (decisive_found or found)[0] if found else None


def _occurrences(steps: Sequence[TraceStep]) -> dict[tuple[str, str, int], TraceStep]:
    seen: dict[tuple[str, str], int] = {}
    keyed = {}
    for step in steps:
        count = seen.get((step.kind, step.rule), 0)
        seen[(step.kind, step.rule)] = count + 1
        keyed[(step.kind, step.rule, count)] = step
    return keyed
