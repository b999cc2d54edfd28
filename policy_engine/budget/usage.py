"""How much of one period's budget is used at a time: integer micro-dollars, per family.

Used budget = realized losses of the fills dated in the period up to ``now`` (profits do not
refill it) + the open risk, at ``now``, of every approved decision made by then and not yet
closed, whenever it was made: a position opened yesterday can still lose today, so its risk
keeps counting until a fill realizes it or a cancel releases it. A partly closed decision keeps
its risk pro rata to the units still open (rounded up). Everything is read "as of ``now``":
events dated later are not counted, so a snapshot of a past time can be recomputed exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from policy_engine.budget.amounts import at_least_fraction, pro_rata_ceil, share
from policy_engine.budget.periods import Period
from policy_engine.budget.rules import BudgetRules
from policy_engine.budget.store import BudgetStore, OpenDecision
from policy_engine.decision import sha256_of
from policy_engine.risk.models_in import StrategyFamily

FAMILY_ORDER = {family.value: index for index, family in enumerate(StrategyFamily)}


@dataclass(frozen=True)
class FamilyUsage:
    family: str
    share: float  # of the period's budget
    allocated: int
    realized: int
    open_risk: int

    @property
    def used(self) -> int:
        return self.realized + self.open_risk

    @property
    def remaining(self) -> int:
        return self.allocated - self.used


@dataclass(frozen=True)
class OpenRisk:
    """The decisions open at ``now`` and their open risk per family (the same for every period)."""

    rows: tuple[OpenDecision, ...]
    by_family: dict[str, int]

    @classmethod
    def read(cls, store: BudgetStore, now: int) -> OpenRisk:
        rows = tuple(store.open_decisions(now))
        by_family: dict[str, int] = {}
        for row in rows:
            risk = pro_rata_ceil(row.risk_micros, row.open_quantity, row.quantity)
            by_family[row.strategy_family] = by_family.get(row.strategy_family, 0) + risk
        return cls(rows, by_family)


@dataclass(frozen=True)
class PeriodUsage:
    """One period's budget at ``now``: every amount in micro-dollars."""

    period: Period
    now: int
    balance: int
    total_pct: float
    total: int
    realized_by_family: dict[str, int]
    open: OpenRisk
    families: tuple[FamilyUsage, ...]

    @property
    def realized(self) -> int:
        return sum(self.realized_by_family.values())

    @property
    def open_risk(self) -> int:
        return sum(self.open.by_family.values())

    @property
    def open_decisions(self) -> int:
        return len(self.open.rows)

    @cached_property
    def ledger_hash(self) -> str:
        """sha256 of the ledger rows this usage was computed from (for the provenance only)."""
        rows = [[r.decision_id, r.risk_micros, r.quantity, r.open_quantity] for r in self.open.rows]
        return sha256_of({"realized": self.realized_by_family, "open": rows})

    @property
    def used(self) -> int:
        return self.realized + self.open_risk

    @property
    def remaining(self) -> int:
        return self.total - self.used

    @property
    def is_exhausted(self) -> bool:
        return self.used >= self.total  # a zero budget is exhausted: nothing may be risked

    def is_warning(self, threshold: float) -> bool:
        return self.total <= 0 or at_least_fraction(self.used, self.total, threshold)

    def family(self, name: str) -> FamilyUsage | None:
        return next((f for f in self.families if f.family == name), None)


def period_usage(store: BudgetStore, rules: BudgetRules, period: Period, now: int, balance: int,
                 open_risk: OpenRisk | None = None) -> PeriodUsage:
    """``open_risk``: ``OpenRisk.read(store, now)`` when the caller has read it already."""
    pct = rules.max_loss_pct[period.kind]
    total = share(balance, pct)
    realized = store.realized_losses(period.start, now)
    opened = OpenRisk.read(store, now) if open_risk is None else open_risk
    families = _families(rules, total, realized, opened.by_family)
    return PeriodUsage(period, now, balance, pct, total, realized, opened, families)


def _families(rules: BudgetRules, total: int, realized: dict[str, int],
              open_risk: dict[str, int]) -> tuple[FamilyUsage, ...]:
    """The configured families and every family with usage, in the families' declaration order."""
    names = set(realized) | set(open_risk) | set(rules.allocations or ())
    ordered = sorted(names, key=lambda name: (FAMILY_ORDER.get(name, len(FAMILY_ORDER)), name))
    return tuple(_family(name, rules.allocation(name), total, realized, open_risk) for name in ordered)


def _family(name: str, fraction: float, total: int, realized: dict[str, int],
            open_risk: dict[str, int]) -> FamilyUsage:
    return FamilyUsage(name, fraction, share(total, fraction), realized.get(name, 0), open_risk.get(name, 0))
