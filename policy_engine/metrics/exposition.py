"""RiskMetrics as Prometheus text exposition, through the official client library.

The client is an optional extra (``pip install 'policy-engine[metrics]'``): trading code that
only sizes never imports it. Every gauge is prefixed ``policy_engine_risk_``; per-gate rejections
and per-type breaches are labelled series.
"""

from __future__ import annotations

from policy_engine.metrics.compute import RiskMetrics

PREFIX = "policy_engine_risk_"
_GAUGES = (
    ("sizing_requests", "Sizing requests in the window"),
    ("sizing_approved", "Approved sizing decisions in the window"),
    ("sizing_rejected", "Rejected sizing decisions in the window"),
    ("rejection_rate", "Rejected / requested"),
    ("limit_breaches", "Limit-gate rejections and LIMIT_BREACH events"),
    ("time_in_normal_pct", "Fraction of the window in NORMAL"),
    ("time_in_reduce_only_pct", "Fraction of the window in REDUCE_ONLY"),
    ("time_in_stand_down_pct", "Fraction of the window in STAND_DOWN"),
    ("mode_transitions", "Risk-mode transitions in the window"),
    ("avg_position_size", "Mean quantity of sized approvals"),
    ("avg_risk_per_trade_pct", "Mean risk fraction of sized approvals"),
    ("avg_adjustment_multiplier", "Mean clamped combined multiplier of sized approvals"),
    ("max_drawdown_pct", "Largest account drawdown seen by a decision"),
    ("current_drawdown_pct", "Account drawdown seen by the latest decision"),
    ("drawdown_duration_bars", "Bars since the current drawdown began"),
    ("avg_sizing_latency_ms", "Mean sizing latency"),
    ("p95_sizing_latency_ms", "95th percentile sizing latency (nearest rank)"),
    ("max_sizing_latency_ms", "Largest sizing latency"),
    ("window_duration_seconds", "Length of the window"),
)


class MetricsExtraMissing(RuntimeError):
    """The Prometheus client library is not installed."""


def prometheus_text(metrics: RiskMetrics) -> str:
    """The metrics in Prometheus text format (version 0.0.4)."""
    try:
        from prometheus_client import CollectorRegistry, Gauge, generate_latest
    except ImportError as missing:
        raise MetricsExtraMissing("Prometheus output needs the metrics extra: "
                                  "pip install 'policy-engine[metrics]'") from missing
    registry = CollectorRegistry()
    for name, text in _GAUGES:
        Gauge(PREFIX + name, text, registry=registry).set(getattr(metrics, name))
    by_gate = Gauge(PREFIX + "rejections_by_gate", "Rejections per gate", ["gate"], registry=registry)
    for gate, count in metrics.rejections_by_gate.items():
        by_gate.labels(gate=gate).set(count)
    by_type = Gauge(PREFIX + "breaches_by_type", "Limit breaches per type", ["type"], registry=registry)
    for kind, count in metrics.breaches_by_type.items():
        by_type.labels(type=kind).set(count)
    return generate_latest(registry).decode("utf-8")
