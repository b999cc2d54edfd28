"""The budget ledger in SQLite: approved decisions and the fills and cancels that close them.

Its own tables (``budget_*``) in any SQLite file, typically the one ``MachineStore`` uses, on
its own connection: WAL journal, synchronous=FULL, ``CREATE TABLE IF NOT EXISTS``; the file's
``user_version`` stays the machine store's (the ledger's schema version is a row of
``budget_settings``). Every event is one ``BEGIN IMMEDIATE`` transaction keyed by its id:

- the same id with the same content again writes nothing and returns False;
- the same id with other content raises ``BudgetConflict`` and writes nothing;
- a fill or cancel of an unknown decision, dated before it, or closing more than is open
  raises ``BudgetError`` and writes nothing.

A decision's ``closed_quantity`` and ``closed_at`` (the time of the closing event that closed
it fully) are kept on its row, so "open at time t" is one indexed query.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from policy_engine.budget.rules import BudgetError
from policy_engine.durable import DurableFile

SCHEMA_VERSION = "1"
FILL, CANCEL = "FILL", "CANCEL"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_decisions (
    decision_id TEXT PRIMARY KEY, at INTEGER NOT NULL, risk_micros INTEGER NOT NULL,
    quantity INTEGER NOT NULL, strategy_family TEXT NOT NULL, symbol TEXT,
    closed_quantity INTEGER NOT NULL, closed_at INTEGER);
CREATE INDEX IF NOT EXISTS budget_decisions_open ON budget_decisions (closed_at, at);
CREATE TABLE IF NOT EXISTS budget_closures (
    kind TEXT NOT NULL, event_id TEXT NOT NULL, decision_id TEXT NOT NULL, at INTEGER NOT NULL,
    quantity INTEGER NOT NULL, realized_pnl_micros INTEGER NOT NULL, loss_micros INTEGER NOT NULL,
    strategy_family TEXT NOT NULL, PRIMARY KEY (kind, event_id));
CREATE INDEX IF NOT EXISTS budget_closures_by_time ON budget_closures (at);
CREATE INDEX IF NOT EXISTS budget_closures_by_decision ON budget_closures (decision_id, at);
CREATE TABLE IF NOT EXISTS budget_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class BudgetConflict(BudgetError):
    """An id already recorded with different content."""


@dataclass(frozen=True)
class DecisionRecord:
    """An approved decision: ``risk_micros`` of open risk over ``quantity`` units from ``at``."""

    decision_id: str
    at: int
    risk_micros: int
    quantity: int
    strategy_family: str
    symbol: str | None = None


@dataclass(frozen=True)
class ClosureRecord:
    """A fill (realizes P&L) or cancel (releases) of ``quantity`` units; None: all still open."""

    kind: str
    event_id: str
    decision_id: str
    at: int
    quantity: int | None = None
    realized_pnl_micros: int = 0


@dataclass(frozen=True)
class OpenDecision:
    decision_id: str
    strategy_family: str
    risk_micros: int
    quantity: int
    open_quantity: int


class BudgetStore(DurableFile):
    """``BudgetStore("state.db")`` (the machines' file is fine); ``":memory:"`` for a throwaway."""

    def __init__(self, path: str | Path):
        super().__init__(path)
        with self._transaction():
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(statement)
            found = self._setting("schema_version")
            if found is None:
                self._db.execute("INSERT INTO budget_settings VALUES ('schema_version', ?)",
                                 (SCHEMA_VERSION,))
            elif found != SCHEMA_VERSION:
                raise BudgetError(f"{self.path}: budget ledger version {found}, "
                                  f"this engine reads {SCHEMA_VERSION}")

    # --- writing ------------------------------------------------------------------------
    def add_decision(self, record: DecisionRecord) -> bool:
        with self._transaction():
            row = self._db.execute("SELECT * FROM budget_decisions WHERE decision_id = ?",
                                   (record.decision_id,)).fetchone()
            if row is not None:
                return _same(record, {k: row[k] for k in asdict(record)}, "decision")
            self._db.execute("INSERT INTO budget_decisions VALUES (?, ?, ?, ?, ?, ?, 0, NULL)",
                             (record.decision_id, record.at, record.risk_micros, record.quantity,
                              record.strategy_family, record.symbol))
        return True

    def add_closure(self, record: ClosureRecord) -> bool:
        with self._transaction():
            row = self._db.execute("SELECT * FROM budget_closures WHERE kind = ? AND event_id = ?",
                                   (record.kind, record.event_id)).fetchone()
            if row is not None:
                stored = {k: row[k] for k in asdict(record)}
                return _same(record, stored if record.quantity is not None else {**stored, "quantity": None},
                             record.kind.lower())
            decision = self._decision_row(record)
            quantity = self._closing_quantity(record, decision)
            if quantity == 0:
                return False  # a cancel after the decision closed: nothing left to release
            loss = max(-record.realized_pnl_micros, 0)
            self._db.execute("INSERT INTO budget_closures VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (record.kind, record.event_id, record.decision_id, record.at, quantity,
                              record.realized_pnl_micros, loss, decision["strategy_family"]))
            self._close(decision, quantity)
        return True

    def _decision_row(self, record: ClosureRecord) -> sqlite3.Row:
        decision: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM budget_decisions WHERE decision_id = ?", (record.decision_id,)).fetchone()
        event = f"{record.kind.lower()} {record.event_id}"
        if decision is None:
            raise BudgetError(f"{event}: no decision {record.decision_id} recorded")
        if record.at < decision["at"]:
            raise BudgetError(f"{event} is dated before decision {record.decision_id}")
        return decision

    @staticmethod
    def _closing_quantity(record: ClosureRecord, decision: sqlite3.Row) -> int:
        still_open = decision["quantity"] - decision["closed_quantity"]
        quantity = still_open if record.quantity is None else record.quantity
        if record.kind == FILL and still_open == 0:
            raise BudgetError(f"fill {record.event_id}: decision {record.decision_id} is already closed")
        if quantity > still_open:
            raise BudgetError(f"{record.kind.lower()} {record.event_id} closes {quantity} of decision "
                              f"{record.decision_id}, only {still_open} open")
        return quantity

    def _close(self, decision: sqlite3.Row, quantity: int) -> None:
        closed = decision["closed_quantity"] + quantity
        closed_at = None
        if closed == decision["quantity"]:  # fully closed when the last closing event (in time) happened
            closed_at = self._db.execute("SELECT MAX(at) FROM budget_closures WHERE decision_id = ?",
                                         (decision["decision_id"],)).fetchone()[0]
        self._db.execute("UPDATE budget_decisions SET closed_quantity = ?, closed_at = ? "
                         "WHERE decision_id = ?", (closed, closed_at, decision["decision_id"]))

    def set_setting(self, key: str, value: str) -> None:
        with self._transaction():
            self._db.execute("INSERT INTO budget_settings VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                             "value = excluded.value", (key, value))

    # --- reading ------------------------------------------------------------------------
    def setting(self, key: str) -> str | None:
        return self._setting(key)

    def _setting(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM budget_settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def has_decision(self, decision_id: str) -> bool:
        query = "SELECT 1 FROM budget_decisions WHERE decision_id = ?"
        return self._db.execute(query, (decision_id,)).fetchone() is not None

    def realized_losses(self, start: int, now: int) -> dict[str, int]:
        """Family -> realized loss (micro-dollars) of the fills dated in [start, now]."""
        rows = self._db.execute(
            "SELECT strategy_family, SUM(loss_micros) FROM budget_closures WHERE at >= ? AND at <= ? "
            "GROUP BY strategy_family ORDER BY strategy_family", (start, now))
        return {family: int(total) for family, total in rows if total}

    def open_decisions(self, now: int) -> list[OpenDecision]:
        """Decisions made by ``now`` and not fully closed by then, with the units still open."""
        rows = self._db.execute(
            "SELECT d.decision_id, d.strategy_family, d.risk_micros, d.quantity, "
            "d.quantity - COALESCE(SUM(c.quantity), 0) AS open_quantity FROM budget_decisions d "
            "LEFT JOIN budget_closures c ON c.decision_id = d.decision_id AND c.at <= :now "
            "WHERE d.at <= :now AND (d.closed_at IS NULL OR d.closed_at > :now) "
            "GROUP BY d.decision_id ORDER BY d.decision_id", {"now": now})
        return [OpenDecision(*row) for row in rows]

    def decisions(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute("SELECT * FROM budget_decisions ORDER BY at, decision_id")]

    def closures(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM budget_closures ORDER BY at, kind, event_id")
        return [dict(r) for r in rows]


def _same(record: Any, stored: dict[str, Any], what: str) -> bool:
    """A repeated id: False when it says the same thing, ``BudgetConflict`` when it does not."""
    given = asdict(record)
    if given != stored:
        changed = sorted(k for k in given if given[k] != stored[k])
        raise BudgetConflict(f"{what} {given.get('event_id', given.get('decision_id'))} is already recorded "
                             f"with other {', '.join(changed)}")
    return False
