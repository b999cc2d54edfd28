"""The example requests beside the policy (policies/risk/examples/*.json) decide as their names say:
``approved*`` is sized, ``exit_approved*`` passes unsized, ``invalid_input*`` is malformed,
``rejected_<gate>*`` is rejected by that gate (INPUT_VALIDATION or one of the 13 of §6.2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from policy_engine.risk import GateName, PositionSizingRequest
from tests.bench.generator import CONTRACT_EXAMPLE
from tests.sizing_helpers import EXAMPLES, gate_of, size

FILES = sorted(EXAMPLES.glob("*.json"))
# The reason each shipped rejection example was written for (a new file needs only a good name).
REASONS = {
    "rejected_input_validation": "signal_not_active",
    "rejected_kill_switch_gate": "kill_switch_active",
    "rejected_risk_mode_gate": "reduce_only_no_entries",
    "rejected_data_freshness_gate": "stale_input: regime",
    "rejected_regime_gate": "regime_unsuitable",
    "rejected_daily_loss_gate": "daily_loss_limit_reached",
    "rejected_weekly_loss_gate": "weekly_loss_limit_reached",
    "rejected_drawdown_gate": "max_drawdown_reached",
    "rejected_max_positions_gate": "max_positions_reached",
    "rejected_symbol_concentration_gate": "symbol_concentration_exceeded",
    "rejected_greek_exposure_gate": "greek_exposure_exceeded: vega",
    "rejected_liquidity_gate": "liquidity_insufficient: liquidity_grade",
    "rejected_event_blackout_gate": "event_blackout: EARNINGS",
    "rejected_min_size_gate": "size_below_minimum",
    "invalid_input": "invalid_input",
}


def expected_gate(name: str) -> str:
    """``rejected_daily_loss_gate`` -> ``DAILY_LOSS_GATE`` (a suffix after ``__`` is free text)."""
    gate = name.removeprefix("rejected_").split("__")[0].upper()
    assert gate in {g.value for g in GateName}, f"{name}.json does not name a gate"
    return gate


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_decides_as_its_name_says(path: Path) -> None:
    request = json.loads(path.read_text(encoding="utf-8"))
    decision = size(request)
    name = path.stem
    if name.startswith("exit_approved"):
        assert (decision.is_approved, decision.quantity) == (True, 0)
        assert request["signal"]["signal_type"] in ("EXIT_PARTIAL", "EXIT_FULL")
    elif name.startswith("approved"):
        assert decision.is_approved is True and decision.quantity >= 1, decision.explain()
    elif name.startswith("invalid_input"):
        assert gate_of(decision) == ("INPUT_VALIDATION", "invalid_input")
        with pytest.raises(ValidationError):
            PositionSizingRequest.model_validate(request)
    elif name.startswith("rejected_"):
        assert decision.is_approved is False and decision.quantity == 0
        assert gate_of(decision)[0] == expected_gate(name), decision.explain()
        PositionSizingRequest.model_validate(request)  # well-formed: a gate, not the schema, rejects it
    else:
        pytest.fail(f"{path.name}: an example's name starts with approved, exit_approved, invalid_input or rejected_")
    if name in REASONS:
        assert decision.rejection_reason == REASONS[name]


def test_examples_cover_every_gate() -> None:
    names = {p.stem for p in FILES}
    assert {f"rejected_{g.value.lower()}" for g in GateName} <= names
    assert {"approved", "exit_approved", "invalid_input"} <= names


def test_approved_example_is_the_contract_example() -> None:
    """approved.json is the contract's example request, kept as is (the README runs it)."""
    assert json.loads((EXAMPLES / "approved.json").read_text(encoding="utf-8")) == CONTRACT_EXAMPLE
