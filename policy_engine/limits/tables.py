"""Tables in and out: plain lists of dicts, or pandas DataFrames with the seed's columns.

pandas is optional: nothing here imports it. A DataFrame is recognised by its type's module and
read column by column (``Series.tolist()`` gives Python scalars); the filtered orders go back as
the same type that came in, a DataFrame keeping its index, dtypes and extra columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from policy_engine.limits.errors import INPUT_NOT_A_TABLE, InputProblem

TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class Table:
    name: str
    rows: list[dict[str, Any]]  # what the checker reads: timestamps as RFC 3339 text
    originals: Any  # what the caller gave: a list of dicts or a DataFrame
    is_frame: bool
    index: list[Any] | None = None  # a DataFrame's index labels, when not the default 0..n-1

    def row_index(self, row: int) -> Any:
        return self.index[row] if self.index is not None and row < len(self.index) else None


def is_frame(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "pandas" and hasattr(value, "columns") and hasattr(value, "iloc")


def read_table(name: str, value: Any, problems: list[InputProblem]) -> Table:
    """A table of rows; None is an empty table; anything else that is not a table is a problem."""
    if value is None:
        return Table(name, [], [], False)
    if is_frame(value):
        labels = value.index.tolist()
        return Table(name, _frame_rows(value), value, True, None if labels == list(range(len(labels))) else labels)
    if not isinstance(value, (list, tuple)):
        problems.append(InputProblem(name, None, "", INPUT_NOT_A_TABLE,
                                     f"expected a list of rows or a DataFrame, got {type(value).__name__}"))
        return Table(name, [], [], False)
    rows: list[dict[str, Any]] = []
    for index, row in enumerate(value):
        if row.__class__ is not dict and not isinstance(row, Mapping):
            problems.append(InputProblem(name, index, "", INPUT_NOT_A_TABLE,
                                         f"expected a row (a mapping), got {type(row).__name__}"))
            continue
        stamp = row.get(TIMESTAMP)
        # Rows are only read (the checker copies what it checks): no copy unless a datetime needs text.
        if isinstance(stamp, datetime):
            rows.append({**row, TIMESTAMP: timestamp_text(stamp)})
        else:
            rows.append(row if row.__class__ is dict else dict(row))
    return Table(name, rows, value if isinstance(value, list) else list(value), False)


def _frame_rows(frame: Any) -> list[dict[str, Any]]:
    columns = [str(column) for column in frame.columns]
    values = [_column(frame.iloc[:, index]) for index in range(len(columns))]
    return [dict(zip(columns, row)) for row in zip(*values)] if columns else [{} for _ in range(len(frame))]


def _column(series: Any) -> list[Any]:
    if str(series.dtype).startswith("datetime64"):
        return _datetime_column(series)
    values: list[Any] = series.tolist()
    if values and isinstance(values[0], datetime):  # an object column of datetimes
        texts: dict[Any, Any] = {}
        return [texts[v] if v in texts else texts.setdefault(v, timestamp_text(v)) for v in values]
    return values


def _datetime_column(series: Any) -> list[Any]:
    """A datetime64 column as RFC 3339 text in UTC, converted in one vectorized step (naive = UTC)."""
    import numpy as np  # present wherever pandas is

    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    texts: list[str] = np.datetime_as_string(series.to_numpy(dtype="datetime64[us]"), unit="us").tolist()
    return [None if text == "NaT" else text + "Z" for text in texts]


def timestamp_text(value: Any) -> Any:
    """A datetime (or pandas Timestamp) as RFC 3339 text; naive values are read as UTC."""
    if not isinstance(value, datetime):
        return value
    if type(value).__name__ == "NaTType":
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="microseconds")


def orders_out(table: Table, kept: list[int], new_qty: dict[int, float]) -> Any:
    """The kept orders, in input order, as the type that came in, with their new quantities."""
    if not table.is_frame:
        return [({**table.originals[i], "qty": new_qty[i]} if i in new_qty else dict(table.originals[i]))
                for i in kept]
    frame = table.originals.iloc[kept].copy()
    if any(i in new_qty for i in kept):
        frame["qty"] = [new_qty.get(i, table.rows[i]["qty"]) for i in kept]
    return frame


def rows_out(table: Table, kept: list[int], new_qty: dict[int, float]) -> list[dict[str, Any]]:
    """The kept orders as JSON-ready rows (timestamps as text), for the CLI and snapshots."""
    return [({**table.rows[i], "qty": new_qty[i]} if i in new_qty else dict(table.rows[i])) for i in kept]
