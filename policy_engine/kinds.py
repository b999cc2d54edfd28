"""The policy kinds this engine compiles, and where each one's compiler lives.

A kind's compiler takes the loaded source document and the param overrides and returns the
compiled policy object for that kind (or raises PolicyError). Adding a kind is one entry here,
its section in ``schemas/policy.schema.json`` and its package.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from policy_engine.compiler.compile import check_policy_shape
from policy_engine.errors import Code, Diagnostic, PolicyError
from policy_engine.source import SourceDoc

Compiler = Callable[[SourceDoc, dict[str, Any]], Any]

KIND_COMPILERS: dict[str, str] = {
    "DecisionPolicy": "policy_engine.engine.run:compile_decision_policy",
    "MachinePolicy": "policy_engine.machine:compile_machine_policy",
    "LimitsPolicy": "policy_engine.limits:compile_limits_policy",
}


def compile_any(doc: SourceDoc, overrides: dict[str, Any]) -> Any:
    """Shape-check the document, then hand it to its kind's compiler."""
    check_policy_shape(doc)
    kind = doc.data["kind"]
    module_name, _, function = KIND_COMPILERS[kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as missing:
        if missing.name != module_name:
            raise
        line, col = doc.source_map.locate_value(("kind",))
        raise PolicyError([Diagnostic(doc.path, line, col, Code.INVALID_VALUE,
                                      f"kind {kind} is not available in this installation", "$.kind",
                                      source_line=doc.source_map.line_text(line))]) from None
    compiler: Compiler = getattr(module, function)
    return compiler(doc, overrides)
