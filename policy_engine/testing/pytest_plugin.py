"""pytest plugin: policy scenario files as test items, and fixtures to evaluate and snapshot.

Registered as the ``policy_engine`` entry point of ``pytest11``, so installing policy-engine
makes it available; it changes nothing until asked:

* Collection of ``*.tests.yaml`` is opt-in (``policy_scenarios = true`` in the ini file, or
  ``--policy-scenarios``): a project that has the package installed does not suddenly collect
  YAML files, and this repository's own run does not run the shipped scenarios a second time
  (``tests/unit/test_workflow_shipped.py`` runs them through the API). Each case is one item,
  ``policies/risk/position_sizing.tests.yaml::kill switch rejects``; a failure shows the
  expected/actual diff and the trace step where they part.
* ``policy_loader``: ``policy_loader(path, **params)``, compiled once per session per params.
* ``trace_snapshot``: syrupy's ``snapshot`` with ``TraceExtension`` (decisions and traces as
  YAML files without timings); needs syrupy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from policy_engine.testing.runner import PASSED, CaseResult, ScenarioRunner
from policy_engine.testing.scenarios import Case, is_scenario_file

INI_OPTION = "policy_scenarios"
_RUNNER = pytest.StashKey[ScenarioRunner]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(INI_OPTION, "collect policy scenario files (*.tests.yaml) as tests", type="bool", default=False)
    group = parser.getgroup("policy-engine")
    group.addoption("--policy-scenarios", action="store_true", default=False,
                    help="collect policy scenario files (*.tests.yaml) as tests")


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--policy-scenarios") or config.getini(INI_OPTION))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_scenario_file(file_path) and _enabled(parent.config):
        collected: ScenarioFileCollector = ScenarioFileCollector.from_parent(parent, path=file_path)
        return collected
    return None


def _runner(config: pytest.Config) -> ScenarioRunner:
    if _RUNNER not in config.stash:
        config.stash[_RUNNER] = ScenarioRunner()
    return config.stash[_RUNNER]


class ScenarioFileCollector(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        runner = _runner(self.config)
        result, scenario, adapter = runner.open_file(str(self.path))
        if scenario is None or adapter is None:
            lines = [d.format_text() for d in result.diagnostics] + ([result.problem] if result.problem else [])
            yield BrokenScenarioFile.from_parent(self, name="(scenario file)", text="\n".join(lines))
            return
        for case in scenario.cases:
            yield ScenarioItem.from_parent(self, name=case.name, case=case, adapter=adapter, policy=result.policy)


class ScenarioFailed(Exception):
    def __init__(self, result: CaseResult):
        super().__init__(result.case.name)
        self.result = result


class ScenarioItem(pytest.Item):
    def __init__(self, *, case: Case, adapter: Any, policy: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.case, self.adapter, self.policy_path = case, adapter, policy

    def runtest(self) -> None:
        result = _runner(self.config).run_case(self.adapter, self.case, self.policy_path)
        if result.status != PASSED:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            from policy_engine.testing.report import case_text

            return "\n".join(case_text(excinfo.value.result))
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"scenario: {self.case.name}"


class BrokenScenarioFile(pytest.Item):
    def __init__(self, *, text: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.text = text

    def runtest(self) -> None:
        raise ScenarioFileError(self.text)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return self.text

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, "scenario file"


class ScenarioFileError(Exception):
    """The scenario file, or the policy it names, cannot be used."""


# --- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def policy_loader() -> Callable[..., Any]:
    """``policy_loader("policies/risk/position_sizing.yaml", max_open_positions=4)``: compiled
    once per (path, params) for the session."""
    import policy_engine

    compiled: dict[tuple[str, str], Any] = {}

    def load(path: str | Path, **params: Any) -> Any:
        key = (str(Path(path).resolve()), repr(sorted(params.items())))
        if key not in compiled:
            compiled[key] = policy_engine.load(path, params)
        return compiled[key]

    return load


@pytest.fixture
def trace_snapshot(snapshot: Any) -> Any:
    """syrupy's ``snapshot`` storing decisions and traces as YAML (see policy_engine.testing.snapshot)."""
    from policy_engine.testing.snapshot import TraceExtension

    return snapshot.use_extension(TraceExtension)
