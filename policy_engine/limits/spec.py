"""Typed IR of a LimitsPolicy's ``limits:`` list: shape-checked YAML data as frozen dataclasses.

Runs after the schema stage, so it trusts the shape. It records every node's JSON path so later
stages report at ``file:line:col``, and turns a numeric cap (``above: 0.5``) into expression text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from policy_engine.ir import Expr, Path

Scope = Literal["order", "symbol", "group", "portfolio"]
Action = Literal["pass", "reduce", "block", "fail"]
RESOLVERS = ("scale", "target_qty", "target_gross")


@dataclass(frozen=True, kw_only=True)
class _Node:
    path: Path


@dataclass(frozen=True, kw_only=True)
class LimitCheckSpec(_Node):
    measure: Expr | None = None
    above: Expr | None = None
    at_least: Expr | None = None
    breach_if: Expr | None = None


@dataclass(frozen=True, kw_only=True)
class SkipSpec(_Node):
    when: Expr
    reason: str


@dataclass(frozen=True, kw_only=True)
class LimitSpec(_Node):
    id: str
    description: str = ""
    scope: Scope
    group_by: str | None = None
    symbols: Literal["ordered", "ordered_or_held"] | None = None
    enabled_if: Expr | None = None
    skip_if: SkipSpec | None = None
    check: LimitCheckSpec
    action: Action
    scale: Expr | None = None
    target_qty: Expr | None = None
    target_gross: Expr | None = None
    rounding: Literal["none", "toward_zero"] | None = None
    allow_reducing: bool = False
    reason: str

    @property
    def resolvers(self) -> list[str]:
        """The reduce expressions the limit declares (exactly one is valid for ``reduce``)."""
        return [name for name in RESOLVERS if getattr(self, name) is not None]


def build_limit_specs(items: list[dict[str, Any]]) -> tuple[LimitSpec, ...]:
    return tuple(_limit(item, ("limits", index)) for index, item in enumerate(items))


def _expr(data: dict[str, Any], key: str, path: Path) -> Expr | None:
    if key not in data:
        return None
    value = data[key]
    text = value if isinstance(value, str) else repr(value)
    return Expr(path=(*path, key), text=text)


def _limit(data: dict[str, Any], path: Path) -> LimitSpec:
    check_path = (*path, "check")
    check = data["check"]
    skip = data.get("skip_if")
    return LimitSpec(
        path=path, id=data["id"], description=data.get("description", ""), scope=data["scope"],
        group_by=data.get("group_by"), symbols=data.get("symbols"), enabled_if=_expr(data, "enabled_if", path),
        skip_if=SkipSpec(path=(*path, "skip_if"), when=Expr(path=(*path, "skip_if", "when"), text=skip["when"]),
                         reason=skip["reason"]) if skip else None,
        check=LimitCheckSpec(path=check_path, **{key: _expr(check, key, check_path)
                                                 for key in ("measure", "above", "at_least", "breach_if")}),
        action=data["action"], scale=_expr(data, "scale", path), target_qty=_expr(data, "target_qty", path),
        target_gross=_expr(data, "target_gross", path), rounding=data.get("rounding"),
        allow_reducing=data.get("allow_reducing", False), reason=data["reason"],
    )
