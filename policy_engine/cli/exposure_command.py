"""``policy-engine exposure``: the ExposureSnapshot (seed 004 §4.4) of a positions file.

exposure POSITIONS.json [--policy POLICY] [--set PARAM=VALUE ...] [--format text|json]
    measures the book against the position-sizing policy's limits (default: the shipped
    policies/risk/position_sizing.yaml; ``--set`` overrides its params for the run). JSON output
    holds the snapshot, the sizing request's ``exposure`` object and which positions were refused.
Exit codes: 0 within limits, 1 the policy has errors, 2 usage or an unreadable / non-JSON file,
3 a limit is breached, 4 invalid positions (each located on stderr; the valid ones are still
reported, marked incomplete) or an unusable file.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TextIO

from policy_engine.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_POLICY,
    EXIT_REJECTED,
    UsageError,
    load_decision_policy,
    print_diagnostics,
)
from policy_engine.exposure import (
    ExposureLimits,
    LimitsError,
    PositionsBook,
    PositionsFileError,
    load_positions,
    sizing_input,
    snapshot,
)
from policy_engine.risk.facade import DEFAULT_POLICY
from policy_engine.risk.models_out import ExposureSnapshot


def register(sub: Any) -> None:
    exposure = sub.add_parser("exposure", help="exposure snapshot of a positions file against the sizing limits")
    exposure.add_argument("positions", metavar="POSITIONS.json")
    exposure.add_argument("--policy", default=str(DEFAULT_POLICY), metavar="POLICY",
                          help="the position-sizing policy whose params are the limits (default: the shipped one)")
    exposure.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                          help="override a param of the policy for this run (repeatable)")
    exposure.add_argument("--format", choices=("text", "json"), default="text")
    exposure.set_defaults(run=run_exposure)


def run_exposure(args: Any, out: TextIO, err: TextIO) -> int:
    policy = load_decision_policy(args.policy, args.set, err)
    if policy is None:
        return EXIT_POLICY
    try:
        limits = ExposureLimits.from_policy(policy)
    except LimitsError as problem:
        print(f"{args.policy}: {problem}", file=err)
        return EXIT_POLICY
    try:
        book = load_positions(args.positions)
    except PositionsFileError as problem:
        raise UsageError(str(problem)) from None
    if book.diagnostics:
        print_diagnostics(list(book.diagnostics), err)
    if not book.usable or book.account_balance is None or book.timestamp_utc is None:
        return EXIT_INVALID
    current = snapshot(book.positions, book.account_balance, limits, book.timestamp_utc)
    if args.format == "json":
        print(json.dumps(render_json(book, current), indent=2, ensure_ascii=False, allow_nan=False), file=out)
    else:
        out.write(render_text(book, current, limits))
    if book.diagnostics:
        return EXIT_INVALID
    return EXIT_REJECTED if current.breached_limits else EXIT_OK


def render_json(book: PositionsBook, current: ExposureSnapshot) -> dict[str, Any]:
    return {"complete": book.complete, "positions_read": len(book.positions),
            "refused_positions": [f"$.positions[{index}]" for index in book.refused],
            "snapshot": current.to_json_dict(), "sizing_input": sizing_input(current)}


def render_text(book: PositionsBook, current: ExposureSnapshot, limits: ExposureLimits) -> str:
    s = current
    refused = f", INCOMPLETE: {len(book.refused)} refused" if book.refused else ""
    count = f"{s.open_positions} position" + ("" if s.open_positions == 1 else "s")
    lines = [
        f"exposure {_iso(s.timestamp_utc)}  account {s.provenance.account_balance_used:,.2f}  ({count}{refused})",
        f"  gross      {s.gross_exposure_dollars:>14,.2f}  {s.gross_exposure_pct:8.2%}",
        f"  net        {s.net_exposure_dollars:>14,.2f}  {s.net_exposure_pct:8.2%}  {s.net_exposure_direction.value}",
        *(f"  {greek:<10} {getattr(s, f'total_{greek}'):>14,.4f}  {getattr(s, f'{greek}_utilization_pct'):8.2%}"
          f" of {limits.greek_limit(greek):g}" for greek in ("delta", "gamma", "vega", "theta")),
        (f"  positions  {s.open_positions} open ({s.open_positions_long} long, {s.open_positions_short} short), "
         f"max {limits.max_open_positions}; largest {s.largest_position_pct:.2%}, top 3 {s.top_3_concentration_pct:.2%}"),
        f"  symbols    (concentration max {limits.max_symbol_concentration_pct:.2%})",
        *(f"    {e.symbol:<8} {e.position_count:>3} pos  {e.exposure_dollars:>14,.2f}  {e.exposure_pct:8.2%}  "
          f"delta {e.net_delta:g}  gamma {e.net_gamma:g}  vega {e.net_vega:g}  theta {e.net_theta:g}"
          for e in s.symbol_exposures),
        "  limits     within" if s.is_within_limits else f"  limits     BREACHED: {', '.join(s.breached_limits)}",
    ]
    return "\n".join(lines) + "\n"


def _iso(moment: datetime) -> str:
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")
