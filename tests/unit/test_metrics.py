"""RiskMetrics (seed 004 §4.11): hand-counted values from a recorded log, the decision log's write
contract, and the metrics of real decisions recorded through the sizing facade."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

import policy_engine
from policy_engine.metrics import DecisionConflict, DecisionLog, LoggedDecision, ModeHistory, risk_metrics
from policy_engine.metrics.exposition import prometheus_text
from policy_engine.risk.facade import RiskManager
from policy_engine.store import MachineRunner, MachineStore

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "policies/risk/examples"
T0 = 1_740_924_000_000_000  # 2025-03-02T14:00:00Z in µs
MIN = 60_000_000


def entry(minute: int, approved: bool, quantity: int = 0, risk: float = 0.0, multiplier: float | None = None,
          drawdown: float | None = None, latency_us: float | None = None, gate: str | None = None,
          reason: str | None = None, events: tuple[str, ...] = ()) -> LoggedDecision:
    return LoggedDecision(f"d{minute:+04d}", T0 + minute * MIN, "MSFT", "5m", approved, gate, reason, quantity,
                          risk, multiplier, drawdown, latency_us, "risk.position_sizing@1.0.0", events)


LOG = [
    entry(-1, True, 99, 0.01, 1.0, 0.0, 999.0),  # before the window
    entry(0, True, 10, 0.004, 1.0, 0.0, 100.0),
    entry(10, True, 20, 0.006, 0.5, 0.02, 200.0),
    entry(20, False, gate="DAILY_LOSS_GATE", reason="daily_loss_limit_reached", latency_us=50.0),
    entry(30, False, gate="KILL_SWITCH_GATE", reason="kill_switch_active", latency_us=70.0),
    entry(40, True, 0, 0.0, None, 0.03, 80.0),  # an approved exit: not sized
    entry(50, True, 30, 0.005, 1.2, 0.05, 300.0, events=("LIMIT_BREACH",)),
    entry(60, False, drawdown=0.06, latency_us=400.0, gate="DRAWDOWN_GATE", reason="max_drawdown_reached"),
    entry(100, True, 99, 0.01, 1.0, 0.0, 999.0),  # at the window's end: excluded
]
MODES = ModeHistory("risk.risk_modes", T0 - 30 * MIN, "NORMAL",
                    ((T0 + 20 * MIN, "REDUCE_ONLY"), (T0 + 45 * MIN, "STAND_DOWN"), (T0 + 70 * MIN, "NORMAL"),
                     (T0 + 120 * MIN, "REDUCE_ONLY")))


def test_metrics_equal_hand_counted_values() -> None:
    m = risk_metrics(LOG, MODES, T0, T0 + 100 * MIN)
    assert m.window_duration_seconds == 6000
    assert (m.sizing_requests, m.sizing_approved, m.sizing_rejected) == (7, 4, 3)
    assert m.rejection_rate == pytest.approx(3 / 7)
    assert m.rejections_by_gate == {"DAILY_LOSS_GATE": 1, "DRAWDOWN_GATE": 1, "KILL_SWITCH_GATE": 1}
    # kill switch is not a limit; the LIMIT_BREACH event of minute 50 is
    assert m.breaches_by_type == {"LIMIT_BREACH": 1, "daily_loss_limit_reached": 1, "max_drawdown_reached": 1}
    assert m.limit_breaches == 3
    # sized approvals: minutes 0, 10, 50 (the exit at 40 has quantity 0)
    assert m.avg_position_size == pytest.approx((10 + 20 + 30) / 3)
    assert m.avg_risk_per_trade_pct == pytest.approx((0.004 + 0.006 + 0.005) / 3)
    assert m.avg_adjustment_multiplier == pytest.approx((1.0 + 0.5 + 1.2) / 3)
    # drawdowns seen 0, .02, .03, .05, .06: the run began at minute 10, latest at 60 -> 50 min = 10 bars of 5m
    assert (m.max_drawdown_pct, m.current_drawdown_pct, m.drawdown_duration_bars) == (0.06, 0.06, 10)
    # latencies (ms) .05 .07 .08 .1 .2 .3 .4: nearest rank ceil(.95 * 7) = 7th
    assert m.avg_sizing_latency_ms == pytest.approx(1.2 / 7)
    assert (m.p95_sizing_latency_ms, m.max_sizing_latency_ms) == (0.4, 0.4)


def test_time_in_mode_across_transitions() -> None:
    # NORMAL 0-20, REDUCE_ONLY 20-45, STAND_DOWN 45-70, NORMAL 70-100 (the change at 120 is outside)
    m = risk_metrics(LOG, MODES, T0, T0 + 100 * MIN)
    assert (m.time_in_normal_pct, m.time_in_reduce_only_pct, m.time_in_stand_down_pct) == (0.5, 0.25, 0.25)
    assert m.mode_transitions == 3
    # a window starting mid-STAND_DOWN: 50-70 SD, 70-110 NORMAL, 110-120 NORMAL... until 130: RO 120-130
    later = risk_metrics(LOG, MODES, T0 + 50 * MIN, T0 + 130 * MIN)
    assert (later.time_in_stand_down_pct, later.time_in_normal_pct, later.time_in_reduce_only_pct) == \
        (20 / 80, 50 / 80, 10 / 80)
    assert later.mode_transitions == 2


def test_time_before_the_machine_started_is_not_counted() -> None:
    young = replace(MODES, started_at=T0 + 10 * MIN)
    m = risk_metrics(LOG, young, T0, T0 + 100 * MIN)
    assert (m.time_in_normal_pct, m.time_in_reduce_only_pct, m.time_in_stand_down_pct) == (40 / 90, 25 / 90, 25 / 90)


def test_an_empty_window_is_all_zeros_not_an_error() -> None:
    m = risk_metrics([], None, T0, T0 + MIN)
    assert (m.sizing_requests, m.rejection_rate, m.p95_sizing_latency_ms, m.time_in_normal_pct) == (0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="end after it starts"):
        risk_metrics([], None, T0, T0)


def test_provenance_names_what_was_counted() -> None:
    m = risk_metrics(LOG, MODES, T0, T0 + 100 * MIN)
    assert m.provenance.decisions_counted == 7
    assert m.provenance.config_versions == ["risk.position_sizing@1.0.0"]
    assert m.provenance.mode_machine_id == "risk.risk_modes"
    assert m.provenance.decisions_hash == risk_metrics(list(reversed(LOG))[::-1], None, T0,
                                                       T0 + 100 * MIN).provenance.decisions_hash


def test_prometheus_exposition() -> None:
    text = prometheus_text(risk_metrics(LOG, MODES, T0, T0 + 100 * MIN))
    assert "policy_engine_risk_sizing_requests 7.0" in text
    assert 'policy_engine_risk_rejections_by_gate{gate="DRAWDOWN_GATE"} 1.0' in text
    assert 'policy_engine_risk_breaches_by_type{type="LIMIT_BREACH"} 1.0' in text
    assert "# TYPE policy_engine_risk_p95_sizing_latency_ms gauge" in text


# --- the decision log and real decisions ---------------------------------------------------------
@pytest.fixture(scope="module")
def manager() -> RiskManager:
    return RiskManager.from_policy()


def request(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def test_the_log_is_idempotent_by_decision_id_and_refuses_a_changed_decision(manager: RiskManager) -> None:
    with DecisionLog(":memory:") as log:
        decision = manager.size(request("approved.json"))
        assert log.record(decision, 10.0) is True
        assert log.record(decision, 12.0) is False  # the same decision again: nothing written
        assert len(log.entries()) == 1 and log.entries()[0].latency_us == 10.0
        changed = decision.model_copy(update={"quantity": decision.quantity + 1})
        with pytest.raises(DecisionConflict, match=decision.decision_id):
            log.record(changed)
        assert log.decision(decision.decision_id)["quantity"] == decision.quantity


def test_metrics_of_real_decisions_from_the_store(manager: RiskManager, tmp_path: Path) -> None:
    names = ["approved.json", "rejected_daily_loss_gate.json", "rejected_kill_switch_gate.json",
             "rejected_drawdown_gate.json", "exit_approved.json"]
    db = tmp_path / "state.db"
    with DecisionLog(db) as log:
        decisions = [log.sized(manager, request(name)) for name in names]
        entries = log.entries()
    assert {e.decision_id for e in entries} == {d.decision_id for d in decisions}
    assert [(e.at, e.decision_id) for e in entries] == sorted((e.at, e.decision_id) for e in entries)
    since, until = min(e.at for e in entries), max(e.at for e in entries) + 1
    m = risk_metrics(entries, None, since, until)
    approved = [d for d in decisions if d.is_approved]
    assert (m.sizing_requests, m.sizing_approved) == (5, len(approved)) == (5, 2)
    assert m.rejections_by_gate == {"DAILY_LOSS_GATE": 1, "DRAWDOWN_GATE": 1, "KILL_SWITCH_GATE": 1}
    sized = [d for d in approved if d.quantity > 0]
    assert m.avg_position_size == pytest.approx(sum(d.quantity for d in sized) / len(sized))
    assert m.avg_adjustment_multiplier == pytest.approx(sized[0].adjustment_factors.combined_multiplier_clamped)
    assert m.max_sizing_latency_ms > 0 and m.limit_breaches == 2


def test_mode_history_from_the_machine_store(tmp_path: Path) -> None:
    machine = policy_engine.load(ROOT / "policies/risk/risk_modes.yaml")
    observations = [json.loads(line) for line in (EXAMPLES / "risk_modes.observations.jsonl").read_text().splitlines()]
    with MachineStore(tmp_path / "state.db") as store:
        runner = MachineRunner(machine, store)
        for observation in observations:
            runner.feed(observation)
        history = ModeHistory.from_store(store, "risk.risk_modes")
        transitions = store.transitions("risk.risk_modes")
    assert history is not None and history.initial_mode == "NORMAL"
    assert [mode for _, mode in history.changes] == [t["to_mode"] for t in transitions]
    first, last = history.started_at, history.changes[-1][0] + MIN
    spent, changes = history.time_in_modes(first, last)
    assert changes == len(transitions) and sum(spent.values()) == last - first
