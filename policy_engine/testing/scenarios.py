"""Scenario files (``*.tests.yaml``): read, shape-checked, resolved into runnable cases.

The format is ``schemas/policy-tests.schema.json``. Reading goes through the same source stage
as policies (duplicate keys, tags and other YAML traps refused, every node located), then the
schema stage, so a broken scenario file gets ``file:line:col`` diagnostics like a broken policy.
Each case's input is resolved here: the defaults' input (inline or ``input_file``), replaced by
the case's own, then the defaults' and the case's ``input_files`` (a JSON file per dotted path),
``overrides`` and ``remove``.
A problem resolving one case (an unreadable example file, an override path that leads nowhere)
makes that case an error, located at its line; the other cases still run.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_engine.errors import Code, PolicyError
from policy_engine.schema import check_shape
from policy_engine.source import SourceDoc, load_source
from policy_engine.testing.dotted import PathError, remove_path, set_path

SCENARIO_SUFFIXES = (".tests.yaml", ".tests.yml")
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "policy-tests.schema.json"
DEFAULT_TOLERANCE = 1e-9
EXPECT_FIELDS = ("outcome", "reason", "rule", "fired", "events")

_schema: dict[str, Any] | None = None


def scenario_schema() -> dict[str, Any]:
    global _schema
    if _schema is None:
        _schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return _schema


@dataclass(frozen=True)
class Expectation:
    """Only what the case states is compared: ``fields`` holds outcome/reason/rule/fired/events."""

    fields: Mapping[str, Any]
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    line: int
    input: Any
    now: Any
    params: Mapping[str, Any]
    state: Mapping[str, Any] | None
    tolerance: float
    expect: Expectation
    problem: str = ""  # why the case cannot run (it is reported as an error)

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class ScenarioFile:
    path: str
    policy_path: str
    cases: tuple[Case, ...]
    description: str = ""


def is_scenario_file(path: Path) -> bool:
    return path.name.endswith(SCENARIO_SUFFIXES)


def default_policy_path(scenario: Path) -> Path:
    """``x.tests.yaml`` -> ``x.yaml`` beside it."""
    for suffix in SCENARIO_SUFFIXES:
        if scenario.name.endswith(suffix):
            return scenario.with_name(scenario.name[: -len(suffix)] + ".yaml")
    return scenario


def scenario_path_for(policy: Path) -> Path:
    """``x.yaml`` -> ``x.tests.yaml`` beside it."""
    return policy.with_name(policy.stem + ".tests.yaml")


def load_scenario_file(path: str | Path) -> ScenarioFile:
    """Read, check and resolve one scenario file; PolicyError with located diagnostics."""
    doc = load_source(path)
    problems = check_shape(doc, scenario_schema())
    if problems:
        raise PolicyError(problems)
    data = doc.data
    _check_unique_names(doc)
    base = Path(doc.path).parent
    policy = base / data["policy"] if "policy" in data else default_policy_path(Path(doc.path))
    resolver = _Resolver(doc, base)
    cases = tuple(resolver.case(index, raw) for index, raw in enumerate(data["cases"]))
    return ScenarioFile(doc.path, str(policy), cases, data.get("description", ""))


def _check_unique_names(doc: SourceDoc) -> None:
    seen: dict[str, int] = {}
    problems = []
    for index, case in enumerate(doc.data["cases"]):
        name = case["name"]
        if name in seen:
            line = doc.source_map.locate(("cases", seen[name], "name"))[0]
            problems.append(doc.diagnostic(Code.DUPLICATE_ID, ("cases", index, "name"),
                                           f"case name '{name}' is used twice (first on line {line})",
                                           "case names identify results in reports and pytest"))
        seen.setdefault(name, index)
    if problems:
        raise PolicyError(problems)


@dataclass
class _Resolver:
    doc: SourceDoc
    base: Path
    files: dict[str, Any] = field(default_factory=dict)

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self.doc.data.get("defaults") or {})

    def case(self, index: int, raw: dict[str, Any]) -> Case:
        defaults = self.defaults
        where = ("cases", index)
        line = self.doc.source_map.locate(where)[0]
        merged = {**defaults, **{k: v for k, v in raw.items() if k not in ("input", "input_file")}}
        expect = raw["expect"]
        expectation = Expectation({k: expect[k] for k in EXPECT_FIELDS if k in expect}, dict(expect.get("values", {})))
        params = {**(defaults.get("params") or {}), **(raw.get("params") or {})}
        try:
            request = self._input(index, raw, defaults)
            problem = ""
        except _CaseProblem as err:
            request, problem = None, str(err)
        return Case(raw["name"], self.doc.path, line, request, merged.get("now"), params, merged.get("state"),
                    float(merged.get("tolerance", DEFAULT_TOLERANCE)), expectation, problem)

    def _input(self, index: int, raw: dict[str, Any], defaults: dict[str, Any]) -> Any:
        own = "input" in raw or "input_file" in raw
        source, where = (raw, ("cases", index)) if own else (defaults, ("defaults",))
        if "input" in source:
            request = copy.deepcopy(source["input"])
        elif "input_file" in source:
            request = self._file(source["input_file"], (*where, "input_file"))
        else:
            raise _CaseProblem("no input: give `input` or `input_file` (here or in `defaults`)")
        steps = [("defaults", defaults), (("cases", index), raw)]
        for owner, data in steps:
            self._edit(request, data, owner if isinstance(owner, tuple) else (owner,))
        return request

    def _edit(self, request: Any, data: dict[str, Any], where: tuple[Any, ...]) -> None:
        for path, name in (data.get("input_files") or {}).items():
            value = self._file(name, (*where, "input_files", path))
            try:
                set_path(request, path, value)
            except PathError as err:
                raise _CaseProblem(f"{self._at((*where, 'input_files', path))}: input_files {err}") from None
        for path, value in (data.get("overrides") or {}).items():
            try:
                set_path(request, path, value)
            except PathError as err:
                raise _CaseProblem(f"{self._at((*where, 'overrides', path))}: override {err}") from None
        for number, path in enumerate(data.get("remove") or []):
            try:
                remove_path(request, path)
            except PathError as err:
                raise _CaseProblem(f"{self._at((*where, 'remove', number))}: remove {err}") from None

    def _file(self, name: str, where: tuple[Any, ...]) -> Any:
        if name not in self.files:
            target = self.base / name
            try:
                self.files[name] = json.loads(target.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as err:
                raise _CaseProblem(f"{self._at(where, True)}: cannot read input_file {name}: "
                                   f"{getattr(err, 'strerror', None) or err}") from None
            except json.JSONDecodeError as err:
                raise _CaseProblem(f"{self._at(where, True)}: input_file {name} is not valid JSON: {err}") from None
        return copy.deepcopy(self.files[name])

    def _at(self, where: tuple[Any, ...], value: bool = False) -> str:
        line, col = (self.doc.source_map.locate_value if value else self.doc.source_map.locate)(where)
        return f"{self.doc.path}:{line}:{col}"


class _CaseProblem(Exception):
    """A case cannot be set up; the message is located."""
