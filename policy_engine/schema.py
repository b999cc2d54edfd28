"""Schema stage: plain data + source map -> shape diagnostics against a JSON Schema (2020-12).

jsonschema finds the errors; this module chooses the ones a person should read (descending into
oneOf/anyOf to the branch that nearly fits), turns each into a Diagnostic with a stable code, a
short message without Python reprs of whole sub-documents, and a hint, located through the
source map. The apiVersion is checked first: under an unknown format version nothing else applies.

jsonschema is imported, and the schema itself checked, on the first document that needs it: a
document whose exact text already passed this exact schema is recorded in the shape cache
(``shape_cache.py``, like Python's .pyc files) and is not checked again, so loading a known
policy in a fresh process imports no validator at all.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from policy_engine.errors import Code, Diagnostic, sorted_capped
from policy_engine.shape_cache import ShapeCache
from policy_engine.source import JsonPath, SourceDoc

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

API_FIELD = "apiVersion"
_WIDTH = 40  # longest value excerpt shown in a message
_MAX_SCHEMA_HOPS = 16  # bound on $ref / combinator walks, so a cyclic schema cannot hang us
_PRIORITY = {Code.UNKNOWN_FIELD: 0, Code.MISSING_FIELD: 1, Code.WRONG_TYPE: 2, Code.INVALID_VALUE: 3}
_TYPE_NAMES = {
    "object": "a mapping", "array": "a list", "string": "a string", "number": "a number",
    "integer": "an integer", "boolean": "a boolean (true/false)", "null": "null",
}


@dataclass(frozen=True)
class _Finding:
    """A diagnostic before it is located; ``suggests`` is the field an UNKNOWN_FIELD hints at."""

    code: Code
    path: JsonPath
    message: str
    hint: str = ""
    at_value: bool = False
    suggests: str | None = None


_DEFAULT_CACHE: Any = object()  # ShapeChecker's default: the cache POLICY_ENGINE_CACHE names


class ShapeChecker:
    """A validator built once per schema (on first need); ``check`` may be called for many documents.

    ``cache``: where passing documents are remembered across processes; the default follows
    ``POLICY_ENGINE_CACHE`` (see ``shape_cache``), ``None`` checks every document every time."""

    def __init__(self, schema: Mapping[str, Any], cache: ShapeCache | None = _DEFAULT_CACHE) -> None:
        self.schema = schema
        self.api_versions = _api_versions(schema)
        self._validator: Any = None
        self.cache = ShapeCache.for_schema(schema) if cache is _DEFAULT_CACHE else cache
        if self.cache is None:
            self._validator = self.validator()  # no cache: a bad schema fails here, as it always did

    def validator(self) -> Any:
        if self._validator is None:
            from jsonschema import Draft202012Validator

            if self.cache is None or not self.cache.schema_passed():
                Draft202012Validator.check_schema(self.schema)
                if self.cache is not None:
                    self.cache.remember_schema()
            self._validator = Draft202012Validator(self.schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        return self._validator

    def check(self, doc: SourceDoc) -> list[Diagnostic]:
        api = self._check_api_version(doc)
        if api is not None:
            return [api]
        if self.cache is not None and self.cache.passed(doc.text):
            return []
        findings = [f for error in self.validator().iter_errors(doc.data) for f in self._findings(error)]
        kept = _one_per_path(_drop_explained(findings))
        diagnostics = sorted_capped(doc.diagnostic(f.code, f.path, f.message, f.hint, at_value=f.at_value)
                                    for f in kept)
        if not diagnostics and self.cache is not None:
            self.cache.remember(doc.text)
        return diagnostics

    def _check_api_version(self, doc: SourceDoc) -> Diagnostic | None:
        if not self.api_versions or not isinstance(doc.data, dict):
            return None
        version = doc.data.get(API_FIELD)
        if any(_same(version, known) for known in self.api_versions):
            return None
        supported = ", ".join(map(str, self.api_versions))
        hint = f"start the file with 'apiVersion: {self.api_versions[-1]}'"
        if API_FIELD not in doc.data:
            return doc.diagnostic(Code.UNKNOWN_API_VERSION, (API_FIELD,),
                                  f"missing apiVersion; supported: {supported}", hint)
        return doc.diagnostic(Code.UNKNOWN_API_VERSION, (API_FIELD,),
                              f"unknown apiVersion {_show(version)}; supported: {supported}", hint,
                              at_value=_is_scalar(version))

    def _findings(self, error: ValidationError) -> list[_Finding]:
        found: list[_Finding] = []
        for headline in _headlines(error):
            handler = _HANDLERS.get(str(headline.validator), _invalid_value)
            found.extend(handler(headline, self.schema))
        return found


_CACHE: dict[int, tuple[Mapping[str, Any], ShapeChecker]] = {}


def check_shape(doc: SourceDoc, schema: Mapping[str, Any]) -> list[Diagnostic]:
    """Shape diagnostics for ``doc``; the validator is built once per schema object."""
    cached = _CACHE.get(id(schema))
    if cached is None or cached[0] is not schema:
        if len(_CACHE) >= 16:
            _CACHE.clear()
        cached = _CACHE[id(schema)] = (schema, ShapeChecker(schema))
    return cached[1].check(doc)


# --- choosing the errors to show ----------------------------------------------------------------


def _headlines(error: ValidationError) -> list[ValidationError]:
    """For oneOf/anyOf, the errors of the branch that nearly fits; else the error itself."""
    if not error.context:
        return [error]
    branch = _best_branch(error.context)
    if branch is None:
        return [error]
    return [headline for inner in branch for headline in _headlines(inner)]


def _branches(context: Iterable[ValidationError]) -> list[list[ValidationError]]:
    """Errors of a oneOf/anyOf grouped by the alternative they come from."""
    branches: dict[Any, list[ValidationError]] = {}
    for error in context:
        branches.setdefault(error.relative_schema_path[0], []).append(error)
    return list(branches.values())


def _best_branch(context: Iterable[ValidationError]) -> list[ValidationError] | None:
    viable = [errors for errors in _branches(context) if not any(map(_misfits, errors))]
    # The branch with the fewest complaints is the one the author meant; ties go to the first.
    return min(viable, key=len) if viable else None


def _misfits(error: ValidationError) -> bool:
    """The branch is for another kind of value altogether (wrong type or discriminator)."""
    if error.validator == "type" and not error.relative_path:
        return True
    return error.validator == "const" and len(error.relative_path) == 1


def _drop_explained(findings: list[_Finding]) -> list[_Finding]:
    """A missing 'pass_if' next to an unknown 'pass_iff' (did you mean...) is one mistake."""
    suggested = {f.path[:-1] + (f.suggests,) for f in findings if f.suggests}
    return [f for f in findings if not (f.code is Code.MISSING_FIELD and f.path in suggested)]


def _one_per_path(findings: list[_Finding]) -> list[_Finding]:
    best: dict[JsonPath, _Finding] = {}
    for finding in findings:
        held = best.get(finding.path)
        if held is None or _PRIORITY[finding.code] < _PRIORITY[held.code]:
            best[finding.path] = finding
    return list(best.values())


# --- one handler per keyword family -------------------------------------------------------------


def _unknown_fields(error: ValidationError, root: Mapping[str, Any]) -> list[_Finding]:
    instance = error.instance
    if not isinstance(instance, dict):
        return _invalid_value(error, root)
    own = error.validator == "additionalProperties"
    schemas = [_schema(error)] if own else list(_subschemas(_schema(error), root))
    allowed = sorted({name for s in schemas for name in s.get("properties", {})})
    patterns = [p for s in schemas for p in s.get("patternProperties", {})]
    extras = [key for key in instance if key not in allowed and not _matches_any(patterns, key)]
    path = _path(error)
    return [_unknown(path, key, allowed) for key in extras] or _invalid_value(error, root)


def _unknown(path: JsonPath, key: str, allowed: list[str]) -> _Finding:
    close = _closest(key, allowed)
    if close:
        hint = f"did you mean '{close}'?"
    else:
        hint = f"allowed fields: {_list(allowed)}" if allowed else "remove it"
    return _Finding(Code.UNKNOWN_FIELD, path + (key,), f"unknown field {_show(key)}", hint, suggests=close)


def _wrong_type(error: ValidationError, root: Mapping[str, Any]) -> list[_Finding]:
    return [_type_finding(error, _types(_keyword_value(error)))]


def _type_finding(error: ValidationError, expected: list[str]) -> _Finding:
    names = [_TYPE_NAMES.get(t, t) for t in dict.fromkeys(expected)]
    wanted = " or ".join(filter(None, [", ".join(names[:-1]), names[-1]]))
    instance = error.instance
    message = f"expected {wanted}, got {_got(instance)}"
    hint = _type_hint(expected, instance) or _description(error)
    return _Finding(Code.WRONG_TYPE, _path(error), message, hint, at_value=_is_scalar(instance))


def _type_hint(expected: list[str], instance: Any) -> str:
    numeric = {"number", "integer"} & set(expected)
    if numeric and isinstance(instance, str) and _looks_numeric(instance):
        return "remove the quotes around the number"
    if "string" in expected and isinstance(instance, bool):
        return "YAML reads yes/no/on/off/true/false as booleans; quote the value"
    if "string" in expected and _is_scalar(instance):
        return "quote the value if it is meant as text"
    if "array" in expected:
        return "write a list: one '- item' per line, or [a, b]"
    return "write 'field: value' lines indented under this key" if "object" in expected else ""


def _missing_fields(error: ValidationError, root: Mapping[str, Any]) -> list[_Finding]:
    if not isinstance(error.instance, dict):
        return []
    properties = _schema(error).get("properties", {})
    return [_missing(_path(error), name, properties.get(name))
            for name in _keyword_value(error) if name not in error.instance]


def _missing_dependencies(error: ValidationError, root: Mapping[str, Any]) -> list[_Finding]:
    instance = error.instance
    if not isinstance(instance, dict):
        return []
    return [_missing(_path(error), name, None, because=present)
            for present, needed in _keyword_value(error).items() if present in instance
            for name in needed if name not in instance]


def _missing(path: JsonPath, name: str, spec: Any, because: str = "") -> _Finding:
    why = f" (required when '{because}' is present)" if because else ""
    described = spec.get("description") if isinstance(spec, Mapping) else None
    hint = f"add '{name}: ...'" + (f" ({described})" if described else "")
    return _Finding(Code.MISSING_FIELD, path + (name,), f"missing required field '{name}'{why}", hint)


def _any_of(error: ValidationError, root: Mapping[str, Any]) -> list[_Finding]:
    """Reached only when no branch nearly fits: a merged type or discriminator error if every
    branch failed the same way, else 'no allowed form'."""
    type_errors = _per_branch(error.context, lambda e: e.validator == "type" and not e.relative_path)
    if type_errors:
        return [_type_finding(error, [t for e in type_errors for t in _types(_keyword_value(e))])]
    consts = _per_branch(error.context, lambda e: e.validator == "const" and len(e.relative_path) == 1)
    if consts and len({tuple(e.relative_path) for e in consts}) == 1:
        return [_discriminator(consts)]
    many = error.validator == "oneOf" and not error.context
    what = "matches more than one of" if many else "does not match any of"
    hint = _description(error) or "check its fields and types against the policy format"
    message = f"{_show(error.instance)} {what} the allowed forms"
    return [_Finding(Code.INVALID_VALUE, _path(error), message, hint, _is_scalar(error.instance))]


def _discriminator(consts: list[ValidationError]) -> _Finding:
    """Every branch wants a different constant in the same field: say which ones."""
    allowed = list(dict.fromkeys(str(_keyword_value(e)) for e in consts))
    value = consts[0].instance
    close = _closest(value, allowed) if isinstance(value, str) else None
    return _Finding(Code.INVALID_VALUE, _path(consts[0]), f"{_show(value)} is not one of: {_list(allowed)}",
                    f"did you mean '{close}'?" if close else "", at_value=_is_scalar(value))


def _per_branch(context: list[ValidationError],
                matches: Callable[[ValidationError], bool]) -> list[ValidationError]:
    """One matching error from every branch, or [] when some branch has none."""
    picked = [next((e for e in errors if matches(e)), None) for errors in _branches(context)]
    return [e for e in picked if e is not None] if picked and None not in picked else []


def _types(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _invalid_value(error: ValidationError, root: Mapping[str, Any]) -> list[_Finding]:
    path, instance = _path(error), error.instance
    describe = _MESSAGES.get(str(error.validator), _not_allowed)
    message = describe(instance, _keyword_value(error))
    hint = _closest_hint(error) or _description(error)
    if "propertyNames" in error.absolute_schema_path and isinstance(instance, str):
        # jsonschema reports a bad key name at its mapping; point at the key itself.
        return [_Finding(Code.INVALID_VALUE, path + (instance,), f"field name {message}", hint)]
    return [_Finding(Code.INVALID_VALUE, path, message, hint, at_value=_is_scalar(instance))]


def _closest_hint(error: ValidationError) -> str:
    if error.validator != "enum" or not isinstance(error.instance, str):
        return ""
    close = _closest(error.instance, [str(v) for v in _keyword_value(error)])
    return f"did you mean '{close}'?" if close else ""


_Handler = Callable[["ValidationError", Mapping[str, Any]], list[_Finding]]
_HANDLERS: dict[str, _Handler] = {
    "additionalProperties": _unknown_fields,
    "unevaluatedProperties": _unknown_fields,
    "type": _wrong_type,
    "required": _missing_fields,
    "dependentRequired": _missing_dependencies,
    "oneOf": _any_of,
    "anyOf": _any_of,
}


def _not_allowed(instance: Any, _: Any) -> str:
    return f"{_show(instance)} is not allowed here"


def _size(instance: Any) -> int:
    return len(instance) if isinstance(instance, (str, list, dict)) else 0


_MESSAGES: dict[str, Callable[[Any, Any], str]] = {
    "enum": lambda i, v: f"{_show(i)} is not one of: {_list(v)}",
    "const": lambda i, v: f"must be {_show(v)}, got {_show(i)}",
    "pattern": lambda i, v: f"{_show(i)} does not match the pattern {_clip(str(v))}",
    "format": lambda i, v: f"{_show(i)} is not a valid {v}",
    "minimum": lambda i, v: f"must be at least {v}, got {_show(i)}",
    "maximum": lambda i, v: f"must be at most {v}, got {_show(i)}",
    "exclusiveMinimum": lambda i, v: f"must be greater than {v}, got {_show(i)}",
    "exclusiveMaximum": lambda i, v: f"must be less than {v}, got {_show(i)}",
    "multipleOf": lambda i, v: f"must be a multiple of {v}, got {_show(i)}",
    "minLength": lambda i, v: "must not be empty" if v == 1 else f"must be at least {v} characters long",
    "maxLength": lambda i, v: f"must be at most {v} characters long, got {_size(i)}",
    "minItems": lambda i, v: f"needs at least {v} item(s), got {_size(i)}",
    "maxItems": lambda i, v: f"may have at most {v} item(s), got {_size(i)}",
    "minProperties": lambda i, v: f"needs at least {v} field(s), got {_size(i)}",
    "maxProperties": lambda i, v: f"may have at most {v} field(s), got {_size(i)}: {_list(i)}",
    "uniqueItems": lambda i, v: "items must be unique",
    "contains": lambda i, v: "no item matches what this list must contain",
}


# --- schema walking -----------------------------------------------------------------------------


def _api_versions(schema: Mapping[str, Any]) -> list[Any]:
    """The apiVersion values the schema accepts (its const/enum), wherever it declares them."""
    found: list[Any] = []
    for sub in _subschemas(schema, schema):
        spec = _resolve(sub.get("properties", {}).get(API_FIELD, {}), schema)
        found += ([spec["const"]] if "const" in spec else []) + list(spec.get("enum", []))
    return list(dict.fromkeys(v for v in found if isinstance(v, str)))


def _subschemas(schema: Any, root: Mapping[str, Any], hops: int = 0) -> Iterator[Mapping[str, Any]]:
    """The schema and every schema it combines (allOf/anyOf/oneOf/then/else, local $refs)."""
    schema = _resolve(schema, root)
    if not isinstance(schema, Mapping) or hops > _MAX_SCHEMA_HOPS:
        return
    yield schema
    subs = [s for key in ("allOf", "anyOf", "oneOf") for s in schema.get(key, [])]
    subs += [schema[key] for key in ("then", "else") if key in schema]
    for sub in subs:
        yield from _subschemas(sub, root, hops + 1)


def _resolve(schema: Any, root: Mapping[str, Any]) -> Any:
    """Follow local ``$ref``s (``#/$defs/...``), keeping sibling keywords."""
    for _ in range(_MAX_SCHEMA_HOPS):
        ref = schema.get("$ref") if isinstance(schema, Mapping) else None
        if not isinstance(ref, str) or not ref.startswith("#"):
            return schema
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**_pointer(root, ref[1:]), **siblings}
    return schema


def _pointer(root: Mapping[str, Any], pointer: str) -> Mapping[str, Any]:
    target: Any = root
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        target = target.get(part, {}) if isinstance(target, Mapping) else {}
    return target if isinstance(target, Mapping) else {}


# --- small words --------------------------------------------------------------------------------


def _path(error: ValidationError) -> JsonPath:
    return tuple(error.absolute_path)


def _schema(error: ValidationError) -> Mapping[str, Any]:
    """The subschema that failed (a boolean schema has no keywords)."""
    return error.schema if isinstance(error.schema, Mapping) else {}


def _keyword_value(error: ValidationError) -> Any:
    value: Any = error.validator_value
    return value


def _description(error: ValidationError) -> str:
    return str(_schema(error).get("description", ""))


def _closest(word: str, choices: list[str]) -> str | None:
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def _matches_any(patterns: list[str], key: str) -> bool:
    try:
        return any(re.search(p, key) for p in patterns)
    except re.error:
        return False


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _clip(text: str) -> str:
    return text if len(text) <= _WIDTH else text[: _WIDTH - 3] + "..."


def _show(value: Any) -> str:
    """A value as a person would write it, never a whole sub-document."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return repr(_clip(value)) if isinstance(value, str) else _clip(repr(value))


def _got(value: Any) -> str:
    kinds = {bool: "boolean ", int: "integer ", float: "number ", str: "string "}
    return kinds.get(type(value), "") + _show(value)


def _list(values: Iterable[Any], limit: int = 8) -> str:
    items = [_show(v) if not isinstance(v, str) else v for v in values]
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
