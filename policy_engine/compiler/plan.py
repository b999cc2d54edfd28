"""The Plan: what the compiler hands to the engine. Frozen, shared by every evaluation.

A Plan is the policy with every expression parsed, checked and resolved, and every rule and
value placed in one deterministic order (a topological order of the dependency graph that keeps
the file's declared order wherever dependencies allow).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from policy_engine.expr.template import Template
from policy_engine.ir import Band, EventSpec, Path


@dataclass(frozen=True)
class CompiledExpr:
    text: str
    path: Path
    line: int
    tree: ast.Expression = field(compare=False, repr=False)
    node_kinds: dict[int, str] = field(compare=False, repr=False)
    value_refs: frozenset[str]
    input_paths: tuple[tuple[str, ...], ...]
    param_refs: frozenset[str]
    always_values: frozenset[str]  # values read on every path (computed before the expression)
    sometimes_values: frozenset[str]  # values read only on some paths (computed lazily)

    @property
    def reads(self) -> tuple[str, ...]:
        """Every name the expression reads, for traces: values, input paths, params."""
        names = {*self.value_refs, *(".".join(p) for p in self.input_paths), *(f"params.{p}" for p in self.param_refs)}
        return tuple(sorted(names))


@dataclass(frozen=True)
class ValueNode:
    """A named value: a plain expression, a step table or a combiner."""

    name: str
    kind: Literal["value", "table", "combiner"]
    path: Path
    line: int
    exprs: tuple[CompiledExpr, ...]  # value: (expr,); table: (of, *adjust whens, *bound exprs); combiner: (*of, *bounds)
    bands: tuple[Band, ...] = ()
    cases: tuple[tuple[str, float], ...] = ()
    else_value: float | None = None
    adjust: tuple[tuple[float | None, float | None], ...] = ()  # (times, set) per adjust expr
    bounds: tuple[float | CompiledExpr, float | CompiledExpr] | None = None
    op: str = ""
    description: str = ""

    @property
    def value_refs(self) -> frozenset[str]:
        return frozenset().union(*(e.value_refs for e in self.exprs))

    @property
    def text(self) -> str:
        if self.kind == "value":
            return self.exprs[0].text
        if self.kind == "combiner":
            return f"{self.op}({', '.join(e.text for e in self.exprs[:len(self.exprs) - self._bound_exprs])})"
        return f"table({self.exprs[0].text})"

    @property
    def _bound_exprs(self) -> int:
        return sum(isinstance(b, CompiledExpr) for b in self.bounds or ())


@dataclass(frozen=True)
class CheckNode:
    pass_if: CompiledExpr
    reject: str
    message: Template | None
    message_exprs: tuple[CompiledExpr, ...] = ()  # one per placeholder, evaluated only on rejection


@dataclass(frozen=True)
class GateNode:
    id: str
    path: Path
    line: int
    applies_when: CompiledExpr | None
    checks: tuple[CheckNode, ...]
    emit: EventSpec | None
    description: str = ""


@dataclass(frozen=True)
class TriggerNode:
    id: str
    path: Path
    line: int
    when: CompiledExpr
    reason: str
    priority: int
    severity: str
    message: Template | None
    event: str | None
    description: str = ""
    message_exprs: tuple[CompiledExpr, ...] = ()  # one per placeholder, evaluated only when fired


@dataclass(frozen=True)
class OutputsNode:
    names: tuple[str, ...]
    line: int
    id: str = "outputs"


Rule = Union[GateNode, TriggerNode, OutputsNode]
Step = Union[ValueNode, GateNode, TriggerNode, OutputsNode]


@dataclass(frozen=True)
class PolicyInfo:
    id: str
    version: str
    kind: str
    file: str
    content_hash: str  # sha256 of the policy text and of its input schema, with param overrides
    owners: tuple[str, ...]
    description: str
    spec: str


class PolicyIdentity:
    """Who a compiled policy of any kind is: read off its plan's PolicyInfo."""

    plan: Any  # a plan with an ``info: PolicyInfo``

    @property
    def id(self) -> str:
        return str(self.plan.info.id)

    @property
    def version(self) -> str:
        return str(self.plan.info.version)

    @property
    def content_hash(self) -> str:
        return str(self.plan.info.content_hash)


@dataclass(frozen=True)
class Plan:
    info: PolicyInfo
    params: dict[str, Any]
    input_roots: tuple[str, ...]
    values: dict[str, ValueNode]
    gates: tuple[GateNode, ...]
    triggers: tuple[TriggerNode, ...]  # in priority order
    outputs: OutputsNode | None
    order: tuple[Step, ...]  # every node, in the deterministic evaluation order
    on_reject: EventSpec | None = None

    @property
    def rules(self) -> tuple[Rule, ...]:
        return (*self.gates, *self.triggers, *((self.outputs,) if self.outputs else ()))
