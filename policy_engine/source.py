"""Source stage: YAML text -> plain data + a source map from JSON path to file position.

The YAML is composed into nodes with PyYAML's SafeLoader machinery and turned into plain data
here, so every trap a reviewer could miss (duplicate keys, tags, anchors, merge keys, non-string
keys, several documents) is refused with a located Diagnostic instead of being silently accepted.
No ``yaml.load`` of any flavour is used: only SafeConstructor's scalar converters are borrowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.error import Mark
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent, StreamEndEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from policy_engine.errors import Code, Diagnostic, PolicyError

JsonPath = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based (line, col)

MAX_DEPTH = 64  # nested mappings/lists; far beyond any sane policy, far below the recursion limit
MAX_SOURCE_CHARS = 4 * 1024 * 1024  # policies are small; refuse pathological inputs up front

_TAG = "tag:yaml.org,2002:"
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # exactly the breaks PyYAML counts
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?\Z")
_SCALARS = SafeConstructor()  # used only for its int/float/bool scalar conversions


def format_json_path(path: Iterable[str | int]) -> str:
    """``("gates", 3, "pass_if")`` -> ``$.gates[3].pass_if``; odd keys are bracket-quoted."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}"
        else:
            out += "[" + repr(part) + "]"
    return out


def _split_lines(text: str) -> tuple[str, ...]:
    """Split on the same line breaks PyYAML counts, so marks and lines agree."""
    return tuple(_LINE_BREAK.split(text))


@dataclass(frozen=True)
class SourceMap:
    """Positions of every node: ``keys`` for mapping entries, ``values`` for every node."""

    lines: tuple[str, ...]
    keys: Mapping[JsonPath, Position]
    values: Mapping[JsonPath, Position]

    def locate(self, json_path: Iterable[str | int]) -> Position:
        """Where a person looks: the key of a mapping entry, else the node itself."""
        path = tuple(json_path)
        found = self.keys.get(path) or self.values.get(path)
        return found if found else self._ancestor(path, self.locate)

    def locate_value(self, json_path: Iterable[str | int]) -> Position:
        """Position of the value at the path (the deepest existing ancestor if missing)."""
        path = tuple(json_path)
        found = self.values.get(path)
        return found if found else self._ancestor(path, self.locate_value)

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 1 <= line <= len(self.lines) else ""

    def _ancestor(self, path: JsonPath, how: Callable[[JsonPath], Position]) -> Position:
        # Missing nodes (e.g. an absent required field) are shown at their parent.
        return how(path[:-1]) if path else (1, 1)


@dataclass(frozen=True)
class SourceDoc:
    path: str
    text: str
    data: Any
    source_map: SourceMap

    def diagnostic(
        self,
        code: Code,
        json_path: Iterable[str | int],
        message: str,
        hint: str = "",
        *,
        at_value: bool = False,
    ) -> Diagnostic:
        """A Diagnostic located at ``json_path`` (its key, or its value with ``at_value``)."""
        path = tuple(json_path)
        where = self.source_map.locate_value(path) if at_value else self.source_map.locate(path)
        return _Reporter(self.path, self.source_map.lines).at(
            code, where, message, hint, format_json_path(path)
        )


def load_source(path: str | Path) -> SourceDoc:
    """Read and parse one policy file; raise PolicyError with located diagnostics."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except IsADirectoryError:
        _fail_file(name, "it is a directory, not a policy file")
    except FileNotFoundError:
        _fail_file(name, "no such file")
    except (OSError, ValueError) as exc:
        _fail_file(name, f"cannot be read ({getattr(exc, 'strerror', None) or exc})")
    return parse_source(raw, name)


def parse_source(text: str | bytes, path: str = "<string>") -> SourceDoc:
    """Parse policy YAML given as text or bytes; raise PolicyError with located diagnostics."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = _decode(bytes(text), path)
    text = text.removeprefix("\ufeff")  # a UTF-8 BOM is harmless; PyYAML would count it as a column
    reporter = _Reporter(path, _split_lines(text))
    if len(text) > MAX_SOURCE_CHARS:
        reporter.fail(Code.YAML_FORBIDDEN, (1, 1), f"file too large ({len(text)} characters)",
                      f"policy files are limited to {MAX_SOURCE_CHARS} characters")
    if all(not line.strip() or line.strip().startswith("#") for line in reporter.lines):
        # Checked up front: PyYAML trips over a tab on an otherwise empty line.
        reporter.fail(Code.FILE_EMPTY, (1, 1), "file is empty", "a policy starts with 'apiVersion:'")
    root = _compose_guarded(text, reporter)
    data, source_map = _Builder(reporter).build(root)
    return SourceDoc(path=path, text=text, data=data, source_map=source_map)


# --- diagnostics --------------------------------------------------------------------------------


class _Reporter:
    """Makes Diagnostics for one file, filling the source line from its text."""

    def __init__(self, path: str, lines: tuple[str, ...]) -> None:
        self.path = path
        self.lines = lines

    def at(self, code: Code, where: Position, message: str, hint: str = "",
           json_path: str = "$") -> Diagnostic:
        line, col = where
        source_line = self.lines[line - 1] if 1 <= line <= len(self.lines) else ""
        return Diagnostic(self.path, line, col, code, message, json_path, hint, source_line=source_line)

    def fail(self, code: Code, where: Position, message: str, hint: str = "") -> NoReturn:
        raise PolicyError([self.at(code, where, message, hint)])


def _fail_file(path: str, problem: str) -> NoReturn:
    hint = "check the path; a policy is a single .yaml file"
    raise PolicyError([Diagnostic(path, 1, 1, Code.FILE_NOT_FOUND, f"cannot open '{path}': {problem}", hint=hint)])


def _pos(mark: Mark | None) -> Position:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _offset_pos(text: str, offset: int) -> Position:
    before = _split_lines(text[:offset])
    return len(before), len(before[-1]) + 1


def _decode(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = raw[: exc.start].decode("utf-8").removeprefix("\ufeff")
        lines = _split_lines(raw.decode("utf-8", errors="replace").removeprefix("\ufeff"))
        bad = raw[exc.start: exc.start + 1].hex()
        _Reporter(path, lines).fail(
            Code.FILE_NOT_UTF8, _offset_pos(prefix, len(prefix)),
            f"file is not valid UTF-8 (byte 0x{bad} at offset {exc.start})",
            "save the file as UTF-8 (plain ASCII is fine too)")


# --- composing ----------------------------------------------------------------------------------


class _TooDeep(Exception):
    def __init__(self, mark: Mark | None) -> None:
        super().__init__("nesting too deep")
        self.mark = mark


_Refusal = tuple[Position, JsonPath, str, str]  # (where, json path, message, hint)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that records anchors, aliases and explicit tags, and caps nesting depth."""

    def __init__(self, text: str, refused: list[_Refusal]) -> None:
        super().__init__(text)
        self.depth = 0
        self.refused = refused
        self.path: list[str | int] = []  # JSON path of the node being composed

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        step = _path_step(parent, index)
        self.path.extend(step)
        self._check_event(event)
        nested = 1 if isinstance(event, (MappingStartEvent, SequenceStartEvent)) else 0
        if self.depth + nested > MAX_DEPTH:
            raise _TooDeep(event.start_mark)
        self.depth += nested
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= nested
            del self.path[len(self.path) - len(step):]

    def _check_event(self, event: Any) -> None:
        written = "write the value out in full so reviewers see it where it applies"
        if isinstance(event, AliasEvent):
            self._refuse(event.start_mark, f"alias '*{event.anchor}' is not allowed", written)
            return
        if event.anchor is not None:
            self._refuse(event.start_mark, f"anchor '&{event.anchor}' is not allowed", written)
        if event.tag is not None:
            tag = event.tag.replace(_TAG, "!!")
            self._refuse(event.start_mark, f"explicit YAML tag '{tag}' is not allowed",
                         "remove the tag; quote the value if it must be text")

    def _refuse(self, mark: Any, message: str, hint: str) -> None:
        self.refused.append((_pos(mark), tuple(self.path), message, hint))


def _path_step(parent: Node | None, index: Any) -> list[str | int]:
    """The JSON path element PyYAML's (parent, index) stands for; keys add none."""
    if isinstance(parent, SequenceNode):
        return [int(index)]
    if isinstance(index, ScalarNode):
        return [str(index.value)]
    return ["?"] if isinstance(index, Node) else []


def _compose_guarded(text: str, reporter: _Reporter) -> Node:
    """Compose the single document; every library failure becomes a diagnostic."""
    refused: list[_Refusal] = []
    try:
        return _compose(text, reporter, refused)
    except PolicyError:
        raise
    except Exception as exc:  # noqa: BLE001 - the YAML library must never leak a traceback
        failure = _library_failure(exc, text, reporter)
        raise PolicyError(_refusals(refused, reporter) + [failure]) from None


def _compose(text: str, reporter: _Reporter, refused: list[_Refusal]) -> Node:
    loader = _StrictLoader(text, refused)
    try:
        loader.get_event()  # type: ignore[no-untyped-call]  # drop stream start
        root = None if loader.check_event(StreamEndEvent) else loader.compose_document()
        ended = loader.check_event(StreamEndEvent)
        second = None if ended else loader.peek_event().start_mark  # type: ignore[no-untyped-call]
    finally:
        loader.dispose()
    if root is None:
        reporter.fail(Code.FILE_EMPTY, (1, 1), "file is empty", "a policy starts with 'apiVersion:'")
    problems = _refusals(refused, reporter)
    if second is not None:
        problems.append(reporter.at(
            Code.YAML_FORBIDDEN, _pos(second), "a second YAML document starts here; a policy file "
            "holds exactly one", "split it into separate files or remove the '---' line"))
    if problems:
        raise PolicyError(problems)
    return root


def _refusals(refused: list[_Refusal], reporter: _Reporter) -> list[Diagnostic]:
    return [reporter.at(Code.YAML_FORBIDDEN, where, message, hint, format_json_path(path))
            for where, path, message, hint in refused]


def _library_failure(exc: Exception, text: str, reporter: _Reporter) -> Diagnostic:
    if isinstance(exc, (_TooDeep, RecursionError)):
        where = _pos(exc.mark) if isinstance(exc, _TooDeep) else (1, 1)
        return reporter.at(Code.YAML_FORBIDDEN, where, "nesting too deep",
                           f"policies may nest at most {MAX_DEPTH} levels; flatten the structure")
    if isinstance(exc, yaml.MarkedYAMLError):
        return _syntax_diagnostic(exc, reporter)
    if isinstance(exc, yaml.reader.ReaderError):
        return reporter.at(Code.YAML_SYNTAX, _offset_pos(text, exc.position),
                           f"character #x{exc.character:04x} is not allowed in YAML",
                           "remove control characters from the file")
    return reporter.at(Code.YAML_SYNTAX, (1, 1), f"YAML could not be read ({exc.__class__.__name__})",
                       "check the file is well-formed YAML")


_SYNTAX_HINTS = (
    ("'\\t'", "indent with spaces; YAML does not allow tabs for indentation"),
    ("quoted scalar", "a quoted string is not closed; add the closing quote"),
    ("mapping values are not allowed", "quote a value that contains ': ', or fix the indentation"),
    ("flow sequence", "a '[' list is not closed with ']'"),
    ("flow mapping", "a '{' mapping is not closed with '}'"),
    ("block end", "check the indentation: entries of one mapping or list must line up"),
    ("could not find expected ':'", "each entry needs 'key: value'; check indentation and quoting"),
)


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, reporter: _Reporter) -> Diagnostic:
    problem = exc.problem or exc.context or "invalid YAML"
    text = f"{exc.problem} {exc.context}"
    hint = next((h for needle, h in _SYNTAX_HINTS if needle in text), "check indentation and quoting")
    where, other = exc.problem_mark or exc.context_mark, exc.context_mark
    if re.search("end of stream|<stream end>", problem) and exc.context and other is not None:
        # Running off the end of the file says nothing; where the construct opened does.
        what = re.sub(r"^while (scanning|parsing) ", "", exc.context)
        return reporter.at(Code.YAML_SYNTAX, _pos(other), f"{what} is not closed before the end of the file", hint)
    if other is not None and where is not None and other.line != where.line:
        hint += f" (see line {other.line + 1})"
    return reporter.at(Code.YAML_SYNTAX, _pos(where), problem, hint)


# --- building plain data ------------------------------------------------------------------------


class _Builder:
    """Turns the node tree into plain data, recording positions and refusing traps."""

    def __init__(self, reporter: _Reporter) -> None:
        self.reporter = reporter
        self.keys: dict[JsonPath, Position] = {}
        self.values: dict[JsonPath, Position] = {}
        self.problems: list[Diagnostic] = []

    def build(self, root: Node) -> tuple[dict[str, Any], SourceMap]:
        data = self._node(root, ())
        self._check_root(root, data)
        if self.problems:
            raise PolicyError(self.problems)
        return data, SourceMap(self.reporter.lines, self.keys, self.values)

    def _check_root(self, root: Node, data: Any) -> None:
        where = _pos(root.start_mark)
        if data is None:
            self.reporter.fail(Code.FILE_EMPTY, where, "document is empty (null)",
                               "a policy starts with 'apiVersion:'")
        if not isinstance(data, dict):
            self._refuse(where, (), f"the top level must be a mapping of fields, found {_kind(data)}",
                         "start the file with 'apiVersion: ...' and 'kind: ...' lines")

    def _refuse(self, where: Position, path: JsonPath, message: str, hint: str,
                code: Code = Code.YAML_FORBIDDEN) -> None:
        self.problems.append(self.reporter.at(code, where, message, hint, format_json_path(path)))

    def _node(self, node: Node, path: JsonPath) -> Any:
        self.values[path] = _pos(node.start_mark)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self._node(item, path + (i,)) for i, item in enumerate(node.value)]
        return self._scalar(node, path) if isinstance(node, ScalarNode) else None

    def _mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path, out)
            if key is not None:
                self.keys[path + (key,)] = _pos(key_node.start_mark)
                out[key] = self._node(value_node, path + (key,))
        return out

    def _key(self, node: Node, path: JsonPath, seen: dict[str, Any]) -> str | None:
        """The key as a string, or None (with a diagnostic) when it is not acceptable."""
        where = _pos(node.start_mark)
        if node.tag == _TAG + "merge":
            self._refuse(where, path, "merge keys ('<<') are not allowed", "write the fields out in full")
        elif not isinstance(node, ScalarNode) or node.tag != _TAG + "str":
            self._refuse(where, path, f"mapping keys must be text, found {_key_kind(node)}",
                         f"quote the key: \"{node.value}\":" if isinstance(node, ScalarNode)
                         else "use a plain text key")
        elif node.value in seen:
            first = self.keys[path + (node.value,)][0]
            self._refuse(where, path + (node.value,),
                         f"duplicate key '{node.value}' (first defined on line {first})",
                         "remove one of them; YAML would silently keep only the last",
                         Code.YAML_DUPLICATE_KEY)
        else:
            return str(node.value)
        return None

    def _scalar(self, node: ScalarNode, path: JsonPath) -> Any:
        try:
            return _scalar_value(node)
        except ValueError:
            self._refuse(_pos(node.start_mark), path, "number has too many digits",
                         "quote it if it is meant as text")
            return None


def _scalar_value(node: ScalarNode) -> Any:
    """Plain scalars as SafeLoader resolves them; timestamps and base-60 numbers stay text."""
    tag, value = node.tag, node.value
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        return _SCALARS.construct_yaml_bool(node)
    if tag in (_TAG + "int", _TAG + "float") and not _SEXAGESIMAL.match(value):
        return _SCALARS.construct_yaml_int(node) if tag == _TAG + "int" else _SCALARS.construct_yaml_float(node)
    return str(value)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else f"a single value ({str(value)[:40]!r})"


def _key_kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    kind = {"int": "a number", "float": "a number", "bool": "a boolean", "null": "null"}
    return f"{kind.get(node.tag.replace(_TAG, ''), 'a non-text value')} ({node.value[:40]!r})"
