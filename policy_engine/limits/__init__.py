"""The ``limits`` kind: pre-trade limits that pass, reduce or block a list of proposed orders.

Public API for trading code::

    from policy_engine.limits import apply_limits
    result = apply_limits(orders, current_positions, prices, equity=100_000,
                          params={"max_weight_per_symbol": 0.10, "turnover_cap": 0.5})
    result.filtered_orders, result.reduced_orders, result.summary, result.trace

Orders, positions, prices and the security master are lists of dicts or pandas DataFrames with
the seed's columns; ``filtered_orders`` comes back as the type that came in. The default policy
is ``policies/risk/pre_trade_limits.yaml``, compiled once per set of params and cached. Format
and semantics: docs/limits.md.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from policy_engine.limits.errors import (
    InputProblem,
    LimitsError,
    LimitsEvaluationError,
    LimitsInputError,
    LimitsRuleFailure,
)
from policy_engine.limits.policy import CompiledLimits, compile_limits_policy
from policy_engine.limits.result import LimitsResult

__all__ = [
    "DEFAULT_POLICY",
    "CompiledLimits",
    "InputProblem",
    "LimitsError",
    "LimitsEvaluationError",
    "LimitsInputError",
    "LimitsResult",
    "LimitsRuleFailure",
    "apply_limits",
    "compile_limits_policy",
    "load_limits",
]

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "policies" / "risk" / "pre_trade_limits.yaml"
_CACHE_SIZE = 32
_cache: dict[tuple[str, str], CompiledLimits] = {}
_cache_lock = threading.Lock()


def load_limits(path: str | Path = DEFAULT_POLICY, params: Mapping[str, Any] | None = None) -> CompiledLimits:
    """A compiled limits policy, cached by (path, params): compiled once, shared by every call."""
    key = (str(path), json.dumps(dict(params or {}), sort_keys=True, default=repr))
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    from policy_engine import load

    policy = load(path, params)
    if not isinstance(policy, CompiledLimits):
        raise TypeError(f"{path} is not a LimitsPolicy")
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        return _cache.setdefault(key, policy)


def apply_limits(orders: Any, current_positions: Any, prices: Any, equity: Any, current_equity: Any = None,
                 peak_equity: Any = None, security_master: Any = None, *,
                 policy: CompiledLimits | str | Path | None = None,
                 params: Mapping[str, Any] | None = None) -> LimitsResult:
    """Apply a limits policy (default: the pre-trade limits) to proposed orders.

    ``params`` overrides the policy's params for this call (checked like ``--set``). Raises
    ``LimitsInputError`` naming every bad row, ``LimitsRuleFailure`` when a ``fail`` limit is
    breached (FX: ``RISK_FAIL_FX_NON_BASE_CURRENCY``); in both cases nothing is applied.
    """
    if isinstance(policy, CompiledLimits):
        compiled = policy.with_params(params) if params else policy
    else:
        compiled = load_limits(policy if policy is not None else DEFAULT_POLICY, params)
    return compiled.apply(orders, current_positions, prices, equity, current_equity, peak_equity, security_master)
