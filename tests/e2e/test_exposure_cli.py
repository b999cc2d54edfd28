"""``policy-engine exposure POSITIONS.json``: text and JSON output of the shipped book, limits from the
sizing policy with --set, bad positions located on stderr while the rest is reported, exit codes,
and the whole pipeline through the CLI: exposure -> request -> ``eval`` decides as by hand."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from policy_engine.cli import main
from tests.exposure_helpers import BOOK, EXAMPLE_BOOK, ROOT, SIZING_POLICY
from tests.sizing_helpers import neutral, scrub

EXIT_OK, EXIT_POLICY, EXIT_USAGE, EXIT_BREACHED, EXIT_INVALID = 0, 1, 2, 3, 4

SHIPPED_TEXT = """\
exposure 2025-04-02T06:10:54.151Z  account 100,000.00  (6 positions)
  gross           75,200.00    75.20%
  net             11,200.00    11.20%  LONG
  delta             -8.0000     8.00% of 100
  gamma              0.3800     0.76% of 50
  vega               4.0500     0.81% of 500
  theta             -2.2400     1.12% of -200
  positions  6 open (4 long, 2 short), max 5; largest 24.50%, top 3 59.50%
  symbols    (concentration max 20.00%)
    AAPL       2 pos       17,500.00    17.50%  delta 6.5  gamma 0.4  vega 1.2  theta -0.5
    MSFT       1 pos       20,000.00    20.00%  delta -0.5  gamma 0  vega 0  theta 0
    SPY        1 pos        1,200.00     1.20%  delta -0.75  gamma 0.03  vega 0.6  theta -0.24
    TSLA       2 pos       36,500.00    36.50%  delta -13.25  gamma -0.05  vega 2.25  theta -1.5
  limits     BREACHED: max_open_positions, max_symbol_concentration_pct: TSLA
"""


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2), encoding="utf-8")
    return str(path)


def exposure_json(*argv: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run("exposure", *argv, "--format", "json")
    return code, json.loads(out) if out.strip() else {}, err


def test_text_of_the_shipped_book() -> None:
    code, out, err = run("exposure", str(EXAMPLE_BOOK))
    assert (code, err) == (EXIT_BREACHED, "")
    assert out == SHIPPED_TEXT


def test_json_of_the_shipped_book() -> None:
    code, data, err = exposure_json(str(EXAMPLE_BOOK))
    assert (code, err) == (EXIT_BREACHED, "")
    assert (data["complete"], data["positions_read"], data["refused_positions"]) == (True, 6, [])
    snap = data["snapshot"]
    assert (snap["gross_exposure_dollars"], snap["net_exposure_pct"], snap["total_delta"]) == (75_200.0, 0.112, -8.0)
    assert snap["breached_limits"] == ["max_open_positions", "max_symbol_concentration_pct: TSLA"]
    assert data["sizing_input"]["open_positions"] == 6
    assert data["sizing_input"]["symbol_exposures"][3] == {"symbol": "TSLA", "position_count": 2,
                                                           "exposure_pct": 0.365}


def test_set_overrides_the_limits() -> None:
    code, out, _ = run("exposure", str(EXAMPLE_BOOK), "--set", "max_open_positions=6",
                       "--set", "max_symbol_concentration_pct=0.4")
    assert code == EXIT_OK
    assert out.splitlines()[-1] == "  limits     within"
    code, data, _ = exposure_json(str(EXAMPLE_BOOK), "--set", "max_portfolio_theta=-2")
    assert code == EXIT_BREACHED and data["snapshot"]["breached_limits"][-1] == "max_portfolio_theta"


def test_bad_positions_are_located_and_the_rest_reported(tmp_path: Path) -> None:
    data = copy.deepcopy(BOOK)
    data["positions"][1]["delta"] = 1.4          # outside [-1, 1]
    data["positions"][2]["asset_class"] = "BOND"  # unknown
    path = write(tmp_path, "book.json", data)
    code, out, err = run("exposure", path)
    assert code == EXIT_INVALID
    lines = err.splitlines()
    assert lines[0] == f"{path}:19:16: error[E105]: delta: input should be less than or equal to 1, got 1.4"
    assert any(f"{path}:" in line and "error[E105]: unknown asset class 'BOND'" in line for line in lines)
    assert lines[-1] == "2 errors"
    assert out.startswith("exposure 2025-04-02T06:10:54.151Z  account 100,000.00  (4 positions, INCOMPLETE: 2 refused)")
    code, report, _ = exposure_json(path)
    assert code == EXIT_INVALID
    assert (report["complete"], report["positions_read"], report["refused_positions"]) == (
        False, 4, ["$.positions[1]", "$.positions[2]"])
    # without AAPL-C-190 and MSFT-STK: gross 75,200 - 2,500 - 20,000 = 52,700
    assert report["snapshot"]["gross_exposure_dollars"] == 52_700.0


def test_an_unusable_book_reports_nothing_but_the_errors(tmp_path: Path) -> None:
    data = copy.deepcopy(BOOK)
    data["account_balance"] = -5.0
    code, out, err = run("exposure", write(tmp_path, "book.json", data), "--format", "json")
    assert (code, out) == (EXIT_INVALID, "")
    assert "error[E105]: account_balance:" in err


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    (None, "cannot read"),
])
def test_unreadable_files_are_usage_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = write(tmp_path, "book.json", content) if content is not None else str(tmp_path / "absent.json")
    code, out, err = run("exposure", path)
    assert (code, out) == (EXIT_USAGE, "")
    assert message in err and "Traceback" not in err


def test_the_policy_must_be_a_sizing_policy() -> None:
    code, _, err = run("exposure", str(EXAMPLE_BOOK), "--policy", str(ROOT / "policies/risk/pre_trade_limits.yaml"))
    assert code == EXIT_USAGE and "not a DecisionPolicy" in err
    code, _, err = run("exposure", str(EXAMPLE_BOOK), "--policy", str(ROOT / "tests/fixtures/tiny.yaml"))
    assert code == EXIT_POLICY and "not a position-sizing policy" in err
    code, _, err = run("exposure", str(EXAMPLE_BOOK), "--set", "max_portfolio_theta=5")
    assert code == EXIT_POLICY and "max_portfolio_theta must be < 0" in err
    code, _, err = run("exposure", str(EXAMPLE_BOOK), "--set", "max_portfolo_delta=5")
    assert code == EXIT_POLICY and "E501" in err


def test_positions_to_decision_through_the_cli(tmp_path: Path) -> None:
    """exposure --format json -> the request's exposure -> eval decides as with the hand-built request."""
    _, report, _ = exposure_json(str(EXAMPLE_BOOK))
    by_hand = {"open_positions": 6, "total_delta": -8.0, "total_gamma": 0.38, "total_vega": 4.05,
               "total_theta": -2.24, "symbol_exposures": [
                   {"symbol": "AAPL", "position_count": 2, "exposure_pct": 0.175},
                   {"symbol": "MSFT", "position_count": 1, "exposure_pct": 0.2},
                   {"symbol": "SPY", "position_count": 1, "exposure_pct": 0.012},
                   {"symbol": "TSLA", "position_count": 2, "exposure_pct": 0.365}]}
    decisions = []
    for name, exposure in (("computed.json", report["sizing_input"]), ("by_hand.json", by_hand)):
        request = write(tmp_path, name, neutral({"signal.symbol": "AAPL", "exposure": exposure}))
        code, out, err = run("eval", str(SIZING_POLICY), request, "--format", "json", "--set", "max_open_positions=10")
        assert code == EXIT_OK, err
        decisions.append(scrub(json.loads(out)))  # without the measured processing_duration_ms
    assert decisions[0]["is_approved"] and decisions[0]["final_size"] == 5
    assert decisions[0] == decisions[1]
