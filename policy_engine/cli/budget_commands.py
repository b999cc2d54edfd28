"""``policy-engine limits-of`` and ``policy-engine budget show``: the seed's RiskLimits and
RiskBudget records (§4.1, §4.2) of the position-sizing policy.

limits-of POLICY --balance N [--now ISO] [--config BUDGET.yaml] [--set P=V] [--format text|json]
    the policy's params as a RiskLimits record for one account balance, each field with its source.
budget show --store DB [--balance N] [--now ISO] [--period P] [--family F] [--policy POLICY]
            [--config BUDGET.yaml] [--set P=V] [--format text|json]
    the DAILY / WEEKLY / MONTHLY budgets of the ledger in DB as of --now, and the ``budget``
    input a sizing request would get. The balance is --balance, else the one stored in DB.
--now defaults to the current time: the only place the clock is read; tests always pass it.
Exit codes: 0 ok, 1 policy or budget config errors, 2 usage (bad argument, unreadable store,
no balance, a policy without the sizing params).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from policy_engine.budget import BudgetConfig, BudgetError, BudgetStore, RiskBudgetTracker, load_budget_config
from policy_engine.budget.amounts import dollars
from policy_engine.budget.periods import CalendarError
from policy_engine.budget.report import risk_budget
from policy_engine.budget.usage import PeriodUsage
from policy_engine.cli.common import EXIT_OK, EXIT_POLICY, UsageError, load_decision_policy, print_diagnostics
from policy_engine.decision import iso_from_us
from policy_engine.engine.run import CompiledPolicy
from policy_engine.errors import PolicyError
from policy_engine.risk.construct import at
from policy_engine.risk.facade import DEFAULT_POLICY
from policy_engine.risk.limits import RiskLimits
from policy_engine.risk.models_out import BudgetPeriod, RiskBudget
from policy_engine.timestamps import parse_date_time

_FAMILIES = ("TREND", "BREAKOUT", "MEAN_REVERSION", "LONG_VOL", "SHORT_VOL", "SQUEEZE", "INCOME", "OTHER")


def register(sub: Any) -> None:
    """Add ``limits-of`` and ``budget`` to the main parser's subcommands."""
    limits = sub.add_parser("limits-of", help="the RiskLimits record of a position-sizing policy")
    limits.add_argument("policy", metavar="POLICY")
    limits.add_argument("--balance", type=float, required=True, metavar="N", help="account balance")
    _add_common(limits)
    limits.set_defaults(run=limits_of)

    budget = sub.add_parser("budget", help="inspect the risk budget ledger")
    actions = budget.add_subparsers(dest="budget_command", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="the DAILY / WEEKLY / MONTHLY budgets as of a time")
    show.add_argument("--store", required=True, metavar="DB", help="the SQLite state file")
    show.add_argument("--balance", type=float, metavar="N", help="account balance (default: the stored one)")
    show.add_argument("--period", choices=[p.value for p in BudgetPeriod], help="one period only")
    show.add_argument("--family", choices=_FAMILIES, help="the sizing input for this strategy family")
    show.add_argument("--policy", default=str(DEFAULT_POLICY), metavar="POLICY",
                      help="the position-sizing policy (default: the shipped one)")
    _add_common(show)
    show.set_defaults(run=budget_show)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--now", help="as of this time (ISO 8601 with offset); default: the current time")
    parser.add_argument("--config", metavar="BUDGET.yaml", help="budget calendar and allocations")
    parser.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                        help="override a param of the policy for this run (repeatable)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


# --- limits-of ------------------------------------------------------------------------------
def limits_of(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    now = at(_now_us(args.now))
    loaded = _load(args, err)
    if loaded is None:
        return EXIT_POLICY
    policy, config = loaded
    allocations = config.allocations() if config is not None else None
    try:
        limits = RiskLimits.from_policy(policy, args.balance, now, allocations)
    except ValidationError as problem:
        first = problem.errors()[0]
        raise UsageError(f"{args.policy}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    if args.format == "json":
        print(_json(limits.model_dump(mode="json")), file=out)
    else:
        print(_limits_text(limits), file=out)
    return EXIT_OK


def _limits_text(limits: RiskLimits) -> str:
    info, data = limits.provenance, limits.to_json_dict()
    head = (f"RiskLimits of {info.policy_id} {info.policy_version} "
            f"for an account of {_money(info.account_balance_used)}")
    lines = [head, f"  limits_id       {limits.limits_id}", f"  config_version  {limits.config_version}",
             f"  timestamp_utc   {data['timestamp_utc']}"]
    skip = {"limits_id", "timestamp_utc", "config_version", "provenance"}
    width = max(len(name) for name in data)
    for name, value in data.items():
        if name not in skip:
            lines.append(f"  {name:<{width}}  {_value(value):>14}  {info.field_sources.get(name, '')}")
    return "\n".join(lines)


# --- budget show ----------------------------------------------------------------------------
def budget_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    now = _now_us(args.now)
    if not Path(args.store).is_file():
        raise UsageError(f"no state file {args.store}")
    loaded = _load(args, err)
    if loaded is None:
        return EXIT_POLICY
    policy, config = loaded
    periods = [BudgetPeriod(args.period)] if args.period else list(BudgetPeriod)
    with _open_store(args.store) as store:
        try:
            tracker = RiskBudgetTracker.from_policy(store, policy, config)
            usages = tracker.usages(now, periods, args.balance)
            sizing = tracker.sizing_input(now, args.family, args.balance)
        except (BudgetError, CalendarError) as problem:
            raise UsageError(str(problem)) from None
    budgets = [risk_budget(tracker.rules, usage) for usage in usages]
    report = {"as_of": iso_from_us(now), "account_balance": dollars(usages[0].balance),
              "budgets": [b.to_json_dict() for b in budgets],
              "usage": [_usage_json(u) for u in usages],
              "sizing_input": {"strategy_family": args.family, **sizing}}
    print(_json(report) if args.format == "json" else _budget_text(report, budgets, usages), file=out)
    return EXIT_OK


def _usage_json(usage: PeriodUsage) -> dict[str, Any]:
    return {"period": usage.period.kind.value, "label": usage.period.label,
            "realized_loss_dollars": dollars(usage.realized), "open_risk_dollars": dollars(usage.open_risk),
            "open_decisions": usage.open_decisions}


def _budget_text(report: dict[str, Any], budgets: list[RiskBudget], usages: list[PeriodUsage]) -> str:
    lines = [f"risk budget as of {report['as_of']}, account {_money(report['account_balance'])}"]
    for budget, usage in zip(budgets, usages):
        data = budget.to_json_dict()
        status = "EXHAUSTED" if budget.is_exhausted else "WARNING" if budget.is_warning else "ok"
        total = (f"  total {_money(budget.total_budget_dollars)} "
                 f"({budget.total_budget_pct:.2%} of the account)  "
                 f"used {_money(budget.used_budget_dollars)} ({budget.utilization_ratio:.1%})  "
                 f"remaining {_money(budget.remaining_budget_dollars)}  {status}")
        plural = "s" if usage.open_decisions != 1 else ""
        ledger = (f"  realized losses {_money(dollars(usage.realized))}  open risk "
                  f"{_money(dollars(usage.open_risk))} ({usage.open_decisions} open decision{plural})")
        span = f"{data['period_start']} .. {data['period_end']}"
        lines += [f"{budget.period.value:<8} {usage.period.label:<16} {span}", total, ledger]
        lines += [f"  {f.family:<15} share {f.share:>6.1%}  allocated {_money(dollars(f.allocated)):>10}  "
                  f"used {_money(dollars(f.used)):>10}  remaining {_money(dollars(f.remaining)):>10}"
                  for f in usage.families]
    sizing = report["sizing_input"]
    family = f" for {sizing['strategy_family']}" if sizing["strategy_family"] else ""
    lines.append(f"sizing input{family}: remaining_daily_budget {_money(sizing['remaining_daily_budget'])}, "
                 f"remaining_weekly_budget {_money(sizing['remaining_weekly_budget'])}")
    return "\n".join(lines)


# --- shared ---------------------------------------------------------------------------------
def _load(args: argparse.Namespace, err: TextIO) -> tuple[CompiledPolicy, BudgetConfig | None] | None:
    """The policy and the budget config (None when not given); None after printing diagnostics."""
    policy = load_decision_policy(args.policy, args.set, err)
    if policy is None:
        return None
    try:
        return policy, load_budget_config(args.config) if args.config else None
    except PolicyError as problem:
        print_diagnostics(problem.diagnostics, err)
        return None


def _now_us(text: str | None) -> int:
    if text is None:
        return _wall_clock_us()
    us = parse_date_time(text)
    if us is None:
        raise UsageError(f"--now {text!r}: expected ISO 8601 with an offset, e.g. 2025-04-02T14:00:00Z")
    return us


def _wall_clock_us() -> int:
    delta = datetime.now(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _open_store(path: str) -> BudgetStore:
    try:
        return BudgetStore(path)
    except (BudgetError, OSError, sqlite3.Error) as problem:
        raise UsageError(f"cannot open state file {path}: {problem}") from problem


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)


def _money(amount: float) -> str:
    return f"{amount:,.2f}"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.6f}".rstrip("0").rstrip(".")
    return str(value)
