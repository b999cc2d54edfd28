"""What an evaluation returns: the Decision, its events, provenance and (optional) trace."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple

if TYPE_CHECKING:
    from policy_engine.trace import Trace

ENGINE_VERSION = "0.1.0"
APPROVED, REJECTED = "approved", "rejected"
INVALID_INPUT, ENGINE_ERROR = "invalid_input", "engine_error"


class LazyText:
    """A message rendered on first read: most decisions are never shown to a person, so the hot
    path stores the renderer and its values and pays for formatting only when asked."""

    __slots__ = ("_args", "_render", "_text")

    def __init__(self, render: Callable[..., str], *args: Any):
        self._render: Callable[..., str] | None = render
        self._args = args
        self._text = ""

    def __str__(self) -> str:
        if self._render is not None:
            self._text, self._render, self._args = self._render(*self._args), None, ()
        return self._text

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return repr(str(self))


Text = str | LazyText


class Event(NamedTuple):
    """An event a rule emitted (e.g. SIZING_REJECTED, DATA_STALE, LIMIT_WARNING). Immutable; a
    tuple underneath, so the engine builds one at the cost of a tuple."""

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


class FiredTrigger(NamedTuple):
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


class Provenance(tuple[Any, ...]):
    """Which policy decided, on which inputs, with which engine, and how long it took. Immutable;
    the input hash is computed on first access (it serializes the whole request, which the hot
    path should not pay for). The checked inputs share their parts with the caller's request, so
    the hash is that of the request as it is when first read: read it before changing the request."""

    def __new__(cls, policy_id: str, policy_version: str, content_hash: str, now_us: int | None,
                duration_us: float, inputs: Any) -> "Provenance":
        return tuple.__new__(cls, (policy_id, policy_version, content_hash, now_us, duration_us, inputs))

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)

    @property
    def policy_id(self) -> str:
        return self[0]  # type: ignore[no-any-return]

    @property
    def policy_version(self) -> str:
        return self[1]  # type: ignore[no-any-return]

    @property
    def content_hash(self) -> str:
        return self[2]  # type: ignore[no-any-return]

    @property
    def now_us(self) -> int | None:
        return self[3]  # type: ignore[no-any-return]

    @property
    def duration_us(self) -> float:
        return self[4]  # type: ignore[no-any-return]

    @property
    def _inputs(self) -> Any:
        return self[5]

    @cached_property
    def input_hash(self) -> str:
        return sha256_of(self[5])

    engine_version = ENGINE_VERSION

    def __repr__(self) -> str:
        return (f"Provenance(policy_id={self.policy_id!r}, policy_version={self.policy_version!r}, "
                f"now_us={self.now_us!r})")

    def to_dict(self, timing: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "policy_id": self.policy_id, "policy_version": self.policy_version, "content_hash": self.content_hash,
            "input_hash": self.input_hash, "engine_version": self.engine_version,
            "evaluated_at": iso_from_us(self.now_us) if self.now_us is not None else None,
        }
        if timing:
            data["duration_us"] = round(self.duration_us, 3)
        return data


_FIELDS = ("outcome", "reason", "rule", "message", "values", "fired", "events", "provenance", "trace",
           "input_errors")


class Decision(tuple[Any, ...]):
    """The answer: outcome, reason, the rule that decided, values, events, provenance, trace.

    Immutable, and a tuple underneath so the engine builds one at the cost of a tuple; the
    rejection message may be held unrendered (a LazyText) and is rendered on first read of
    ``message``."""

    def __new__(cls, outcome: str, reason: str | None, rule: str | None, message: Text,
                values: Mapping[str, Any], fired: tuple[FiredTrigger, ...], events: tuple[Event, ...],
                provenance: Provenance,
                trace: "Trace | None" = None, input_errors: tuple[tuple[str, str], ...] = ()) -> "Decision":
        return tuple.__new__(cls, (outcome, reason, rule, message, values, fired, events, provenance, trace,
                                   input_errors))

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)

    @property
    def outcome(self) -> str:
        return self[0]  # type: ignore[no-any-return]

    @property
    def reason(self) -> str | None:
        return self[1]  # type: ignore[no-any-return]

    @property
    def rule(self) -> str | None:
        return self[2]  # type: ignore[no-any-return]

    @property
    def message(self) -> str:
        return str(self[3])

    @property
    def values(self) -> Mapping[str, Any]:
        return self[4]  # type: ignore[no-any-return]

    @property
    def fired(self) -> tuple[FiredTrigger, ...]:
        return self[5]  # type: ignore[no-any-return]

    @property
    def events(self) -> tuple[Event, ...]:
        return self[6]  # type: ignore[no-any-return]

    @property
    def provenance(self) -> Provenance:
        return self[7]  # type: ignore[no-any-return]

    @property
    def trace(self) -> "Trace | None":
        return self[8]  # type: ignore[no-any-return]

    @property
    def input_errors(self) -> tuple[tuple[str, str], ...]:
        return self[9]  # type: ignore[no-any-return]

    @property
    def approved(self) -> bool:
        return bool(self[0] == APPROVED)

    def __repr__(self) -> str:
        shown = (f"{name}={getattr(self, name)!r}" for name in _FIELDS if name != "trace")
        return f"Decision({', '.join(shown)})"

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
