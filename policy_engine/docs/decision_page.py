"""The DecisionPolicy sections of a page: gates in order, tables, combiners, triggers, outputs."""

from __future__ import annotations

from typing import Any

from policy_engine.docs.markdown import code, number_text, prose, section, table, value_text
from policy_engine.docs.page import PageContext, group_titles, lead_paragraph

_BAND_OPS = {"at_least": ">=", "above": ">", "below": "<", "at_most": "<="}
_COMBINE = {"product": "×", "min": "min", "max": "max", "sum": "+"}


def decision_sections(context: PageContext) -> list[str]:
    return [*_gates(context), *_tables(context), *_combiners(context), *_triggers(context), *_outputs(context)]


# --- gates -----------------------------------------------------------------------------------------
def _gates(context: PageContext) -> list[str]:
    gates = context.data.get("gates") or []
    if not gates:
        return []
    checks = sum(len(_checks(gate)) for gate in gates)
    lines = section("Gates")
    lines += [(f"{len(gates)} gates, {checks} checks, evaluated in this order. A check passes only when its "
              "condition is exactly true; the first check that fails rejects the request with its reason, "
              "and later gates are not reached."), ""]
    lines += table(["#", "gate", "applies when", "rejects with", "where"],
                   [(str(n + 1), code(g["id"]), code(g.get("applies_when", "")) or "always",
                     ", ".join(dict.fromkeys(code(c.get("reject", "")) for c in _checks(g))), context.at(("gates", n)))
                    for n, g in enumerate(gates)], align="r") + [""]
    for index, gate in enumerate(gates):
        lines += _gate(context, index, gate)
    return lines


def _gate(context: PageContext, index: int, gate: dict[str, Any]) -> list[str]:
    path = ("gates", index)
    note = context.note(path)
    lines = section(f"{index + 1}. `{gate['id']}`" + (f" — {note}" if note else ""), 3)
    lines += lead_paragraph(context, path)
    if gate.get("description"):
        lines += [prose(gate["description"]), ""]
    facts = [f"Defined at {context.at(path)}."]
    if gate.get("applies_when"):
        facts.append(f"Applies when {code(gate['applies_when'])}; skipped when that is false.")
    if gate.get("emit"):
        facts.append(f"A rejection emits {code(gate['emit']['event'])} ({gate['emit'].get('severity', 'INFO')}).")
    lines += [" ".join(facts), ""]
    rows = [(str(n + 1), code(check.get("pass_if", "")), code(check.get("reject", "")), code(check.get("message", "")))
            for n, check in enumerate(_checks(gate))]
    return lines + table(["check", "passes if", "else rejects with", "message"], rows, align="r") + [""]


def _checks(gate: dict[str, Any]) -> list[dict[str, Any]]:
    if "checks" in gate:
        return [check for check in gate["checks"] if isinstance(check, dict)]
    return [{key: gate[key] for key in ("pass_if", "reject", "message") if key in gate}]


# --- tables and combiners --------------------------------------------------------------------------
def _tables(context: PageContext) -> list[str]:
    tables = context.data.get("tables") or []
    if not tables:
        return []
    lines = section("Tables")
    lines += [("Each table looks a value up: a step table takes the first band that matches (the value compared "
              "after snapping to 9 decimals), a case table the exact case; `adjust` rows then apply in order, and "
              "`bounds` clamp the result."), ""]
    for index, spec in enumerate(tables):
        lines += _table(context, index, spec)
    return lines


def _table(context: PageContext, index: int, spec: dict[str, Any]) -> list[str]:
    path = ("tables", index)
    note = context.note(path)
    lines = section(f"`{spec['id']}`" + (f" — {note}" if note else ""), 3)
    lines += lead_paragraph(context, path)
    if spec.get("description"):
        lines += [prose(spec["description"]), ""]
    facts = [f"Looks up {code(spec.get('of', ''))}; defined at {context.at(path)}."]
    if spec.get("bounds"):
        low, high = spec["bounds"]
        facts.append(f"Bounds: [{value_text(low)}, {value_text(high)}].")
    lines += [" ".join(facts), ""]
    lines += _band_rows(spec) if "steps" in spec else _case_rows(spec)
    if spec.get("adjust"):
        rows = [(str(n + 1), code(row.get("when", "")), _adjustment(row), prose(str(row.get("note", ""))))
                for n, row in enumerate(spec["adjust"])]
        lines += ["Adjustments, in order:", ""] + table(["#", "when", "then", "note"], rows, align="r") + [""]
    return lines


def _band_rows(spec: dict[str, Any]) -> list[str]:
    subject = code(spec.get("of", ""))
    rows = []
    for step in spec["steps"]:
        if "else" in step:
            rows.append(("otherwise", number_text(step["else"])))
            continue
        op = next(key for key in _BAND_OPS if key in step)
        rows.append((f"{subject} {_BAND_OPS[op]} {number_text(step[op])}", number_text(step.get("value"))))
    return table(["when", "value"], rows, align="lr") + [""]


def _case_rows(spec: dict[str, Any]) -> list[str]:
    rows = [(code(case), number_text(value)) for case, value in (spec.get("cases") or {}).items()]
    if "else" in spec:
        rows.append(("any other", number_text(spec["else"])))
    return table([code(spec.get("of", "")), "value"], rows, align="lr") + [""]


def _adjustment(row: dict[str, Any]) -> str:
    if "times" in row:
        return f"× {number_text(row['times'])}"
    return f"set to {number_text(row.get('set'))}"


def _combiners(context: PageContext) -> list[str]:
    combiners = context.data.get("combiners") or []
    if not combiners:
        return []
    rows = []
    for index, spec in enumerate(combiners):
        clamp = spec.get("clamp")
        rows.append((code(spec["id"]), f"{_COMBINE.get(spec.get('op', ''), spec.get('op', ''))} of "
                     + ", ".join(code(name) for name in spec.get("of", [])),
                     f"[{value_text(clamp[0])}, {value_text(clamp[1])}]" if clamp else "",
                     context.note(("combiners", index)), context.at(("combiners", index))))
    return [*section("Combiners"), *table(["combiner", "combines", "clamp", "note", "where"], rows), ""]


# --- triggers and outputs ----------------------------------------------------------------------------
def _triggers(context: PageContext) -> list[str]:
    triggers = context.data.get("triggers") or []
    if not triggers:
        return []
    lines = section("Triggers")
    lines += [("Every trigger is evaluated, whether a gate rejects or not; the ones that fire are reported in "
              "priority order (lower first), and when no gate rejects the first one gives the decision's reason."),
              ""]
    rows = []
    for index, spec in enumerate(triggers):
        path = ("triggers", index)
        rows += [("", f"*{text}*", "", "", "", "", "") for text in group_titles(context.lead(path))]
        rows.append((str(spec.get("priority", "")), code(spec["id"]), code(spec.get("when", "")),
                     code(spec.get("reason", "")), spec.get("severity", ""),
                     code(spec.get("event", "")), code(spec.get("message", "")) + _suffix(context.note(path))))
    return lines + table(["priority", "trigger", "fires when", "reason", "severity", "event", "message"], rows,
                         align="r") + [""]


def _suffix(note: str) -> str:
    return f" ({note})" if note else ""


def _outputs(context: PageContext) -> list[str]:
    outputs = context.data.get("outputs")
    on_reject = context.data.get("on_reject")
    lines: list[str] = []
    if outputs:
        names = outputs if isinstance(outputs, list) else list(outputs)
        lines += ["An approval reports " + ", ".join(code(name) for name in names) + "."]
    if on_reject:
        lines += [f"Every rejection emits {code(on_reject['event'])} ({on_reject.get('severity', 'INFO')})."]
    return [*section("Outputs"), " ".join(lines), ""] if lines else []
