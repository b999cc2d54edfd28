"""How a policy diff is shown: text for a terminal, Markdown for a PR comment, JSON for tools.

The Markdown form holds no timings or worker counts, so the same change and corpus always give
the same comment (and a snapshot test can pin it).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from policy_engine.diff.semantic import CATEGORIES, Change

if TYPE_CHECKING:
    from policy_engine.diff import DiffReport
    from policy_engine.diff.replay import Example, Flip, ReplayReport


def _heading(report: DiffReport) -> tuple[str, str]:
    old, new = report.old.doc.data, report.new.doc.data
    name = new.get("metadata", {}).get("id", "?")
    versions = f"{old.get('metadata', {}).get('version', '?')} -> {new.get('metadata', {}).get('version', '?')}"
    return name, versions


def _grouped(changes: list[Change]) -> list[tuple[str, list[Change]]]:
    return [(category, [c for c in changes if c.category == category]) for category in CATEGORIES
            if any(c.category == category for c in changes)]


def _share(count: int, total: int) -> str:
    return f"{100.0 * count / total:.2f} %" if total else "-"


# --- text ---------------------------------------------------------------------------------------
def format_text(report: DiffReport) -> str:
    name, versions = _heading(report)
    lines = [f"policy {name} {versions}: {report.old.label} -> {report.new.label}"]
    if not report.changes:
        lines.append("no semantic changes")
    for category, changes in _grouped(report.changes):
        lines.append(f"{category}:")
        lines += [f"  {change.format_text()}" for change in changes]
    if report.replay is not None:
        lines += _replay_text(report, report.replay)
    return "\n".join(lines)


def _replay_text(report: DiffReport, replay: ReplayReport) -> list[str]:
    flips = len(replay.flips)
    jobs = f"{replay.jobs} job{'s' if replay.jobs != 1 else ''}"
    units = f" ({replay.total} {replay.unit})" if replay.total != replay.records else ""
    lines = [f"replay of {replay.corpus}: {replay.records} records{units}, {jobs}, {replay.seconds:.1f} s",
             f"  flips: {flips} ({_share(flips, replay.total)})"]
    lines += [f"    {category:<22} {count}" for category, count in replay.counts().items()]
    if replay.sequential and replay.flips:
        first = replay.flips[0]
        lines.append(f"  first difference: line {first.line}, {first.subject}; later steps may differ because of it")
    lines.append(f"  {replay.quiet_label}: {replay.warnings_changed}")
    if replay.unreadable:
        lines.append(f"  unreadable lines: {len(replay.unreadable)} (first: line {replay.unreadable[0]})")
    if replay.examples:
        lines.append("  examples:")
    for example in replay.examples:
        lines += [f"    {line}" for line in _example_lines(report, example)]
    return lines


def _example_lines(report: DiffReport, example: Example) -> list[str]:
    flip = example.flip
    return [f"{_flip_head(flip)} [{flip.category}]: {_shown(report, flip.old)}  =>  {_shown(report, flip.new)}",
            *("  " + line for line in _step_lines(report, example))]


def _flip_head(flip: Flip) -> str:
    return f"line {flip.line}" + (f" {flip.subject}" if flip.subject else "")


def _shown(report: DiffReport, text: str) -> str:
    """Text with the private paths of git sides replaced by what the user wrote."""
    return report.new.show(report.old.show(text))


def _step_lines(report: DiffReport, example: Example) -> list[str]:
    if example.step is None:
        return [example.note or "(no trace to compare: a request the input schema refused)"]
    return [_shown(report, line) for line in example.step.lines()]


# --- Markdown -----------------------------------------------------------------------------------
def format_markdown(report: DiffReport) -> str:
    name, versions = _heading(report)
    lines = [f"### Policy diff: `{name}` {versions.replace('->', '→')}", "",
             f"`{report.old.label}` → `{report.new.label}`", ""]
    if not report.changes:
        lines += ["No semantic changes.", ""]
    for category, changes in _grouped(report.changes):
        lines += [f"**{category.capitalize()}**", "", "| | change | detail | line |", "|---|---|---|---|"]
        lines += [f"| {_sign(c)} | {_cell(c.what)} | {_cell(c.detail)} | {_where(c)} |" for c in changes]
        lines.append("")
    if report.replay is not None:
        lines += _replay_markdown(report, report.replay)
    return "\n".join(lines).rstrip() + "\n"


def _where(change: Change) -> str:
    if not change.line:
        return ""
    return f"{change.line} (old)" if change.side == "old" else str(change.line)


def _sign(change: Change) -> str:
    return {"added": "➕", "removed": "➖", "moved": "↕️", "changed": "✏️"}[change.op]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _replay_markdown(report: DiffReport, replay: ReplayReport) -> list[str]:
    flips, total = len(replay.flips), replay.total
    records = f" in {replay.records} records" if total != replay.records else ""
    lines = [f"#### Impact on `{replay.corpus}`", "",
             f"{flips} of {total} {replay.unit}{records} flip ({_share(flips, total)}).", ""]
    if flips:
        lines += [f"| flip | {replay.unit} | share |", "|---|---:|---:|"]
        lines += [f"| {category.replace('->', '→')} | {count} | {_share(count, total)} |"
                  for category, count in replay.counts().items()]
        lines.append("")
    if replay.sequential and replay.flips:
        first = replay.flips[0]
        lines.append(f"The versions first differ at line {first.line} ({first.subject}); later steps may differ "
                     "because of it.")
    lines.append(f"{replay.quiet_label[0].upper()}{replay.quiet_label[1:]}: {replay.warnings_changed}.")
    if replay.unreadable:
        lines.append(f"Unreadable lines: {len(replay.unreadable)} (first: line {replay.unreadable[0]}).")
    lines.append("")
    for example in replay.examples:
        flip = example.flip
        lines += [(f"<details><summary>{_flip_head(flip)}: {_cell(_shown(report, flip.old))} → "
                  f"{_cell(_shown(report, flip.new))}</summary>"), "",
                  "```", *_step_lines(report, example), "```", "", "</details>", ""]
    return lines


# --- JSON -----------------------------------------------------------------------------------------
def to_json(report: DiffReport) -> str:
    data: dict[str, Any] = {"old": report.old.label, "new": report.new.label,
                            "changes": [c.to_dict() for c in report.changes]}
    replay = report.replay
    if replay is not None:
        data["replay"] = {
            "corpus": replay.corpus, "kind": replay.kind, "records": replay.records, "unit": replay.unit,
            "compared": replay.total, "flips": len(replay.flips),
            "by_category": replay.counts(), "warnings_changed": replay.warnings_changed,
            "unreadable_lines": replay.unreadable, "value_paths": list(replay.value_paths),
            "flipped": [{"line": f.line, "subject": f.subject, "category": f.category, "old": _shown(report, f.old),
                         "new": _shown(report, f.new)} for f in replay.flips],
            "examples": [{"line": e.flip.line, "subject": e.flip.subject, "category": e.flip.category,
                          "first_difference": _step_dict(report, e)} for e in replay.examples],
            "seconds": round(replay.seconds, 3), "jobs": replay.jobs,
        }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=repr)


def _step_dict(report: DiffReport, example: Example) -> dict[str, Any] | None:
    if example.step is None:
        return {"note": example.note} if example.note else None
    text = json.dumps(example.step.to_dict(), default=repr)
    loaded: dict[str, Any] = json.loads(report.new.show(report.old.show(text)))
    return loaded
