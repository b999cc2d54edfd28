"""Traces as readable, stable YAML: what a snapshot of a decision holds.

Kept: the answer (outcome, reason, rule, message, values, fired triggers, events), the policy's
id and version, and every trace step (rule, kind, expression, reads, result, status, message,
detail) in evaluation order. Left out, because they change without the decision changing:
timings, content and input hashes, and step locations (``file:line`` moves whenever a line is
added above, and the file path depends on where the tests run). ``locations=True`` keeps them.
"""

from __future__ import annotations

from typing import Any

import yaml

from policy_engine.decision import Decision
from policy_engine.trace import Trace, TraceStep


def trace_document(subject: Any, *, locations: bool = False) -> dict[str, Any]:
    """Plain data for a Decision, a Trace, a sequence of TraceSteps, or a result with ``trace``
    and ``to_dict()`` (a machine StepResult, a LimitsResult)."""
    if isinstance(subject, Decision):
        data = subject.to_dict()
        data.pop("trace", None)
        provenance = data.pop("provenance")
        data["policy"] = {"id": provenance["policy_id"], "version": provenance["policy_version"]}
        steps = subject.trace.steps if subject.trace is not None else ()
    elif isinstance(subject, Trace):
        data, steps = {}, subject.steps
    elif isinstance(subject, (list, tuple)) and all(isinstance(s, TraceStep) for s in subject):
        data, steps = {}, tuple(subject)
    elif hasattr(subject, "trace") and hasattr(subject, "to_dict"):
        data = dict(subject.to_dict())
        data.pop("trace", None)
        trace = subject.trace
        steps = trace.steps if isinstance(trace, Trace) else tuple(trace or ())
    else:
        raise TypeError(f"cannot snapshot a {type(subject).__name__}: give a Decision, a Trace or TraceSteps")
    data["trace"] = [_step(step, locations) for step in steps]
    plain: dict[str, Any] = _plain(data)
    return plain


def _step(step: TraceStep, locations: bool) -> dict[str, Any]:
    data = step.to_dict()
    if not locations:
        data.pop("location", None)
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


class _Dumper(yaml.SafeDumper):
    """Block style; long text as literal blocks so expressions read like the policy."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def trace_to_yaml(subject: Any, *, locations: bool = False) -> str:
    """The YAML text of ``trace_document``: same input, same bytes."""
    return yaml.dump(trace_document(subject, locations=locations), Dumper=_Dumper, sort_keys=False,
                     allow_unicode=True, width=100, default_flow_style=False)

