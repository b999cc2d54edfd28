"""policy-engine: versioned YAML risk policies, compiled once, evaluated fast, explained always.

Public API::

    policy = policy_engine.load("policies/risk/position_sizing.yaml")
    decision = policy.evaluate(request, now="2025-04-02T06:10:54.151Z", trace=True)
    decision.outcome, decision.reason, decision.rule, decision.trace

``load`` raises ``PolicyError`` (with located ``Diagnostic``s) for any problem in the policy;
``evaluate`` never raises for bad inputs: it rejects with a reason code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from policy_engine.decision import Decision, Event, FiredTrigger, Provenance
from policy_engine.engine.run import CompiledPolicy
from policy_engine.errors import Code, Diagnostic, PolicyError
from policy_engine.kinds import compile_any
from policy_engine.source import load_source, parse_source
from policy_engine.trace import Trace, TraceStep

__all__ = [
    "Code", "CompiledPolicy", "Decision", "Diagnostic", "Engine", "Event", "FiredTrigger", "PolicyError",
    "Provenance", "ReloadResult", "Trace", "TraceStep", "load", "loads", "validate",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Hot reload (threads, logging) is imported on first use, not by every ``import policy_engine``."""
    if name in ("Engine", "ReloadResult"):
        from policy_engine import reload

        return getattr(reload, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load(path: str | Path, params: Mapping[str, Any] | None = None) -> Any:
    """Read, check and compile a policy file. ``params`` overrides param values (what-if runs).

    Returns the compiled policy of the file's kind: a ``CompiledPolicy`` for a DecisionPolicy.
    """
    return compile_any(load_source(path), dict(params or {}))


def loads(text: str, path: str = "<string>", params: Mapping[str, Any] | None = None) -> Any:
    """Compile policy text; ``path`` locates diagnostics and resolves the input schema path."""
    return compile_any(parse_source(text, path), dict(params or {}))


def validate(path: str | Path) -> list[Diagnostic]:
    """Every diagnostic for one policy file; an empty list means it compiles."""
    try:
        load(path)
    except PolicyError as err:
        return err.diagnostics
    return []
