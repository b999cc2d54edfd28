"""Impact replay of MachinePolicies (observation logs) and LimitsPolicies (recorded limits calls):
a policy change in a copy of a shipped policy, replayed on a shipped corpus, gives the expected
diff lines and the expected flips, record by record."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.diff import SideError, diff_policies
from policy_engine.diff.render import format_markdown, format_text
from policy_engine.diff.replay_limits import OrderOutcome, call_of, classify_order
from policy_engine.machine import MachineError
from policy_engine.store import MachineRunner, MachineStore

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "policies" / "risk" / "examples"
MODES_LOG = EXAMPLES / "risk_modes.observations.jsonl"
BREAKER_LOG = EXAMPLES / "circuit_breaker.observations.jsonl"
LIMITS_CALLS = ROOT / "tests" / "fixtures" / "workflow" / "limits_calls.jsonl"


def _edited_pair(tmp_path: Path, policy: str, schema: str, edit: Callable[[str], str]) -> tuple[Path, Path]:
    """The shipped policy and an edited copy, laid out like the repository (relative schema path)."""
    (tmp_path / "schemas").mkdir(exist_ok=True)
    shutil.copy(ROOT / "schemas" / schema, tmp_path / "schemas")
    folder = tmp_path / "policies" / "risk"
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "policies" / "risk" / policy).read_text()
    old, new = folder / f"old_{policy}", folder / f"new_{policy}"
    old.write_text(text)
    edited = edit(text)
    assert edited != text, "the edit must change the policy"
    new.write_text(edited)
    return old, new


def _modes_pair(tmp_path: Path) -> tuple[Path, Path]:
    # Raise the REDUCE_ONLY threshold: daily / weekly loss used >= 80 % of the limit instead of 75 %.
    return _edited_pair(tmp_path, "risk_modes.yaml", "risk_modes.observation.schema.json",
                        lambda text: text.replace("reduce_loss_used_pct: 0.75 ", "reduce_loss_used_pct: 0.80 "))


# --- MachinePolicy ---------------------------------------------------------------------------------------
def test_a_raised_machine_threshold_flips_the_expected_steps_of_the_shipped_log(tmp_path: Path) -> None:
    old, new = _modes_pair(tmp_path)
    report = diff_policies(str(old), str(new), str(MODES_LOG))
    assert [c.format_text() for c in report.changes] == ["~ param reduce_loss_used_pct: 0.75 -> 0.8  (line 40)"]
    replay = report.replay
    assert replay is not None and (replay.records, replay.unreadable) == (10, [])
    # Line 2 uses 78 % of the daily loss: the old version moves to REDUCE_ONLY, the new one stays NORMAL;
    # lines 3-4 (45 %) keep the old one there; line 5 recovers it to NORMAL (same mode, another move);
    # line 6 (60 %) sends it back (bounce prevention armed: 0.75 x 0.75 = 56.25 %) while the new one,
    # never bounced, stays under 80 %; line 7's kill switch ends both in STAND_DOWN, the new one by way of
    # REDUCE_ONLY; from there on both versions have the same state and agree.
    assert [(f.line, f.subject, f.category) for f in replay.flips] == [
        (2, "step 2", "mode changed"), (3, "step 3", "mode changed"), (4, "step 4", "mode changed"),
        (5, "step 5", "transitions changed"), (6, "step 6", "mode changed"), (7, "step 7", "transitions changed")]
    assert (replay.flips[0].old, replay.flips[0].new) == (
        "REDUCE_ONLY (NORMAL -> REDUCE_ONLY by DAILY_LOSS_WARNING)", "NORMAL, no move")
    assert replay.flips[5].new == ("STAND_DOWN (NORMAL -> REDUCE_ONLY by STAND_DOWN_TRIGGER_IN_NORMAL; "
                                   "REDUCE_ONLY -> STAND_DOWN by KILL_SWITCH)")
    first = replay.examples[0].step
    assert first is not None and (first.rule, first.old.status, first.new.status) == (  # type: ignore[union-attr]
        "DAILY_LOSS_WARNING", "taken", "clear")
    assert replay.examples[1].step is None and "different modes: REDUCE_ONLY and NORMAL" in replay.examples[1].note
    text = format_text(report)
    assert "  first difference: line 2, step 2; later steps may differ because of it" in text
    assert "6 of 10 steps flip (60.00 %)." in format_markdown(report)


def test_both_versions_restart_from_a_state_recorded_by_the_store(tmp_path: Path) -> None:
    """The store keeps every step's state: replaying lines 6-10 from the state it recorded after line 5
    gives both versions the same start (NORMAL, bounce prevention armed), and then neither flips."""
    old, new = _modes_pair(tmp_path)
    lines = MODES_LOG.read_text().splitlines()
    with MachineStore(":memory:") as store:
        runner = MachineRunner(policy_engine.load(ROOT / "policies" / "risk" / "risk_modes.yaml"), store)
        for line in lines[:5]:
            runner.feed(json.loads(line))
        stored = store.states()[-1]["state"]
    assert (stored["mode"], stored["bounce_armed_at"] is not None) == ("NORMAL", True)
    corpus = tmp_path / "from_state.jsonl"
    corpus.write_text("\n".join([json.dumps({"state": stored}), *lines[5:]]) + "\n")
    report = diff_policies(str(old), str(new), str(corpus))
    assert report.replay is not None and (report.replay.records, report.replay.flips) == (5, [])
    # The short form a scenario file uses works too; a state this machine cannot have is an unreadable line.
    short = {"mode": "REDUCE_ONLY", "since": "2025-03-03T14:01:00Z"}
    corpus.write_text("\n".join([json.dumps({"state": short}), *lines[2:5], json.dumps({"state": {"mode": "X"}})]))
    replay = diff_policies(str(old), str(new), str(corpus)).replay
    assert replay is not None and (replay.records, replay.unreadable) == (3, [5])
    assert [(f.line, f.category) for f in replay.flips] == []  # both in REDUCE_ONLY from line 2 on: same moves


def _independent_runs(path: Path, corpus: Path) -> list[tuple[Any, ...]]:
    """One version stepped alone through the log: per observation (refused, mode, moves, items)."""
    machine = policy_engine.load(path)
    state, seen = None, []
    for line in corpus.read_text().splitlines():
        observation = json.loads(line)
        try:
            start = state or machine.initial_state(machine.step_time(observation))
            result = machine.step(start, observation)
        except MachineError:
            seen.append((True, None, None, None))
            continue
        state = result.new_state
        seen.append((False, state.mode, [(t.rule, t.from_mode, t.to_mode) for t in result.transitions],
                     json.dumps(result.items, sort_keys=True)))
    return seen


@pytest.mark.parametrize(("edit", "first"), [
    (lambda text: text.replace("level_1_drop_pct: 0.03 ", "level_1_drop_pct: 0.04 "),  # a band edge moves
     (2, "mode changed")),
    (lambda text: text.replace("require: all(p.qty_bought_today <= p.qty for p in positions)",
                               "require: all(p.qty_bought_today < p.qty for p in positions)"),  # a stricter guard
     (2, "stepped -> refused")),
], ids=["level_1_edge", "strict_guard"])
def test_lockstep_replay_agrees_with_two_separate_runs(tmp_path: Path, edit: Callable[[str], str],
                                                       first: tuple[int, str]) -> None:
    old, new = _edited_pair(tmp_path, "circuit_breaker.yaml", "circuit_breaker.observation.schema.json", edit)
    before, after = _independent_runs(old, BREAKER_LOG), _independent_runs(new, BREAKER_LOG)
    expected = []
    for line, (a, b) in enumerate(zip(before, after), start=1):
        if a[0] != b[0]:
            expected.append((line, "stepped -> refused" if b[0] else "refused -> stepped"))
        elif not a[0]:
            kind = next((name for index, name in ((1, "mode changed"), (2, "transitions changed"),
                                                  (3, "actions changed")) if a[index] != b[index]), None)
            expected += [(line, kind)] if kind else []
    replay = diff_policies(str(old), str(new), str(BREAKER_LOG)).replay
    assert replay is not None
    assert [(f.line, f.category) for f in replay.flips] == expected
    assert expected[0] == first  # the 3.5 % drop of line 2 (and its T+0 lot) is where both edits first show


def test_a_machine_replay_takes_no_value_paths_and_one_kind(tmp_path: Path) -> None:
    old, new = _modes_pair(tmp_path)
    with pytest.raises(SideError, match="--value applies to DecisionPolicy"):
        diff_policies(str(old), str(new), str(MODES_LOG), value_paths=["risk_mode"])
    with pytest.raises(SideError, match="two versions of one kind"):
        diff_policies(str(old), str(ROOT / "policies" / "risk" / "pre_trade_limits.yaml"), str(MODES_LOG))


# --- LimitsPolicy -------------------------------------------------------------------------------------------
def _limits_edit(text: str) -> str:
    """De-risking scales to 25 % by default instead of blocking, and runs before the turnover cap."""
    text = text.replace("  de_risk_scale: 0.0 ", "  de_risk_scale: 0.25")
    turnover, drawdown, gross = (text.index(f"  # {n}.") for n in (7, 8, 9))
    return text[:turnover] + text[drawdown:gross] + text[turnover:drawdown] + text[gross:]


def test_a_limits_change_flips_the_expected_orders_of_the_recorded_calls(tmp_path: Path) -> None:
    old, new = _edited_pair(tmp_path, "pre_trade_limits.yaml", "pre_trade_limits.inputs.schema.json", _limits_edit)
    report = diff_policies(str(old), str(new), str(LIMITS_CALLS))
    lines = new.read_text().splitlines()
    scale = next(n for n, line in enumerate(lines, start=1) if line.startswith("  de_risk_scale: 0.25"))
    assert [c.format_text() for c in report.changes] == [
        f"~ param de_risk_scale: 0.0 -> 0.25  (line {scale})",
        (f"> limit drawdown_de_risking: position 8 -> 7, now after max_fx_exposure  "
        f"(line {lines.index('  - id: drawdown_de_risking') + 1})")]
    replay = report.replay
    assert replay is not None
    # 7 calls of 2 orders (the last one invalid on both sides: no flip) and a line that is not JSON.
    assert (replay.records, replay.total, replay.unreadable, replay.warnings_changed) == (7, 13, [7], 0)
    # Call 4 (drawdown 30 % >= 20 %, no scale given): blocked by the old default 0.0, int(qty x 0.25) now.
    # Call 5 (scale 0.25 and turnover cap 0.5): old order turnover first, 100 -> 20 -> 5 and 50 -> 10 -> 2;
    # new order de-risks first, 100 -> 25 and 50 -> 12, turnover (25 x 150 + 12 x 200) / 10,000 = 0.615,
    # so int(25 x 0.5 / 0.615) = 20 and int(12 x 0.5 / 0.615) = 9.
    assert [(f.line, f.subject, f.category, f.old, f.new) for f in replay.flips] == [
        (4, "order o-1 (AAPL)", "blocked -> reduced", "blocked by drawdown_de_risking",
         "reduced to 25.0 by drawdown_de_risking"),
        (4, "order o-2 (MSFT)", "blocked -> reduced", "blocked by drawdown_de_risking",
         "reduced to 12.0 by drawdown_de_risking"),
        (5, "order o-1 (AAPL)", "size up", "reduced to 5.0 by turnover_cap, drawdown_de_risking",
         "reduced to 20.0 by drawdown_de_risking, turnover_cap"),
        (5, "order o-2 (MSFT)", "size up", "reduced to 2.0 by turnover_cap, drawdown_de_risking",
         "reduced to 9.0 by drawdown_de_risking, turnover_cap")]
    assert {(e.flip.line, e.step.rule) for e in replay.examples if e.step} == {  # type: ignore[union-attr]
        (4, "drawdown_de_risking"), (5, "turnover_cap")}
    assert "4 of 13 orders in 7 records flip (30.77 %)." in format_markdown(report)


def test_order_outcomes_and_call_records() -> None:
    reduced = OrderOutcome("reduced", 20.0, ("turnover_cap",))
    assert classify_order(OrderOutcome("passed", 100, ()), reduced) == "passed -> reduced"
    assert classify_order(reduced, OrderOutcome("reduced", 10.0, ("turnover_cap",))) == "size down"
    assert classify_order(reduced, OrderOutcome("reduced", 20.0, ("max_weight_per_symbol",))) == "different limit"
    assert classify_order(reduced, reduced) is None
    failed = OrderOutcome("failed", None, ("max_fx_exposure",), "RISK_FAIL_FX_NON_BASE_CURRENCY")
    assert classify_order(reduced, failed) == "reduced -> failed"
    assert failed.summary() == "failed by max_fx_exposure: RISK_FAIL_FX_NON_BASE_CURRENCY"
    call = {"orders": [], "positions": [], "prices": [], "equity": 1}
    assert call_of({**call, "params": {"turnover_cap": 0.5}}) == (
        {"orders": [], "current_positions": [], "prices": [], "equity": 1}, {"turnover_cap": 0.5})
    assert call_of({"input": call, "params": {}}) == ({**{k: v for k, v in call.items() if k != "positions"},
                                                       "current_positions": []}, {})
    assert [call_of(bad) for bad in ([], {"orders": []}, {**call, "extra": 1})] == [None, None, None]
