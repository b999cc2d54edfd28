"""``policy-engine eval policies/risk/position_sizing.yaml REQUEST --format json`` prints the
PositionSizingDecision of the contract; ``--jsonl`` one per line. In-process, through ``main``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from policy_engine.cli import main
from tests.sizing_helpers import EXAMPLES, POLICY, manager, neutral, set_path

EXIT_OK, EXIT_USAGE, EXIT_REJECTED, EXIT_INVALID = 0, 2, 3, 4
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def eval_json(request_path: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run("eval", str(POLICY), request_path, "--format", "json", *extra)
    data: dict[str, Any] = json.loads(out) if out.strip() else {}
    return code, data, err


def test_seed_worked_example_through_the_cli(tmp_path: Path) -> None:
    """$100,000 x 1 % / ($2 x 100) -> base 5; x 0.80 (IMMEDIATE) -> 4.0 -> 4 contracts."""
    code, decision, err = eval_json(write(tmp_path, "worked.json", neutral({"signal.urgency": "IMMEDIATE"})))
    assert (code, err) == (EXIT_OK, "")
    assert (decision["is_approved"], decision["base_size"], decision["adjusted_size"]) == (True, 5, 4.0)
    assert (decision["final_size"], decision["quantity"]) == (4, 4)
    assert decision["adjustment_factors"]["combined_multiplier_clamped"] == 0.8
    assert (decision["risk_amount"], decision["risk_pct"]) == (800.0, 0.008)
    assert [t["target_price"] for t in decision["take_profit_plan"]["targets"]] == [53.0, 55.0, 58.0]
    assert decision["stop_loss_plan"]["hard_stop_price"] == 48.0


def test_set_overrides_a_param(tmp_path: Path) -> None:
    """``--set max_multiplier=1.1`` clamps the 1.2 x 1.1 = 1.32 boost: base 5 x 1.1 = 5.5 -> 5."""
    path = write(tmp_path, "boost.json", neutral({"signal.confidence": 0.9, "recent_win_rate": 0.9}))
    code, decision, _ = eval_json(path, "--set", "max_multiplier=1.1")
    factors = decision["adjustment_factors"]
    assert code == EXIT_OK
    assert (factors["combined_multiplier_clamped"], factors["max_multiplier"]) == (1.1, 1.1)
    assert decision["quantity"] == 5
    code, decision, _ = eval_json(path, "--set", "kill_switch=true")
    assert (code, decision["rejection_gate"], decision["rejection_reason"]) == (
        EXIT_REJECTED, "KILL_SWITCH_GATE", "kill_switch_active")


@pytest.mark.parametrize(("name", "exit_code"), [("approved", EXIT_OK), ("exit_approved", EXIT_OK),
                                                 ("rejected_daily_loss_gate", EXIT_REJECTED),
                                                 ("invalid_input", EXIT_INVALID)])
def test_exit_code_of_an_example(name: str, exit_code: int) -> None:
    code, decision, err = eval_json(str(EXAMPLES / f"{name}.json"))
    assert (code, err) == (exit_code, "")
    assert decision["is_approved"] is (exit_code == EXIT_OK)
    assert decision["provenance"]["risk_config_version"] == "risk.position_sizing@1.0.0"


MALFORMED = [
    ("missing", lambda r: r["signal"].pop("confidence"), "$.signal.confidence"),
    ("wrong-type", lambda r: set_path(r, "exposure.open_positions", "two"), "$.exposure.open_positions"),
    ("negative-price", lambda r: set_path(r, "quote.ask", -6.6), "$.quote.ask"),
    ("unknown-enum", lambda r: set_path(r, "regime.regime_type", "SIDEWAYS"), "$.regime.regime_type"),
]


@pytest.mark.parametrize(("mutate", "json_path"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_request_exits_4_with_the_json_path(tmp_path: Path, mutate: Any, json_path: str) -> None:
    request = neutral()
    mutate(request)
    code, decision, err = eval_json(write(tmp_path, "bad.json", request))
    assert (code, err) == (EXIT_INVALID, "")
    assert (decision["is_approved"], decision["rejection_gate"], decision["rejection_reason"]) == (
        False, "INPUT_VALIDATION", "invalid_input")
    assert decision["rejection_detail"].startswith(f"invalid input at {json_path}:")
    assert decision["quantity"] == 0 and [e["event_type"] for e in decision["events"]] == ["SIZING_REJECTED"]


def test_nan_in_a_request_file_is_refused_without_a_traceback(tmp_path: Path) -> None:
    """``NaN`` is not JSON: the file is refused before it becomes a request (usage error, exit 2)."""
    text = json.dumps(neutral()).replace('"confidence": 0.75', '"confidence": NaN')
    assert "NaN" in text
    code, out, err = run("eval", str(POLICY), write(tmp_path, "nan.json", text), "--format", "json")
    assert (code, out) == (EXIT_USAGE, "")
    assert "not valid JSON" in err and "Traceback" not in err


def test_jsonl_decides_every_example_as_its_name_says(tmp_path: Path) -> None:
    """All example files as one JSONL batch, plus a line that is not JSON and one with an impossible
    date: one decision per line, in order, each as its file name says; exit 4 (some line invalid)."""
    lines = [json.dumps(json.loads(path.read_text(encoding="utf-8"))) for path in EXAMPLE_FILES]
    bad_time = neutral({"now": "2025-13-01T00:00:00Z"})
    lines += ['{"now": NaN}', json.dumps(bad_time)]
    code, out, err = run("eval", str(POLICY), "--jsonl", write(tmp_path, "batch.jsonl", "\n".join(lines) + "\n"),
                         "--format", "json")
    decisions = [json.loads(line) for line in out.splitlines()]
    assert (code, err) == (EXIT_INVALID, "")
    assert len(decisions) == len(EXAMPLE_FILES) + 2
    for path, decision in zip(EXAMPLE_FILES, decisions):
        name = path.stem
        if name.startswith(("approved", "exit_approved")):
            assert decision["is_approved"] is True, name
        elif name.startswith("invalid_input"):
            assert (decision["rejection_gate"], decision["rejection_reason"]) == ("INPUT_VALIDATION", "invalid_input")
        else:
            gate = name.removeprefix("rejected_").split("__")[0].upper()
            assert (decision["is_approved"], decision["rejection_gate"], decision["quantity"]) == (False, gate, 0), name
        api = manager().size(json.loads(path.read_text(encoding="utf-8")))
        assert decision["decision_id"] == api.decision_id and decision["rejection_reason"] == api.rejection_reason
    not_json, impossible = decisions[-2:]
    assert (not_json["rejection_reason"], impossible["rejection_reason"]) == ("invalid_input", "invalid_input")
    assert impossible["rejection_detail"].startswith("invalid input at $.now:")
    assert decisions[EXAMPLE_FILES.index(EXAMPLES / "approved.json")]["quantity"] == 28


def test_jsonl_of_valid_requests_exits_0_even_with_rejections(tmp_path: Path) -> None:
    lines = [json.dumps(json.loads((EXAMPLES / name).read_text())) for name in
             ("approved.json", "rejected_greek_exposure_gate.json")]
    code, out, _ = run("eval", str(POLICY), "--jsonl", write(tmp_path, "ok.jsonl", "\n".join(lines)))
    decisions = [json.loads(line) for line in out.splitlines()]
    assert code == EXIT_OK
    assert [(d["is_approved"], d["rejection_reason"]) for d in decisions] == [
        (True, None), (False, "greek_exposure_exceeded: vega")]


def test_a_jsonl_line_is_the_json_decision_compact_with_sorted_keys(tmp_path: Path) -> None:
    """One format, two layouts: `--jsonl` writes each decision exactly as `--format json` shows it,
    on one line without spaces, keys sorted (the provenance text spliced in is no exception)."""
    requests = [json.loads(path.read_text(encoding="utf-8")) for path in EXAMPLE_FILES]
    code, out, _ = run("eval", str(POLICY), "--jsonl", write(tmp_path, "all.jsonl",
                                                             "\n".join(map(json.dumps, requests)) + "\n"))
    lines = out.splitlines()
    assert len(lines) == len(requests) and code == EXIT_INVALID  # the invalid_input example
    for index, (line, request) in enumerate(zip(lines, requests)):
        assert line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        _, single, _ = eval_json(write(tmp_path, f"{index}.json", request))
        assert _without_timing(json.loads(line)) == _without_timing(single)


def _without_timing(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_timing(v) for k, v in data.items() if k != "processing_duration_ms"}
    if isinstance(data, list):
        return [_without_timing(v) for v in data]
    return data
