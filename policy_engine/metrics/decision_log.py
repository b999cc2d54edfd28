"""The position-sizing decision log (seed 004 §10.2): one row per PositionSizingDecision.

    log = DecisionLog("state.db")                 # SQLite; may share the machines' state file
    decision = log.sized(manager, request)       # size, time the call, record: one transaction
    log.record(decision, latency_us=41.0)        # or record a decision sized elsewhere
    log.entries(since=..., until=...)            # what RiskMetrics counts

Write contract: ``decision_id`` is the key; the decision, its stop-loss plan and its take-profit
plan are one JSON document in one row, so they are written atomically. Writing the same decision
again is a no-op; writing a *different* decision under a stored id is refused
(``DecisionConflict``) — the log never changes silently. WAL journal, synchronous=FULL, like the
machine store. A decision has no latency of its own (the facade reads no clock), so the caller's
measured latency is stored beside it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policy_engine.durable import DurableFile

if TYPE_CHECKING:
    from policy_engine.risk.facade import RiskManager
    from policy_engine.risk.models_out import PositionSizingDecision

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sizing_decisions (
    decision_id TEXT PRIMARY KEY, at INTEGER NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
    is_approved INTEGER NOT NULL, rejection_gate TEXT, rejection_reason TEXT, quantity INTEGER NOT NULL,
    risk_pct REAL NOT NULL, combined_multiplier REAL, drawdown_pct REAL, latency_us REAL,
    config_version TEXT NOT NULL, decision_json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sizing_decisions_by_time ON sizing_decisions (at, decision_id)
"""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DecisionConflict(Exception):
    """A decision id is already stored with a different decision."""


@dataclass(frozen=True)
class LoggedDecision:
    """The numbers of one logged decision that the metrics read (the whole decision is kept too)."""

    decision_id: str
    at: int  # microseconds since the epoch, UTC: the decision's timestamp_utc
    symbol: str
    timeframe: str
    is_approved: bool
    rejection_gate: str | None
    rejection_reason: str | None
    quantity: int
    risk_pct: float
    combined_multiplier: float | None  # the clamped product; None when no factors were computed
    drawdown_pct: float | None  # the account drawdown the decision saw; None when not read
    latency_us: float | None
    config_version: str
    event_types: tuple[str, ...]


def _micros(moment: Any) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class DecisionLog(DurableFile):
    """Sizing decisions in one SQLite file; ``":memory:"`` for a throwaway log."""

    def __init__(self, path: str | Path):
        super().__init__(path)
        for statement in filter(str.strip, _SCHEMA.split(";")):
            self._db.execute(statement)

    def sized(self, manager: RiskManager, request: Any) -> PositionSizingDecision:
        """Size ``request`` with ``manager``, timing the call, and record the decision."""
        started = time.perf_counter()
        decision = manager.size(request)
        self.record(decision, latency_us=(time.perf_counter() - started) * 1e6)
        return decision

    def record(self, decision: PositionSizingDecision, latency_us: float | None = None) -> bool:
        """Store one decision; False if this very decision was stored already."""
        document = decision.model_dump_json()
        factors = decision.adjustment_factors
        row = (decision.decision_id, _micros(decision.timestamp_utc), decision.symbol, decision.timeframe,
               int(decision.is_approved), decision.rejection_gate.value if decision.rejection_gate else None,
               decision.rejection_reason, decision.quantity, decision.risk_pct,
               factors.combined_multiplier_clamped if factors else None,
               factors.current_drawdown_pct if factors else None, latency_us,
               decision.provenance.risk_config_version, document)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            stored = self._db.execute("SELECT decision_json FROM sizing_decisions WHERE decision_id = ?",
                                      (decision.decision_id,)).fetchone()
            if stored is None:
                self._db.execute(f"INSERT INTO sizing_decisions VALUES ({', '.join('?' * len(row))})", row)
        finally:
            self._db.execute("COMMIT")
        if stored is not None and stored[0] != document:
            raise DecisionConflict(f"decision {decision.decision_id} is stored with different content")
        return stored is None

    def entries(self, since: int | None = None, until: int | None = None) -> list[LoggedDecision]:
        """Decisions with ``since <= at < until`` (µs), in time order."""
        rows = self._db.execute(
            "SELECT decision_id, at, symbol, timeframe, is_approved, rejection_gate, rejection_reason, quantity, "
            "risk_pct, combined_multiplier, drawdown_pct, latency_us, config_version, decision_json "
            "FROM sizing_decisions WHERE at >= ? AND at < ? ORDER BY at, decision_id",
            (since if since is not None else -(2**62), until if until is not None else 2**62))
        return [_entry(row) for row in rows]

    def decision(self, decision_id: str) -> Mapping[str, Any] | None:
        """The stored decision document, as JSON data."""
        row = self._db.execute("SELECT decision_json FROM sizing_decisions WHERE decision_id = ?",
                               (decision_id,)).fetchone()
        return json.loads(row[0]) if row else None


def _entry(row: tuple[Any, ...]) -> LoggedDecision:
    *fields, document = row
    events = tuple(event["event_type"] for event in json.loads(document).get("events", ()))
    fields[4] = bool(fields[4])
    return LoggedDecision(*fields, event_types=events)
