"""Scenarios and coverage for the LimitsPolicy kind: one call on a list of proposed orders.

A case's ``input`` holds the call: ``orders``, ``current_positions`` (or ``positions``),
``prices``, ``equity`` and, optionally, ``current_equity``, ``peak_equity``,
``security_master`` (tables as lists of rows, docs/limits.md).

What the call answered, in expectation terms: ``outcome`` is ``applied`` (the limits ran),
``failed`` (a ``fail`` limit raised), ``invalid_input`` (bad rows) or ``engine_error``; ``rule``
and ``reason`` the first limit that changed orders (or the failing one); ``fired`` every limit
that reduced or blocked orders, in order, and ``events`` their reasons; ``values`` the JSON
result: ``filtered_orders``, ``reduced_orders``, ``summary``.

Coverage items: every limit seen within its cap and seen breached (reduced, blocked, failed, or
passed with a reason), and a limit with ``skip_if`` seen skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy_engine.limits import CompiledLimits, LimitsEvaluationError, LimitsInputError, LimitsRuleFailure
from policy_engine.source import SourceDoc
from policy_engine.testing.adapters import HIT, CaseSetupError, CoverageItem, Observation
from policy_engine.testing.scenarios import Case
from policy_engine.trace import Trace, TraceStep

_ARGUMENTS = ("orders", "current_positions", "prices", "equity", "current_equity", "peak_equity", "security_master")
_ACTED = ("reduced", "blocked", "failed")


class LimitsAdapter:
    kind = "LimitsPolicy"

    def run(self, policy: CompiledLimits, case: Case) -> Observation:
        call = _arguments(case.input)
        try:
            result = policy.apply(**call)
        except LimitsInputError as bad:
            first = bad.problems[0] if bad.problems else None
            return Observation("invalid_input", first.code if first else "invalid_input", None, str(bad))
        except LimitsRuleFailure as failure:
            steps = _steps(failure.trace)
            return Observation("failed", failure.reason, failure.rule, str(failure), {}, (failure.rule,),
                               (failure.reason,), steps)
        except LimitsEvaluationError as error:
            return Observation("engine_error", "engine_error", error.rule, str(error), {}, (), (), _steps(error.trace))
        acted = [check for check in result.summary["checks"] if check["status"] in _ACTED]
        first = acted[0] if acted else None
        return Observation("applied", first["reason"] if first else None, first["rule"] if first else None, "",
                           result.to_dict(), tuple(c["rule"] for c in acted), tuple(c["reason"] for c in acted),
                           result.trace.steps)

    def coverage_items(self, policy: CompiledLimits, doc: SourceDoc) -> tuple[list[CoverageItem],
                                                                              list[tuple[CoverageItem, str]]]:
        return _items(policy), []

    def sightings(self, policy: CompiledLimits, case: Case, observation: Observation) -> Mapping[str, str]:
        steps = {step.rule: step for step in observation.trace}
        seen: dict[str, str] = {}
        for item in _items(policy):
            _, rule, what = item.key.split(":")
            step = steps.get(rule)
            if step is None:
                seen[item.key] = ("input refused" if observation.outcome == "invalid_input"
                                  else f"not reached (the call stopped at {observation.rule})")
                continue
            seen[item.key] = HIT if _state(step) == what else _state(step).replace("within", "within the limit")
        return seen


def _items(policy: CompiledLimits) -> list[CoverageItem]:
    items = []
    for node in policy.plan.limits:
        items += [CoverageItem(f"limit:{node.id}:within", "limits", node.id, f"{node.id} within the limit", node.line),
                  CoverageItem(f"limit:{node.id}:breached", "limits", node.id, f"{node.id} breached ({node.action})",
                               node.line)]
        if node.skip_when is not None:
            items.append(CoverageItem(f"limit:{node.id}:skipped", "limits", node.id,
                                      f"{node.id} skipped ({node.skip_reason})", node.line))
    return items


def _state(step: TraceStep) -> str:
    if step.status in _ACTED or (step.status == "passed" and step.message):
        return "breached"
    if step.status == "passed":
        return "within"
    return {"off": "off (enabled_if false)"}.get(step.status, step.status)


def _steps(trace: Any) -> tuple[TraceStep, ...]:
    return trace.steps if isinstance(trace, Trace) else tuple(trace or ())


def _arguments(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise CaseSetupError("a LimitsPolicy case's input is a mapping of the call's arguments")
    call = dict(data)
    if "positions" in call:
        call["current_positions"] = call.pop("positions")
    unknown = sorted(set(call) - set(_ARGUMENTS))
    missing = [name for name in ("orders", "prices", "equity") if name not in call]
    if unknown or missing:
        raise CaseSetupError(f"input: unknown {', '.join(unknown) or '-'}; missing {', '.join(missing) or '-'} "
                             f"(the call takes {', '.join(_ARGUMENTS)})")
    call.setdefault("current_positions", [])
    return call
