"""Compiled input checker: a policy's input JSON Schema turned into straight-line Python.

jsonschema costs hundreds of microseconds per call, too slow for the trading hot path. This
module accepts a subset of Draft 2020-12, refuses everything else at compile time
(``UnsupportedSchema``) and generates one Python function per schema with every check inlined.
A JSON path is static text plus array indices, so a valid input builds no path at all.

``check`` fails closed: a wrong type, missing field, NaN/inf, out-of-range value, malformed
date-time or oversized value is an ``InputIssue``. It also normalizes: a ``format: date-time``
string becomes an ``int`` of microseconds since the Unix epoch (UTC); everything else is shared
with the input, never written: only the containers on the way to a date-time are copied.

A checker can be compiled for the parts of the inputs a policy reads (``reads``, see
``compile_input_checker``): fields no expression reads are then neither checked nor copied, and
``InputChecker.full`` checks the whole contract for callers that want it.

Size limits where the schema sets none (docs/reliability.md): arrays hold at most ``MAX_ITEMS``
items, objects at most ``MAX_ITEMS`` fields, strings at most ``MAX_STRING_LENGTH`` characters, and
values the schema leaves unconstrained nest at most ``MAX_FREE_DEPTH`` deep.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from math import isfinite
from operator import itemgetter
from typing import Any, NamedTuple

from policy_engine.input_schema import (
    ANNOTATIONS, MAX_FREE_DEPTH, WORD, SchemaWalk, UnsupportedSchema, count_of, ref_name, segment,
)
from policy_engine.timestamps import DATES, parse_date_time, parse_uncached

__all__ = ["InputChecker", "InputIssue", "UnsupportedSchema", "compile_input_checker", "parse_date_time"]

MAX_ISSUES = 20
MAX_NODES = 5000  # schema nodes after $ref expansion
MAX_DEPTH = 32  # indentation of the generated code; Python allows 100 and 20 nested loops
MAX_ITEMS = 10_000  # items of an array, fields of an object, where the schema sets no maxItems
MAX_STRING_LENGTH = 65_536  # characters (code points) of a string where the schema sets no maxLength
ITEMS = "[]"  # in a read tree: what each item of an array is read for
WHOLE = True  # in a read tree: the value is read whole
Reads = Any  # WHOLE, or {field: Reads, ITEMS: Reads}: see compile_input_checker

_LOWER = {"minimum": "<=", "exclusiveMinimum": "<"}  # written `limit op x`
_UPPER = {"maximum": "<=", "exclusiveMaximum": "<"}  # written `x op limit`
_DEFAULT_LIMIT = " (the engine's default limit)"


class InputIssue(NamedTuple):
    json_path: str
    message: str


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
        return _Path((*self.pieces[:-1], self.pieces[-1] + segment(key)), self.depth + 1)

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
            allowed: bool, extra: tuple[str, ...] = ()) -> dict[Any, Any]:
    """Keys of ``r`` outside ``properties``: refused, or else checked as unconstrained values.

    Returns ``r``, or a copy of it where a value had to become plain JSON (``r`` may be the input)."""
    out = r if r.__class__ is dict else dict(r)
    if len(r) > MAX_ITEMS:
        _add(iss, path, idx, f"must have at most {MAX_ITEMS} fields{_DEFAULT_LIMIT}", extra)
        return out
    for key, value in list(out.items()):
        if key in known:
            continue
        here = (*extra, segment(key))
        if not isinstance(key, str):
            _add(iss, path, idx, "object key is not a string", here)
        elif not allowed:
            _add(iss, path, idx, "unexpected field", here)
        elif (new := _free(value, iss, path, idx, here)) is not value:
            out = dict(out) if out is r else out
            out[key] = new
    return out


def _free(value: object, iss: Issues, path: _Path, idx: tuple[int, ...], extra: tuple[str, ...] = ()) -> Any:
    """Check a value the schema leaves unconstrained: finite JSON within the size limits.

    Returns ``value`` itself, unless a container in it is a subclass that became a plain dict or list."""
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            _add(iss, path, idx, f"must be at most {MAX_STRING_LENGTH} characters long{_DEFAULT_LIMIT}", extra)
        return value
    if value is None or isinstance(value, int) or isinstance(value, float) and isfinite(value):
        return value
    if value is _MISSING or isinstance(value, float) or len(extra) > MAX_FREE_DEPTH:
        problem = "not a finite number" if isinstance(value, float) else "nested too deeply"
        return _add(iss, path, idx, "required field missing" if value is _MISSING else problem, extra)
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            return _add(iss, path, idx, f"must have at most {MAX_ITEMS} items{_DEFAULT_LIMIT}", extra)
        out = value if value.__class__ is list else list(value)
        for i, item in enumerate(out):
            if (new := _free(item, iss, path, idx, (*extra, f"[{i}]"))) is not item:
                out = out.copy() if out is value else out
                out[i] = new
        return out
    if isinstance(value, dict):
        return _extras(value, iss, path, idx, frozenset(), True, extra)
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
                               "_dt": parse_date_time, "_dtn": parse_uncached, "_D": DATES, "_isfinite": isfinite}


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
        return [(exact if exact == general else f"{exact} or {general}", list(tail), True)]
    return [(f"{exact} and {' and '.join(fast or [ok for ok, _ in checks])}", list(tail), True),
            (general, [*_explain(checks), *tail], False)]


def _literal(value: float, as_float: bool) -> str:
    """A float literal where exact: CPython compares float with float much faster than with int."""
    return repr(float(value)) if as_float and isinstance(value, int) and abs(value) <= 2**53 else repr(value)


def _is_free(schema: dict[str, Any]) -> bool:
    """No keyword constrains the value: only annotations, $defs, or a format other than date-time."""
    return all(k in ANNOTATIONS or k == "$defs" or k == "format" and v != "date-time"
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
    out: str  # where a changed value is written: "y" at the root, else a slot of the parent's r
    cow: str  # statement that makes the parent's r a copy before a write ("" when it is one already)
    path: _Path
    where: str  # the leading arguments of _add: "iss, <path constant>, <index tuple>"
    level: int  # containers here copy into r{level + 1}
    depth: int  # indentation so far

    def add(self, message: str) -> str:
        return f"_add({self.where}, {message!r})"

    def write(self, value: str) -> list[str]:
        return [self.cow, f"{self.out} = {value}"] if self.cow else [f"{self.out} = {value}"]


class _Codegen:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.ns: dict[str, Any] = dict(_RUNTIME)
        self.nodes = 0
        self.dt_memo: dict[tuple[int, int], bool] = {}

    def const(self, value: object) -> str:
        self.ns[name := f"_c{len(self.ns)}"] = value
        return name

    def where(self, path: _Path) -> str:
        indices = "".join(f"i{n}, " for n in range(1, len(path.pieces)))  # the enclosing array counters
        return f"iss, {self.const(path)}, ({indices})"

    def site(self, var: str, out: str, cow: str, path: _Path, level: int, depth: int) -> _Site:
        return _Site(var, out, cow, path, self.where(path), level, depth)

    def resolve(self, schema: Any) -> Any:
        while isinstance(schema, dict) and "$ref" in schema:  # SchemaWalk refused cycles
            schema = self.defs[ref_name(schema["$ref"], "", self.defs)]
        return schema

    def has_date_time(self, schema: Any, reads: Reads) -> bool:
        """Whether a date-time is normalized somewhere in the read part of ``schema``: only then
        is a container copied (memoized: $ref expansion may repeat a subschema many times)."""
        schema = self.resolve(schema)
        key = (id(schema), id(reads))
        if key not in self.dt_memo:
            self.dt_memo[key] = self._has_date_time(schema, reads)
        return self.dt_memo[key]

    def _has_date_time(self, schema: Any, reads: Reads) -> bool:
        if not isinstance(schema, dict) or _is_free(schema):
            return False
        types = schema.get("type", "string")
        if schema.get("format") == "date-time" and "string" in ([types] if isinstance(types, str) else types):
            return True
        props: dict[str, Any] = schema.get("properties", {})
        fields = props if reads is WHOLE else [key for key in reads if key in props]
        items = reads if reads is WHOLE else reads.get(ITEMS)
        return (any(self.has_date_time(props[key], reads if reads is WHOLE else reads[key]) for key in fields)
                or items is not None and self.has_date_time(schema.get("items", True), items))

    def value(self, schema: Any, site: _Site, reads: Reads = WHOLE) -> list[str]:
        """Lines checking ``site.var``; a normalized form, when it differs, goes to ``site.out``."""
        schema = self.resolve(schema)
        self.nodes += 1
        if self.nodes > MAX_NODES or site.depth > MAX_DEPTH:  # the walk cannot see $ref expansion
            limit = f"over {MAX_NODES} nodes with $refs expanded" if self.nodes > MAX_NODES else "too deep"
            raise UnsupportedSchema("$", "", f"schema too large: {limit}")
        if schema is False:
            return [f"_refuse({site.where}, {site.var}, 'no value is allowed here')"]
        if schema is True or _is_free(schema):
            return [f"if (t := _free({site.var}, {site.where})) is not {site.var}:", *_indent(site.write("t"))]
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
            branches += getattr(self, f"_{kind}")(schema, site, enum, integer_only, reads)
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

    def _string(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool,
                reads: Reads) -> list[Branch]:
        x, checks, is_dt = site.var, [], schema.get("format") == "date-time"
        if is_dt:  # a str subclass is parsed as a plain str, never looked up by its own hash
            checks.append((f"(t := _dt({x})) is not None", site.add("not an RFC 3339 date-time with offset")))
        low, high = count_of(schema.get("minLength")), count_of(schema.get("maxLength"))
        default = high is None and not is_dt and not enum  # the date-time shape and enums bound it already
        high, beyond = (MAX_STRING_LENGTH, _DEFAULT_LIMIT) if default else (high, "")
        if low is not None:
            checks.append((f"len({x}) >= {low}", site.add(f"must be at least {low} characters long")))
        if high is not None:
            checks.append((f"len({x}) <= {high}", site.add(f"must be at most {high} characters long{beyond}")))
        fast = [ok for ok, _ in checks + enum]
        if low is not None and high is not None:  # one len() on the valid path
            fast = [ok for ok, _ in checks[:-2]] + [f"{low} <= len({x}) <= {high}"] + [ok for ok, _ in enum]
        if is_dt:  # an exact str: the cache first; `or`: 0, the epoch, is falsy and gets recomputed
            fast[0] = f"(t := _D.get({x}) or _dtn({x})) is not None"
        tail = tuple(site.write("t")) if is_dt else ()
        return _typed(f"{x}.__class__ is str", f"isinstance({x}, str)", checks + enum, fast, tail)

    def _number(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool,
                reads: Reads) -> list[Branch]:
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
            return expression, site.add(f"must be {WORD[key]} {schema[key]!r}")

        limit = {key: _literal(schema[key], as_float) for key in WORD if key in schema}
        return ([check(k, f"{limit[k]} {op} {site.var}") for k, op in _LOWER.items() if k in limit],
                [check(k, f"{site.var} {op} {limit[k]}") for k, op in _UPPER.items() if k in limit])

    def _boolean(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool,
                 reads: Reads) -> list[Branch]:
        return _typed(f"({site.var} is True or {site.var} is False)", f"{site.var}.__class__ is bool", enum)

    def _null(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool,
              reads: Reads) -> list[Branch]:
        return _typed(f"{site.var} is None", f"{site.var} is None", enum)

    def container(self, site: _Site, schema: dict[str, Any], reads: Reads, plain: str) -> tuple[str, str, str]:
        """(r, the line setting it, the copy-on-write statement of its slots). With a date-time
        below, r is a copy from the start; otherwise r is the value itself (a subclass becomes a
        plain dict or list) and becomes a copy only if a slot has to change."""
        x, r = site.var, f"r{site.level + 1}"
        if self.has_date_time(schema, reads):
            return r, f"{r} = {x}.copy() if {x}.__class__ is {plain} else {plain}({x})", ""
        return r, f"{r} = {x} if {x}.__class__ is {plain} else {plain}({x})", f"if {r} is {x}: {r} = {x}.copy()"

    def store(self, site: _Site, r: str, cow: str) -> list[str]:
        """Hand the container's normalized form up, when it is not the value itself."""
        return site.write(r) if not cow else [f"if {r} is not {site.var}:", *_indent(site.write(r))]

    def _object(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool,
                reads: Reads) -> list[Branch]:
        """Fetch the required fields read with one itemgetter, check each field read."""
        x, level, whole = site.var, site.level + 1, reads is WHOLE
        props = {k: v for k, v in schema.get("properties", {}).items() if whole or k in reads}
        required = [k for k in dict.fromkeys(schema.get("required", ())) if whole or k in reads]
        names = {key: f"x{level}_{n}" for n, key in enumerate(props)}
        r, setup, cow = self.container(site, schema, reads, "dict")
        lines = [setup]
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
            field = self.site(names[key], f"{r}[{key!r}]", cow, site.path.key(key), level, site.depth + 2)
            body = self.value(sub, field, reads if whole else reads[key])
            if key not in required:
                body = [f"{names[key]} = {r}.get({key!r}, _M)", f"if {names[key]} is not _M:", *_indent(body)]
            lines += body
        if whole:  # more keys than the known ones present, or any issue so far: let _extras look closely
            optional = "".join(f" + ({k!r} in {r})" for k in props if k not in required)
            known = f"{self.const(frozenset(props))}, {schema.get('additionalProperties', True)!r}"
            lines.append(f"if len({r}) != {len(fetched)}{optional} or iss: {r} = _extras({r}, {site.where}, {known})")
        cond = f"{x}.__class__ is dict or isinstance({x}, dict)"
        return [(cond, [*lines, *self.store(site, r, cow), *_explain(enum)], True)]

    def _array(self, schema: dict[str, Any], site: _Site, enum: Checks, integer_only: bool,
               reads: Reads) -> list[Branch]:
        x, level, item = site.var, site.level + 1, site.path.item()
        low, high = count_of(schema.get("minItems")), count_of(schema.get("maxItems"))
        high, beyond = (MAX_ITEMS, _DEFAULT_LIMIT) if high is None else (high, "")
        checks: Checks = []
        if low is not None:
            checks.append((f"len({x}) >= {low}", site.add(f"must have at least {low} items")))
        checks.append((f"len({x}) <= {high}", site.add(f"must have at most {high} items{beyond}")))
        r, setup, cow = self.container(site, schema, reads, "list")
        lines = [*_explain(checks), setup]
        item_reads = reads if reads is WHOLE else reads.get(ITEMS)
        if item_reads is not None:  # read only for its presence or length: its items are not looked at
            i = f"i{len(item.pieces) - 1}"
            element = self.site(f"x{level}", f"{r}[{i}]", cow, item, level, site.depth + 2)
            body = self.value(schema.get("items", True), element, item_reads)
            # a counter is cheaper than enumerate()
            lines += [f"{i} = 0", f"for x{level} in {r}:", *_indent([*body, f"{i} += 1"])]
        cond = f"{x}.__class__ is list or isinstance({x}, list)"
        return [(cond, [*lines, *self.store(site, r, cow), *_explain(enum)], True)]


class InputChecker:
    """A compiled input schema; ``check`` is pure and safe to call from many threads at once."""

    __slots__ = ("_check", "_full", "reads", "schema", "source")

    def __init__(self, source: str, check: Callable[[object, Issues], object], schema: Any, reads: Reads) -> None:
        self.source = source  # the generated code, for debugging
        self._check = check
        self.schema = schema
        self.reads = reads  # WHOLE, or the parts of the inputs this checker looks at
        self._full: InputChecker | None = self if reads is WHOLE else None

    @property
    def full(self) -> InputChecker:
        """The checker of the whole schema: every field, read by a policy or not (the contract)."""
        if self._full is None:
            self._full = compile_input_checker(self.schema)
        return self._full

    def for_reads(self, reads: Reads) -> InputChecker:
        """A checker of the parts of the inputs in ``reads`` only (see compile_input_checker)."""
        checker = compile_input_checker(self.schema, reads)
        checker._full = self.full
        return checker

    def check(self, data: object) -> tuple[object, list[InputIssue]]:
        """(normalized, []) when valid, else (None, issues). Never raises, never mutates ``data``.

        The normalized value shares every part without a date-time with ``data``."""
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


def compile_input_checker(schema: Any, reads: Reads = WHOLE) -> InputChecker:
    """Check ``schema`` against the supported subset (else UnsupportedSchema) and compile it.

    ``reads`` limits the checker to what a policy reads (policy_engine/compiler/reads.py):
    ``WHOLE`` (everything), or a dict naming the fields read, each ``WHOLE`` or a dict of its own,
    with ``ITEMS`` for what each array item is read for; ``{}`` reads a value for its presence and
    type only. Required fields stay required only where read; unread fields, extra keys included,
    are neither checked nor copied."""
    walk = SchemaWalk(schema)
    gen = _Codegen(walk.defs)
    body = gen.value(schema, gen.site("x0", "y", "", _Path(("$",), 0), 0, 1), reads)
    source = "\n".join(["def check(x0, iss):", "    y = x0", *_indent(body), "    return y", ""])
    # the source holds generated names and repr()s of validated constants; objects live in gen.ns
    exec(compile(source, "<input checker>", "exec"), gen.ns)  # noqa: S102
    return InputChecker(source, gen.ns["check"], schema, reads)
