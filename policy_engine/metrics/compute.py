"""RiskMetrics (seed 004 §4.11) over a time window: pure arithmetic on recorded facts.

Inputs are what the engine recorded — sizing decisions (``DecisionLog``) and the risk-modes
machine's history (``MachineStore``) — never the engine's live state, so the same log gives the
same metrics on any machine, any day. Definitions where the seed names a field and no formula:

* ``*_pct`` fields are fractions (0.25 is 25 %), as everywhere in the seed's contracts.
* Averages of size, risk and multiplier are over approved entries that were sized (quantity > 0).
* ``limit_breaches``: rejections by a limit gate (daily/weekly loss, drawdown, positions,
  concentration, greeks) plus LIMIT_BREACH events; ``breaches_by_type`` keys them by reason.
* Time in mode is the share of the window during which the machine was known to be in each mode:
  from the later of the window start and the machine's first recorded step, to the window end.
* ``p95`` latency is the nearest-rank percentile (the ceil(0.95 n)-th smallest); latencies are ms.
* Drawdown is what the decisions saw: max and latest ``current_drawdown_pct`` in the window; the
  duration counts bars of the latest decision's timeframe since the current drawdown run began
  (0 when the latest drawdown is 0).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from policy_engine.metrics.decision_log import LoggedDecision

MODES = ("NORMAL", "REDUCE_ONLY", "STAND_DOWN")
LIMIT_GATES = frozenset({"DAILY_LOSS_GATE", "WEEKLY_LOSS_GATE", "DRAWDOWN_GATE", "MAX_POSITIONS_GATE",
                         "SYMBOL_CONCENTRATION_GATE", "GREEK_EXPOSURE_GATE"})
METRICS_VERSION = "seed-004/§4.11"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMEFRAME = re.compile(r"^(\d+)([smhdw])$")
_UNIT_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000, "w": 604_800_000_000}


class MetricsProvenance(BaseModel):
    """What the metrics were computed from. (The seed's RiskProvenance describes one sizing call —
    signal and exposure hashes — which a window of many calls does not have.)"""

    model_config = ConfigDict(frozen=True, extra="forbid")
    metrics_version: str
    decisions_counted: int
    decisions_hash: str  # sha256 over the counted decision ids, in order
    config_versions: list[str]  # every policy version whose decisions were counted
    mode_machine_id: str | None


class RiskMetrics(BaseModel):
    """Seed §4.11, field for field."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    timestamp_utc: datetime
    window_start: datetime
    window_end: datetime
    window_duration_seconds: int
    sizing_requests: int
    sizing_approved: int
    sizing_rejected: int
    rejection_rate: float
    rejections_by_gate: dict[str, int]
    limit_breaches: int
    breaches_by_type: dict[str, int]
    time_in_normal_pct: float
    time_in_reduce_only_pct: float
    time_in_stand_down_pct: float
    mode_transitions: int
    avg_position_size: float
    avg_risk_per_trade_pct: float
    avg_adjustment_multiplier: float
    max_drawdown_pct: float
    current_drawdown_pct: float
    drawdown_duration_bars: int
    avg_sizing_latency_ms: float
    p95_sizing_latency_ms: float
    max_sizing_latency_ms: float
    provenance: MetricsProvenance


@dataclass(frozen=True)
class ModeHistory:
    """A mode machine's timeline: its mode from ``started_at`` on, and each change after."""

    machine_id: str
    started_at: int  # µs: the machine's first recorded step
    initial_mode: str
    changes: tuple[tuple[int, str], ...]  # (at µs, new mode), in order

    @classmethod
    def from_store(cls, store: Any, machine_id: str) -> ModeHistory | None:
        """Read from a ``MachineStore``; None when the machine has no recorded step."""
        states = store.states(machine_id)
        if not states:
            return None
        transitions = store.transitions(machine_id)
        initial = transitions[0]["from_mode"] if transitions else states[0]["mode"]
        return cls(machine_id, states[0]["at"], initial, tuple((t["at"], t["to_mode"]) for t in transitions))

    def time_in_modes(self, start: int, end: int) -> tuple[dict[str, int], int]:
        """µs spent in each mode within [start, end), and the number of changes inside it."""
        spent: Counter[str] = Counter()
        begin = max(start, self.started_at)
        mode, changes = self.initial_mode, 0
        for at, new_mode in self.changes:
            if at <= begin:
                mode = new_mode
                continue
            if at >= end:
                break
            spent[mode] += at - begin
            begin, mode, changes = at, new_mode, changes + 1
        if end > begin:
            spent[mode] += end - begin
        return dict(spent), changes


def risk_metrics(entries: Sequence[LoggedDecision], modes: ModeHistory | None, since: int, until: int,
                 computed_at: int | None = None) -> RiskMetrics:
    """The metrics of the decisions and mode changes with ``since <= at < until`` (µs)."""
    if until <= since:
        raise ValueError("the window must end after it starts")
    window = [e for e in entries if since <= e.at < until]
    approved = [e for e in window if e.is_approved]
    rejected = [e for e in window if not e.is_approved]
    sized = [e for e in approved if e.quantity > 0]
    breaches = _breaches(window)
    spent, transitions = modes.time_in_modes(since, until) if modes else ({}, 0)
    observed = sum(spent.values())
    latencies = sorted(e.latency_us / 1000 for e in window if e.latency_us is not None)
    drawdown = _drawdown(window)
    return RiskMetrics(
        timestamp_utc=_at(computed_at if computed_at is not None else until), window_start=_at(since),
        window_end=_at(until), window_duration_seconds=(until - since) // 1_000_000,
        sizing_requests=len(window), sizing_approved=len(approved), sizing_rejected=len(rejected),
        rejection_rate=_ratio(len(rejected), len(window)),
        rejections_by_gate=dict(sorted(Counter(e.rejection_gate or "ENGINE" for e in rejected).items())),
        limit_breaches=sum(breaches.values()), breaches_by_type=breaches,
        time_in_normal_pct=_ratio(spent.get("NORMAL", 0), observed),
        time_in_reduce_only_pct=_ratio(spent.get("REDUCE_ONLY", 0), observed),
        time_in_stand_down_pct=_ratio(spent.get("STAND_DOWN", 0), observed), mode_transitions=transitions,
        avg_position_size=_mean([e.quantity for e in sized]),
        avg_risk_per_trade_pct=_mean([e.risk_pct for e in sized]),
        avg_adjustment_multiplier=_mean([e.combined_multiplier for e in sized if e.combined_multiplier is not None]),
        max_drawdown_pct=drawdown[0], current_drawdown_pct=drawdown[1], drawdown_duration_bars=drawdown[2],
        avg_sizing_latency_ms=_mean(latencies), p95_sizing_latency_ms=_nearest_rank(latencies, 0.95),
        max_sizing_latency_ms=latencies[-1] if latencies else 0.0,
        provenance=MetricsProvenance(
            metrics_version=METRICS_VERSION, decisions_counted=len(window),
            decisions_hash="sha256:" + hashlib.sha256("\n".join(e.decision_id for e in window).encode()).hexdigest(),
            config_versions=sorted({e.config_version for e in window}),
            mode_machine_id=modes.machine_id if modes else None))


def _breaches(window: Sequence[LoggedDecision]) -> dict[str, int]:
    found: Counter[str] = Counter()
    for entry in window:
        if not entry.is_approved and entry.rejection_gate in LIMIT_GATES:
            found[entry.rejection_reason or entry.rejection_gate] += 1
        found.update("LIMIT_BREACH" for kind in entry.event_types if kind == "LIMIT_BREACH")
    return dict(sorted(found.items()))


def _drawdown(window: Sequence[LoggedDecision]) -> tuple[float, float, int]:
    seen = [e for e in window if e.drawdown_pct is not None]
    if not seen:
        return 0.0, 0.0, 0
    latest = seen[-1]
    run_start = latest
    for entry in reversed(seen):
        if not entry.drawdown_pct:
            break
        run_start = entry
    bars = 0
    if latest.drawdown_pct:
        bars = (latest.at - run_start.at) // timeframe_us(latest.timeframe)
    return max(e.drawdown_pct or 0.0 for e in seen), latest.drawdown_pct or 0.0, bars


def timeframe_us(timeframe: str) -> int:
    """``5m`` -> 300,000,000 µs. Unknown spellings count as one-minute bars."""
    match = _TIMEFRAME.match(timeframe)
    return int(match.group(1)) * _UNIT_US[match.group(2)] if match and int(match.group(1)) else 60_000_000


def _nearest_rank(ordered: Sequence[float], q: float) -> float:
    return ordered[math.ceil(q * len(ordered)) - 1] if ordered else 0.0


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def _at(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)
