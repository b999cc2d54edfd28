"""Compiled input checker: keyword semantics, JSON paths, date-time normalization, fail-closed
behaviour, and a differential test against jsonschema's Draft 2020-12 validator."""

from __future__ import annotations

import copy
import enum
import math
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from policy_engine import inputs, timestamps
from policy_engine.inputs import InputIssue, UnsupportedSchema, compile_input_checker, parse_date_time
from policy_engine.timestamps import reference_date_time


def check(schema: Any, data: Any) -> tuple[Any, list[InputIssue]]:
    return compile_input_checker(schema).check(data)


def paths(schema: Any, data: Any) -> list[str]:
    return [issue.json_path for issue in check(schema, data)[1]]


def obj(required: bool = True, **props: Any) -> dict[str, Any]:
    """A strict object schema; ``required=False`` makes every property optional."""
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    return {**schema, "required": list(props)} if required else schema


def stamp(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment:%H:%M:%S}"


def reference(schema: Any) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def us(text: str) -> int:
    """Reference conversion through datetime, exact through timedelta arithmetic."""
    moment = datetime.fromisoformat(text.upper())
    offset = moment.utcoffset() or timedelta(0)
    return (moment.replace(tzinfo=None) - datetime(1970, 1, 1) - offset) // timedelta(microseconds=1)


# --- keywords -------------------------------------------------------------------------------------

TYPE_CASES = [
    ("object", {}, [[], "x", 1, None, True]),
    ("array", [], [{}, "x", 1, None, (1,)]),
    ("string", "x", [1, None, True, b"x", ["x"]]),
    ("number", 1.5, ["1", None, True, False, [1]]),
    ("integer", 3, [3.5, "3", True, None]),
    ("boolean", True, [1, 0, "true", None]),
    ("null", None, [0, "", False, {}]),
]


@pytest.mark.parametrize(("type_name", "good", "bads"), TYPE_CASES)
def test_type(type_name: str, good: Any, bads: list[Any]) -> None:
    schema = obj(v={"type": type_name})
    assert check(schema, {"v": good}) == ({"v": good}, [])
    for bad in bads:
        assert paths(schema, {"v": bad}) == ["$.v"], bad


def test_type_list_and_integer_valued_float() -> None:
    schema = obj(v={"type": ["integer", "null"]})
    assert check(schema, {"v": 3.0})[1] == []
    assert check(schema, {"v": None})[1] == []
    issue = check(schema, {"v": "3"})[1][0]
    assert issue == InputIssue("$.v", "expected integer or null, got string")


def test_the_largest_finite_floats_are_numbers() -> None:
    assert check({"type": "number"}, -sys.float_info.max)[1] == []
    assert check({"type": "number", "maximum": 1e308}, 1e308)[1] == []
    assert paths({"type": "number", "maximum": 1e308}, sys.float_info.max) == ["$"]


def test_bool_is_not_a_number() -> None:
    for schema in ({"type": "number"}, {"type": "integer"}, {"type": "number", "minimum": 0}):
        assert paths(schema, True) == ["$"]
        assert paths(schema, False) == ["$"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_everywhere(value: float) -> None:
    cases = [
        (obj(v={"type": "number"}), {"v": value}, "$.v"),
        (obj(v={"type": "number", "minimum": 0, "maximum": 10}), {"v": value}, "$.v"),
        (obj(v={"type": ["number", "null"]}), {"v": value}, "$.v"),
        (obj(v={"type": "integer"}), {"v": value}, "$.v"),
        ({"type": "array", "items": {"type": "number"}}, [1.0, value], "$[1]"),
        ({"type": "object"}, {"free": {"deep": [value]}}, "$.free.deep[0]"),
        ({"minimum": 0}, value, "$"),
        ({"enum": [1.0, 2.0]}, value, "$"),
        (True, [value], "$[0]"),
    ]
    for schema, data, path in cases:
        assert check(schema, data) == (None, [InputIssue(path, "not a finite number")]), schema


def test_properties_and_nested_paths() -> None:
    schema = obj(signal=obj(entry_price_zone=obj(low={"type": "number"}, high={"type": "number"})))
    data = {"signal": {"entry_price_zone": {"low": "6.6", "high": 6.7}}}
    expected = InputIssue("$.signal.entry_price_zone.low", "expected number, got string")
    assert check(schema, data)[1] == [expected]


def test_paths_follow_jsonschema_json_path() -> None:
    props: dict[str, Any] = {"a b": {"type": "array", "items": {"type": "string"}}, "$x": {"type": "string"}}
    schema = obj(**props)
    data = {"a b": ["x", 1], "$x": 2}
    expected = [error.json_path for error in Draft202012Validator(schema).iter_errors(data)]
    assert sorted(paths(schema, data)) == sorted(expected) == ["$['$x']", "$['a b'][1]"]
    quoted: dict[str, Any] = {"it's": {"type": "string"}}
    assert paths(obj(**quoted), {"it's": 1}) == ["$['it\\'s']"]


def test_required_names_the_missing_field() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "string"}},
              "required": ["a", "b", "c"]}
    assert check(schema, {"a": 1, "b": "x", "c": None})[1] == []
    issues = check(schema, {"b": "x"})[1]
    assert issues == [InputIssue(path, "required field missing") for path in ("$.c", "$.a")]
    assert paths(obj(x={"type": "string"}), {}) == ["$.x"]
    assert paths({"type": "object", "required": ["a"], "additionalProperties": False}, {"a": 1}) == ["$.a"]
    assert paths({"type": "object", "required": ["a"]}, {"a": math.nan}) == ["$.a"]


def test_optional_properties() -> None:
    schema = obj(required=False, a={"type": "number"}, b={"type": "string"})
    assert check(schema, {}) == ({}, [])
    assert check(schema, {"b": "x"}) == ({"b": "x"}, [])
    assert paths(schema, {"b": 1}) == ["$.b"]


def test_additional_properties_false_names_the_extra_key() -> None:
    schema = obj(signal=obj(symbol={"type": "string"}))
    issues = check(schema, {"signal": {"symbol": "MSFT", "extra": 1}})[1]
    assert issues == [InputIssue("$.signal.extra", "unexpected field")]
    assert paths(schema, {"signal": {"symbol": "MSFT"}, "z z": 1}) == ["$['z z']"]


def test_additional_properties_allowed_are_checked_and_shared() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "number"}}}
    data: dict[str, Any] = {"a": 1, "b": {"c": [1, "x", None]}}
    normalized, issues = check(schema, data)
    assert (normalized, issues) == (data, [])
    assert normalized is data and normalized["b"]["c"] is data["b"]["c"]  # no date-time: nothing copied
    assert paths(schema, {"a": 1, "b": {"c": ({1},)}}) == ["$.b.c"]
    assert check({"type": "object"}, {1: "x"})[1] == [InputIssue("$['1']", "object key is not a string")]


def test_items_paths_carry_indices() -> None:
    event = obj(event_type={"enum": ["EARNINGS", "FOMC"]})
    schema = obj(events={"type": "array", "items": event})
    data = {"events": [{"event_type": "FOMC"}] * 3 + [{"event_type": "CPI"}]}
    expected = InputIssue("$.events[3].event_type", 'must be one of ["EARNINGS", "FOMC"]')
    assert check(schema, data)[1] == [expected]
    nested = {"type": "array", "items": {"type": "array", "items": obj(v={"type": "integer"})}}
    assert paths(nested, [[{"v": 1}], [{"v": 1}, {"v": 1.5}]]) == ["$[1][1].v"]
    assert paths({"type": "array", "items": False}, [1]) == ["$[0]"]
    assert check({"type": "array", "items": False}, []) == ([], [])


def test_enum_and_const() -> None:
    assert paths({"enum": ["A", "B"]}, "C") == ["$"]
    assert paths({"enum": ["A", "B"]}, ["A"]) == ["$"]
    assert check({"enum": ["A", 1, None, [1, {"k": True}]]}, [1.0, {"k": True}])[1] == []
    assert paths({"enum": [1]}, True) == ["$"]  # true is not 1 in JSON
    assert paths({"enum": [True]}, 1) == ["$"]
    assert check({"enum": [1]}, 1.0)[1] == []  # but 1.0 is 1
    assert check({"const": "x"}, "x")[1] == []
    assert check({"const": "x"}, "y")[1] == [InputIssue("$", 'must be "x"')]
    assert paths({"const": {"a": [1]}}, {"a": [True]}) == ["$"]
    assert paths({"enum": ["A", "B"], "const": "A"}, "B") == ["$"]
    assert paths({"type": "string", "enum": ["A", 1]}, 1) == ["$"]
    assert paths({"type": ["string", "null"], "enum": ["A"]}, None) == ["$"]  # typed, but not a member
    assert check({"type": ["number", "string"], "enum": ["A"]}, 1)[1] == [InputIssue("$", 'must be one of ["A"]')]
    assert check({"type": ["string", "null"], "enum": ["A", None]}, None) == (None, [])


class Side(enum.StrEnum):
    LONG = "long"


class Level(enum.IntEnum):
    ONE = 1


def test_str_and_int_subclasses_are_their_json_kind() -> None:
    assert check({"enum": ["long"]}, Side.LONG)[1] == []
    assert check({"type": "string", "minLength": 4}, Side.LONG)[1] == []
    assert check({"type": "integer", "minimum": 1}, Level.ONE)[1] == []
    assert paths({"type": "integer", "minimum": 2}, Level.ONE) == ["$"]


@pytest.mark.parametrize(("keyword", "limit", "good", "bad", "message"), [
    ("minimum", 0, 0, -0.5, "must be >= 0"),
    ("maximum", 1, 1.0, 2, "must be <= 1"),
    ("exclusiveMinimum", 0, 0.001, 0, "must be > 0"),
    ("exclusiveMaximum", 1.5, 1, 1.5, "must be < 1.5"),
    ("minimum", 2**60, 2**60, 2**60 - 1, f"must be >= {2**60}"),
])
def test_number_bounds(keyword: str, limit: float, good: float, bad: float, message: str) -> None:
    schema = obj(v={"type": "number", keyword: limit})
    assert check(schema, {"v": good})[1] == []
    assert check(schema, {"v": bad})[1] == [InputIssue("$.v", message)]


def test_string_length_counts_code_points() -> None:
    schema = obj(v={"type": "string", "minLength": 2, "maxLength": 3})
    assert check(schema, {"v": "é😀"})[1] == []
    assert check(schema, {"v": "a"})[1] == [InputIssue("$.v", "must be at least 2 characters long")]
    assert check(schema, {"v": "abcd"})[1] == [InputIssue("$.v", "must be at most 3 characters long")]
    assert paths({"minLength": 1}, 5) == []  # length keywords apply to strings only
    assert check({"type": "string", "maxLength": 2}, "ab")[1] == []
    assert paths({"type": "string", "maxLength": 2}, "abc") == ["$"]


def test_array_length() -> None:
    schema = obj(v={"type": "array", "minItems": 1, "maxItems": 2.0})
    assert check(schema, {"v": [1]})[1] == []
    assert check(schema, {"v": []})[1] == [InputIssue("$.v", "must have at least 1 items")]
    assert check(schema, {"v": [1, 2, 3]})[1] == [InputIssue("$.v", "must have at most 2 items")]


def test_refs_and_defs() -> None:
    schema = {
        "$defs": {"ts": {"type": "string", "format": "date-time"}, "zone": obj(low={"$ref": "#/$defs/price"}),
                  "price": {"type": "number", "exclusiveMinimum": 0}, "a/b": {"type": "null"}},
        "type": "object",
        "properties": {"at": {"$ref": "#/$defs/ts"}, "zone": {"$ref": "#/$defs/zone", "description": "x"},
                       "n": {"$ref": "#/$defs/a~1b"}},
    }
    data = {"at": "1970-01-01T00:00:01Z", "zone": {"low": 1.5}, "n": None}
    assert check(schema, data) == ({"at": 1_000_000, "zone": {"low": 1.5}, "n": None}, [])
    assert paths(schema, {"zone": {"low": 0}}) == ["$.zone.low"]
    assert check({"$ref": "#/$defs/t", "$defs": {"t": {"type": "string"}}}, "x") == ("x", [])


def test_annotations_and_other_formats_are_ignored() -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x", "title": "t",
              "description": "d", "$comment": "c", "default": 1, "examples": [1], "deprecated": False,
              "type": "string", "format": "email"}
    assert check(schema, "not an email") == ("not an email", [])


def test_true_false_and_empty_schemas() -> None:
    assert check(True, {"a": [1, None]}) == ({"a": [1, None]}, [])
    assert check({}, "x") == ("x", [])
    assert check(False, 1) == (None, [InputIssue("$", "no value is allowed here")])
    assert paths(obj(required=False, a=False), {"a": 1}) == ["$.a"]
    assert check(obj(required=False, a=False), {}) == ({}, [])


# --- date-time ------------------------------------------------------------------------------------

VALID_DATE_TIMES = [
    ("1970-01-01T00:00:00Z", 0),
    ("1970-01-01T00:00:00.000001Z", 1),
    ("1969-12-31T23:59:59.999999Z", -1),
    ("1970-01-01T01:00:00+01:00", 0),
    ("1970-01-01T00:00:00-00:30", 1_800_000_000),
    ("2025-04-02T06:10:54.151Z", 1_743_574_254_151_000),
    ("2025-04-02T06:10:54.1Z", 1_743_574_254_100_000),
    ("2025-04-02T11:40:54.15+05:30", 1_743_574_254_150_000),
    ("2024-02-29T12:00:00Z", us("2024-02-29T12:00:00+00:00")),
    ("2000-02-29T00:00:00Z", us("2000-02-29T00:00:00+00:00")),
    ("2025-12-31t23:59:59z", us("2025-12-31T23:59:59+00:00")),
    ("0001-01-01T00:00:00+23:59", us("0001-01-01T00:00:00+23:59")),
    ("9999-12-31T23:59:59.999999-23:59", us("9999-12-31T23:59:59.999999-23:59")),
]
INVALID_DATE_TIMES = [
    "2025-04-02T06:10:54",  # naive
    "2025-04-02 06:10:54Z", "2025-04-02T06:10Z", "2025-04-02", "06:10:54Z", "",
    "2025-02-29T00:00:00Z", "2025-02-30T00:00:00Z", "1900-02-29T00:00:00Z", "2025-04-31T00:00:00Z",
    "2025-13-01T00:00:00Z", "2025-00-01T00:00:00Z", "2025-01-00T00:00:00Z", "0000-01-01T00:00:00Z",
    "2025-01-01T24:00:00Z", "2025-01-01T00:60:00Z", "2025-01-01T23:59:60Z",  # leap second
    "2025-01-01T00:00:00.Z", "2025-01-01T00:00:00.1234567Z", "2025-01-01T00:00:00+0100",
    "2025-01-01T00:00:00+24:00", "2025-01-01T00:00:00Z\n", " 2025-01-01T00:00:00Z",
    "2025-01-01T00:00:00ZZ", "２０２５-01-01T00:00:00Z", "2025-01-01T00:00:00+01:00:00",
    "+2025-01-01T00:00:00Z",
]


@pytest.mark.parametrize(("text", "expected"), VALID_DATE_TIMES)
def test_date_time_valid(text: str, expected: int) -> None:
    assert parse_date_time(text) == expected
    assert check(obj(at={"type": "string", "format": "date-time"}), {"at": text}) == ({"at": expected}, [])
    assert reference({"format": "date-time"}).is_valid(text)


@pytest.mark.parametrize("text", INVALID_DATE_TIMES)
def test_date_time_invalid(text: str) -> None:
    assert parse_date_time(text) is None
    issues = check(obj(at={"type": "string", "format": "date-time"}), {"at": text})
    assert issues == (None, [InputIssue("$.at", "not an RFC 3339 date-time with offset")])


def test_date_time_format_ignores_other_types_and_keeps_null() -> None:
    assert check({"format": "date-time"}, 5) == (5, [])
    schema = obj(at={"type": ["string", "null"], "format": "date-time"})
    assert check(schema, {"at": None}) == ({"at": None}, [])


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.integers(-1439, 1439), st.integers(0, 6), st.booleans())
def test_date_time_matches_datetime_arithmetic(moment: datetime, offset: int, digits: int, z: bool) -> None:
    fraction = f".{moment.microsecond:06d}"[: digits + 1] if digits else ""
    sign, size = ("+" if offset >= 0 else "-"), abs(offset)
    text = stamp(moment) + fraction + ("Z" if z else f"{sign}{size // 60:02d}:{size % 60:02d}")
    expected = us(text)
    timestamps.DATES.clear()  # the uncached path, then the cached one
    assert parse_date_time(text) == expected == reference_date_time(text)
    assert parse_date_time(text) == expected


def test_date_time_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timestamps, "CACHE_SIZE", 10)
    timestamps.DATES.clear()  # other tests fill the process-wide cache first
    for second in range(50):
        assert parse_date_time(f"2025-01-01T00:00:{second % 60:02d}.{second:03d}Z") is not None
    assert len(timestamps.DATES) <= 10


# --- fail closed: odd inputs, bounded issues, no mutation --------------------------------------------


def test_non_json_values_are_refused_without_raising() -> None:
    schema = obj(v={"type": "number"})
    assert check(schema, {"v": object()})[1][0].message.startswith("expected number, got non-JSON value")
    assert paths(schema, ({"v": 1},)) == ["$"]
    assert paths({"type": "object"}, {"v": {1, 2}}) == ["$.v"]
    assert paths({}, {"v": b"x"}) == ["$.v"]


def test_a_hostile_mapping_is_an_issue_not_an_exception() -> None:
    class Hostile(dict[str, Any]):
        def __iter__(self) -> Any:
            raise RuntimeError("boom")

        def keys(self) -> Any:
            raise RuntimeError("boom")

    assert check(obj(v={"type": "number"}), Hostile(v=1)) == (
        None, [InputIssue("$", "input could not be checked (RuntimeError)")])


def test_issues_are_capped_and_the_shallowest_leads() -> None:
    schema = obj(items={"type": "array", "items": {"type": "integer"}}, flag={"type": "boolean"})
    normalized, issues = check(schema, {"items": ["x"] * 50, "flag": 1})
    assert normalized is None and len(issues) == inputs.MAX_ISSUES
    assert [i.json_path for i in issues[:3]] == ["$.items[0]", "$.items[1]", "$.items[2]"]
    _, issues = check(schema, {"items": ["x", "y"], "flag": 1})
    assert [i.json_path for i in issues] == ["$.flag", "$.items[0]", "$.items[1]"]


def test_input_is_never_mutated_and_only_the_way_to_a_date_time_is_copied() -> None:
    schema = obj(at={"type": "string", "format": "date-time"},
                 rows={"type": "array", "items": obj(t={"type": "string", "format": "date-time"})},
                 zone=obj(low={"type": "number"}), tags={"type": "array", "items": {"type": "string"}})
    data = {"at": "2025-01-01T00:00:00Z", "rows": [{"t": "2025-01-01T00:00:01Z"}], "zone": {"low": 1.0},
            "tags": ["a"]}
    before = copy.deepcopy(data)
    normalized, issues = check(schema, data)
    assert data == before and issues == []
    assert normalized == {"at": 1_735_689_600_000_000, "rows": [{"t": 1_735_689_601_000_000}], "zone": {"low": 1.0},
                          "tags": ["a"]}
    assert normalized is not data and normalized["rows"] is not data["rows"]
    assert normalized["rows"][0] is not data["rows"][0]
    assert normalized["zone"] is data["zone"] and normalized["tags"] is data["tags"]  # no date-time below


def test_subclass_containers_become_plain_without_touching_the_input() -> None:
    """A dict or list subclass is checked and normalized as a plain copy; the containers above it,
    shared while nothing changed, are copied on the way up, never written in place."""
    from collections import OrderedDict, UserList  # UserList is not a list: refused

    class Row(dict[str, Any]):
        pass

    class Rows(list[Any]):
        pass

    schema = obj(outer=obj(inner=obj(v={"type": "number"}), rows={"type": "array", "items": obj(v={"type": "number"})}))
    data = {"outer": {"inner": OrderedDict(v=1), "rows": Rows([Row(v=2), {"v": 3}])}}
    normalized, issues = check(schema, data)
    assert issues == [] and normalized == data
    assert type(data["outer"]["inner"]) is OrderedDict and type(data["outer"]["rows"]) is Rows  # untouched
    assert type(data["outer"]["rows"][0]) is Row
    for value in (normalized, normalized["outer"], normalized["outer"]["inner"], normalized["outer"]["rows"][0]):
        assert type(value) is dict
    assert type(normalized["outer"]["rows"]) is list and normalized["outer"]["rows"][1] is data["outer"]["rows"][1]
    assert paths(schema, {"outer": {"inner": {"v": 1}, "rows": UserList()}}) == ["$.outer.rows"]


def test_dict_subclass_with_missing_hook_is_not_mutated() -> None:
    from collections import defaultdict

    data: defaultdict[str, Any] = defaultdict(lambda: 0.0)
    assert paths(obj(v={"type": "number"}), data) == ["$.v"]
    assert dict(data) == {}


def test_source_is_exposed_for_debugging() -> None:
    source = compile_input_checker(obj(v={"enum": ["weird'\"\nvalue"]})).source
    assert source.startswith("def check(x0, iss):")
    compile(source, "<test>", "exec")  # user strings appear only as repr() literals


# --- unsupported schemas --------------------------------------------------------------------------

UNSUPPORTED = [
    (obj(a={"type": "string", "pattern": "^x"}), "$.properties.a.pattern", "pattern"),
    ({"oneOf": [{"type": "string"}]}, "$.oneOf", "oneOf"),
    ({"anyOf": [True]}, "$.anyOf", "anyOf"),
    ({"allOf": [True]}, "$.allOf", "allOf"),
    ({"not": True}, "$.not", "not"),
    ({"if": True, "then": True}, "$.if", "if"),
    ({"type": "object", "patternProperties": {}}, "$.patternProperties", "patternProperties"),
    ({"type": "array", "items": {"uniqueItems": True}}, "$.items.uniqueItems", "uniqueItems"),
    ({"prefixItems": [True]}, "$.prefixItems", "prefixItems"),
    ({"minProperties": 1}, "$.minProperties", "minProperties"),
    ({"x-custom": 1}, "$['x-custom']", "x-custom"),
    ({"additionalProperties": {"type": "string"}}, "$.additionalProperties", "additionalProperties"),
    ({"type": "decimal"}, "$.type", "type"),
    ({"type": ["string", "string"]}, "$.type", "type"),
    ({"required": "a"}, "$.required", "required"),
    ({"minLength": -1}, "$.minLength", "minLength"),
    ({"maxItems": 1.5}, "$.maxItems", "maxItems"),
    ({"minimum": "0"}, "$.minimum", "minimum"),
    ({"maximum": math.nan}, "$.maximum", "maximum"),
    ({"enum": "A"}, "$.enum", "enum"),
    ({"const": math.inf}, "$.const", "const"),
    ({"properties": {"a": 1}}, "$.properties.a", ""),
    ({"$ref": "other.json#/$defs/a"}, "$['$ref']", "$ref"),
    ({"$ref": "#/properties/a"}, "$['$ref']", "$ref"),
    ({"$ref": "#/$defs/missing", "$defs": {}}, "$['$ref']", "$ref"),
    ({"$defs": {"a": {"type": "string"}}, "$ref": "#/$defs/a", "minLength": 1}, "$.minLength", "minLength"),
    (obj(a={"$defs": {}}), "$.properties.a['$defs']", "$defs"),
    ({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": obj(x={"$ref": "#/$defs/a"})}},
     "$['$defs'].b.properties.x['$ref']", "$ref"),
    ({"$defs": {"a": {"$ref": "#/$defs/a"}}}, "$['$defs'].a['$ref']", "$ref"),
]


@pytest.mark.parametrize(("schema", "json_path", "keyword"), UNSUPPORTED)
def test_unsupported_schema_is_refused_with_its_location(schema: Any, json_path: str, keyword: str) -> None:
    with pytest.raises(UnsupportedSchema) as caught:
        compile_input_checker(schema)
    assert (caught.value.json_path, caught.value.keyword) == (json_path, keyword)
    assert str(caught.value).startswith(json_path)


def test_too_deep_or_too_large_schemas_are_refused() -> None:
    deep: Any = {"type": "string"}
    for _ in range(40):
        deep = {"type": "array", "items": deep}
    with pytest.raises(UnsupportedSchema):
        compile_input_checker(deep)
    defs = {"d0": {"type": "string"}}
    for n in range(1, 20):  # each level doubles the expansion
        defs[f"d{n}"] = obj(a={"$ref": f"#/$defs/d{n - 1}"}, b={"$ref": f"#/$defs/d{n - 1}"})
    with pytest.raises(UnsupportedSchema):
        compile_input_checker({"$defs": defs, "$ref": "#/$defs/d19"})


# --- the position-sizing request contract ---------------------------------------------------------
# A draft schema of ../shared/contracts/position_sizing.md, written for these tests (the enum sets
# not spelled out by the contract are plausible, not authoritative): 88 values, 69 of them scalars,
# 8 of those date-times.

TS = {"type": "string", "format": "date-time"}
PCT = {"type": "number", "minimum": 0, "maximum": 1}
PRICE = {"type": "number", "exclusiveMinimum": 0}
NUM = {"type": "number"}
ZONE = {"type": "object", "additionalProperties": False, "required": ["low", "high"],
        "properties": {"low": PRICE, "high": PRICE}}


def strict(**props: Any) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": list(props), "properties": props}


CONTRACT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {"ts": TS, "zone": ZONE, "nullable_zone": {**ZONE, "type": ["object", "null"]},
              "zones": {"type": "array", "items": {"$ref": "#/$defs/zone"}, "maxItems": 10}},
    **strict(
        now={"$ref": "#/$defs/ts"},
        signal=strict(
            signal_id={"type": "string", "minLength": 1, "maxLength": 64},
            symbol={"type": "string", "minLength": 1, "maxLength": 12},
            timeframe={"enum": ["1m", "5m", "15m", "1h", "4h", "1d"]},
            timestamp_utc={"$ref": "#/$defs/ts"},
            signal_type={"enum": ["ENTRY_LONG", "ENTRY_SHORT", "SQUEEZE_LONG", "SQUEEZE_SHORT",
                                  "EXIT_PARTIAL", "EXIT_FULL"]},
            direction={"enum": ["LONG", "SHORT", "NEUTRAL"]},
            strategy_id={"type": "string", "minLength": 1}, strategy_family={"type": "string"},
            strategy_score=PCT, confidence=PCT, urgency={"enum": ["IMMEDIATE", "STANDARD", "PATIENT"]},
            time_to_act_seconds={"type": "integer", "minimum": 0},
            ttl_seconds={"type": "integer", "minimum": 0},
            expiry_timestamp_utc={"$ref": "#/$defs/ts"},
            lifecycle_state={"enum": ["PENDING", "ACTIVE", "EXPIRED", "INVALIDATED", "CONSUMED"]},
            invalidation_price={"type": ["number", "null"], "exclusiveMinimum": 0},
            entry_price_zone={"$ref": "#/$defs/zone"}, stop_loss_zone={"$ref": "#/$defs/nullable_zone"},
            target_zones={"$ref": "#/$defs/zones"}, flags={"type": "array", "items": {"type": "string"}}),
        setup={**strict(stop_zone={"$ref": "#/$defs/nullable_zone"}, target_zones={"$ref": "#/$defs/zones"},
                        confidence=PCT), "type": ["object", "null"]},
        regime=strict(regime_type={"enum": ["TRENDING_UP", "TRENDING_DOWN", "RANGING", "VOLATILE"]},
                      regime_confidence=PCT, volatility_state={"enum": ["LOW", "NORMAL", "HIGH", "EXTREME"]},
                      timestamp_utc={"$ref": "#/$defs/ts"}),
        liquidity=strict(avg_bid_ask_spread_pct={"type": "number", "minimum": 0},
                         atm_spread_pct={"type": "number", "minimum": 0},
                         total_open_interest={"type": "integer", "minimum": 0},
                         atm_open_interest={"type": "integer", "minimum": 0},
                         avg_volume={"type": "number", "minimum": 0},
                         liquidity_grade={"enum": ["EXCELLENT", "GOOD", "FAIR", "POOR"]},
                         timestamp_utc={"$ref": "#/$defs/ts"}),
        greeks=strict(delta={"type": "number", "minimum": -1, "maximum": 1}, gamma=NUM, vega=NUM, theta=NUM,
                      iv={"type": "number", "minimum": 0}, timestamp_utc={"$ref": "#/$defs/ts"}),
        quote=strict(timestamp_utc={"$ref": "#/$defs/ts"}, bid=PRICE, ask=PRICE),
        account=strict(account_balance=NUM, buying_power=NUM, margin_used={"type": "number", "minimum": 0},
                       currency={"type": "string", "minLength": 3, "maxLength": 3}),
        risk_state=strict(risk_mode={"enum": ["NORMAL", "REDUCE_ONLY", "STAND_DOWN"]},
                          kill_switch_active={"type": "boolean"},
                          daily_loss_used_pct={"type": "number", "minimum": 0},
                          weekly_loss_used_pct={"type": "number", "minimum": 0},
                          current_drawdown_pct={"type": "number", "minimum": 0}),
        exposure=strict(open_positions={"type": "integer", "minimum": 0}, total_delta=NUM, total_gamma=NUM,
                        total_vega=NUM, total_theta=NUM,
                        symbol_exposures={"type": "array", "items": strict(
                            symbol={"type": "string", "minLength": 1},
                            position_count={"type": "integer", "minimum": 0},
                            exposure_pct={"type": "number", "minimum": 0})}),
        budget=strict(remaining_daily_budget=NUM, remaining_weekly_budget=NUM),
        events={"type": "array", "items": strict(
            symbol={"type": ["string", "null"]},
            event_type={"enum": ["EARNINGS", "FOMC", "CPI", "JOBS", "OTHER"]},
            event_timestamp_utc={"$ref": "#/$defs/ts"}, is_before_market={"type": "boolean"},
            is_after_market={"type": "boolean"})},
        atr={"type": ["number", "null"], "minimum": 0},
        recent_win_rate={"type": ["number", "null"], "minimum": 0, "maximum": 1},
    ),
}

# ../shared/contracts/position_sizing.request.example.json
CONTRACT_EXAMPLE: dict[str, Any] = {
    "now": "2025-04-02T06:10:54.151Z",
    "signal": {
        "signal_id": "sig-0000000", "symbol": "MSFT", "timeframe": "5m",
        "timestamp_utc": "2025-04-02T06:10:33.582Z", "signal_type": "ENTRY_SHORT", "direction": "SHORT",
        "strategy_id": "strat-6", "strategy_family": "LONG_VOL",
        "strategy_score": 0.99, "confidence": 0.7399, "urgency": "STANDARD", "time_to_act_seconds": 60,
        "ttl_seconds": 120, "expiry_timestamp_utc": "2025-04-02T06:12:33.582Z", "lifecycle_state": "ACTIVE",
        "invalidation_price": None, "entry_price_zone": {"low": 6.6693, "high": 6.6785},
        "stop_loss_zone": {"low": 6.7973, "high": 6.8207}, "target_zones": [], "flags": []},
    "setup": {"stop_zone": None, "target_zones": [], "confidence": 0.759},
    "regime": {"regime_type": "RANGING", "regime_confidence": 0.6839, "volatility_state": "LOW",
               "timestamp_utc": "2025-04-02T06:09:54.869Z"},
    "liquidity": {"avg_bid_ask_spread_pct": 0.07619, "atm_spread_pct": 0.05531, "total_open_interest": 9920,
                  "atm_open_interest": 992, "avg_volume": 6734, "liquidity_grade": "GOOD",
                  "timestamp_utc": "2025-04-02T06:10:46.069Z"},
    "greeks": {"delta": -0.5476, "gamma": 0.0161, "vega": 3.572, "theta": -2.064, "iv": 0.4836,
               "timestamp_utc": "2025-04-02T06:10:42.355Z"},
    "quote": {"timestamp_utc": "2025-04-02T06:10:32.225Z", "bid": 6.6706, "ask": 6.6772},
    "account": {"account_balance": 88929.82, "buying_power": 146091.78, "margin_used": 21190.29,
                "currency": "USD"},
    "risk_state": {"risk_mode": "NORMAL", "kill_switch_active": False, "daily_loss_used_pct": 0.51355,
                   "weekly_loss_used_pct": 0.12827, "current_drawdown_pct": 0.0854},
    "exposure": {"open_positions": 1, "total_delta": 3.663, "total_gamma": 14.488, "total_vega": 92.63,
                 "total_theta": -16.0,
                 "symbol_exposures": [{"symbol": "META", "position_count": 1, "exposure_pct": 0.0835}]},
    "budget": {"remaining_daily_budget": 865.2, "remaining_weekly_budget": 3876.14},
    "events": [{"symbol": None, "event_type": "JOBS", "event_timestamp_utc": "2025-04-07T00:36:07.404Z",
                "is_before_market": False, "is_after_market": False}],
    "atr": 0.1095,
    "recent_win_rate": None,
}


def test_contract_example_is_valid_and_normalized() -> None:
    reference(CONTRACT_SCHEMA).validate(CONTRACT_EXAMPLE)
    normalized, issues = check(CONTRACT_SCHEMA, CONTRACT_EXAMPLE)
    assert issues == []
    assert normalized["now"] == us("2025-04-02T06:10:54.151+00:00")
    assert normalized["events"][0]["event_timestamp_utc"] == us("2025-04-07T00:36:07.404+00:00")
    assert normalized["signal"]["entry_price_zone"] == {"low": 6.6693, "high": 6.6785}


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: d["signal"]["entry_price_zone"].update(low="6.6"), ["$.signal.entry_price_zone.low"]),
    (lambda d: d["signal"]["entry_price_zone"].pop("high"), ["$.signal.entry_price_zone.high"]),
    (lambda d: d["greeks"].update(delta=math.nan), ["$.greeks.delta"]),
    (lambda d: d["risk_state"].update(kill_switch_active=0), ["$.risk_state.kill_switch_active"]),
    (lambda d: d["liquidity"].update(total_open_interest=True), ["$.liquidity.total_open_interest"]),
    (lambda d: d["events"][0].update(event_type="HALT"), ["$.events[0].event_type"]),
    (lambda d: d["quote"].update(timestamp_utc="2025-04-02T06:10:32.225"), ["$.quote.timestamp_utc"]),
    (lambda d: d.update(recent_win_rate=1.5), ["$.recent_win_rate"]),
    (lambda d: d["account"].update(iban="x"), ["$.account.iban"]),
    (lambda d: d.pop("regime"), ["$.regime"]),
    (lambda d: d.update(setup=[]), ["$.setup"]),
])
def test_contract_mutations_are_refused_with_their_path(mutate: Any, expected: list[str]) -> None:
    data = copy.deepcopy(CONTRACT_EXAMPLE)
    mutate(data)
    assert paths(CONTRACT_SCHEMA, data) == expected
    jsonschema_takes_nan = expected == ["$.greeks.delta"]
    assert not reference(CONTRACT_SCHEMA).is_valid(data) or jsonschema_takes_nan


# --- differential test against jsonschema ---------------------------------------------------------
# Schemas come from the supported subset; instances are built from the schema and then, now and
# then, mutated. NaN and infinity are left out (jsonschema accepts them, this checker never does;
# tested above). Date-time strings are well formed or clearly malformed, never one of the corners
# where this checker is stricter than rfc3339-validator (over 6 fraction digits, a trailing newline).

KEYS = st.sampled_from(["a", "b", "c", "d e"])
NUMBERS = st.one_of(st.integers(-5, 5), st.floats(-5, 5), st.sampled_from([0, 1.0, -0.0, 2**60]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text("ab\u00e9", max_size=3))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(KEYS, inner, max_size=3)), max_leaves=6)


STRICTER_THAN_JSONSCHEMA = ("2025-01-01T00:00:00.1234567Z", "2025-01-01T00:00:00Z\n")


@st.composite
def date_times(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.sampled_from([t for t in INVALID_DATE_TIMES if t not in STRICTER_THAN_JSONSCHEMA]))
    moment = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    zone = draw(st.sampled_from(["Z", "z", "+00:00", "-05:30", "+23:59"]))
    return stamp(moment) + draw(st.sampled_from(["", ".5", ".123456"])) + zone


DEFS = {"ts": {"type": "string", "format": "date-time"}, "pos": {"type": "number", "minimum": 0}}


BOUND = st.one_of(st.integers(-3, 3), st.floats(-3, 3))
ENUM = st.lists(SCALARS | st.lists(SCALARS, max_size=2), max_size=4)
NUMBER_LEAF = st.fixed_dictionaries(
    {"type": st.sampled_from(["number", "integer", ["number", "null"], ["integer", "boolean"]])},
    optional=dict.fromkeys(("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"), BOUND))
TYPED_ENUM = st.fixed_dictionaries(
    {"type": st.sampled_from(["integer", ["number", "null"], ["string", "boolean"]]), "enum": ENUM})
STRING_LEAF = st.fixed_dictionaries({"type": st.sampled_from(["string", ["string", "null"]])},
                                    optional={"minLength": st.integers(0, 3), "maxLength": st.integers(0, 3),
                                              "format": st.just("date-time"), "const": SCALARS})


def leaf_schemas() -> st.SearchStrategy[Any]:
    refs = st.sampled_from([{"$ref": f"#/$defs/{name}"} for name in DEFS])
    return st.one_of(NUMBER_LEAF, STRING_LEAF, TYPED_ENUM, st.just({"type": "boolean"}),
                     st.just({"type": "null"}), st.fixed_dictionaries({"enum": ENUM}),
                     st.fixed_dictionaries({"const": JSON}), st.just({}), st.booleans(), refs)


def container_schemas(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    obj_schema = st.fixed_dictionaries(
        {"type": st.sampled_from(["object", ["object", "null"]])},
        optional={"properties": st.dictionaries(KEYS, inner, max_size=3),
                  "required": st.lists(KEYS, max_size=3), "additionalProperties": st.booleans()})
    arr_schema = st.fixed_dictionaries({"type": st.just("array")},
                                       optional={"items": inner, "minItems": st.integers(0, 2),
                                                 "maxItems": st.integers(0, 3)})
    return st.one_of(obj_schema, arr_schema)


def with_defs(schema: Any) -> dict[str, Any]:
    if isinstance(schema, dict) and "$ref" not in schema:
        return {**schema, "$defs": DEFS}
    return {"$defs": {**DEFS, "root": schema}, "$ref": "#/$defs/root"}


SCHEMAS = st.recursive(leaf_schemas(), container_schemas, max_leaves=8).map(with_defs)


NEAR_MISS = st.one_of(JSON, date_times(), st.sampled_from([True, 0, 3.5, "", None, [], {}]))
BASES = {"number": NUMBERS, "integer": st.one_of(st.integers(-4, 4), st.sampled_from([2.0, 2.5, -0.5])),
         "string": st.text("ab", max_size=4), "boolean": st.booleans(), "null": st.none()}


def resolve(schema: Any, root: dict[str, Any]) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def instances(schema: Any, root: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values built to fit ``schema``, sometimes mutated into a near miss."""
    schema = resolve(schema, root)
    if not isinstance(schema, dict) or depth > 4:
        return NEAR_MISS
    fit = fitting(schema, root, depth)
    return st.one_of(fit, fit, fit, NEAR_MISS)


def fitting(schema: dict[str, Any], root: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if "enum" in schema or "const" in schema:
        return st.sampled_from(schema.get("enum") or [schema.get("const")])
    kinds = schema.get("type", "string")
    kind = kinds[0] if isinstance(kinds, list) else kinds
    if kind == "object":
        props = schema.get("properties", {})
        fields = {k: instances(v, root, depth + 1) for k, v in props.items()}
        required = [k for k in props if k in schema.get("required", [])]
        optional = {k: fields[k] for k in props if k not in required}
        return st.fixed_dictionaries({k: fields[k] for k in required}, optional={**optional, "zz": JSON})
    if kind == "array":
        return st.lists(instances(schema.get("items", True), root, depth + 1), max_size=3)
    if kind == "string" and schema.get("format") == "date-time":
        return date_times()
    # values on the edges: the bounds themselves, strings exactly as long as a length limit
    edges = [schema[k] for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in schema]
    edges += ["a" * schema[k] for k in ("minLength", "maxLength") if k in schema]
    base = BASES[kind]
    return st.one_of(base, st.sampled_from(edges)) if edges else base


def reference_normalize(schema: Any, value: Any, root: dict[str, Any]) -> Any:
    schema = resolve(schema, root)
    if not isinstance(schema, dict):
        return value
    if isinstance(value, str) and schema.get("format") == "date-time":
        return us(value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: reference_normalize(props.get(k, True), v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [reference_normalize(schema.get("items", True), v, root) for v in value]
    return value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_differential_against_jsonschema(data: st.DataObject) -> None:
    schema = data.draw(SCHEMAS)
    instance = data.draw(instances(schema, schema))
    expected_valid = reference(schema).is_valid(instance)
    normalized, issues = compile_input_checker(schema).check(instance)
    assert (issues == []) == expected_valid, issues
    if expected_valid:
        assert normalized == reference_normalize(schema, instance, schema)
    else:
        assert normalized is None and all(i.json_path.startswith("$") for i in issues)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_differential_scalars_against_jsonschema(data: st.DataObject) -> None:
    """Leaves alone, probed on their edges: bounds, lengths, enum members of another kind."""
    schema = with_defs(data.draw(st.one_of(NUMBER_LEAF, STRING_LEAF, leaf_schemas())))
    fit = instances(schema, schema)
    instance = data.draw(st.one_of(fit, fit, SCALARS))
    expected_valid = reference(schema).is_valid(instance)
    assert (compile_input_checker(schema).check(instance)[1] == []) == expected_valid
