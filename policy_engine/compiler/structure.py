"""Structural checks that JSON Schema cannot express, and param overrides (``--set``).

Ids unique across rules and names unique across values; every gate check has a reject reason;
step tables ordered, without overlapping bands, with an explicit else; bounds not reversed.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Protocol

from policy_engine.errors import Code, Diagnostic
from policy_engine.ir import Path, PolicySpec, TableSpec

_DESCENDING = ("at_least", "above")


class Locate(Protocol):
    def diag(self, code: Code, message: str, path: Path, hint: str = "", offset: int | None = None) -> Diagnostic: ...


def suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def check(spec: PolicySpec, locate: Locate) -> tuple[None, list[Diagnostic]]:
    diagnostics = [*_unique_ids(spec, locate), *_gate_reasons(spec, locate)]
    for table in spec.tables:
        diagnostics += _table(table, locate)
    for combiner in spec.combiners:
        diagnostics += _reversed(combiner.clamp, (*combiner.path, "clamp"), locate)
    return None, diagnostics


def _reversed(bounds: tuple[Any, Any] | None, path: Path, locate: Locate) -> list[Diagnostic]:
    low, high = bounds or (None, None)
    if isinstance(low, float) and isinstance(high, float) and low > high:
        return [locate.diag(Code.BAD_BOUNDS, f"bounds reversed: {low} > {high}", path)]
    return []


def _unique_ids(spec: PolicySpec, locate: Locate) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    seen: dict[str, Path] = {}
    named = [(v.name, v.path) for v in spec.values] + [(t.id, t.path) for t in spec.tables]
    named += [(c.id, c.path) for c in spec.combiners]
    rules = [(g.id, g.path) for g in spec.gates] + [(t.id, t.path) for t in spec.triggers]
    for group in (named, rules):
        seen.clear()
        for name, path in group:
            if name in seen:
                where = "/".join(str(p) for p in seen[name])
                diagnostics.append(locate.diag(Code.DUPLICATE_ID, f"'{name}' is defined twice (first at {where})",
                                               (*path, "id") if path[0] != "values" else path,
                                               "ids must be unique: traces and reasons name rules by id"))
            else:
                seen[name] = path
    return diagnostics


def _gate_reasons(spec: PolicySpec, locate: Locate) -> list[Diagnostic]:
    return [
        locate.diag(Code.GATE_WITHOUT_REASON, f"gate '{gate.id}' has a check without a reject reason", check.path,
                    "add `reject: <reason_code>`: a rejection must say why")
        for gate in spec.gates for check in gate.checks if not check.reject
    ]


def _table(table: TableSpec, locate: Locate) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    if table.bands and table.cases:
        diagnostics.append(locate.diag(Code.INVALID_VALUE, f"table '{table.id}' has both steps and cases", table.path))
    if table.else_value is None:
        diagnostics.append(locate.diag(Code.TABLE_NO_ELSE, f"table '{table.id}' has no else",
                                       (*table.path, "steps") if table.bands else table.path,
                                       "end the steps with `{else: <value>}` so every input has an answer"))
    kinds = {band.kind for band in table.bands}
    if len(kinds) > 1:
        diagnostics.append(locate.diag(Code.TABLE_UNORDERED, f"table '{table.id}' mixes {' and '.join(sorted(kinds))}",
                                       (*table.path, "steps"), "use one comparison for every band"))
        return diagnostics
    for previous, band in zip(table.bands, table.bands[1:]):
        descending = band.kind in _DESCENDING
        if band.threshold == previous.threshold:
            diagnostics.append(locate.diag(Code.TABLE_OVERLAP, f"table '{table.id}' repeats the band edge "
                                           f"{band.threshold}", band.path, "each band needs its own edge"))
        elif (band.threshold > previous.threshold) == descending:
            order = "descending" if descending else "ascending"
            diagnostics.append(locate.diag(Code.TABLE_UNORDERED, f"table '{table.id}': {band.kind} bands must be "
                                           f"{order} ({previous.threshold} then {band.threshold})", band.path,
                                           "the first matching band wins, so a later band would never be reached"))
    for index, adjustment in enumerate(table.adjust):
        if (adjustment.times is None) == (adjustment.set is None):
            diagnostics.append(locate.diag(Code.INVALID_VALUE, "an adjustment needs exactly one of times / set",
                                           adjustment.path))
    return diagnostics + _reversed(table.bounds, (*table.path, "bounds"), locate) + _outside_bounds(table, locate)


def _outside_bounds(table: TableSpec, locate: Locate) -> list[Diagnostic]:
    """A step or case whose value its own bounds would clamp: the table says one number and the
    decision uses another, which a reviewer reading the table would never see."""
    low, high = table.bounds or (None, None)
    if not (isinstance(low, float) and isinstance(high, float)) or low > high:
        return []
    rows = [(band.value, band.path) for band in table.bands]
    rows += [(value, (*table.path, "cases", key)) for key, value in table.cases]
    if table.else_value is not None:
        rows.append((table.else_value, (*table.path, "else") if table.cases else (*table.path, "steps")))
    return [locate.diag(Code.BAD_BOUNDS, f"table '{table.id}': value {value:g} lies outside its bounds "
                        f"[{low:g}, {high:g}] and would be clamped", path,
                        "change the value or the bounds so the table says what the decision uses")
            for value, path in rows if not low <= value <= high]


def apply_overrides(spec: PolicySpec, overrides: dict[str, Any], locate: Locate) -> tuple[dict[str, Any], list[Diagnostic]]:
    """Params with ``--set`` overrides applied; an unknown param or a change of type is refused."""
    params = dict(spec.params)
    diagnostics: list[Diagnostic] = []
    for name, value in overrides.items():
        if name not in params:
            diagnostics.append(locate.diag(Code.PARAM_OVERRIDE, f"--set {name}: no such param", ("params",),
                                           suggest(name, params)))
            continue
        if not _compatible(params[name], value):
            diagnostics.append(locate.diag(
                Code.PARAM_OVERRIDE, f"--set {name}={value!r}: expected {_type_name(params[name])}, "
                f"got {_type_name(value)}", ("params", name)))
            continue
        params[name] = value
    return params, diagnostics


def _compatible(default: Any, value: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    return type(default) is type(value)


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "a map"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
