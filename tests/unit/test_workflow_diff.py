"""Semantic diff and impact replay of two policy versions."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import policy_engine
import policy_engine.diff.replay as replay_module
from policy_engine.diff import diff_policies
from policy_engine.diff.exprs import compare_exprs, normalize
from policy_engine.diff.render import format_markdown
from policy_engine.diff.replay import classify, replay_corpus
from policy_engine.diff.semantic import semantic_diff
from policy_engine.diff.sources import SideError
from policy_engine.source import load_source
from tests.bench.generator import generate_requests

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "workflow"
OLD, NEW, CORPUS = FIXTURES / "diff_old.yaml", FIXTURES / "diff_new.yaml", FIXTURES / "tiny_corpus.jsonl"
SIZING = ROOT / "policies" / "risk" / "position_sizing.yaml"


# --- expressions ---------------------------------------------------------------------------------
def test_layout_is_not_a_change_and_number_edits_are_thresholds() -> None:
    assert normalize("a  *\n  b") == "a * b" and compare_exprs("(a) * b", "a*b") is None
    threshold = compare_exprs("x >= 0.30 and y < 5", "x >= 0.35 and y < 5")
    assert threshold is not None and (threshold.kind, threshold.numbers) == ("threshold", ((0.3, 0.35),))
    changed = compare_exprs("x >= 0.30", "x > 0.30")
    assert changed is not None and changed.describe() == "`x >= 0.3` -> `x > 0.3`"


# --- semantic diff --------------------------------------------------------------------------------
def test_every_change_between_the_fixture_versions_item_by_item() -> None:
    changes = semantic_diff(load_source(OLD), load_source(NEW))
    assert [(c.category, c.op, c.what, c.detail, c.line) for c in changes] == [
        ("other", "changed", "metadata.version", "1.0.0 -> 1.1.0", 5),
        ("params", "changed", "param max_notional", "10000 -> 8000", 8),
        ("expressions", "changed", "value dd",
         "`account.drawdown if account.drawdown is not None else 0.0` -> `account.drawdown or 0.0`", 13),
        ("thresholds and bands", "changed", "table size_mult band 1 (<)", "threshold 0.1 -> 0.15", 19),
        ("thresholds and bands", "changed", "table size_mult band 2 (<)", "value 0.5 -> 0.4", 20),
        ("rules", "added", "gate TAGS_GATE", "position 3", 29),
        ("rules", "removed", "gate BALANCE_GATE", "was position 3", 28),
        ("rules", "moved", "gate NOTIONAL_GATE", "position 2 -> 1, now first", 23),
        ("thresholds and bands", "changed", "trigger BIG_RATIO when", "0.5 -> 0.6 in `ratio > 0.6`", 34),
    ]
    assert [c.side for c in changes if c.op == "removed"] == ["old"]


def test_a_policy_compared_with_itself_has_no_changes() -> None:
    assert semantic_diff(load_source(SIZING), load_source(SIZING)) == []


def test_sizing_changes_read_as_a_reviewer_needs_them(tmp_path: Path) -> None:
    old, new = _sizing_pair(tmp_path, lambda text: text.replace(
        "      - {at_least: 0.70, value: 1.00}", "      - {at_least: 0.72, value: 0.95}").replace(
        "    pass_if: risk_state.weekly_loss_used_pct < 1.0", "    pass_if: risk_state.weekly_loss_used_pct < 0.95"))
    changes = semantic_diff(load_source(old), load_source(new))
    lines = new.read_text().splitlines()
    band = lines.index("      - {at_least: 0.72, value: 0.95}") + 1
    weekly = lines.index("    pass_if: risk_state.weekly_loss_used_pct < 0.95") + 1
    assert [c.format_text() for c in changes] == [
        f"~ table confidence_multiplier band 2 (>=): threshold 0.7 -> 0.72  (line {band})",
        f"~ table confidence_multiplier band 2 (>=): value 1.0 -> 0.95  (line {band})",
        f"~ gate WEEKLY_LOSS_GATE pass_if: 1.0 -> 0.95 in `risk_state.weekly_loss_used_pct < 0.95`  (line {weekly})",
    ]


# --- replay -----------------------------------------------------------------------------------------
def test_replay_of_the_fixture_corpus_record_by_record() -> None:
    report = replay_corpus(str(OLD), str(NEW), str(CORPUS))
    assert [(f.line, f.category) for f in report.flips] == [
        (2, "approved -> rejected"), (3, "rejected -> approved"), (4, "approved -> rejected"),
        (5, "different gate"), (6, "rejected -> approved")]
    assert (report.records, report.unreadable, report.warnings_changed) == (7, [9], 1)
    assert report.flips[3].old == "rejected by FRESH_GATE: stale_order"
    assert report.flips[3].new == "rejected by NOTIONAL_GATE: notional_too_large"
    steps = {e.flip.line: e.step for e in report.examples}
    assert steps[2] is not None and (steps[2].rule, steps[2].old.status, steps[2].new.status) == (  # type: ignore[union-attr]
        "NOTIONAL_GATE", "passed", "failed")
    assert steps[3] is not None and (steps[3].rule, steps[3].new) == ("BALANCE_GATE", None)  # removed, it failed


def test_worker_processes_find_the_same_flips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay_module, "CHUNK_BYTES", 300)  # several ranges in a small file
    serial = replay_corpus(str(OLD), str(NEW), str(CORPUS), jobs=1)
    parallel = replay_corpus(str(OLD), str(NEW), str(CORPUS), jobs=2)
    assert parallel.jobs == 2
    assert [(f.line, f.category) for f in parallel.flips] == [(f.line, f.category) for f in serial.flips]
    assert (parallel.records, parallel.unreadable, parallel.warnings_changed) == (7, [9], 1)


def test_size_up_and_down_follow_the_value_path() -> None:
    policy = policy_engine.load(ROOT / "tests" / "fixtures" / "tiny.yaml")
    request = json.loads((FIXTURES / "tiny_request.json").read_text())
    small = policy.evaluate(request)
    bigger = policy.evaluate({**request, "order": {**request["order"], "qty": 11}})
    assert classify(small, bigger, ["notional"]) == "size up"
    assert classify(bigger, small, ["notional"]) == "size down"
    assert classify(small, bigger, ["combined"]) is None
    assert classify(small, bigger, []) == "outputs changed"


def _sizing_pair(tmp_path: Path, edit: Any) -> tuple[Path, Path]:
    """Two copies of the position-sizing policy laid out like the repository (the input schema
    path is relative), the second one edited."""
    (tmp_path / "schemas").mkdir()
    shutil.copy(ROOT / "schemas" / "position_sizing.request.schema.json", tmp_path / "schemas")
    folder = tmp_path / "policies" / "risk"
    folder.mkdir(parents=True)
    text = SIZING.read_text()
    old, new = folder / "old.yaml", folder / "new.yaml"
    old.write_text(text)
    new.write_text(edit(text))
    return old, new


def test_one_position_fewer_flips_exactly_the_requests_with_four_open(tmp_path: Path) -> None:
    old, new = _sizing_pair(tmp_path, lambda text: text.replace("max_open_positions: 5", "max_open_positions: 4"))
    requests = generate_requests(1200, seed=23)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in requests))
    # Independently: for an entry with 4 open positions MAX_POSITIONS_GATE now fails wherever the
    # old version reached it, so every such entry the old version approved, or rejected at a later
    # gate, flips; exits skip the gate.
    before = policy_engine.load(old)
    gates = [g.id for g in before.plan.gates]
    later = set(gates[gates.index("MAX_POSITIONS_GATE") + 1:])
    entries = set(before.plan.params["entry_signal_types"])
    approved, later_gate = set(), set()
    for line, request in enumerate(requests, start=1):
        if request["exposure"]["open_positions"] != 4 or request["signal"]["signal_type"] not in entries:
            continue
        decision = before.evaluate(request)
        if decision.approved:
            approved.add(line)
        elif decision.rule in later:
            later_gate.add(line)
    assert len(approved) > 20 and len(later_gate) > 5  # the corpus exercises both kinds of flip

    report = diff_policies(str(old), str(new), str(corpus), value_paths=["sizing.final_size"])
    assert report.replay is not None
    assert report.replay.counts() == {"approved -> rejected": len(approved), "different gate": len(later_gate)}
    assert {f.line for f in report.replay.flips if f.category == "approved -> rejected"} == approved
    assert {f.line for f in report.replay.flips if f.category == "different gate"} == later_gate
    assert {f.new for f in report.replay.flips} == {"rejected by MAX_POSITIONS_GATE: max_positions_reached"}
    assert [(c.what, c.detail) for c in report.changes] == [("param max_open_positions", "5 -> 4")]
    assert {e.step.rule for e in report.replay.examples if e.step} == {"MAX_POSITIONS_GATE"}


# --- git sides ---------------------------------------------------------------------------------------
def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=repo, check=True,
                   capture_output=True)


def test_a_side_read_from_a_git_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    shutil.copy(OLD, repo / "policies" / "p.yaml")
    schema_file = repo / "tiny.schema.json"
    shutil.copy(ROOT / "tests" / "fixtures" / "tiny.schema.json", schema_file)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "v1")
    policy = repo / "policies" / "p.yaml"
    policy.write_text(policy.read_text().replace("max_notional: 10000", "max_notional: 9000"))
    schema = json.loads(schema_file.read_text())  # the working tree now caps the quantity the policy reads
    schema["properties"]["order"]["properties"]["qty"]["maximum"] = 5
    schema_file.write_text(json.dumps(schema))
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text((FIXTURES / "tiny_request.json").read_text().replace("\n", "") + "\n")
    monkeypatch.chdir(repo / "policies")

    report = diff_policies("HEAD:./p.yaml", "p.yaml", str(corpus))
    assert report.old.label == "HEAD:./p.yaml" and report.old.path != report.old.label
    assert [(c.what, c.detail) for c in report.changes] == [("param max_notional", "10000 -> 9000")]
    assert report.replay is not None  # HEAD's schema takes 10: the old side approves, the new one refuses
    assert [(f.old, f.new) for f in report.replay.flips] == [("approved", "rejected by INPUT_SCHEMA: invalid_input")]
    with pytest.raises(SideError, match="nosuch"):
        diff_policies("HEAD:nosuch.yaml", "p.yaml")


# --- the PR comment ----------------------------------------------------------------------------------
def test_the_markdown_comment(snapshot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    report = diff_policies("tests/fixtures/workflow/diff_old.yaml", "tests/fixtures/workflow/diff_new.yaml",
                           "tests/fixtures/workflow/tiny_corpus.jsonl", examples=1)
    assert format_markdown(report) == snapshot
