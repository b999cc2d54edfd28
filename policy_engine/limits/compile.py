"""The LimitsPolicy compiler: a shape-checked document -> a LimitsPlan and an input checker.

Named stages, each returning located Diagnostics; compilation stops after the first stage that
reports an error: shape, limits IR, params (``--set`` overrides, then the input schema's
``$defs/params``), inputs, structure, expressions.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path as FsPath
from typing import Any, NamedTuple, cast

from policy_engine.compiler import structure
from policy_engine.compiler.compile import Locator, _load_inputs, _stage, check_policy_shape
from policy_engine.compiler.plan import PolicyInfo
from policy_engine.errors import Code, Diagnostic, PolicyError
from policy_engine.expr.language import BOOL, LIST, NUM, STR, analyze
from policy_engine.inputs import InputChecker, UnsupportedSchema, compile_input_checker
from policy_engine.ir import Expr, Path
from policy_engine.limits.names import (
    CALL_NAMES,
    build_closure,
    limit_scope,
    reads_of,
    reads_root,
)
from policy_engine.limits.plan import LimitExpr, LimitNode, LimitsPlan
from policy_engine.limits.spec import LimitSpec, build_limit_specs
from policy_engine.source import SourceDoc

REQUIRED_INPUTS = ("orders", "positions", "prices", "equity", "current_equity", "peak_equity", "security_master")
RESOLVER_SCOPES = {"scale": ("order", "symbol", "group", "portfolio"), "target_qty": ("order", "symbol"),
                   "target_gross": ("group", "portfolio")}


class _Declared(NamedTuple):
    """What the shared stages (overrides, input loading) read of a policy."""

    params: dict[str, Any]
    input_schema: str


_CACHE_SIZE = 64
_shape_checked: dict[tuple[str, str], None] = {}  # (path, text) of documents that passed the schema stage
_input_schemas: dict[tuple[str, str], tuple[InputChecker, dict[str, Any], Any]] = {}  # (path, text) -> loaded


def compile_limits_document(doc: SourceDoc, overrides: dict[str, Any]) -> tuple[LimitsPlan, InputChecker]:
    locate = Locator(doc)
    _check_shape_once(doc)
    if doc.data["kind"] != "LimitsPolicy":
        raise PolicyError([locate.diag(Code.INVALID_VALUE, f"a {doc.data['kind']} is not a LimitsPolicy", ("kind",))])
    declared = _Declared(dict(doc.data.get("params") or {}), doc.data["inputs"]["schema"])
    specs = build_limit_specs(doc.data["limits"])
    params = _stage(structure.apply_overrides(cast(Any, declared), overrides, locate))
    checker, input_schema, raw_schema = _stage(_load_inputs_once(declared, doc, locate))
    _stage((None, _check_params(params, raw_schema, overrides, locate)))
    master_columns = _stage(_input_roots(input_schema, locate))
    _stage((None, _check_structure(specs, params, master_columns, locate)))
    builder = _LimitBuilder(params, master_columns, locate)
    nodes = tuple(builder.node(spec) for spec in specs)
    _stage((None, builder.diagnostics))
    meta = doc.data["metadata"]
    info = PolicyInfo(meta["id"], meta["version"], "LimitsPolicy", doc.path,
                      _content_hash(doc, raw_schema, overrides), tuple(meta["owners"]),
                      meta.get("description", ""), meta.get("spec", ""))
    return LimitsPlan(info, params, nodes, master_columns), checker


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.pop(next(iter(cache)), None)
    cache[key] = value


def _check_shape_once(doc: SourceDoc) -> None:
    """The schema stage; a document already checked (e.g. recompiled with other params) is not rechecked."""
    key = (doc.path, doc.text)
    if key not in _shape_checked:
        check_policy_shape(doc)
        _remember(_shape_checked, key, None)


def _load_inputs_once(declared: _Declared, doc: SourceDoc, locate: Locator) -> tuple[Any, list[Diagnostic]]:
    """The compiled input checker, its resolved schema and the raw file, cached by the file's text."""
    schema_path = (FsPath(doc.path).parent / declared.input_schema).resolve()
    try:
        key = (str(schema_path), schema_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        key = None
    if key is not None and key in _input_schemas:
        return _input_schemas[key], []
    loaded, diagnostics = _load_inputs(cast(Any, declared), doc, locate)
    if diagnostics or key is None:
        return None, diagnostics
    checker, input_schema = loaded
    _remember(_input_schemas, key, (checker, input_schema, json.loads(key[1])))
    return _input_schemas[key], []


def _content_hash(doc: SourceDoc, schema: Any, overrides: dict[str, Any]) -> str:
    digest = hashlib.sha256(doc.text.encode("utf-8"))
    digest.update(json.dumps(schema, sort_keys=True).encode("utf-8"))
    digest.update(json.dumps(overrides, sort_keys=True, default=str).encode("utf-8"))
    return "sha256:" + digest.hexdigest()


# --- params and inputs ----------------------------------------------------------------------
def _check_params(params: dict[str, Any], raw_schema: Any, overrides: dict[str, Any],
                  locate: Locator) -> list[Diagnostic]:
    """The params against the input schema's ``$defs/params``, when it declares one."""
    defs = raw_schema.get("$defs") if isinstance(raw_schema, dict) else None
    if not isinstance(defs, dict) or "params" not in defs:
        return []
    try:
        checker = compile_input_checker({**defs["params"], "$defs": defs})
    except UnsupportedSchema as err:
        return [locate.diag(Code.INPUT_SCHEMA, f"$defs/params uses what the engine cannot check: {err}",
                            ("inputs", "schema"))]
    _, issues = checker.check(params)
    diagnostics = []
    for issue in issues:
        name = issue.json_path.removeprefix("$.").split(".")[0].split("[")[0]
        where: Path = ("params", name) if name in params and name not in overrides else ("params",)
        code = Code.PARAM_OVERRIDE if name in overrides else Code.INVALID_VALUE
        shown = issue.json_path.replace("$.", "params.", 1) if issue.json_path != "$" else "params"
        diagnostics.append(locate.diag(code, f"{shown}: {issue.message}", where,
                                       "the params' schema is $defs/params of the input schema"))
    return diagnostics


def _input_roots(schema: dict[str, Any], locate: Locator) -> tuple[tuple[str, ...] | None, list[Diagnostic]]:
    properties = schema.get("properties", {})
    missing = [name for name in REQUIRED_INPUTS if name not in properties]
    if missing:
        return None, [locate.diag(Code.INPUT_SCHEMA, "a limits input schema must declare " + ", ".join(missing),
                                  ("inputs", "schema"), "see schemas/pre_trade_limits.inputs.schema.json")]
    items = properties["security_master"].get("items", {})
    return tuple(sorted(items.get("properties", {}))), []


# --- structure ------------------------------------------------------------------------------
def _check_structure(specs: tuple[LimitSpec, ...], params: dict[str, Any], columns: tuple[str, ...],
                     locate: Locator) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    seen: dict[str, Path] = {}
    for spec in specs:
        if spec.id in seen:
            diagnostics.append(locate.diag(Code.DUPLICATE_ID, f"limit '{spec.id}' is defined twice",
                                           (*spec.path, "id"), "ids must be unique: reductions name limits by id"))
        seen.setdefault(spec.id, spec.path)
        diagnostics += _check_form(spec, locate) + _check_scope(spec, columns, locate)
        diagnostics += _check_action(spec, locate) + _check_map_cap(spec, params, locate)
    return diagnostics


def _invalid(locate: Locator, message: str, path: Path, hint: str = "") -> Diagnostic:
    return locate.diag(Code.INVALID_VALUE, message, path, hint)


def _check_form(spec: LimitSpec, locate: Locator) -> list[Diagnostic]:
    check, path = spec.check, (*spec.path, "check")
    caps = [c for c in (check.above, check.at_least) if c is not None]
    if check.breach_if is not None and (check.measure is not None or caps):
        return [_invalid(locate, f"limit '{spec.id}': a check has breach_if, or measure with a cap, not both", path)]
    if check.breach_if is None and (check.measure is None or len(caps) != 1):
        return [_invalid(locate, f"limit '{spec.id}': a check needs `measure` with exactly one of `above` / "
                                 "`at_least`, or `breach_if`", path,
                         "e.g. check: {measure: abs(symbol.post_weight), above: params.max_weight_per_symbol}")]
    return []


def _check_scope(spec: LimitSpec, columns: tuple[str, ...], locate: Locator) -> list[Diagnostic]:
    if spec.scope == "group" and spec.group_by is None:
        return [_invalid(locate, f"limit '{spec.id}': a group limit needs `group_by`", spec.path,
                         "group_by names a security-master column: " + ", ".join(c for c in columns if c != "symbol"))]
    if spec.scope != "group" and spec.group_by is not None:
        return [_invalid(locate, "`group_by` is for group limits only", (*spec.path, "group_by"))]
    if spec.group_by is not None and (spec.group_by not in columns or spec.group_by == "symbol"):
        return [locate.diag(Code.BAD_REFERENCE, f"group_by '{spec.group_by}' is not a security-master column",
                            (*spec.path, "group_by"), structure.suggest(spec.group_by, columns))]
    if spec.symbols is not None and spec.scope != "symbol":
        return [_invalid(locate, "`symbols` is for symbol limits only", (*spec.path, "symbols"))]
    return []


def _check_action(spec: LimitSpec, locate: Locator) -> list[Diagnostic]:
    resolvers = spec.resolvers
    if spec.action != "reduce":
        extra = resolvers + (["rounding"] if spec.rounding is not None else [])
        return [_invalid(locate, f"`{name}` is for reduce limits only (this one is `{spec.action}`)",
                         (*spec.path, name)) for name in extra]
    if len(resolvers) != 1:
        return [_invalid(locate, f"limit '{spec.id}': reduce needs exactly one of scale / target_qty / "
                                 f"target_gross (has {len(resolvers)})", (*spec.path, "action"))]
    scopes = RESOLVER_SCOPES[resolvers[0]]
    if spec.scope not in scopes:
        return [_invalid(locate, f"`{resolvers[0]}` is for {' / '.join(scopes)} limits, not {spec.scope}",
                         (*spec.path, resolvers[0]))]
    return []


def _check_map_cap(spec: LimitSpec, params: dict[str, Any], locate: Locator) -> list[Diagnostic]:
    """A cap given as a map param must map keys to numbers >= 0."""
    cap = spec.check.above or spec.check.at_least
    name = cap.text.strip().removeprefix("params.") if cap is not None else ""
    value = params.get(name) if cap is not None and cap.text.strip() == f"params.{name}" else None
    if not isinstance(value, dict):
        return []
    bad = sorted(str(k) for k, v in value.items()
                 if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0)
    return [_invalid(locate, f"params.{name}: every cap must be a number >= 0 ({', '.join(bad)} is not)",
                     ("params", name))] if bad else []


# --- expressions ----------------------------------------------------------------------------
# Kinds an expression must not have: a condition is not a number, a measure is not a bool.
# (Unknown kinds and null params pass: they are checked when the limit runs.)
_NOT_BOOLEAN = (NUM, STR, LIST)
_NOT_NUMBER = (BOOL, STR, LIST)


class _LimitBuilder:
    def __init__(self, params: dict[str, Any], master_columns: tuple[str, ...], locate: Locator):
        self.params, self.columns, self.locate = params, master_columns, locate
        self.diagnostics: list[Diagnostic] = []

    def node(self, spec: LimitSpec) -> LimitNode:
        check = spec.check
        check_names = tuple(n for n, e in (("cap", check.above or check.at_least), ("measure", check.measure)) if e)
        resolver = spec.resolvers[0] if spec.resolvers else None
        resolve_expr = getattr(spec, resolver) if resolver else None
        exprs = {
            "enabled_if": self.expr(spec.enabled_if, spec, _NOT_BOOLEAN, item=False),
            "skip_when": self.expr(spec.skip_if.when if spec.skip_if else None, spec, _NOT_BOOLEAN, item=False),
            "measure": self.expr(check.measure, spec, _NOT_NUMBER, item=True),
            "cap": self.expr(check.above or check.at_least, spec, _NOT_NUMBER, item=True),
            "breach_if": self.expr(check.breach_if, spec, _NOT_BOOLEAN, item=True),
            "resolve": self.expr(resolve_expr, spec, _NOT_NUMBER, check_names=check_names, item=True),
        }
        compiled = {key: value[0] if value else None for key, value in exprs.items()}
        reads_orders = any(value[1] for value in exprs.values() if value)
        comparison = "breach_if" if check.breach_if else "above" if check.above else "at_least"
        return LimitNode(
            spec.id, self.locate.line_of(spec.path), spec.description, spec.scope, spec.group_by,
            spec.symbols == "ordered_or_held", compiled["enabled_if"], compiled["skip_when"],
            spec.skip_if.reason if spec.skip_if else "", compiled["measure"], compiled["cap"], comparison,
            compiled["breach_if"], spec.action, resolver, compiled["resolve"], spec.rounding or "none",
            spec.allow_reducing, spec.reason, reads_orders)

    def expr(self, expr: Expr | None, spec: LimitSpec, wrong: tuple[str, ...], *, item: bool,
             check_names: tuple[str, ...] = ()) -> tuple[LimitExpr, bool] | None:
        """The checked, compiled expression and whether it reads `orders`; None (and diagnostics) if bad."""
        if expr is None:
            return None
        scope = limit_scope(spec.scope, self.params, self.columns, item=item, check_names=check_names)
        analysis = analyze(expr.text, scope)
        issues = [(i.code, i.message, i.col, i.hint) for i in analysis.issues]
        issues += [(Code.EXPR_UNKNOWN_NAME, f"'{p[0]}' has no fields", 0, "") for p in analysis.input_paths
                   if p[0] in CALL_NAMES and len(p) > 1]
        if not issues and analysis.kind in wrong:
            wanted = "a number" if BOOL in wrong else "true or false"
            issues.append((Code.INVALID_VALUE, f"this expression must give {wanted}, not {analysis.kind}", 0, ""))
        for code, message, col, hint in issues:
            self.diagnostics.append(self.locate.diag(code, message, expr.path, hint, col))
        if issues:
            return None
        function, source = build_closure(analysis, scope, f"{spec.id} {expr.path[-1]}")
        return LimitExpr(expr.text, function, reads_of(analysis), source), reads_root(analysis, "orders")
