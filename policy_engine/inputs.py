"""Compiled input checker: a policy's input JSON Schema turned into straight-line Python.

jsonschema costs hundreds of microseconds per call, too slow for the trading hot path. This
module accepts a small subset of Draft 2020-12, refuses everything else at compile time
(``UnsupportedSchema``), and generates one Python function per object/array node with scalar
checks inlined. JSON paths are static strings plus array indices, so a valid input builds no
path at all; paths are rendered only when an issue is recorded.

``check`` fails closed: wrong type, missing field, NaN/inf, out of range, malformed date-time
all become ``InputIssue``s. It also normalizes: every ``format: date-time`` string becomes an
``int`` of microseconds since the Unix epoch (UTC); everything else is copied as-is.
"""

from __future__ import annotations

import json
import re
import sys
from math import isfinite
from typing import Any, Callable, NamedTuple
from urllib.parse import unquote

MAX_ISSUES = 20
MAX_NODES = 5000  # generated schema nodes after $ref expansion
MAX_FREE_DEPTH = 64  # nesting allowed inside values the schema leaves unconstrained

_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
_ANNOTATIONS = frozenset(
    {"title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated"}
)
_NUMBER_BOUNDS = {"minimum": "<", "maximum": ">", "exclusiveMinimum": "<=", "exclusiveMaximum": ">="}
_BOUND_WORDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems")
_SUPPORTED = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "enum", "const", "format",
     "$ref", "$defs", *_NUMBER_BOUNDS, *_COUNTS}
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


class InputIssue(NamedTuple):
    json_path: str
    message: str


class UnsupportedSchema(Exception):
    """A schema keyword (or keyword value) outside the supported subset, located in the schema."""

    def __init__(self, json_path: str, keyword: str, reason: str) -> None:
        self.json_path = json_path
        self.keyword = keyword
        super().__init__(f"{json_path}: {reason}")


def _segment(key: object) -> str:
    if isinstance(key, str) and _IDENT.fullmatch(key):
        return f".{key}"
    text = str(key).replace("\\", "\\\\").replace("'", "\\'")
    return f"['{text}']"


# --- date-time: RFC 3339 with a mandatory offset, exact integer microseconds --------------------
# A date-time splits at character 19 into a head ("2025-04-02T06:10:54") and a tail (".151Z"),
# each validated on its own, so both are cached: heads change once a second, tails are few.
# The generated code looks both up inline and calls parse_date_time only on a miss.

_HEAD = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt]([01]\d|2[0-3]):([0-5]\d):([0-5]\d)", re.ASCII)
_TAIL = re.compile(r"(?:\.(\d{1,6}))?(?:[Zz]|([+-])([01]\d|2[0-3]):([0-5]\d))", re.ASCII)
_HEADS: dict[str, int] = {}  # head -> µs since the epoch, before the offset
_TAILS: dict[str, int] = {}  # tail -> fraction µs minus the offset
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


def _cached(cache: dict[str, int], parse: Callable[[str], int | None], text: str) -> int | None:
    value = cache.get(text)
    if value is None and (value := parse(text)) is not None:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[text] = value
    return value


def parse_date_time(text: str) -> int | None:
    """``2025-04-02T06:10:54.151Z`` -> µs since the epoch, UTC; None unless RFC 3339 with offset.

    Fractions beyond 6 digits and leap seconds are refused: they have no exact µs value.
    """
    head = _cached(_HEADS, _head, text[:19])
    tail = _cached(_TAILS, _tail, text[19:])
    return None if head is None or tail is None else head + tail


# --- runtime helpers shared by the generated code ------------------------------------------------


class _Path(NamedTuple):
    """A JSON path known at compile time except for its array indices."""

    pieces: tuple[str, ...]  # static text around the indices
    depth: int

    def render(self, idx: tuple[int, ...], extra: tuple[str, ...] = ()) -> str:
        parts = [self.pieces[0]]
        for i, piece in zip(idx, self.pieces[1:]):
            parts += (f"[{i}]", piece)
        return "".join(parts) + "".join(extra)

    def key(self, key: str) -> _Path:
        return _Path((*self.pieces[:-1], self.pieces[-1] + _segment(key)), self.depth + 1)

    def index(self) -> _Path:
        return _Path((*self.pieces, ""), self.depth + 1)


class _Full(Exception):
    """Raised once MAX_ISSUES are recorded: bounds the work spent on garbage input."""


Issues = list[tuple[int, InputIssue]]


def _add(iss: Issues, path: _Path, idx: tuple[int, ...], message: str, extra: tuple[str, ...] = ()) -> None:
    iss.append((path.depth + len(extra), InputIssue(path.render(idx, extra), message)))
    if len(iss) >= MAX_ISSUES:
        raise _Full


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    for types, name in ((str, "string"), (int, "integer"), (float, "number"), (dict, "object"), (list, "array")):
        if isinstance(value, types):
            return name
    return f"non-JSON value ({type(value).__name__})"


def _type(iss: Issues, path: _Path, idx: tuple[int, ...], value: object, expected: str) -> None:
    _add(iss, path, idx, f"expected {expected}, got {_kind(value)}")


def _extras(r: dict[Any, Any], iss: Issues, path: _Path, idx: tuple[int, ...], known: frozenset[str],
            allowed: bool) -> None:
    """Keys of the copy ``r`` outside ``properties``: refused unless allowed, then checked in place."""
    for key, value in list(r.items()):
        if key in known:
            continue
        if not isinstance(key, str):
            _add(iss, path, idx, "object key is not a string", (_segment(key),))
        elif not allowed:
            _add(iss, path, idx, "unexpected field", (_segment(key),))
        else:
            r[key] = _free(value, iss, path, idx, (_segment(key),))


def _free(value: object, iss: Issues, path: _Path, idx: tuple[int, ...], extra: tuple[str, ...] = ()) -> Any:
    """Copy a value the schema leaves unconstrained, still refusing non-JSON and non-finite data."""
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if isfinite(value) else _add(iss, path, idx, "not a finite number", extra)
    if len(extra) > MAX_FREE_DEPTH:
        return _add(iss, path, idx, "nested too deeply", extra)
    if isinstance(value, list):
        return [_free(item, iss, path, idx, (*extra, f"[{i}]")) for i, item in enumerate(value)]
    if isinstance(value, dict):
        copy = dict(value)
        _extras(copy, iss, path, idx, frozenset(), True)
        return copy
    return _type(iss, path, idx, value, "a JSON value")


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
    return a == b  # numbers and null; a list never equals a scalar


def _json_in(value: object, members: tuple[object, ...]) -> bool:
    return any(_json_eq(value, member) for member in members)


_RUNTIME: dict[str, object] = {
    "_M": object(), "_add": _add, "_type": _type, "_extras": _extras, "_free": _free, "_json_in": _json_in,
    "_dt": parse_date_time, "_H": _HEADS, "_T": _TAILS, "_isfinite": isfinite,
}


# --- schema validation: anything outside the subset is refused, with its location ----------------


def _is_json(value: object, depth: int = 0) -> bool:
    if value is None or isinstance(value, (str, int)):
        return True
    if isinstance(value, float):
        return isfinite(value)
    if depth > MAX_FREE_DEPTH:
        return False
    if isinstance(value, list):
        return all(_is_json(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _is_type(value: object) -> bool:
    names = [value] if isinstance(value, str) else value
    return (isinstance(names, list) and bool(names) and all(n in _TYPES for n in names)
            and len(set(names)) == len(names))


def _count(value: object) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


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
    **{key: _is_number for key in _NUMBER_BOUNDS},
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
    """Validates every keyword of the schema and records which $defs each $defs entry uses."""

    def __init__(self, root: dict[str, Any] | bool) -> None:
        defs = root.get("$defs", {}) if isinstance(root, dict) else {}
        self.defs: dict[str, Any] = defs if isinstance(defs, dict) else {}
        self.uses: dict[str | None, list[tuple[str, str]]] = {}  # def -> [(used def, $ref path)]
        self.owner: str | None = None  # None: the root schema, which no $ref can name
        self.walk(root, "$", is_root=True)
        for name, sub in self.defs.items():
            self.owner = name
            self.walk(sub, "$.$defs" + _segment(name))
        self.refuse_cycles()

    def walk(self, schema: object, path: str, is_root: bool = False) -> None:
        if isinstance(schema, bool):
            return
        if not isinstance(schema, dict):
            raise UnsupportedSchema(path, "", "a schema must be an object or a boolean")
        for key, value in schema.items():
            where = path + _segment(key)
            if key in _ANNOTATIONS:
                continue
            if key not in _SUPPORTED or (key == "$defs" and not is_root):
                raise UnsupportedSchema(where, str(key), f"unsupported keyword {key!r}")
            if key in _KEYWORD_OK and not _KEYWORD_OK[key](value):
                raise UnsupportedSchema(where, key, f"invalid value for {key!r}: {value!r}"[:200])
            if key == "properties":
                for name, sub in value.items():
                    self.walk(sub, where + _segment(name))
            elif key == "items":
                self.walk(value, where)
        if "$ref" in schema:
            self.ref(schema, path, is_root)

    def ref(self, schema: dict[str, Any], path: str, is_root: bool) -> None:
        for key in schema:
            if key not in _ANNOTATIONS and key != "$ref" and not (is_root and key == "$defs"):
                raise UnsupportedSchema(path + _segment(key), key, "keywords beside $ref are not supported")
        where = path + ".$ref"
        self.uses.setdefault(self.owner, []).append((_ref_name(schema["$ref"], where, self.defs), where))

    def refuse_cycles(self) -> None:
        state: dict[str, bool] = {}  # False while on the DFS stack, True when done

        def visit(name: str) -> None:
            state[name] = False
            for used, where in self.uses.get(name, ()):
                if state.get(used) is False:
                    raise UnsupportedSchema(where, "$ref", f"$ref cycle through {used!r}: recursion is not supported")
                if used not in state:
                    visit(used)
            state[name] = True

        for name in self.defs:
            if name not in state:
                visit(name)




# --- code generation ------------------------------------------------------------------------------
# Each object/array node becomes a function ``(v, iss, i1..iN)``: the i's are the enclosing array
# indices, the only dynamic part of a JSON path. Containers are copied once (scalars shared) and
# only normalized members (date-times, nested containers) are reassigned. Every check is one
# cheap expression on the valid path; which part failed is worked out only after it fails.

Branch = tuple[str, list[str]]  # (condition, body lines)
_MAX = repr(sys.float_info.max)  # `-MAX <= x <= MAX` is false exactly for NaN and ±inf
_LOWER = {"minimum": "<=", "exclusiveMinimum": "<"}  # written `limit op x`
_UPPER = {"maximum": "<=", "exclusiveMaximum": "<"}  # written `x op limit`
_WORD = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
_KIND_ORDER = ("string", "number", "object", "array", "boolean", "null")
_JSON_KINDS = {"string": ("string",), "number": ("integer", "number"), "boolean": ("boolean",),
               "null": ("null",), "object": ("object",), "array": ("array",)}


def _indent(lines: list[str], levels: int = 1) -> list[str]:
    return ["    " * levels + line for line in lines]


def _chain(branches: list[Branch], fallback: str) -> list[str]:
    lines: list[str] = []
    for n, (cond, body) in enumerate(branches):
        lines += [f"{'elif' if n else 'if'} {cond}:", *_indent(body or ["pass"])]
    return [*lines, "else:", f"    {fallback}"] if lines else [fallback]


def _guard(fast: list[str], checks: list[tuple[str, str]]) -> list[str]:
    """``if not (fast)`` on the valid path; then the first failing check records its issue."""
    if len(checks) < 2:
        return [f"if not ({ok}): {action}" for ok, action in checks]
    explain = [f"{'elif' if n else 'if'} not ({ok}): {action}" for n, (ok, action) in enumerate(checks)]
    return [f"if not ({' and '.join(fast)}):", *_indent(explain)]


def _is_free(schema: dict[str, Any]) -> bool:
    """No keyword constrains the value: only annotations, $defs, a format other than date-time."""
    return all(k in _ANNOTATIONS or k == "$defs" or (k == "format" and v != "date-time")
               for k, v in schema.items())


def _enum_members(schema: dict[str, Any]) -> tuple[list[Any] | None, str]:
    """The allowed values (enum intersected with const), and the message when a value is not one."""
    members: list[Any] | None = schema.get("enum")
    if "const" not in schema:
        return members, f"must be one of {json.dumps(members)}"[:300]
    const = schema["const"]
    members = [const] if members is None else [m for m in members if _json_eq(m, const)]
    return members, f"must be {json.dumps(const)}"[:300]


def _ivars(path: _Path) -> str:
    return "".join(f", i{n}" for n in range(1, len(path.pieces)))


def _idx(path: _Path) -> str:
    return f"({_ivars(path)[2:]},)" if len(path.pieces) > 1 else "()"


class _Site(NamedTuple):
    """Where a value is checked: its variable, where its normalized form goes, its JSON path."""

    var: str
    out: str
    path: _Path
    where: str  # "iss, <path const>, <index tuple>": the first arguments of _add

    def add(self, message: str) -> str:
        return f"_add({self.where}, {message!r})"


Checks = list[tuple[str, str]]  # (expression true for a valid value, statement recording the issue)


class _Codegen:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.ns: dict[str, Any] = dict(_RUNTIME)
        self.funcs: list[str] = []
        self.nodes = 0
        self.names = 0

    def const(self, value: object) -> str:
        name = f"_c{len(self.ns)}"
        self.ns[name] = value
        return name

    def fresh(self) -> str:
        self.names += 1
        return f"_f{self.names}"

    def module(self, schema: dict[str, Any] | bool) -> str:
        body = self.value(schema, _Path(("$",), 0), "v", "r")
        self.funcs.append("\n".join(["def _root(v, iss):", "    r = v", *_indent(body), "    return r"]))
        return "\n\n".join(self.funcs) + "\n"

    def value(self, schema: Any, path: _Path, var: str, out: str) -> list[str]:
        """Lines checking ``var``; normalized containers and date-times are assigned to ``out``."""
        while isinstance(schema, dict) and "$ref" in schema:  # _SchemaWalk refused cycles
            schema = self.defs[_ref_name(schema["$ref"], "", self.defs)]
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise UnsupportedSchema("$", "$ref", f"schema too large after $ref expansion (> {MAX_NODES} nodes)")
        site = _Site(var, out, path, f"iss, {self.const(path)}, {_idx(path)}")
        if schema is False:
            return [site.add("no value is allowed here")]
        if schema is True or _is_free(schema):
            return [f"{out} = _free({var}, {site.where})"]
        members, enum_msg = _enum_members(schema)
        declared = schema.get("type")
        types = [declared] if isinstance(declared, str) else declared
        if types is None:  # untyped: only the kinds the enum allows, else every kind
            types = [k for k in _KIND_ORDER if members is None or any(_kind(m) in _JSON_KINDS[k] for m in members)]
        integer_only = "integer" in types and "number" not in types
        branches: list[Branch] = []
        for kind in dict.fromkeys("number" if t == "integer" else t for t in types):
            allowed = None if members is None else [m for m in members if _kind(m) in _JSON_KINDS[kind]]
            enum = [(ok, site.add(enum_msg)) for ok in self.enum_ok(var, allowed, kind in ("object", "array"))]
            emit: Callable[[dict[str, Any], _Site, Checks, bool], list[Branch]] = getattr(self, f"_{kind}")
            branches += emit(schema, site, enum, integer_only)
        if declared is not None:
            fallback = f"_type({site.where}, {var}, {' or '.join(types)!r})"
        else:
            fallback = site.add(enum_msg) if members is not None else f"_type({site.where}, {var}, 'a JSON value')"
        return _chain(branches, fallback)

    def enum_ok(self, var: str, allowed: list[Any] | None, by_json: bool) -> list[str]:
        if allowed is None:
            return []
        if not allowed:
            return ["False"]
        if by_json:  # containers are unhashable
            return [f"_json_in({var}, {self.const(tuple(allowed))})"]
        # one set per JSON kind, so `True in {1}` can never hold
        return [f"{var} in {self.const(frozenset(allowed))}"]

    def _string(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool) -> list[Branch]:
        x = site.var
        checks = [(f"len({x}) >= {_count(schema['minLength'])}", site.add("too short"))] if "minLength" in schema else []
        if "maxLength" in schema:
            checks.append((f"len({x}) <= {_count(schema['maxLength'])}", site.add("too long")))
        checks += enum
        if schema.get("format") != "date-time":
            return [(f"isinstance({x}, str)", _guard([ok for ok, _ in checks], checks))]
        checks.insert(0, ("t is not None", site.add("not an RFC 3339 date-time with offset")))
        body = [f"t = _H.get({x}[:19])", f"u = _T.get({x}[19:])",
                f"t = _dt({x}) if t is None or u is None else t + u",  # cache miss: parse and fill
                *_guard([ok for ok, _ in checks], checks), f"{site.out} = t"]
        return [(f"isinstance({x}, str)", body)]

    def _number(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool) -> list[Branch]:
        x = site.var
        lows = [(f"{schema[k]!r} {op} {x}", k) for k, op in _LOWER.items() if k in schema]
        highs = [(f"{x} {op} {schema[k]!r}", k) for k, op in _UPPER.items() if k in schema]
        bounds = [(ok, site.add(f"must be {_WORD[k]} {schema[k]!r}")) for ok, k in lows + highs]
        floats = [(f"_isfinite({x})", site.add("not a finite number"))]
        if integer_only:
            floats.append((f"{x}.is_integer()", site.add("expected integer, got number")))
        # one chained comparison covers finiteness and the first lower and upper bound
        low, high = lows[0][0] if lows else f"-{_MAX} <= {x}", highs[0][0] if highs else f"{x} <= {_MAX}"
        rest = [ok for ok, _ in floats[1:] + bounds + enum if ok not in (low, high)]
        float_branch = (f"isinstance({x}, float)", _guard([low + high[len(x):], *rest], floats + bounds + enum))
        int_branch = (f"{x}.__class__ is int or isinstance({x}, int) and {x}.__class__ is not bool",
                      _guard([ok for ok, _ in bounds + enum], bounds + enum))
        return [int_branch, float_branch] if integer_only else [float_branch, int_branch]

    def _boolean(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool) -> list[Branch]:
        return [(f"{site.var} is True or {site.var} is False", _guard([ok for ok, _ in enum], enum))]

    def _null(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool) -> list[Branch]:
        return [(f"{site.var} is None", _guard([ok for ok, _ in enum], enum))]

    def _object(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool) -> list[Branch]:
        call = f"{site.out} = {self.object_fn(schema, site)}({site.var}, iss{_ivars(site.path)})"
        return [(f"isinstance({site.var}, dict)", [call, *_guard([ok for ok, _ in enum], enum)])]

    def _array(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool) -> list[Branch]:
        call = f"{site.out} = {self.array_fn(schema, site)}({site.var}, iss{_ivars(site.path)})"
        return [(f"isinstance({site.var}, list)", [call, *_guard([ok for ok, _ in enum], enum)])]

    def object_fn(self, schema: dict[str, Any], site: _Site) -> str:
        """Copy the dict once; then check each property, a missing required one being an issue."""
        name, path, idx = self.fresh(), site.path, _idx(site.path)
        props: dict[str, Any] = schema.get("properties", {})
        required = list(dict.fromkeys(schema.get("required", ())))
        lines = [f"def {name}(v, iss{_ivars(path)}):", "    r = v.copy() if v.__class__ is dict else dict(v)"]
        for key in required:
            if key not in props:
                lines.append(f"    if {key!r} not in r: _add(iss, {self.const(path.key(key))}, {idx}, 'required field missing')")
        for key, sub in props.items():
            body = _indent(self.value(sub, path.key(key), "x", f"r[{key!r}]"), 2)
            if key in required:
                missing = f"_add(iss, {self.const(path.key(key))}, {idx}, 'required field missing')"
                lines += ["    try:", f"        x = r[{key!r}]", "    except KeyError:", f"        {missing}", "    else:", *body]
            else:
                lines += [f"    x = r.get({key!r}, _M)", "    if x is not _M:", *body]
        # more keys than the known ones present (or any issue so far): let _extras look closely
        optional = "".join(f" + ({k!r} in r)" for k in props if k not in required)
        known = f"{self.const(frozenset(props))}, {schema.get('additionalProperties', True)!r}"
        lines += [f"    if len(r) != {sum(k in required for k in props)}{optional} or iss: _extras(r, {site.where}, {known})",
                  "    return r"]
        self.funcs.append("\n".join(lines))
        return name

    def array_fn(self, schema: dict[str, Any], site: _Site) -> str:
        name, item = self.fresh(), site.path.index()
        checks = [(f"len(v) >= {_count(schema['minItems'])}", site.add("too few items"))] if "minItems" in schema else []
        if "maxItems" in schema:
            checks.append((f"len(v) <= {_count(schema['maxItems'])}", site.add("too many items")))
        ivar = f"i{len(item.pieces) - 1}"
        body = self.value(schema.get("items", True), item, "x", f"r[{ivar}]")
        lines = [f"def {name}(v, iss{_ivars(site.path)}):", *_indent(_guard([ok for ok, _ in checks], checks)),
                 "    r = list(v)", f"    for {ivar}, x in enumerate(r):", *_indent(body, 2), "    return r"]
        self.funcs.append("\n".join(lines))
        return name


class InputChecker:
    """A compiled input schema. ``check`` is pure and safe to call from many threads at once."""

    __slots__ = ("source", "_root")

    def __init__(self, source: str, root: Callable[[object, Issues], object]) -> None:
        self.source = source
        self._root = root

    def check(self, data: object) -> tuple[object, list[InputIssue]]:
        """(normalized copy, []) when valid, else (None, issues). Never raises, never mutates."""
        iss: Issues = []
        value: object = None
        try:
            value = self._root(data, iss)
        except _Full:
            pass
        except Exception as exc:  # fail closed: a hostile mapping or number type must not escape
            return None, [InputIssue("$", f"input could not be checked ({type(exc).__name__})")]
        if not iss:
            return value, []
        first = min(range(len(iss)), key=lambda n: iss[n][0])  # the shallowest issue leads
        return None, [iss[first][1]] + [issue for n, (_, issue) in enumerate(iss) if n != first]


def compile_input_checker(schema: dict[str, Any]) -> InputChecker:
    """Check ``schema`` against the supported subset (else UnsupportedSchema) and compile it."""
    walk = _SchemaWalk(schema)
    gen = _Codegen(walk.defs)
    source = gen.module(schema)
    # the source holds generated names and repr()s of validated constants only; objects go in gen.ns
    exec(compile(source, "<input checker>", "exec"), gen.ns)
    return InputChecker(source, gen.ns["_root"])
