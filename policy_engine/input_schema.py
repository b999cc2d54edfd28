"""Which JSON Schemas the input checker accepts: a subset of Draft 2020-12, every keyword
checked and every refusal located (``UnsupportedSchema``), ``$ref`` only to local ``$defs`` and
never in a cycle. ``policy_engine.inputs`` compiles what passes here."""

from __future__ import annotations

import re
from collections.abc import Callable
from math import isfinite
from typing import Any
from urllib.parse import unquote

MAX_FREE_DEPTH = 64  # nesting inside values the schema leaves unconstrained

TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
ANNOTATIONS = frozenset({"title", "description", "$schema", "$id", "$comment", "default", "examples",
                         "deprecated"})
WORD = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
COUNTS = ("minLength", "maxLength", "minItems", "maxItems")
SUPPORTED = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum", "const",
                       "format", "$ref", "$defs", *WORD, *COUNTS})
_PLAIN_KEY = re.compile("^[a-zA-Z][a-zA-Z0-9_]*$")


class UnsupportedSchema(Exception):
    """A schema keyword, or keyword value, outside the supported subset; located in the schema."""

    def __init__(self, json_path: str, keyword: str, reason: str) -> None:
        self.json_path = json_path
        self.keyword = keyword
        super().__init__(f"{json_path}: {reason}")


def segment(key: object) -> str:
    """One step of a JSON path, spelled as jsonschema's ``ValidationError.json_path`` spells it."""
    if isinstance(key, str) and _PLAIN_KEY.match(key):
        return f".{key}"
    return "['" + str(key).replace("\\", "\\\\").replace("'", "\\'") + "']"


def is_json(value: object, depth: int = 0) -> bool:
    if value is None or isinstance(value, (str, int)):
        return True
    if isinstance(value, float):
        return isfinite(value)
    if isinstance(value, list) and depth < MAX_FREE_DEPTH:
        return all(is_json(item, depth + 1) for item in value)
    if isinstance(value, dict) and depth < MAX_FREE_DEPTH:
        return all(isinstance(k, str) and is_json(v, depth + 1) for k, v in value.items())
    return False


def count_of(value: object) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _is_type(value: object) -> bool:
    names = [value] if isinstance(value, str) else value
    return (isinstance(names, list) and bool(names) and all(n in TYPES for n in names)
            and len(set(names)) == len(names))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and isfinite(value)


def _is_str_keyed(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) for k in value)


_KEYWORD_OK: dict[str, Callable[[Any], bool]] = {
    "type": _is_type,
    "required": lambda v: isinstance(v, list) and all(isinstance(k, str) for k in v),
    "additionalProperties": lambda v: isinstance(v, bool),
    "enum": lambda v: isinstance(v, list) and is_json(v),
    "const": is_json,
    "format": lambda v: isinstance(v, str),
    "properties": _is_str_keyed,
    "$defs": _is_str_keyed,
    **{key: _is_number for key in WORD},
    **{key: lambda v: count_of(v) is not None for key in COUNTS},
}


def ref_name(ref: object, where: str, defs: dict[str, Any]) -> str:
    if not isinstance(ref, str) or not ref.startswith("#/$defs/") or "/" in ref[8:]:
        raise UnsupportedSchema(where, "$ref", "only local references '#/$defs/NAME' are supported")
    name = unquote(ref[8:]).replace("~1", "/").replace("~0", "~")
    if name not in defs:
        raise UnsupportedSchema(where, "$ref", f"reference to undefined $defs entry {name!r}")
    return name


class SchemaWalk:
    """Validates every keyword, records which $defs each $defs entry uses, refuses ref cycles."""

    def __init__(self, root: object) -> None:
        defs = root.get("$defs", {}) if isinstance(root, dict) else {}
        self.defs: dict[str, Any] = defs if isinstance(defs, dict) else {}
        self.uses: dict[str | None, list[tuple[str, str]]] = {}  # def -> [(used def, $ref path)]
        self.owner: str | None = None  # None: the root, which no '#/$defs/NAME' can name
        self.walk(root, "$", is_root=True)
        for name, sub in self.defs.items():
            self.owner = name
            self.walk(sub, "$" + segment("$defs") + segment(name))
        state: dict[str, bool] = {}  # False while on the DFS stack, True when done
        for name in self.defs:
            self.visit(name, state)

    def walk(self, schema: object, path: str, is_root: bool = False) -> None:
        if isinstance(schema, bool):
            return
        if not isinstance(schema, dict):
            raise UnsupportedSchema(path, "", "a schema must be an object or a boolean")
        for key, value in schema.items():
            where = path + segment(key)
            if key not in SUPPORTED and key not in ANNOTATIONS or key == "$defs" and not is_root:
                raise UnsupportedSchema(where, str(key), f"unsupported keyword {key!r}")
            if key in _KEYWORD_OK and not _KEYWORD_OK[key](value):
                raise UnsupportedSchema(where, key, f"invalid value for {key!r}: {value!r}"[:200])
            if key == "$ref":
                self.ref(schema, path, is_root)
            for name, sub in value.items() if key == "properties" else ():
                self.walk(sub, where + segment(name))
            if key == "items":
                self.walk(value, where)

    def ref(self, schema: dict[str, Any], path: str, is_root: bool) -> None:
        for key in schema:
            if key not in ANNOTATIONS and key != "$ref" and not (is_root and key == "$defs"):
                raise UnsupportedSchema(path + segment(key), key, "keywords beside $ref are not supported")
        where = path + segment("$ref")
        self.uses.setdefault(self.owner, []).append((ref_name(schema["$ref"], where, self.defs), where))

    def visit(self, name: str, state: dict[str, bool]) -> None:
        if state.get(name):
            return
        state[name] = False
        for used, where in self.uses.get(name, ()):
            if state.get(used) is False:
                raise UnsupportedSchema(where, "$ref", f"$ref cycle through {used!r}: no recursion")
            self.visit(used, state)
        state[name] = True
