"""The scenario runner: scenario files -> case results (+ coverage), in process.

Each policy is compiled once per set of case params and shared by the cases that use it. A
scenario file that cannot be read, or whose policy does not compile, is reported with its
diagnostics; a case that cannot be set up is an error; a case whose answer differs from its
expectation fails with the differences and the trace step where they part.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_engine.errors import Diagnostic, PolicyError
from policy_engine.kinds import compile_any
from policy_engine.source import SourceDoc, load_source
from policy_engine.testing.adapters import CaseSetupError, KindAdapter, Observation, adapter_for
from policy_engine.testing.compare import Mismatch, Parting, compare, parting_step
from policy_engine.testing.coverage import PolicyCoverage
from policy_engine.testing.scenarios import (
    Case,
    ScenarioFile,
    is_scenario_file,
    load_scenario_file,
    scenario_path_for,
)

PASSED, FAILED, ERRORED = "passed", "failed", "error"

# Compiled policies by (file, hash of its text and input schema, params), shared by the runs of one
# process (a pytest session, repeated CLI calls in tests): compiling is most of a scenario run.
_COMPILED: dict[tuple[str, str, str], Any] = {}
_COMPILED_MAX = 64


@dataclass(frozen=True)
class CaseResult:
    case: Case
    status: str
    mismatches: tuple[Mismatch, ...] = ()
    parting: Parting | None = None
    observation: Observation | None = None
    problem: str = ""
    seconds: float = 0.0


@dataclass
class FileResult:
    scenario: str
    policy: str = ""
    policy_id: str = ""
    kind: str = ""
    cases: list[CaseResult] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    problem: str = ""

    @property
    def broken(self) -> bool:
        return bool(self.diagnostics or self.problem)


@dataclass
class RunSummary:
    files: list[FileResult]
    coverage: dict[str, PolicyCoverage]
    seconds: float
    unscenarioed: list[str] = field(default_factory=list)  # policies found without a scenario file

    def count(self, status: str) -> int:
        return sum(1 for f in self.files for r in f.cases if r.status == status)

    @property
    def ok(self) -> bool:
        return not any(f.broken for f in self.files) and self.count(FAILED) == 0 and self.count(ERRORED) == 0

    def under(self, threshold: float | None) -> list[PolicyCoverage]:
        if threshold is None:
            return []
        return [c for c in self.coverage.values() if round(c.percent, 1) < threshold]


# --- finding scenario files -----------------------------------------------------------------
def discover(paths: Iterable[str]) -> tuple[list[str], list[str]]:
    """Scenario files under the paths (a policy file names its ``.tests.yaml``), and the policies
    found in the given folders that have no scenario file."""
    found: list[str] = []
    lonely: list[str] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += [str(p) for p in _walk(path) if is_scenario_file(p)]
            lonely += [str(p) for p in _walk(path) if _is_policy(p) and not scenario_path_for(p).exists()]
        elif path.suffix in (".yaml", ".yml") and not is_scenario_file(path) and scenario_path_for(path).exists():
            found.append(str(scenario_path_for(path)))
        else:
            found.append(name)
    return list(dict.fromkeys(found)), lonely


def _walk(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")) and d not in ("examples", "node_modules"))
        yield from (Path(folder) / name for name in sorted(files))


def _is_policy(path: Path) -> bool:
    if path.suffix not in (".yaml", ".yml") or is_scenario_file(path):
        return False
    try:
        data = load_source(path).data
    except PolicyError:
        return False
    return str(data.get("apiVersion", "")).startswith("policy-engine/v")


# --- running ----------------------------------------------------------------------------------
class ScenarioRunner:
    """Runs scenario files; with ``coverage`` it tallies what every case exercised."""

    def __init__(self, coverage: bool = False):
        self.coverage_on = coverage
        self.coverage: dict[str, PolicyCoverage] = {}
        self._docs: dict[str, SourceDoc] = {}

    def run(self, paths: Iterable[str]) -> RunSummary:
        started = time.perf_counter()
        files, lonely = discover(paths)
        results = [self.run_file(path) for path in files]
        return RunSummary(results, self.coverage, time.perf_counter() - started, lonely)

    def run_file(self, path: str) -> FileResult:
        result, scenario, adapter = self.open_file(path)
        if scenario is None or adapter is None:
            return result
        report = self._coverage_for(result, adapter)
        for case in scenario.cases:
            result.cases.append(self.run_case(adapter, case, result.policy, report))
        return result

    def open_file(self, path: str) -> tuple[FileResult, ScenarioFile | None, KindAdapter | None]:
        """A scenario file read and its policy compiled (with its params), ready to run case by
        case; when something is wrong, the result holds its diagnostics or problem."""
        result = FileResult(path)
        try:
            scenario = load_scenario_file(path)
        except PolicyError as err:
            result.diagnostics = err.diagnostics
            return result, None, None
        result.policy = os.path.normpath(scenario.policy_path)
        try:
            doc = self._doc(result.policy)
            result.kind = str(doc.data.get("kind", ""))
            metadata = doc.data.get("metadata")
            result.policy_id = str(metadata.get("id", "")) if isinstance(metadata, dict) else ""
            adapter = adapter_for(result.kind)
            if adapter is None:
                result.problem = f"{result.policy}: scenarios cannot run policies of kind {result.kind!r} yet"
                return result, scenario, None
            self.policy(result.policy, {})
        except PolicyError as err:
            result.diagnostics = err.diagnostics
            return result, scenario, None
        return result, scenario, adapter

    def _coverage_for(self, result: FileResult, adapter: KindAdapter) -> PolicyCoverage | None:
        if not self.coverage_on:
            return None
        if result.policy not in self.coverage:
            items, left_out = adapter.coverage_items(self.policy(result.policy, {}), self._doc(result.policy))
            self.coverage[result.policy] = PolicyCoverage(result.policy_id, result.policy, result.kind, items,
                                                          left_out)
        return self.coverage[result.policy]

    def run_case(self, adapter: KindAdapter, case: Case, policy_path: str,
                 report: PolicyCoverage | None = None) -> CaseResult:
        started = time.perf_counter()
        if case.problem:
            return CaseResult(case, ERRORED, problem=case.problem)
        try:
            policy = self.policy(policy_path, case.params)
        except PolicyError as err:
            text = "\n".join(d.format_text() for d in err.diagnostics)
            return CaseResult(case, ERRORED, problem=f"{case.location}: params do not fit the policy:\n{text}")
        try:
            observed = adapter.run(policy, case)
        except CaseSetupError as problem:
            return CaseResult(case, ERRORED, problem=f"{case.location}: {problem}")
        if report is not None:
            report.record(adapter.sightings(policy, case, observed))
        mismatches = compare(case, observed)
        elapsed = time.perf_counter() - started
        if not mismatches:
            return CaseResult(case, PASSED, observation=observed, seconds=elapsed)
        return CaseResult(case, FAILED, tuple(mismatches), parting_step(case, observed, mismatches), observed,
                          seconds=elapsed)

    def policy(self, path: str, params: Mapping[str, Any]) -> Any:
        doc = self._doc(path)
        key = (os.path.abspath(path), _fingerprint(doc), json.dumps(dict(params), sort_keys=True, default=repr))
        if key not in _COMPILED:
            if len(_COMPILED) >= _COMPILED_MAX:
                _COMPILED.pop(next(iter(_COMPILED)))
            _COMPILED[key] = compile_any(doc, dict(params))
        return _COMPILED[key]

    def _doc(self, path: str) -> SourceDoc:
        if path not in self._docs:
            self._docs[path] = load_source(path)
        return self._docs[path]


def _fingerprint(doc: SourceDoc) -> str:
    digest = hashlib.sha256(doc.text.encode("utf-8"))
    inputs = doc.data.get("inputs") if isinstance(doc.data, dict) else None
    schema = inputs.get("schema") if isinstance(inputs, dict) else None
    if isinstance(schema, str):
        try:
            digest.update((Path(doc.path).parent / schema).read_bytes())
        except OSError:
            pass  # the compiler reports it
    return digest.hexdigest()


def run_scenarios(paths: Iterable[str], coverage: bool = False) -> RunSummary:
    """Run every scenario file under ``paths`` (files, folders, or policies with a ``.tests.yaml``)."""
    return ScenarioRunner(coverage).run(paths)
