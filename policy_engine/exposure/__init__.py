"""Exposure snapshot (seed 004 §4.4) from a book of open positions, and its post-trade projection.

    book = load_positions("positions.json")                 # positions stage: located diagnostics
    limits = ExposureLimits.from_policy(policy_engine.load("policies/risk/position_sizing.yaml"))
    current = snapshot(book.positions, book.account_balance, limits, book.timestamp_utc)
    request["exposure"] = sizing_input(current)            # the sizing request's `exposure` object
    after = project(book.positions, limits, decision)      # the book once the decision is filled
"""

from policy_engine.exposure.limits import ExposureLimits, LimitsError
from policy_engine.exposure.positions import (
    OptionPosition,
    Position,
    PositionsBook,
    PositionsFileError,
    StockPosition,
    load_positions,
    parse_positions,
)
from policy_engine.exposure.projection import project, trade_holding
from policy_engine.exposure.snapshot import Holding, build_snapshot, holding, sizing_input, snapshot

__all__ = [
    "ExposureLimits", "Holding", "LimitsError", "OptionPosition", "Position", "PositionsBook", "PositionsFileError",
    "StockPosition", "build_snapshot", "holding", "load_positions", "parse_positions", "project", "sizing_input",
    "snapshot", "trade_holding",
]
