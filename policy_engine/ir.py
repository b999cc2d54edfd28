"""Typed IR of a policy: the shape-checked YAML data as frozen dataclasses.

``build_ir`` runs after the schema stage, so it can trust the shape; it only normalizes (gate
shorthand -> checks, step rows -> typed bands, integers where a number is a float) and records,
for every node, the JSON path it came from so later stages can report at ``file:line:col``.
Plain frozen dataclasses, not pydantic models: the schema already vouched for every value, and
importing pydantic would double the cold load of a small policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Path = tuple[str | int, ...]
Severity = Literal["INFO", "WARNING", "CRITICAL"]
BandKind = Literal["at_least", "above", "below", "at_most"]
_BAND_KINDS: tuple[BandKind, ...] = ("at_least", "above", "below", "at_most")


# kw_only: fields with defaults may come before required ones, as in the models before.
@dataclass(frozen=True, kw_only=True)
class _Node:
    path: Path


@dataclass(frozen=True, kw_only=True)
class Expr(_Node):
    text: str


@dataclass(frozen=True, kw_only=True)
class EventSpec(_Node):
    event: str
    severity: Severity = "INFO"


@dataclass(frozen=True, kw_only=True)
class Band(_Node):
    kind: BandKind
    threshold: float
    value: float


@dataclass(frozen=True, kw_only=True)
class Adjustment(_Node):
    when: Expr
    times: float | None = None
    set: float | None = None
    note: str = ""


Bound = float | Expr


@dataclass(frozen=True, kw_only=True)
class TableSpec(_Node):
    id: str
    description: str = ""
    of: Expr
    bands: tuple[Band, ...] = ()
    cases: tuple[tuple[str, float], ...] = ()
    else_value: float | None = None
    adjust: tuple[Adjustment, ...] = ()
    bounds: tuple[Bound, Bound] | None = None


@dataclass(frozen=True, kw_only=True)
class CombinerSpec(_Node):
    id: str
    description: str = ""
    op: Literal["product", "min", "max", "sum"]
    of: tuple[Expr, ...]
    clamp: tuple[Bound, Bound] | None = None


@dataclass(frozen=True, kw_only=True)
class CheckSpec(_Node):
    pass_if: Expr
    reject: str | None
    message: str | None = None


@dataclass(frozen=True, kw_only=True)
class GateSpec(_Node):
    id: str
    description: str = ""
    applies_when: Expr | None = None
    checks: tuple[CheckSpec, ...]
    emit: EventSpec | None = None


@dataclass(frozen=True, kw_only=True)
class TriggerSpec(_Node):
    id: str
    description: str = ""
    when: Expr
    reason: str
    priority: int = 100
    severity: Severity = "INFO"
    message: str | None = None
    event: str | None = None


@dataclass(frozen=True, kw_only=True)
class ValueSpec(_Node):
    name: str
    expr: Expr


@dataclass(frozen=True, kw_only=True)
class Metadata:
    id: str
    version: str
    owners: tuple[str, ...]
    description: str = ""
    spec: str = ""


@dataclass(frozen=True, kw_only=True)
class PolicySpec:
    api_version: str
    kind: Literal["DecisionPolicy", "MachinePolicy", "LimitsPolicy"]
    metadata: Metadata
    input_schema: str
    params: dict[str, Any]
    values: tuple[ValueSpec, ...] = ()
    tables: tuple[TableSpec, ...] = ()
    combiners: tuple[CombinerSpec, ...] = ()
    gates: tuple[GateSpec, ...] = ()
    triggers: tuple[TriggerSpec, ...] = ()
    outputs: tuple[str, ...] = ()
    on_reject: EventSpec | None = None
    machine: dict[str, Any] | None = None
    limits: tuple[dict[str, Any], ...] = ()


def build_ir(data: dict[str, Any]) -> PolicySpec:
    """Shape-checked policy data -> PolicySpec (paths recorded for every node)."""
    return PolicySpec(
        api_version=data["apiVersion"],
        kind=data["kind"],
        metadata=_metadata(data["metadata"]),
        input_schema=data["inputs"]["schema"],
        params=dict(data.get("params") or {}),
        values=tuple(ValueSpec(path=("values", name), name=name, expr=expr_at(text, ("values", name)))
                     for name, text in (data.get("values") or {}).items()),
        tables=tuple(_table(t, ("tables", i)) for i, t in enumerate(data.get("tables") or [])),
        combiners=tuple(_combiner(c, ("combiners", i)) for i, c in enumerate(data.get("combiners") or [])),
        gates=tuple(_gate(g, ("gates", i)) for i, g in enumerate(data.get("gates") or [])),
        triggers=tuple(_trigger(t, ("triggers", i)) for i, t in enumerate(data.get("triggers") or [])),
        outputs=tuple(data.get("outputs") or ()),
        on_reject=event_spec(data.get("on_reject"), ("on_reject",)),
        machine=data.get("machine"),
        limits=tuple(data.get("limits") or ()),
    )


def _metadata(data: dict[str, Any]) -> Metadata:
    return Metadata(id=data["id"], version=data["version"], owners=tuple(data["owners"]),
                    description=data.get("description", ""), spec=data.get("spec", ""))


def _float(value: Any) -> float | None:
    """A YAML number as the float field holds it (1 -> 1.0); None stays None."""
    return None if value is None else float(value)


# Builders shared by every kind's IR (machine/spec.py uses them too).
def expr_at(text: str, path: Path) -> Expr:
    return Expr(path=path, text=text)


def optional_expr(data: dict[str, Any], key: str, path: Path) -> Expr | None:
    return expr_at(data[key], (*path, key)) if key in data else None


def event_spec(data: dict[str, Any] | None, path: Path) -> EventSpec | None:
    if data is None:
        return None
    return EventSpec(path=path, event=data["event"], severity=data.get("severity", "INFO"))


def _bounds(data: list[Any] | None, path: Path) -> tuple[Bound, Bound] | None:
    if data is None:
        return None
    low, high = (expr_at(b, (*path, i)) if isinstance(b, str) else float(b) for i, b in enumerate(data))
    return (low, high)


def _table(data: dict[str, Any], path: Path) -> TableSpec:
    bands: list[Band] = []
    else_value = data.get("else")
    for index, row in enumerate(data.get("steps") or []):
        if "else" in row:
            else_value = row["else"]
            continue
        kind: BandKind = next((k for k in _BAND_KINDS if k in row), "below")
        bands.append(Band(path=(*path, "steps", index), kind=kind, threshold=float(row.get(kind, 0.0)),
                          value=float(row.get("value", 0.0))))
    return TableSpec(
        path=path, id=data["id"], description=data.get("description", ""), of=expr_at(data["of"], (*path, "of")),
        bands=tuple(bands), cases=tuple((str(k), float(v)) for k, v in (data.get("cases") or {}).items()),
        else_value=_float(else_value),
        adjust=tuple(Adjustment(path=(*path, "adjust", i), when=expr_at(a["when"], (*path, "adjust", i, "when")),
                                times=_float(a.get("times")), set=_float(a.get("set")), note=a.get("note", ""))
                     for i, a in enumerate(data.get("adjust") or [])),
        bounds=_bounds(data.get("bounds"), (*path, "bounds")),
    )


def _combiner(data: dict[str, Any], path: Path) -> CombinerSpec:
    return CombinerSpec(
        path=path, id=data["id"], description=data.get("description", ""), op=data["op"],
        of=tuple(expr_at(text, (*path, "of", i)) for i, text in enumerate(data["of"])),
        clamp=_bounds(data.get("clamp"), (*path, "clamp")),
    )


def _gate(data: dict[str, Any], path: Path) -> GateSpec:
    if "checks" in data:
        checks = tuple(
            CheckSpec(path=(*path, "checks", i), pass_if=expr_at(c["pass_if"], (*path, "checks", i, "pass_if")),
                      reject=c.get("reject"), message=c.get("message"))
            for i, c in enumerate(data["checks"])
        )
    else:
        pass_if = data["pass_if"]  # the schema requires pass_if or checks
        checks = (CheckSpec(path=path, pass_if=expr_at(pass_if, (*path, "pass_if")), reject=data.get("reject"),
                            message=data.get("message")),)
    return GateSpec(path=path, id=data["id"], description=data.get("description", ""),
                    applies_when=optional_expr(data, "applies_when", path), checks=checks,
                    emit=event_spec(data.get("emit"), (*path, "emit")))


def _trigger(data: dict[str, Any], path: Path) -> TriggerSpec:
    return TriggerSpec(
        path=path, id=data["id"], description=data.get("description", ""), when=expr_at(data["when"], (*path, "when")),
        reason=data["reason"], priority=int(data.get("priority", 100)), severity=data.get("severity", "INFO"),
        message=data.get("message"), event=data.get("event"),
    )
