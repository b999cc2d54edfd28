"""What an evaluation returns: the Decision, its events, provenance and (optional) trace."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from policy_engine.trace import Trace

ENGINE_VERSION = "0.1.0"
APPROVED, REJECTED = "approved", "rejected"
INVALID_INPUT, ENGINE_ERROR = "invalid_input", "engine_error"


class LazyText:
    """A message rendered on first read: most decisions are never shown to a person, so the hot
    path stores the template and its values and pays for formatting only when asked."""

    __slots__ = ("_render", "_text")

    def __init__(self, render: Callable[[], str]):
        self._render: Callable[[], str] | None = render
        self._text = ""

    def __str__(self) -> str:
        if self._render is not None:
            self._text, self._render = self._render(), None
        return self._text

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return repr(str(self))


Text = str | LazyText


@dataclass(frozen=True, slots=True)
class Event:
    """An event a rule emitted (e.g. SIZING_REJECTED, DATA_STALE, LIMIT_WARNING)."""

    type: str
    severity: str
    rule: str
    reason: str
    text: Text = ""

    @property
    def message(self) -> str:
        return str(self.text)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "severity": self.severity, "rule": self.rule, "reason": self.reason,
                "message": self.message}


@dataclass(frozen=True, slots=True)
class FiredTrigger:
    id: str
    reason: str
    priority: int
    severity: str
    text: Text = ""

    @property
    def message(self) -> str:
        return str(self.text)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason, "priority": self.priority, "severity": self.severity,
                "message": self.message}


def canonical_json(data: Any) -> str:
    """Sorted, compact JSON. Checked inputs are plain JSON already, so they are dumped as they
    are; only data that cannot be (NaN, integers too long to print) is described first."""
    try:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError):
        return json.dumps(_jsonable(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False, default=str)


def sha256_of(data: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def iso_from_us(us: int) -> str:
    """Integer microseconds since the epoch -> ISO 8601 UTC with a Z (millisecond precision kept)."""
    moment = datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)
    text = moment.isoformat(timespec="microseconds" if us % 1000 else "milliseconds")
    return text.replace("+00:00", "Z")


class Provenance:
    """Which policy decided, on which inputs, with which engine. The input hash is computed
    on first access (it serializes the whole request, which the hot path should not pay for)."""

    __slots__ = ("policy_id", "policy_version", "content_hash", "now_us", "duration_us", "_inputs", "__dict__")

    def __init__(self, policy_id: str, policy_version: str, content_hash: str, now_us: int | None,
                 duration_us: float, inputs: Any):
        self.policy_id, self.policy_version, self.content_hash = policy_id, policy_version, content_hash
        self.now_us, self.duration_us, self._inputs = now_us, duration_us, inputs

    @cached_property
    def input_hash(self) -> str:
        return sha256_of(self._inputs)

    engine_version = ENGINE_VERSION

    def to_dict(self, timing: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "policy_id": self.policy_id, "policy_version": self.policy_version, "content_hash": self.content_hash,
            "input_hash": self.input_hash, "engine_version": self.engine_version,
            "evaluated_at": iso_from_us(self.now_us) if self.now_us is not None else None,
        }
        if timing:
            data["duration_us"] = round(self.duration_us, 3)
        return data


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: outcome, reason, the rule that decided, values, events, provenance, trace."""

    outcome: str
    reason: str | None
    rule: str | None
    message: str
    values: Mapping[str, Any]
    fired: tuple[FiredTrigger, ...]
    events: tuple[Event, ...]
    provenance: Provenance
    trace: "Trace | None" = None
    input_errors: tuple[tuple[str, str], ...] = field(default=())

    @property
    def approved(self) -> bool:
        return self.outcome == APPROVED

    def to_dict(self, timing: bool = False) -> dict[str, Any]:
        """Plain JSON data; byte-stable for the same inputs unless ``timing`` is asked for."""
        data: dict[str, Any] = {
            "outcome": self.outcome, "reason": self.reason, "rule": self.rule, "message": self.message,
            "values": {k: _jsonable(v) for k, v in self.values.items()},
            "fired": [t.to_dict() for t in self.fired], "events": [e.to_dict() for e in self.events],
            "provenance": self.provenance.to_dict(timing),
        }
        if self.input_errors:
            data["input_errors"] = [{"json_path": p, "message": m} for p, m in self.input_errors]
        if self.trace is not None:
            data["trace"] = self.trace.to_list()
        return data

    def to_json(self, timing: bool = False) -> str:
        return json.dumps(self.to_dict(timing), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)


# Integers longer than this cannot be printed by Python (the int-to-str digit limit) and mean
# nothing as a number in a decision: they are shown as a description instead.
MAX_INT_BITS = 10_000


def bounded_int(value: int) -> int | str:
    return value if value.bit_length() <= MAX_INT_BITS else f"<integer of {value.bit_length()} bits>"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return bounded_int(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value
