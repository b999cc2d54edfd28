"""Operational risk metrics (seed 004 §4.11) from the sizing decision log and the risk-modes history."""

from policy_engine.metrics.compute import LIMIT_GATES, ModeHistory, RiskMetrics, risk_metrics, timeframe_us
from policy_engine.metrics.decision_log import DecisionConflict, DecisionLog, LoggedDecision

__all__ = ["LIMIT_GATES", "DecisionConflict", "DecisionLog", "LoggedDecision", "ModeHistory", "RiskMetrics",
           "risk_metrics", "timeframe_us"]
