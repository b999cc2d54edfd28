"""The option-hedge lifecycle around its policies (seed 000): the daily roll check over a file of
positions and the audit records it writes.

    report = DailyRollCheck.from_policy_dir().check(positions_document)
"""

from policy_engine.hedging.daily_check import (
    DailyCheckReport,
    DailyRollCheck,
    PositionCheck,
    PositionError,
    PositionsFileError,
)
from policy_engine.hedging.records import daily_check_records

__all__ = ["DailyCheckReport", "DailyRollCheck", "PositionCheck", "PositionError", "PositionsFileError",
           "daily_check_records"]
