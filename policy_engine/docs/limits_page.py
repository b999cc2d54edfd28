"""The LimitsPolicy sections of a page: the limits in order, each with its check, action and the
readings its fields cite."""

from __future__ import annotations

from typing import Any

from policy_engine.docs.markdown import code, prose, section, table, value_text
from policy_engine.docs.page import PageContext, lead_paragraph

_CHECK_OPS = {"above": ">", "at_least": ">="}
# Fields shown on a limit's own table, in this order (the check and the header fields are apart).
_FIELDS = ("scope", "group_by", "symbols", "enabled_if", "skip_if", "action", "scale", "target_qty", "target_gross",
           "rounding", "allow_reducing", "reason")


def limits_sections(context: PageContext) -> list[str]:
    limits = context.data.get("limits") or []
    if not limits:
        return []
    lines = section("Limits")
    lines += [(f"{len(limits)} limits, applied in this order, each on the orders the one before left: a limit "
              "passes, reduces or blocks orders (or fails the whole call), and is off while its `enabled_if` is "
              "false."), ""]
    lines += table(["#", "limit", "scope", "breached when", "action", "reason", "where"],
                   [(str(n + 1), code(item["id"]), item.get("scope", ""), _check(item.get("check") or {}),
                     item.get("action", ""), code(item.get("reason", "")), context.at(("limits", n)))
                    for n, item in enumerate(limits)], align="r") + [""]
    for index, item in enumerate(limits):
        lines += _limit(context, index, item)
    return lines


def _check(check: dict[str, Any]) -> str:
    if "breach_if" in check:
        return code(check["breach_if"])
    op = next((key for key in _CHECK_OPS if key in check), None)
    if op is None:
        return ""
    return f"{code(check.get('measure', ''))} {_CHECK_OPS[op]} {code(value_text(check[op]))}"


def _limit(context: PageContext, index: int, item: dict[str, Any]) -> list[str]:
    path = ("limits", index)
    lines = section(f"{index + 1}. `{item['id']}`", 3)
    lines += lead_paragraph(context, path)
    if item.get("description"):
        lines += [prose(item["description"]), ""]
    lines += [f"Defined at {context.at(path)}.", ""]
    rows = []
    check = item.get("check") or {}
    for key, value in check.items():
        rows.append((f"check.{key}", code(value_text(value)), context.note((*path, "check", key))))
    for key in _FIELDS:
        if key in item:
            note = context.note((*path, key)) or (context.note((*path, key, "when")) if key == "skip_if" else "")
            rows.append((key, _field(item[key]), note))
    return lines + table(["field", "value", "note"], rows) + [""]


def _field(value: Any) -> str:
    if isinstance(value, dict) and "when" in value:  # skip_if
        return f"when {code(value['when'])}: {code(value.get('reason', ''))}"
    return code(value_text(value))
