"""Compiled input checker: a policy's input JSON Schema turned into straight-line Python.

jsonschema costs hundreds of microseconds per call, too slow for the trading hot path. This
module accepts a subset of Draft 2020-12, refuses everything else at compile time
(``UnsupportedSchema``) and generates one Python function per schema with every check inlined.
A JSON path is static text plus array indices, so a valid input builds no path at all.

``check`` fails closed: a wrong type, missing field, NaN/inf, out-of-range value or malformed
date-time is an ``InputIssue``. It also normalizes: a ``format: date-time`` string becomes an
``int`` of microseconds since the Unix epoch (UTC); everything else is copied as-is.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from math import isfinite
from operator import itemgetter
from typing import Any, NamedTuple
from urllib.parse import unquote

MAX_ISSUES = 20
MAX_NODES = 5000  # schema nodes after $ref expansion
MAX_DEPTH = 32  # indentation of the generated code; Python allows 100 and 20 nested loops
MAX_FREE_DEPTH = 64  # nesting inside values the schema leaves unconstrained

_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
_ANNOTATIONS = frozenset({"title", "description", "$schema", "$id", "$comment", "default", "examples",
                          "deprecated"})
_LOWER = {"minimum": "<=", "exclusiveMinimum": "<"}  # written `limit op x`
_UPPER = {"maximum": "<=", "exclusiveMaximum": "<"}  # written `x op limit`
_WORD = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems")
_PLAIN_KEY = re.compile("^[a-zA-Z][a-zA-Z0-9_]*$")
_SUPPORTED = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum", "const",
                        "format", "$ref", "$defs", *_WORD, *_COUNTS})


class InputIssue(NamedTuple):
    json_path: str
    message: str


class UnsupportedSchema(Exception):
    """A schema keyword, or keyword value, outside the supported subset; located in the schema."""

    def __init__(self, json_path: str, keyword: str, reason: str) -> None:
        self.json_path = json_path
        self.keyword = keyword
        super().__init__(f"{json_path}: {reason}")


def _segment(key: object) -> str:
    """One step of a JSON path, spelled as jsonschema's ``ValidationError.json_path`` spells it."""
    if isinstance(key, str) and _PLAIN_KEY.match(key):
        return f".{key}"
    return "['" + str(key).replace("\\", "\\\\").replace("'", "\\'") + "']"


# --- date-time: RFC 3339 with a mandatory offset, exact integer microseconds -----------------------
# A regex parse costs microseconds, so results are cached: whole strings (snapshot timestamps recur
# from call to call), and on a miss the head before character 19 ("2025-04-02T06:10:54", new once a
# second) and the tail after it (".151Z", few distinct). Each part is validated on its own; any valid
# head followed by any valid tail is a valid date-time.

_HEAD = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt]([01]\d|2[0-3]):([0-5]\d):([0-5]\d)", re.ASCII)
_TAIL = re.compile(r"(?:\.(\d{1,6}))?(?:[Zz]|([+-])([01]\d|2[0-3]):([0-5]\d))", re.ASCII)
_DATES: dict[str, int] = {}  # whole string -> µs since the epoch, UTC
_HEADS: dict[str, int] = {}  # head -> µs since the epoch of the local time
_TAILS: dict[str, int] = {}  # tail -> fraction in µs minus the offset
_CACHE_SIZE = 8192
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era, yoe = divmod(y, 400)
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _head(text: str) -> int | None:
    match = _HEAD.fullmatch(text)
    if match is None:
        return None
    y, m, d, hh, mm, ss = map(int, match.groups())
    leap = m == 2 and y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if y == 0 or not 1 <= m <= 12 or not 1 <= d <= _MONTH_DAYS[m - 1] + leap:
        return None
    return ((_days_from_civil(y, m, d) * 24 + hh) * 3600 + mm * 60 + ss) * 1_000_000


def _tail(text: str) -> int | None:
    match = _TAIL.fullmatch(text)
    if match is None:
        return None
    fraction, sign, hh, mm = match.groups()
    micros = int(fraction.ljust(6, "0")) if fraction else 0
    offset = (int(hh) * 60 + int(mm)) * 60_000_000 if sign else 0
    return micros - offset if sign == "+" else micros + offset


def _remember(cache: dict[str, int], key: str, value: int | None) -> int | None:
    if value is not None:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[key] = value
    return value


def parse_date_time(text: str) -> int | None:
    """``2025-04-02T06:10:54.151Z`` -> µs since the epoch, UTC; None unless RFC 3339 with offset.

    More than 6 fraction digits and leap seconds are refused: they have no exact µs value.
    """
    value = _DATES.get(text)
    if value is not None:
        return value
    head, tail = _HEADS.get(text[:19]), _TAILS.get(text[19:])
    if head is None:
        head = _remember(_HEADS, text[:19], _head(text[:19]))
    if tail is None:
        tail = _remember(_TAILS, text[19:], _tail(text[19:]))
    return None if head is None or tail is None else _remember(_DATES, text, head + tail)


# --- runtime helpers of the generated code: for issues, extra keys and unconstrained values -------


class _Path(NamedTuple):
    """A JSON path known at compile time but for its array indices."""

    pieces: tuple[str, ...]  # static text around the indices
    depth: int

    def render(self, idx: tuple[int, ...], extra: tuple[str, ...] = ()) -> str:
        parts = [self.pieces[0]]
        for i, piece in zip(idx, self.pieces[1:]):
            parts += (f"[{i}]", piece)
        return "".join(parts + list(extra))

    def key(self, key: str) -> _Path:
        return _Path((*self.pieces[:-1], self.pieces[-1] + _segment(key)), self.depth + 1)

    def item(self) -> _Path:
        return _Path((*self.pieces, ""), self.depth + 1)


class _Full(Exception):
    """Raised once MAX_ISSUES are recorded: bounds the work spent on garbage."""


Issues = list[tuple[int, InputIssue]]  # (path depth, issue)
_MISSING = object()  # the value of an absent required field


def _add(iss: Issues, path: _Path, idx: tuple[int, ...], message: str, extra: tuple[str, ...] = ()) -> None:
    iss.append((path.depth + len(extra), InputIssue(path.render(idx, extra), message)))
    if len(iss) >= MAX_ISSUES:
        raise _Full


def _refuse(iss: Issues, path: _Path, idx: tuple[int, ...], value: object, message: str) -> None:
    _add(iss, path, idx, "required field missing" if value is _MISSING else message)


def _kind(value: object) -> str:
    if value is None or isinstance(value, bool):
        return "null" if value is None else "boolean"
    kinds = ((str, "string"), (int, "integer"), (float, "number"), (dict, "object"), (list, "array"))
    for types, name in kinds:
        if isinstance(value, types):
            return name
    return f"non-JSON value ({type(value).__name__})"


def _type(iss: Issues, path: _Path, idx: tuple[int, ...], value: object, expected: str) -> None:
    _refuse(iss, path, idx, value, f"expected {expected}, got {_kind(value)}")


def _extras(r: dict[Any, Any], iss: Issues, path: _Path, idx: tuple[int, ...], known: frozenset[str],
            allowed: bool, extra: tuple[str, ...] = ()) -> None:
    """Keys of the copy ``r`` outside ``properties``: refused, or else checked and copied in place."""
    for key, value in list(r.items()):
        if key in known:
            continue
        here = (*extra, _segment(key))
        if not isinstance(key, str):
            _add(iss, path, idx, "object key is not a string", here)
        elif not allowed:
            _add(iss, path, idx, "unexpected field", here)
        else:
            r[key] = _free(value, iss, path, idx, here)


def _free(value: object, iss: Issues, path: _Path, idx: tuple[int, ...], extra: tuple[str, ...] = ()) -> Any:
    """Copy a value the schema leaves unconstrained; it must still be finite JSON."""
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float) and isfinite(value):
        return value
    if value is _MISSING or isinstance(value, float) or len(extra) > MAX_FREE_DEPTH:
        problem = "not a finite number" if isinstance(value, float) else "nested too deeply"
        return _add(iss, path, idx, "required field missing" if value is _MISSING else problem, extra)
    if isinstance(value, list):
        return [_free(item, iss, path, idx, (*extra, f"[{i}]")) for i, item in enumerate(value)]
    if isinstance(value, dict):
        copy = dict(value)
        _extras(copy, iss, path, idx, frozenset(), True, extra)
        return copy
    return _add(iss, path, idx, f"expected a JSON value, got {_kind(value)}", extra)


def _json_eq(a: object, b: object) -> bool:
    """Equality as JSON Schema defines it: 1 == 1.0, but true != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_eq(a[k], b[k]) for k in a)
    return a == b  # numbers and null; a container never equals a scalar


def _json_in(value: object, members: tuple[object, ...]) -> bool:
    return any(_json_eq(value, member) for member in members)


_RUNTIME: dict[str, object] = {"_M": _MISSING, "_add": _add, "_type": _type, "_refuse": _refuse,
                               "_extras": _extras, "_free": _free, "_json_in": _json_in,
                               "_dt": parse_date_time, "_D": _DATES, "_isfinite": isfinite}


# --- schema validation: anything outside the subset is refused, with its location -----------------


def _is_json(value: object, depth: int = 0) -> bool:
    if value is None or isinstance(value, (str, int)):
        return True
    if isinstance(value, float):
        return isfinite(value)
    if isinstance(value, list) and depth < MAX_FREE_DEPTH:
        return all(_is_json(item, depth + 1) for item in value)
    if isinstance(value, dict) and depth < MAX_FREE_DEPTH:
        return all(isinstance(k, str) and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _count(value: object) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _is_type(value: object) -> bool:
    names = [value] if isinstance(value, str) else value
    return (isinstance(names, list) and bool(names) and all(n in _TYPES for n in names)
            and len(set(names)) == len(names))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and isfinite(value)


def _is_str_keyed(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) for k in value)


_KEYWORD_OK: dict[str, Callable[[Any], bool]] = {
    "type": _is_type,
    "required": lambda v: isinstance(v, list) and all(isinstance(k, str) for k in v),
    "additionalProperties": lambda v: isinstance(v, bool),
    "enum": lambda v: isinstance(v, list) and _is_json(v),
    "const": _is_json,
    "format": lambda v: isinstance(v, str),
    "properties": _is_str_keyed,
    "$defs": _is_str_keyed,
    **{key: _is_number for key in _WORD},
    **{key: lambda v: _count(v) is not None for key in _COUNTS},
}


def _ref_name(ref: object, where: str, defs: dict[str, Any]) -> str:
    if not isinstance(ref, str) or not ref.startswith("#/$defs/") or "/" in ref[8:]:
        raise UnsupportedSchema(where, "$ref", "only local references '#/$defs/NAME' are supported")
    name = unquote(ref[8:]).replace("~1", "/").replace("~0", "~")
    if name not in defs:
        raise UnsupportedSchema(where, "$ref", f"reference to undefined $defs entry {name!r}")
    return name


class _SchemaWalk:
    """Validates every keyword, records which $defs each $defs entry uses, refuses ref cycles."""

    def __init__(self, root: object) -> None:
        defs = root.get("$defs", {}) if isinstance(root, dict) else {}
        self.defs: dict[str, Any] = defs if isinstance(defs, dict) else {}
        self.uses: dict[str | None, list[tuple[str, str]]] = {}  # def -> [(used def, $ref path)]
        self.owner: str | None = None  # None: the root, which no '#/$defs/NAME' can name
        self.walk(root, "$", is_root=True)
        for name, sub in self.defs.items():
            self.owner = name
            self.walk(sub, "$" + _segment("$defs") + _segment(name))
        state: dict[str, bool] = {}  # False while on the DFS stack, True when done
        for name in self.defs:
            self.visit(name, state)

    def walk(self, schema: object, path: str, is_root: bool = False) -> None:
        if isinstance(schema, bool):
            return
        if not isinstance(schema, dict):
            raise UnsupportedSchema(path, "", "a schema must be an object or a boolean")
        for key, value in schema.items():
            where = path + _segment(key)
            if key not in _SUPPORTED and key not in _ANNOTATIONS or key == "$defs" and not is_root:
                raise UnsupportedSchema(where, str(key), f"unsupported keyword {key!r}")
            if key in _KEYWORD_OK and not _KEYWORD_OK[key](value):
                raise UnsupportedSchema(where, key, f"invalid value for {key!r}: {value!r}"[:200])
            if key == "$ref":
                self.ref(schema, path, is_root)
            for name, sub in value.items() if key == "properties" else ():
                self.walk(sub, where + _segment(name))
            if key == "items":
                self.walk(value, where)

    def ref(self, schema: dict[str, Any], path: str, is_root: bool) -> None:
        for key in schema:
            if key not in _ANNOTATIONS and key != "$ref" and not (is_root and key == "$defs"):
                raise UnsupportedSchema(path + _segment(key), key, "keywords beside $ref are not supported")
        where = path + _segment("$ref")
        self.uses.setdefault(self.owner, []).append((_ref_name(schema["$ref"], where, self.defs), where))

    def visit(self, name: str, state: dict[str, bool]) -> None:
        if state.get(name):
            return
        state[name] = False
        for used, where in self.uses.get(name, ()):
            if state.get(used) is False:
                raise UnsupportedSchema(where, "$ref", f"$ref cycle through {used!r}: no recursion")
            self.visit(used, state)
        state[name] = True


# --- code generation --------------------------------------------------------------------------------
# One function, containers inlined (a call costs as much as several field checks). Containers are
# copied once, scalars shared; only normalized members are reassigned. For each value the first
# branch is "exact class and every check holds", so a valid value costs one test; the general
# branches after it only run for subclasses and failures, and work out which issue to record.

Branch = tuple[str, list[str], bool]  # (condition, body, a fast branch tested before the general ones)
Checks = list[tuple[str, str]]  # (expression true of a valid value, statement recording the issue)
_MAX = repr(sys.float_info.max)  # `-MAX <= x <= MAX` is false exactly for NaN and ±inf
_KINDS = {"string": ("string",), "number": ("integer", "number"), "object": ("object",),
          "array": ("array",), "boolean": ("boolean",), "null": ("null",)}


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _chain(branches: list[Branch], fallback: str) -> list[str]:
    if branches and not branches[0][1]:  # the valid value falls through the first test
        return [f"if not ({branches[0][0]}):", *_indent(_chain(branches[1:], fallback))]
    lines: list[str] = []
    for n, (cond, body, _) in enumerate(branches):
        lines += [f"{'elif' if n else 'if'} {cond}:", *_indent(body or ["pass"])]
    return [*lines, "else:", f"    {fallback}"] if lines else [fallback]


def _explain(checks: Checks) -> list[str]:
    return [f"{'elif' if n else 'if'} not ({ok}): {action}" for n, (ok, action) in enumerate(checks)]


def _typed(exact: str, general: str, checks: Checks, fast: list[str] | None = None,
           tail: tuple[str, ...] = ()) -> list[Branch]:
    if not checks:
        return [(f"{exact} or {general}", list(tail), True)]
    return [(f"{exact} and {' and '.join(fast or [ok for ok, _ in checks])}", list(tail), True),
            (general, [*_explain(checks), *tail], False)]


def _literal(value: float, as_float: bool) -> str:
    """A float literal where exact: CPython compares float with float much faster than with int."""
    return repr(float(value)) if as_float and isinstance(value, int) and abs(value) <= 2**53 else repr(value)


def _is_free(schema: dict[str, Any]) -> bool:
    """No keyword constrains the value: only annotations, $defs, or a format other than date-time."""
    return all(k in _ANNOTATIONS or k == "$defs" or k == "format" and v != "date-time"
               for k, v in schema.items())


def _enum_members(schema: dict[str, Any]) -> tuple[list[Any] | None, str]:
    """The allowed values (enum intersected with const) and the message for any other value."""
    members: list[Any] | None = schema.get("enum")
    if "const" not in schema:
        return members, f"must be one of {json.dumps(members)}"[:300]
    const = schema["const"]
    members = [const] if members is None else [m for m in members if _json_eq(m, const)]
    return members, f"must be {json.dumps(const)}"[:300]


class _Site(NamedTuple):
    """A value being checked: its variable, where its normalized form goes, its JSON path."""

    var: str
    out: str
    path: _Path
    where: str  # the leading arguments of _add: "iss, <path constant>, <index tuple>"
    level: int  # containers here copy into r{level + 1}
    depth: int  # indentation so far

    def add(self, message: str) -> str:
        return f"_add({self.where}, {message!r})"


class _Codegen:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.ns: dict[str, Any] = dict(_RUNTIME)
        self.nodes = 0

    def const(self, value: object) -> str:
        self.ns[name := f"_c{len(self.ns)}"] = value
        return name

    def where(self, path: _Path) -> str:
        indices = "".join(f"i{n}, " for n in range(1, len(path.pieces)))  # the enclosing array counters
        return f"iss, {self.const(path)}, ({indices})"

    def site(self, var: str, out: str, path: _Path, level: int, depth: int) -> _Site:
        return _Site(var, out, path, self.where(path), level, depth)

    def value(self, schema: Any, site: _Site) -> list[str]:
        """Lines checking ``site.var``; normalized containers and date-times go to ``site.out``."""
        while isinstance(schema, dict) and "$ref" in schema:  # _SchemaWalk refused cycles
            schema = self.defs[_ref_name(schema["$ref"], "", self.defs)]
        self.nodes += 1
        if self.nodes > MAX_NODES or site.depth > MAX_DEPTH:  # the walk cannot see $ref expansion
            limit = f"over {MAX_NODES} nodes with $refs expanded" if self.nodes > MAX_NODES else "too deep"
            raise UnsupportedSchema("$", "", f"schema too large: {limit}")
        if schema is False:
            return [f"_refuse({site.where}, {site.var}, 'no value is allowed here')"]
        if schema is True or _is_free(schema):
            return [f"{site.out} = _free({site.var}, {site.where})"]
        members, enum_msg = _enum_members(schema)
        declared = schema.get("type")
        types = [declared] if isinstance(declared, str) else declared
        if types is None:  # untyped: the kinds the enum allows, or every kind
            types = [k for k in _KINDS if members is None or any(_kind(m) in _KINDS[k] for m in members)]
        integer_only = "integer" in types and "number" not in types
        branches: list[Branch] = []
        kinds = dict.fromkeys("number" if t == "integer" else t for t in types)
        for kind in sorted(kinds, key=lambda k: k != "null"):  # `is None` first: the cheapest test
            allowed = None if members is None else [m for m in members if _kind(m) in _KINDS[kind]]
            enum = [(ok, site.add(enum_msg)) for ok in self.enum_ok(site.var, allowed, kind)]
            branches += getattr(self, f"_{kind}")(schema, site, enum, integer_only)
        if declared is not None:
            fallback = f"_type({site.where}, {site.var}, {' or '.join(types)!r})"
        elif members is not None:
            fallback = f"_refuse({site.where}, {site.var}, {enum_msg!r})"
        else:
            fallback = f"_type({site.where}, {site.var}, 'a JSON value')"
        return _chain([b for b in branches if b[2]] + [b for b in branches if not b[2]], fallback)

    def enum_ok(self, var: str, allowed: list[Any] | None, kind: str) -> list[str]:
        if allowed is None:
            return []
        if not allowed:
            return ["False"]
        if kind in ("object", "array"):  # unhashable
            return [f"_json_in({var}, {self.const(tuple(allowed))})"]
        return [f"{var} in {self.const(frozenset(allowed))}"]  # one set per kind, as `True in {1}` holds

    def _string(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool) -> list[Branch]:
        x, checks, fast, is_dt = site.var, [], None, schema.get("format") == "date-time"
        if is_dt:  # `or`: 0, the epoch, is falsy and gets recomputed, exactly
            checks.append((f"(t := _D.get({x}) or _dt({x})) is not None",
                           site.add("not an RFC 3339 date-time with offset")))
        low, high = _count(schema.get("minLength")), _count(schema.get("maxLength"))
        if low is not None:
            checks.append((f"len({x}) >= {low}", site.add(f"must be at least {low} characters long")))
        if high is not None:
            checks.append((f"len({x}) <= {high}", site.add(f"must be at most {high} characters long")))
        if low is not None and high is not None:  # one len() on the valid path
            fast = [ok for ok, _ in checks[:-2]] + [f"{low} <= len({x}) <= {high}"] + [ok for ok, _ in enum]
        tail = (f"{site.out} = t",) if is_dt else ()
        return _typed(f"{x}.__class__ is str", f"isinstance({x}, str)", checks + enum, fast, tail)

    def _number(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool) -> list[Branch]:
        x = site.var
        floats = [(f"_isfinite({x})", site.add("not a finite number"))]
        if integer_only:
            floats.append((f"{x}.is_integer()", site.add("expected integer, got number")))
        lows, highs = self.bounds(schema, site, as_float=True)
        # one chained comparison tests finiteness and the first lower and upper bound;
        # unbounded, `x - x == 0.0` is the cheapest finiteness test (inf - inf and NaN are NaN)
        low, high = lows[0][0] if lows else f"-{_MAX} <= {x}", highs[0][0] if highs else f"{x} <= {_MAX}"
        finite_in_bounds = low + high[len(x):] if lows or highs else f"{x} - {x} == 0.0"
        fast = [finite_in_bounds] + [ok for ok, _ in floats[1:] + lows[1:] + highs[1:] + enum]
        float_checks = floats + lows + highs + enum
        float_branches = _typed(f"{x}.__class__ is float", f"isinstance({x}, float)", float_checks, fast)
        lows_int, highs_int = self.bounds(schema, site, as_float=False)
        int_branches = _typed(f"{x}.__class__ is int", f"isinstance({x}, int) and {x}.__class__ is not bool",
                              [*lows_int, *highs_int, *enum])
        return int_branches + float_branches if integer_only else float_branches + int_branches

    def bounds(self, schema: dict[str, Any], site: _Site, as_float: bool) -> tuple[Checks, Checks]:
        def check(key: str, expression: str) -> tuple[str, str]:
            return expression, site.add(f"must be {_WORD[key]} {schema[key]!r}")

        limit = {key: _literal(schema[key], as_float) for key in _WORD if key in schema}
        return ([check(k, f"{limit[k]} {op} {site.var}") for k, op in _LOWER.items() if k in limit],
                [check(k, f"{site.var} {op} {limit[k]}") for k, op in _UPPER.items() if k in limit])

    def _boolean(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool) -> list[Branch]:
        return _typed(f"({site.var} is True or {site.var} is False)", f"{site.var}.__class__ is bool", enum)

    def _null(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool) -> list[Branch]:
        return _typed(f"{site.var} is None", f"{site.var} is None", enum)

    def _object(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool) -> list[Branch]:
        """Copy the dict, fetch the required fields with one itemgetter, check each field."""
        x, level, r = site.var, site.level + 1, f"r{site.level + 1}"
        props: dict[str, Any] = schema.get("properties", {})
        required = list(dict.fromkeys(schema.get("required", ())))
        names = {key: f"x{level}_{n}" for n, key in enumerate(props)}
        lines = [f"{r} = {x}.copy() if {x}.__class__ is dict else dict({x})"]
        for key in required:
            if key not in props:
                where = self.where(site.path.key(key))
                lines.append(f"if {key!r} not in {r}: _add({where}, 'required field missing')")
        fetched = [key for key in props if key in required]
        if len(fetched) == 1:  # a missing field's value is _M, which its fallback reports in place
            lines.append(f"{names[fetched[0]]} = {r}.get({fetched[0]!r}, _M)")
        elif fetched:
            targets, keys = ", ".join(names[k] for k in fetched), self.const(tuple(fetched))
            lines += ["try:", f"    {targets} = {self.const(itemgetter(*fetched))}({r})",
                      "except KeyError:", f"    {targets} = [{r}.get(k, _M) for k in {keys}]"]
        for key, sub in props.items():
            field = self.site(names[key], f"{r}[{key!r}]", site.path.key(key), level, site.depth + 2)
            body = self.value(sub, field)
            if key not in required:
                body = [f"{names[key]} = {r}.get({key!r}, _M)", f"if {names[key]} is not _M:", *_indent(body)]
            lines += body
        # more keys than the known ones present, or any issue so far: let _extras look closely
        optional = "".join(f" + ({k!r} in {r})" for k in props if k not in required)
        known = f"{self.const(frozenset(props))}, {schema.get('additionalProperties', True)!r}"
        lines.append(f"if len({r}) != {len(fetched)}{optional} or iss: _extras({r}, {site.where}, {known})")
        cond = f"{x}.__class__ is dict or isinstance({x}, dict)"
        return [(cond, [*lines, f"{site.out} = {r}", *_explain(enum)], True)]

    def _array(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool) -> list[Branch]:
        x, level, r, item = site.var, site.level + 1, f"r{site.level + 1}", site.path.item()
        low, high = _count(schema.get("minItems")), _count(schema.get("maxItems"))
        checks: Checks = []
        if low is not None:
            checks.append((f"len({x}) >= {low}", site.add(f"must have at least {low} items")))
        if high is not None:
            checks.append((f"len({x}) <= {high}", site.add(f"must have at most {high} items")))
        i = f"i{len(item.pieces) - 1}"
        element = self.site(f"x{level}", f"{r}[{i}]", item, level, site.depth + 2)
        body = self.value(schema.get("items", True), element)
        # a counter is cheaper than enumerate()
        lines = [*_explain(checks), f"{r} = {x}.copy() if {x}.__class__ is list else list({x})", f"{i} = 0",
                 f"for x{level} in {r}:", *_indent([*body, f"{i} += 1"])]
        cond = f"{x}.__class__ is list or isinstance({x}, list)"
        return [(cond, [*lines, f"{site.out} = {r}", *_explain(enum)], True)]


class InputChecker:
    """A compiled input schema; ``check`` is pure and safe to call from many threads at once."""

    __slots__ = ("_check", "source")

    def __init__(self, source: str, check: Callable[[object, Issues], object]) -> None:
        self.source = source  # the generated code, for debugging
        self._check = check

    def check(self, data: object) -> tuple[object, list[InputIssue]]:
        """(normalized copy, []) when valid, else (None, issues). Never raises, never mutates."""
        iss: Issues = []
        value: object = None
        try:
            value = self._check(data, iss)
        except _Full:
            pass
        except Exception as exc:  # noqa: BLE001 - fail closed: no odd mapping or number may escape
            return None, [InputIssue("$", f"input could not be checked ({type(exc).__name__})")]
        if not iss:
            return value, []
        first = min(range(len(iss)), key=lambda n: iss[n][0])  # the shallowest issue leads
        return None, [iss[first][1]] + [issue for n, (_, issue) in enumerate(iss) if n != first]


def compile_input_checker(schema: dict[str, Any]) -> InputChecker:
    """Check ``schema`` against the supported subset (else UnsupportedSchema) and compile it."""
    walk = _SchemaWalk(schema)
    gen = _Codegen(walk.defs)
    body = gen.value(schema, gen.site("x0", "y", _Path(("$",), 0), 0, 1))
    source = "\n".join(["def check(x0, iss):", "    y = x0", *_indent(body), "    return y", ""])
    # the source holds generated names and repr()s of validated constants; objects live in gen.ns
    exec(compile(source, "<input checker>", "exec"), gen.ns)  # noqa: S102
    return InputChecker(source, gen.ns["check"])
