"""``policy-engine metrics``: RiskMetrics (seed 004 §4.11) over a window of the recorded history.

metrics --store FILE --since ISO --until ISO [--machine ID] [--format text|json|prometheus]
    counts the sizing decisions in the store's decision log (``policy_engine.metrics.DecisionLog``)
    with since <= time < until, and the mode time of the risk-modes machine ``ID`` (default
    risk.risk_modes) from the same file. Prometheus output needs the ``metrics`` extra.
Exit codes: 0 ok, 2 usage or unreadable file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from policy_engine.cli.common import EXIT_OK, UsageError
from policy_engine.engine.run import now_to_us

FORMATS = ("text", "json", "prometheus")


def register(sub: Any) -> None:
    metrics = sub.add_parser("metrics", help="risk metrics over a time window of the decision log")
    metrics.add_argument("--store", required=True, metavar="FILE", help="the SQLite file of decisions and machines")
    metrics.add_argument("--since", required=True, metavar="ISO", help="first time included (ISO 8601 with offset)")
    metrics.add_argument("--until", required=True, metavar="ISO", help="first time excluded (ISO 8601 with offset)")
    metrics.add_argument("--machine", default="risk.risk_modes", metavar="ID", help="the risk-modes machine instance")
    metrics.add_argument("--format", choices=FORMATS, default="text")
    metrics.set_defaults(run=metrics_command)


def metrics_command(args: Any, out: TextIO, err: TextIO) -> int:
    from policy_engine.metrics import DecisionLog, ModeHistory, risk_metrics
    from policy_engine.metrics.exposition import MetricsExtraMissing, prometheus_text
    from policy_engine.store import MachineStore

    since, until = _time(args.since, "--since"), _time(args.until, "--until")
    if until <= since:
        raise UsageError("--until must be later than --since")
    if not Path(args.store).is_file():
        raise UsageError(f"cannot read {args.store}: no such file")
    with DecisionLog(args.store) as log, MachineStore(args.store) as store:
        metrics = risk_metrics(log.entries(since, until), ModeHistory.from_store(store, args.machine), since, until)
    if args.format == "json":
        print(json.dumps(metrics.model_dump(mode="json"), indent=2), file=out)
    elif args.format == "prometheus":
        try:
            out.write(prometheus_text(metrics))
        except MetricsExtraMissing as missing:
            raise UsageError(str(missing)) from None
    else:
        out.write(render_text(metrics))
    return EXIT_OK


def render_text(metrics: Any) -> str:
    m = metrics
    lines = [
        f"risk metrics {m.window_start.isoformat()} .. {m.window_end.isoformat()} ({m.window_duration_seconds} s)",
        f"  sizing      {m.sizing_requests} requests, {m.sizing_approved} approved, {m.sizing_rejected} rejected "
        f"(rejection rate {m.rejection_rate:.1%})",
        *(f"              {gate:<28} {count}" for gate, count in m.rejections_by_gate.items()),
        f"  breaches    {m.limit_breaches}",
        *(f"              {kind:<28} {count}" for kind, count in m.breaches_by_type.items()),
        f"  modes       NORMAL {m.time_in_normal_pct:.1%}, REDUCE_ONLY {m.time_in_reduce_only_pct:.1%}, "
        f"STAND_DOWN {m.time_in_stand_down_pct:.1%}; {m.mode_transitions} transitions",
        f"  averages    size {m.avg_position_size:.2f}, risk/trade {m.avg_risk_per_trade_pct:.3%}, "
        f"multiplier {m.avg_adjustment_multiplier:.4f}",
        f"  drawdown    max {m.max_drawdown_pct:.2%}, current {m.current_drawdown_pct:.2%}, "
        f"{m.drawdown_duration_bars} bars",
        f"  latency ms  avg {m.avg_sizing_latency_ms:.3f}, p95 {m.p95_sizing_latency_ms:.3f}, "
        f"max {m.max_sizing_latency_ms:.3f}",
    ]
    return "\n".join(lines) + "\n"


def _time(text: str, option: str) -> int:
    at = now_to_us(text)
    if at is None:
        raise UsageError(f"{option} expects an ISO 8601 time with an offset, got '{text}'")
    return at
