"""Scenarios, coverage and diffs for the MachinePolicy and LimitsPolicy kinds."""

from __future__ import annotations

import shutil
from pathlib import Path

from policy_engine.diff.semantic import semantic_diff
from policy_engine.source import load_source
from policy_engine.testing.runner import ERRORED, PASSED, run_scenarios

ROOT = Path(__file__).resolve().parents[2]
RISK = ROOT / "policies" / "risk"
OBSERVATION = """  input:
    now: "2025-03-03T14:00:00Z"
    daily_loss_used_pct: 0.1
    weekly_loss_used_pct: 0.05
    current_drawdown_pct: 0.01
    regime: {regime_type: TRENDING_UP, volatility_state: NORMAL}
    kill_switch_active: false
    circuit_breaker_active: false
    critical_failure: false
    sizing_rejections: []
    last_limit_breach_at: null
    active_limit_breaches: []
    pending_risk_events: 0
    input_freshness: [{name: quotes, as_of: "2025-03-03T14:00:00Z", critical: true}]
"""


def _scenario(tmp_path: Path, policy: Path, text: str) -> Path:
    path = tmp_path / "x.tests.yaml"
    path.write_text(f"apiVersion: policy-engine/tests/v1\npolicy: {policy}\n{text}")
    return path


def test_a_machine_case_starts_from_the_state_it_gives(tmp_path: Path) -> None:
    path = _scenario(tmp_path, RISK / "risk_modes.yaml", "defaults:\n" + OBSERVATION + """cases:
  - name: too short in REDUCE_ONLY
    state: {mode: REDUCE_ONLY, since: "2025-03-03T13:50:00Z"}
    expect: {outcome: REDUCE_ONLY, fired: [], values: {state.mode_since: "2025-03-03T13:50:00.000Z"}}
  - name: a state field the machine does not have
    state: {mode: REDUCE_ONLY, mood: calm}
    expect: {outcome: REDUCE_ONLY}
  - name: a state time that is not a time
    state: {mode: REDUCE_ONLY, since: yesterday}
    expect: {outcome: REDUCE_ONLY}
  - name: a mode the machine does not have
    state: {mode: PANIC}
    expect: {outcome: PANIC}
""")
    summary = run_scenarios([str(path)], coverage=True)
    cases = summary.files[0].cases
    assert [c.status for c in cases] == [PASSED, ERRORED, ERRORED, ERRORED]
    assert cases[1].problem.endswith("state: unknown field(s) mood; use mode, since, entry_trigger, counters, timers, "
                                     "windows, memory, bounce_armed_at")
    assert cases[2].problem.endswith("state.since: not a time: 'yesterday' (ISO 8601 with an offset, or µs)")
    assert "state: stored mode 'PANIC' is not a state of risk.risk_modes" in cases[3].problem
    (report,) = summary.coverage.values()
    reasons = {item.key: why for item, why in report.uncovered()}
    assert reasons["transition:RECOVER_TO_NORMAL:REDUCE_ONLY"] == "waiting in 1 case"
    assert reasons["transition:KILL_SWITCH:REDUCE_ONLY"] == "clear in 1 case"
    assert reasons["transition:DAILY_LOSS_WARNING:NORMAL"] == "not evaluated (machine in REDUCE_ONLY) in 1 case"
    assert (report.hit_count, len(report.items)) == (0, 17)


def test_a_limits_case_names_what_its_input_lacks(tmp_path: Path) -> None:
    path = _scenario(tmp_path, RISK / "pre_trade_limits.yaml", """cases:
  - name: no prices
    input: {orders: [], equity: 1000, cash: 5}
    expect: {outcome: applied}
  - name: an empty order list passes
    input: {orders: [], prices: [], equity: 1000}
    params: {turnover_cap: 0.5}
    expect: {outcome: applied, fired: [], values: {summary.orders_in: 0}}
""")
    summary = run_scenarios([str(path)], coverage=True)
    first, second = summary.files[0].cases
    assert first.status == ERRORED and first.problem.endswith(
        "input: unknown cash; missing prices (the call takes orders, current_positions, prices, equity, "
        "current_equity, peak_equity, security_master)")
    assert second.status == PASSED
    (report,) = summary.coverage.values()
    reasons = {item.key: why for item, why in report.uncovered()}
    assert reasons["limit:turnover_cap:breached"] == "within the limit in 1 case"
    assert reasons["limit:qa_status:within"] == "off (enabled_if false) in 1 case"
    assert report.hit_count == 1  # turnover_cap within its cap


def test_moving_a_limit_and_editing_a_transition_show_in_the_diff(tmp_path: Path) -> None:
    for name in ("pre_trade_limits.yaml", "risk_modes.yaml"):
        shutil.copy(RISK / name, tmp_path / name)
    (tmp_path / "schemas").mkdir()
    text = (RISK / "pre_trade_limits.yaml").read_text()
    block_start = text.index("  # 8. Drawdown de-risking")
    block_end = text.index("  # 9. Max gross exposure")
    moved = text[:block_start] + text[block_end:]
    moved = moved.replace("limits:\n", "limits:\n" + text[block_start:block_end], 1)
    (tmp_path / "moved.yaml").write_text(moved)
    changes = semantic_diff(load_source(RISK / "pre_trade_limits.yaml"), load_source(tmp_path / "moved.yaml"))
    assert [(c.op, c.what, c.detail) for c in changes] == [
        ("moved", "limit drawdown_de_risking", "position 8 -> 1, now first")]

    modes = (RISK / "risk_modes.yaml").read_text().replace("reduce_loss_used_pct: 0.75", "reduce_loss_used_pct: 0.7")
    modes = modes.replace("when: circuit_breaker_active", "when: circuit_breaker_active and not critical_failure")
    (tmp_path / "modes.yaml").write_text(modes)
    changes = semantic_diff(load_source(RISK / "risk_modes.yaml"), load_source(tmp_path / "modes.yaml"))
    assert [(c.category, c.what, c.detail) for c in changes] == [
        ("params", "param reduce_loss_used_pct", "0.75 -> 0.7"),
        ("expressions", "transition CIRCUIT_BREAKER when",
         "`circuit_breaker_active` -> `circuit_breaker_active and (not critical_failure)`"),
    ]
