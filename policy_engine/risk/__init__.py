"""Risk contracts of seed 004: typed models of the position-sizing request and decision."""

from __future__ import annotations

from policy_engine.risk.models import *  # noqa: F403 - the package re-exports the models' public names
from policy_engine.risk.models import __all__ as __all__
