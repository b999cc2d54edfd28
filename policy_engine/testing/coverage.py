"""Coverage of a policy by its scenarios: which items were hit, and why the others were not.

The kind's adapter defines the universe (``CoverageItem``s) and, for each case, what it saw
for every item: ``hit`` or what happened instead. The tally counts those per item, so an
uncovered item comes with its reason: "passed in 41 cases; not reached (decided by
INPUT_VALIDATION) in 6 cases". Cases of one policy run with other params count for the same
items (params change numbers, not the rules).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from policy_engine.testing.adapters import HIT, CoverageItem

GROUPS = ("gates", "bands", "triggers", "outputs", "transitions", "limits")


@dataclass
class PolicyCoverage:
    policy_id: str
    policy_file: str
    kind: str
    items: list[CoverageItem]
    left_out: list[tuple[CoverageItem, str]]
    seen: dict[str, Counter[str]] = field(default_factory=dict)
    cases: int = 0

    def record(self, sightings: Mapping[str, str]) -> None:
        self.cases += 1
        for key, status in sightings.items():
            self.seen.setdefault(key, Counter())[status] += 1

    def covered(self, item: CoverageItem) -> bool:
        return self.seen.get(item.key, Counter())[HIT] > 0

    @property
    def hit_count(self) -> int:
        return sum(1 for item in self.items if self.covered(item))

    @property
    def percent(self) -> float:
        return 100.0 * self.hit_count / len(self.items) if self.items else 100.0

    def by_group(self) -> dict[str, tuple[int, int]]:
        """group -> (covered, total), groups in a fixed order."""
        totals: dict[str, tuple[int, int]] = {}
        for group in [*GROUPS, *sorted({i.group for i in self.items} - set(GROUPS))]:
            members = [item for item in self.items if item.group == group]
            if members:
                totals[group] = (sum(1 for item in members if self.covered(item)), len(members))
        return totals

    def uncovered(self) -> list[tuple[CoverageItem, str]]:
        return [(item, self.reason(item)) for item in self.items if not self.covered(item)]

    def reason(self, item: CoverageItem) -> str:
        counts = self.seen.get(item.key)
        if not counts:
            return "no case ran this policy" if self.cases == 0 else "never observed"
        parts = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
        return "; ".join(f"{status} in {n} case{'s' if n != 1 else ''}" for status, n in parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy_id": self.policy_id, "policy": self.policy_file, "kind": self.kind, "cases": self.cases,
            "covered": self.hit_count, "total": len(self.items), "percent": round(self.percent, 1),
            "groups": {g: {"covered": c, "total": t} for g, (c, t) in self.by_group().items()},
            "uncovered": [_item_dict(item, self.policy_file, why) for item, why in self.uncovered()],
            "left_out": [_item_dict(item, self.policy_file, why) for item, why in self.left_out],
        }


def _item_dict(item: CoverageItem, file: str, why: str) -> dict[str, Any]:
    return {"key": item.key, "group": item.group, "rule": item.rule, "label": item.label,
            "location": f"{file}:{item.line}", "reason": why}


def format_coverage(report: PolicyCoverage) -> str:
    head = (f"coverage {report.policy_id} ({report.policy_file}): {report.hit_count}/{len(report.items)} items, "
            f"{report.percent:.1f} % — from {report.cases} case{'s' if report.cases != 1 else ''}")
    groups = "  ".join(f"{group} {c}/{t}" for group, (c, t) in report.by_group().items())
    lines = [head, f"  {groups}"]
    uncovered = report.uncovered()
    if uncovered:
        lines.append("  uncovered:")
        lines += [f"    {report.policy_file}:{item.line}  {item.label} — {why}" for item, why in uncovered]
    if report.left_out:
        lines.append("  left out:")
        lines += [f"    {report.policy_file}:{item.line}  {item.label} — {why}" for item, why in report.left_out]
    return "\n".join(lines)
