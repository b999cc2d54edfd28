"""``policy-engine limits``: apply a limits policy to an order file and show what it did.

Exit codes: 0 the limits ran (whatever they reduced or blocked), 1 the policy has errors,
2 usage or an unreadable file, 3 a ``fail`` limit failed the call (e.g. FX), 4 invalid input
rows (each named) or a limit that could not be evaluated.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any, TextIO

from policy_engine.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_POLICY,
    EXIT_REJECTED,
    UsageError,
    load_policy,
    read_json,
)
from policy_engine.limits import (
    CompiledLimits,
    LimitsEvaluationError,
    LimitsInputError,
    LimitsResult,
    LimitsRuleFailure,
)

NUMERIC_COLUMNS = frozenset({"qty", "price", "close"})


def add_limits_parser(sub: Any) -> None:
    limits = sub.add_parser("limits", help="apply pre-trade limits to a list of orders")
    limits.add_argument("policy", metavar="POLICY")
    limits.add_argument("orders", metavar="ORDERS.(json|csv)")
    limits.add_argument("--positions", required=True, metavar="FILE", help="symbol, qty (JSON or CSV)")
    limits.add_argument("--prices", required=True, metavar="FILE", help="timestamp, symbol, close (JSON or CSV)")
    limits.add_argument("--equity", required=True, type=float, metavar="N")
    limits.add_argument("--current-equity", type=float, metavar="N", help="for drawdown de-risking")
    limits.add_argument("--peak-equity", type=float, metavar="N", help="for drawdown de-risking")
    limits.add_argument("--security-master", metavar="FILE", help="symbol, sector, region, currency (JSON or CSV)")
    limits.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                        help="override a param for this run (repeatable)")
    limits.add_argument("--format", choices=("text", "json"), default="text")
    limits.set_defaults(run=run_limits)


def run_limits(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    policy = load_policy(args.policy, args.set, err)
    if policy is None:
        return EXIT_POLICY
    if not isinstance(policy, CompiledLimits):
        raise UsageError(f"{args.policy} is not a LimitsPolicy")
    tables = {name: read_rows(path) if path else None for name, path in
              (("orders", args.orders), ("positions", args.positions), ("prices", args.prices),
               ("security_master", args.security_master))}
    try:
        result = policy.apply(tables["orders"], tables["positions"], tables["prices"], args.equity,
                              args.current_equity, args.peak_equity, tables["security_master"])
    except LimitsInputError as problem:
        for item in problem.problems:
            print(item.format_text(), file=err)
        print(f"{len(problem.problems)} invalid input row{'s' if len(problem.problems) != 1 else ''}", file=err)
        return EXIT_INVALID
    except LimitsRuleFailure as failure:
        print(f"FAILED by {failure.rule}: {failure.reason}" + (f" ({', '.join(failure.keys)})" if failure.keys else ""),
              file=err)
        return EXIT_REJECTED
    except LimitsEvaluationError as failure:
        print(f"error: {failure}", file=err)
        return EXIT_INVALID
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False), file=out)
    else:
        print(render_text(policy, result), file=out)
    return EXIT_OK


# --- reading tables -------------------------------------------------------------------------
def read_rows(path: str) -> list[Any]:
    """A JSON list of objects, or a CSV file with a header row (qty, price, close read as numbers)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        data = read_json(path)
        if not isinstance(data, list):
            raise UsageError(f"{path}: expected a JSON list of rows")
        return data
    if suffix != ".csv":
        raise UsageError(f"{path}: expected a .json or .csv file")
    try:
        with open(path, encoding="utf-8", newline="") as stream:
            return [_csv_row(row) for row in csv.DictReader(stream)]
    except (OSError, UnicodeDecodeError, csv.Error) as problem:
        raise UsageError(f"cannot read {path}: {problem.__class__.__name__}: {problem}") from problem


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """Empty cells are absent; numeric columns become numbers when they parse (else the checker names them)."""
    parsed: dict[str, Any] = {}
    for key, text in row.items():
        if key is None or text is None or text == "":
            continue
        parsed[key] = _number(text) if key in NUMERIC_COLUMNS else text
    return parsed


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


# --- text output ----------------------------------------------------------------------------
def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.6f}".rstrip("0").rstrip(".") if abs(value) < 1e15 else repr(value)
    return str(value)


def render_text(policy: CompiledLimits, result: LimitsResult) -> str:
    summary = result.summary
    rows = result.filtered_rows
    lines = [f"filtered orders: {summary['orders_out']} of {summary['orders_in']}"]
    lines += [f"  {row.get('symbol', ''):<10} {row.get('side', ''):<4} {_num(row.get('qty')):>14} @ "
              f"{_num(row.get('price'))}" + (f"  order_id {row['order_id']}" if row.get("order_id") is not None else "")
              for row in rows]
    lines.append(f"reductions: {len(result.reduced_orders)}")
    lines += [f"  {r['rule']:<24} {r['reason']:<36} {r['symbol']:<10} {r['side']:<4} row {r['row']}: "
              f"{_num(r['old_qty'])} -> {_num(r['new_qty'])}" for r in result.reduced_orders]
    lines.append("checks:")
    for check in summary["checks"]:
        reason = check["reason"] or ""
        lines.append(f"  {check['rule']:<24} {check['status']:<8} {reason}".rstrip())
    lines.append("exposure:")
    for name in ("proposed", "filtered"):
        exposure = summary["exposure"][name]
        lines.append(f"  {name:<9} gross {_num(exposure['gross'])} ({_num(exposure['gross_weight'])} of equity), "
                     f"net {_num(exposure['net'])}, turnover {_num(exposure['turnover'])}")
    if summary["drawdown"] is not None:
        lines.append(f"  drawdown {_num(summary['drawdown'])}")
    info = policy.plan.info
    lines += [f"policy {info.id} {info.version} ({info.content_hash[:19]}…)", "", "trace:", result.trace.format_text()]
    return "\n".join(lines)
