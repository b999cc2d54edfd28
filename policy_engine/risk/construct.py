"""Trusted construction of the output contracts, and their JSON form, without re-validation.

The facade fills every field of a PositionSizingDecision from values the engine already
guarantees (checked inputs, the policy's own arithmetic), so running pydantic's validators over
the whole nested tree again cost more than the decision itself. Here each model's fields are
read once from its annotations, and a plain dict of *field values* becomes either

- ``build(cls, values)``: the model instance, set up the way ``model_construct`` does it
  (``__dict__`` filled, every field marked set), typed exactly as validation would type it; or
- ``wire(cls, values)``: the JSON data ``build(cls, values).model_dump(mode="json")`` gives.

Field values: timestamps as integer microseconds since the epoch, enums as their string values,
numbers as int or float, nested contracts as dicts (or lists of dicts) of field values. A missing
field takes the model's default; the facade lists every field, in declaration order.
``tests/unit/test_risk_construct.py`` checks on hundreds of generated, malformed and example
requests that ``build`` equals ``model_validate`` of ``wire``, type for type, and that ``wire``
passes the committed decision schema, so neither form can drift from the models.
"""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cache
from typing import Any, NamedTuple

from pydantic import AwareDatetime, BaseModel

TIMESTAMP, FLOAT, ENUM, MODEL, MODELS, PLAIN = "timestamp", "float", "enum", "model", "models", "plain"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_REQUIRED = object()
_set = object.__setattr__


class FieldPlan(NamedTuple):
    name: str
    kind: str
    target: Any  # the Enum class, the nested model class, or None
    default: Any  # _REQUIRED, a value, or a factory (``factory`` true)
    factory: bool


def at(us: int) -> datetime:
    """Integer microseconds since the epoch -> aware UTC datetime, exactly."""
    return _EPOCH + timedelta(microseconds=us)


def iso(us: int) -> str:
    """The JSON text pydantic writes for ``at(us)``: ISO 8601 with ``Z``, microseconds when non-zero."""
    return (_NAIVE_EPOCH + timedelta(microseconds=us)).isoformat() + "Z"  # naive: no "+00:00" to replace


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> X, ``Annotated[X, ...]`` -> X."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def _kind(annotation: Any) -> tuple[str, Any]:
    inner = _unwrap(annotation)
    if typing.get_origin(inner) is list:
        item = _unwrap(typing.get_args(inner)[0])
        return (MODELS, item) if isinstance(item, type) and issubclass(item, BaseModel) else (PLAIN, None)
    if not isinstance(inner, type):
        return PLAIN, None
    if inner is AwareDatetime or issubclass(inner, datetime):
        return TIMESTAMP, None
    if issubclass(inner, Enum):
        return ENUM, inner
    if issubclass(inner, BaseModel):
        return MODEL, inner
    if inner is float:
        return FLOAT, None
    return PLAIN, None


@cache
def plan(cls: type[BaseModel]) -> tuple[FieldPlan, ...]:
    """The fields of ``cls`` in declaration order, each with how its value is converted."""
    fields = []
    for name, info in cls.model_fields.items():
        kind, target = _kind(info.annotation)
        if info.default_factory is not None:
            fields.append(FieldPlan(name, kind, target, info.default_factory, True))
        else:
            fields.append(FieldPlan(name, kind, target, _REQUIRED if info.is_required() else info.default, False))
    return tuple(fields)


class Recipe(NamedTuple):
    """How the field values of one model change form, grouped by kind (plain values stay)."""

    size: int
    floats: tuple[str, ...]
    timestamps: tuple[str, ...]
    enums: tuple[tuple[str, dict[Any, Enum], dict[Any, str]], ...]
    models: tuple[tuple[str, type[BaseModel]], ...]
    lists: tuple[tuple[str, type[BaseModel]], ...]


@cache
def recipe(cls: type[BaseModel]) -> Recipe:
    fields = plan(cls)

    def named(kind: str) -> tuple[FieldPlan, ...]:
        return tuple(field for field in fields if field.kind is kind)

    enums = tuple((f.name, {m.value: m for m in f.target} | {m: m for m in f.target},
                   {m.value: m.value for m in f.target} | {m: m.value for m in f.target}) for f in named(ENUM))
    return Recipe(len(fields), tuple(f.name for f in named(FLOAT)), tuple(f.name for f in named(TIMESTAMP)), enums,
                  tuple((f.name, f.target) for f in named(MODEL)), tuple((f.name, f.target) for f in named(MODELS)))


def _complete(cls: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """Every field of ``cls`` in declaration order, defaults filled in (a new dict)."""
    complete = {}
    for field in plan(cls):
        value = values.get(field.name, _REQUIRED)
        if value is _REQUIRED:
            if field.default is _REQUIRED:
                raise KeyError(f"{cls.__name__}: no value for the required field {field.name}")
            value = field.default() if field.factory else field.default
        complete[field.name] = value
    return complete


class _Converter:
    """One conversion of one decision: shared nested values and repeated timestamps are
    converted once. Loops by kind rather than a call per field: this runs for every decision."""

    def __init__(self, typed: bool, shared: dict[int, Any] | None = None):
        self.typed = typed
        self.shared: dict[int, Any] = dict(shared or {})
        self.times: dict[int, Any] = {}
        self.time = at if typed else iso

    def model(self, cls: type[BaseModel], values: dict[str, Any]) -> Any:
        key = id(values)
        done = self.shared.get(key)
        if done is None:
            done = self.shared[key] = self._typed(cls, values) if self.typed else self._data(cls, values)
        return done

    def _data(self, cls: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
        how = recipe(cls)
        # A dict with every field, in declaration order as the facade writes it, is used as it is:
        # the facade's dicts are fresh for each decision, so the model may own one (JSON data copies).
        if len(values) != how.size:
            data = _complete(cls, values)
        else:
            data = values if self.typed else dict(values)
        for name in how.floats:
            if type(data[name]) is int:
                data[name] = float(data[name])
        times = self.times
        for name in how.timestamps:
            us = data[name]
            if us is not None:
                text = times.get(us)
                data[name] = text if text is not None else times.setdefault(us, self.time(us))
        for name, members, texts in how.enums:
            if data[name] is not None:
                data[name] = (members if self.typed else texts)[data[name]]
        for name, nested in how.models:
            if data[name] is not None:
                data[name] = self.model(nested, data[name])
        for name, nested in how.lists:
            data[name] = [self.model(nested, item) for item in data[name]]
        return data

    def _typed(self, cls: type[BaseModel], values: dict[str, Any]) -> BaseModel:
        data = self._data(cls, values)
        instance = cls.__new__(cls)
        _set(instance, "__dict__", data)
        _set(instance, "__pydantic_fields_set__", set(data))
        _set(instance, "__pydantic_extra__", None)
        _set(instance, "__pydantic_private__", None)
        return instance


def build(cls: type[BaseModel], values: dict[str, Any]) -> Any:
    """The model instance of ``values`` (field values as described above), without validation.
    ``values`` and the dicts nested in it become the models' own: pass fresh ones."""
    return _Converter(typed=True).model(cls, values)


def wire(cls: type[BaseModel], values: dict[str, Any], shared: dict[int, Any] | None = None) -> dict[str, Any]:
    """The JSON data of ``values``. ``shared`` maps ``id()`` of a nested values dict to what stands
    in its place (the JSON line writer uses it to serialize a repeated part once)."""
    return _Converter(typed=False, shared=shared).model(cls, values)  # type: ignore[no-any-return]
