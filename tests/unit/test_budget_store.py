"""The budget ledger in SQLite: shares the machines' file, survives reopening, writes each event
whole or not at all, and refuses what would corrupt it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from policy_engine.budget import BudgetConflict, BudgetError, BudgetStore
from policy_engine.budget.store import CANCEL, FILL, ClosureRecord, DecisionRecord
from policy_engine.store import MachineStore

DECISION = DecisionRecord("d-1", at=1_000, risk_micros=1_000_000_000, quantity=5, strategy_family="TREND")


def counts(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as db:
        return (db.execute("SELECT COUNT(*) FROM budget_decisions").fetchone()[0],
                db.execute("SELECT COUNT(*) FROM budget_closures").fetchone()[0])


def test_shares_the_machine_store_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with MachineStore(path) as machines, BudgetStore(path) as ledger:
        assert ledger.add_decision(DECISION)
        assert machines.machines() == []
    with BudgetStore(path), MachineStore(path) as machines:  # either order, either schema first
        assert machines.machines() == []
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"machines", "budget_decisions", "budget_closures", "budget_settings"} <= tables
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1  # the machine store's own version
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_durable_and_idempotent_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with BudgetStore(path) as ledger:
        assert ledger.add_decision(DECISION)
        assert ledger.add_closure(ClosureRecord(FILL, "f-1", "d-1", 2_000, 2, -300_000_000))
    with BudgetStore(path) as ledger:
        assert ledger.has_decision("d-1") and not ledger.has_decision("d-2")
        assert not ledger.add_decision(DECISION)
        assert not ledger.add_closure(ClosureRecord(FILL, "f-1", "d-1", 2_000, 2, -300_000_000))
        decisions, closures = ledger.decisions(), ledger.closures()
        assert [(d["decision_id"], d["closed_quantity"], d["closed_at"]) for d in decisions] == [("d-1", 2, None)]
        assert [(c["event_id"], c["quantity"], c["loss_micros"]) for c in closures] == [("f-1", 2, 300_000_000)]
    assert counts(path) == (1, 1)


def test_a_repeated_id_with_other_content_is_a_conflict(tmp_path: Path) -> None:
    with BudgetStore(tmp_path / "s.db") as ledger:
        ledger.add_decision(DECISION)
        with pytest.raises(BudgetConflict, match="risk_micros"):
            ledger.add_decision(DecisionRecord("d-1", 1_000, 2_000_000_000, 5, "TREND"))
        ledger.add_closure(ClosureRecord(CANCEL, "c-1", "d-1", 2_000, 1))
        with pytest.raises(BudgetConflict, match="at"):
            ledger.add_closure(ClosureRecord(CANCEL, "c-1", "d-1", 3_000, 1))
        # "all still open" matches the quantity that was stored
        assert not ledger.add_closure(ClosureRecord(CANCEL, "c-1", "d-1", 2_000))
    assert counts(tmp_path / "s.db") == (1, 1)


@pytest.mark.parametrize("closure, message", [
    (ClosureRecord(FILL, "f-9", "d-404", 2_000, None, 0), "no decision d-404"),
    (ClosureRecord(FILL, "f-9", "d-1", 999, None, 0), "dated before"),
    (ClosureRecord(CANCEL, "c-9", "d-1", 2_000, 6), "closes 6 of decision d-1, only 5 open"),
])
def test_refusals_write_nothing(tmp_path: Path, closure: ClosureRecord, message: str) -> None:
    with BudgetStore(tmp_path / "s.db") as ledger:
        ledger.add_decision(DECISION)
        with pytest.raises(BudgetError, match=message):
            ledger.add_closure(closure)
        assert ledger.decisions()[0]["closed_quantity"] == 0
    assert counts(tmp_path / "s.db") == (1, 0)


def test_closing_fully_and_after(tmp_path: Path) -> None:
    with BudgetStore(tmp_path / "s.db") as ledger:
        ledger.add_decision(DECISION)
        ledger.add_closure(ClosureRecord(FILL, "f-2", "d-1", 5_000, 3, 0))
        ledger.add_closure(ClosureRecord(FILL, "f-1", "d-1", 4_000, 2, 0))  # recorded later, dated earlier
        assert ledger.decisions()[0]["closed_at"] == 5_000  # closed when its last closing event happened
        assert not ledger.add_closure(ClosureRecord(CANCEL, "c-1", "d-1", 6_000))  # nothing left: a no-op
        with pytest.raises(BudgetError, match="already closed"):
            ledger.add_closure(ClosureRecord(FILL, "f-3", "d-1", 6_000, None, -1))
        assert [o.open_quantity for o in ledger.open_decisions(4_500)] == [3]
        assert ledger.open_decisions(5_000) == []
    assert counts(tmp_path / "s.db") == (1, 2)


def test_another_ledger_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    BudgetStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE budget_settings SET value = '2' WHERE key = 'schema_version'")
    with pytest.raises(BudgetError, match="version 2"):
        BudgetStore(path)
