"""Risk contracts of seed 004: typed models of the position-sizing request and decision."""

from __future__ import annotations

from policy_engine.risk.models import *  # the public names of models.__all__
from policy_engine.risk.models import __all__ as __all__
