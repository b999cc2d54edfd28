"""Semantic diff of two versions of a policy: what a reviewer needs to know, item by item.

Works on the shape-checked data of both versions (not on text), so layout, comments and key
order never show up. Rules are matched by id: added, removed, moved (their place in the
evaluation order changed) or changed field by field. Step tables are compared band by band
(threshold and value, old -> new), params by name, expressions by normalized text with pure
number edits reported as thresholds. Each change is located at ``line`` of the version that
holds it (the new one, or the old one for a removal).

Which sections a kind has is one table per kind (``SECTIONS``); a kind without an entry is
compared with the sections every kind shares (params, values).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from policy_engine.diff.exprs import compare_exprs
from policy_engine.source import SourceDoc

RULES, THRESHOLDS, PARAMS, EXPRESSIONS, OTHER = "rules", "thresholds and bands", "params", "expressions", "other"
CATEGORIES = (RULES, THRESHOLDS, PARAMS, EXPRESSIONS, OTHER)
_OPS = {"at_least": ">=", "above": ">", "below": "<", "at_most": "<="}


@dataclass(frozen=True)
class Change:
    category: str
    op: str  # added | removed | moved | changed
    what: str  # "gate MAX_POSITIONS_GATE", "param max_open_positions", "table drawdown_multiplier band 2"
    detail: str = ""  # "5 -> 4", "position 8 -> 6", "threshold 0.5 -> 0.55"
    line: int = 0
    side: str = "new"  # the version ``line`` refers to

    def format_text(self) -> str:
        sign = {"added": "+", "removed": "-", "moved": ">", "changed": "~"}[self.op]
        where = f"  (line {self.line}{' of the old version' if self.side == 'old' else ''})" if self.line else ""
        return f"{sign} {self.what}" + (f": {self.detail}" if self.detail else "") + where

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "op": self.op, "what": self.what, "detail": self.detail,
                "line": self.line, "side": self.side}


@dataclass(frozen=True)
class Section:
    key: tuple[str, ...]  # where it lives in the document
    noun: str  # "gate", "param", ...
    shape: str  # "mapping" (name -> value) | "ids" (list of items with an id) | "whole"
    ordered: bool = False  # the list order is the evaluation order


_SHARED = (Section(("params",), "param", "mapping"), Section(("values",), "value", "mapping"))
SECTIONS: dict[str, tuple[Section, ...]] = {
    "DecisionPolicy": (*_SHARED, Section(("tables",), "table", "ids"), Section(("combiners",), "combiner", "ids"),
                       Section(("gates",), "gate", "ids", ordered=True), Section(("triggers",), "trigger", "ids"),
                       Section(("outputs",), "outputs", "whole"), Section(("on_reject",), "on_reject", "whole")),
    "LimitsPolicy": (*_SHARED, Section(("limits",), "limit", "ids", ordered=True)),
    "MachinePolicy": (*_SHARED, Section(("machine", "initial"), "initial state", "whole"),
                      Section(("machine", "states"), "state", "mapping"),
                      Section(("machine", "transitions"), "transition", "ids"),
                      Section(("machine", "guards"), "guard", "ids", ordered=True),
                      Section(("machine", "actions"), "action", "ids", ordered=True),
                      Section(("machine", "counters"), "counter", "mapping"),
                      Section(("machine", "timers"), "timer", "mapping"),
                      Section(("machine", "memory"), "memory slot", "mapping"),
                      Section(("machine", "outputs"), "output", "mapping"),
                      Section(("machine", "forbidden"), "forbidden moves", "whole"),
                      Section(("machine", "bounce"), "bounce rule", "whole"),
                      Section(("machine", "manual_override"), "manual override", "whole"),
                      Section(("machine", "fail_safe"), "fail-safe", "whole")),
}


def semantic_diff(old: SourceDoc, new: SourceDoc) -> list[Change]:
    """Every change from ``old`` to ``new``, in section order."""
    differ = _Differ(old, new)
    changes = list(differ.head())
    kind = new.data.get("kind")
    if old.data.get("kind") != kind:
        return changes
    for section in SECTIONS.get(str(kind), _SHARED):
        changes += differ.section(section)
    return changes


class _Differ:
    def __init__(self, old: SourceDoc, new: SourceDoc):
        self.old, self.new = old, new

    def line(self, path: tuple[Any, ...], side: str = "new") -> int:
        doc = self.new if side == "new" else self.old
        return doc.source_map.locate(path)[0]

    def head(self) -> Iterator[Change]:
        for path in (("kind",), ("metadata", "id"), ("metadata", "version"), ("inputs", "schema")):
            before, after = _get(self.old.data, path), _get(self.new.data, path)
            if before != after:
                yield Change(OTHER, "changed", ".".join(path), f"{before} -> {after}", self.line(path))

    def section(self, section: Section) -> list[Change]:
        before, after = _get(self.old.data, section.key), _get(self.new.data, section.key)
        if section.shape == "whole":
            if _canonical(before) == _canonical(after):
                return []
            return [Change(OTHER, "changed", section.noun, f"{_short(before)} -> {_short(after)}",
                           self.line(section.key))]
        if section.shape == "mapping":
            return self._mapping(section, before or {}, after or {})
        return self._ids(section, before or [], after or [])

    # --- name -> value sections (params, values, states, counters, ...) --------------------
    def _mapping(self, section: Section, before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
        changes = []
        category = PARAMS if section.noun == "param" else RULES if section.noun == "state" else EXPRESSIONS
        for name, value in after.items():
            path = (*section.key, name)
            if name not in before:
                changes.append(Change(category, "added", f"{section.noun} {name}", _short(value), self.line(path)))
            else:
                changes += self._value(f"{section.noun} {name}", before[name], value, path, category)
        changes += [Change(category, "removed", f"{section.noun} {name}", _short(before[name]),
                           self.line((*section.key, name), "old"), "old") for name in before if name not in after]
        return changes

    def _value(self, what: str, before: Any, after: Any, path: tuple[Any, ...], category: str) -> list[Change]:
        if _canonical(before) == _canonical(after):
            return []
        if isinstance(before, str) and isinstance(after, str) and category not in (PARAMS, OTHER):
            change = compare_exprs(before, after)
            if change is None:
                return []
            category = THRESHOLDS if change.kind == "threshold" else category
            return [Change(category, "changed", what, change.describe(), self.line(path))]
        if isinstance(before, dict) and isinstance(after, dict):
            return self._fields(what, before, after, path)
        if _dict_list(before) and _dict_list(after) and len(before) == len(after):
            return [c for n, (a, b) in enumerate(zip(before, after))
                    for c in self._fields(f"{what} {n + 1}", a, b, (*path, n))]
        if category == EXPRESSIONS and _numeric(before) and _numeric(after):
            category = THRESHOLDS
        return [Change(category, "changed", what, f"{_short(before)} -> {_short(after)}", self.line(path))]

    # --- lists of items with ids (gates, tables, triggers, limits, transitions, ...) ----------
    def _ids(self, section: Section, before: list[Any], after: list[Any]) -> list[Change]:
        old_ids = [item.get("id") for item in before if isinstance(item, dict)]
        new_ids = [item.get("id") for item in after if isinstance(item, dict)]
        old_at, new_at = {i: n for n, i in enumerate(old_ids)}, {i: n for n, i in enumerate(new_ids)}
        changes = []
        for name, index in new_at.items():
            path = (*section.key, index)
            if name not in old_at:
                changes.append(Change(RULES, "added", f"{section.noun} {name}", f"position {index + 1}",
                                      self.line(path)))
                continue
            compare: _Compare = _ITEM_COMPARERS.get(section.noun, _Differ._fields)
            changes += compare(self, f"{section.noun} {name}", before[old_at[name]], after[index], path)
        changes += [Change(RULES, "removed", f"{section.noun} {name}", f"was position {index + 1}",
                           self.line((*section.key, index), "old"), "old")
                    for name, index in old_at.items() if name not in new_at]
        if section.ordered:
            changes += self._moves(section, old_ids, new_ids, new_at)
        return changes

    def _moves(self, section: Section, old_ids: list[Any], new_ids: list[Any], new_at: dict[Any, int]) -> list[Change]:
        """Rules whose place among the rules both versions keep changed (outside the longest
        common order): reported as moved, old -> new position."""
        old_kept = [i for i in old_ids if i in new_at]
        new_kept = [i for i in new_ids if i in set(old_ids)]
        matcher = difflib.SequenceMatcher(a=old_kept, b=new_kept, autojunk=False)
        stayed = {old_kept[block.a + k] for block in matcher.get_matching_blocks() for k in range(block.size)}
        moved = []
        for name in new_kept:
            if name not in stayed:
                after = new_kept.index(name)
                neighbour = f", now after {new_kept[after - 1]}" if after > 0 else ", now first"
                moved.append(Change(RULES, "moved", f"{section.noun} {name}",
                                    f"position {old_ids.index(name) + 1} -> {new_ids.index(name) + 1}{neighbour}",
                                    self.line((*section.key, new_at[name]))))
        return moved

    def _fields(self, what: str, before: dict[str, Any], after: dict[str, Any], path: tuple[Any, ...]) -> list[Change]:
        changes = []
        for key in [*after, *(k for k in before if k not in after)]:
            if key in ("description", "note"):
                continue
            category = _FIELD_CATEGORIES.get(key, EXPRESSIONS)
            if key not in before or key not in after:
                op = "added" if key not in before else "removed"
                shown = _short(after[key] if key not in before else before[key])
                changes.append(Change(category, "changed", f"{what} {key}", f"{op}: {shown}", self.line(path)))
                continue
            changes += self._value(f"{what} {key}", before[key], after[key], (*path, key), category)
        return changes

    # --- DecisionPolicy items -------------------------------------------------------------
    def _gate(self, what: str, before: dict[str, Any], after: dict[str, Any], path: tuple[Any, ...]) -> list[Change]:
        old_checks, new_checks = _checks(before), _checks(after)
        rest = {k: v for k, v in after.items() if k not in _CHECK_KEYS}
        changes = self._fields(what, {k: v for k, v in before.items() if k not in _CHECK_KEYS}, rest, path)
        matcher = difflib.SequenceMatcher(a=[c.get("reject") for c in old_checks],
                                          b=[c.get("reject") for c in new_checks], autojunk=False)
        check_path = (*path, "checks") if "checks" in after else path
        single = len(old_checks) == len(new_checks) == 1
        for tag, a0, a1, b0, b1 in matcher.get_opcodes():
            if tag in ("equal", "replace") and a1 - a0 == b1 - b0:
                for a, b in zip(range(a0, a1), range(b0, b1)):
                    where = (*check_path, b) if "checks" in after else path
                    label = what if single else f"{what} check {b + 1}"
                    changes += self._fields(label, old_checks[a], new_checks[b], where)
                continue
            changes += [Change(RULES, "removed", f"{what} check {a + 1}", old_checks[a].get("reject", ""),
                               self.line(path, "old"), "old") for a in range(a0, a1)]
            changes += [Change(RULES, "added", f"{what} check {b + 1}", new_checks[b].get("reject", ""),
                               self.line(path)) for b in range(b0, b1)]
        return changes

    def _table(self, what: str, before: dict[str, Any], after: dict[str, Any], path: tuple[Any, ...]) -> list[Change]:
        plain = {k: v for k, v in after.items() if k not in ("steps", "else")}
        changes = self._fields(what, {k: v for k, v in before.items() if k not in ("steps", "else")}, plain, path)
        old_bands, old_else = _bands(before)
        new_bands, new_else = _bands(after)
        if len(old_bands) != len(new_bands) or any(a[0] != b[0] for a, b in zip(old_bands, new_bands)):
            changes.append(Change(THRESHOLDS, "changed", f"{what} steps",
                                  f"{_band_list(old_bands, old_else)} -> {_band_list(new_bands, new_else)}",
                                  self.line((*path, "steps"))))
            return changes
        for index, ((kind, old_at, old_value), (_, new_at, new_value)) in enumerate(zip(old_bands, new_bands)):
            where = self.line((*path, "steps", index))
            label = f"{what} band {index + 1} ({_OPS[kind]})"
            if old_at != new_at:
                changes.append(Change(THRESHOLDS, "changed", label, f"threshold {old_at!r} -> {new_at!r}", where))
            if old_value != new_value:
                changes.append(Change(THRESHOLDS, "changed", label, f"value {old_value!r} -> {new_value!r}", where))
        if old_else != new_else:
            changes.append(Change(THRESHOLDS, "changed", f"{what} else", f"{old_else!r} -> {new_else!r}",
                                  self.line((*path, "steps") if "steps" in after else (*path, "else"))))
        return changes


# Fields of rules that are labels or ordering, not conditions: compared as plain values.
_FIELD_CATEGORIES = {key: OTHER for key in ("id", "reject", "reason", "message", "event", "severity", "trigger", "emit",
                                            "scope", "action", "from", "to", "op", "on_enter")}
_FIELD_CATEGORIES["priority"] = RULES
_CHECK_KEYS = ("checks", "pass_if", "reject", "message")
_Compare = Callable[[_Differ, str, dict[str, Any], dict[str, Any], tuple[Any, ...]], list[Change]]
_ITEM_COMPARERS: dict[str, _Compare] = {"gate": _Differ._gate, "table": _Differ._table}


def _checks(gate: dict[str, Any]) -> list[dict[str, Any]]:
    if "checks" in gate:
        return [c for c in gate["checks"] if isinstance(c, dict)]
    return [{k: gate[k] for k in ("pass_if", "reject", "message") if k in gate}]


def _bands(table: dict[str, Any]) -> tuple[list[tuple[str, Any, Any]], Any]:
    bands, default = [], table.get("else")
    for row in table.get("steps") or []:
        if "else" in row:
            default = row["else"]
            continue
        kind = next((k for k in _OPS if k in row), "below")
        bands.append((kind, row.get(kind), row.get("value")))
    return bands, default


def _band_list(bands: list[tuple[str, Any, Any]], default: Any) -> str:
    rows = [f"{_OPS[kind]} {at!r}: {value!r}" for kind, at, value in bands]
    return "[" + ", ".join([*rows, f"else: {default!r}"]) + "]"


def _numeric(value: Any) -> bool:
    if isinstance(value, list):
        return all(_numeric(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dict_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _canonical(value: Any) -> Any:
    """Values that mean the same compare equal: 1 == 1.0, expression layout ignored."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items() if k not in ("description", "note")}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, str):
        from policy_engine.diff.exprs import normalize

        return normalize(value)
    return value


def _short(value: Any, width: int = 80) -> str:
    text = repr(value) if not isinstance(value, str) else value
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
