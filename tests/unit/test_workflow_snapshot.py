"""Traces as YAML snapshots (the syrupy extension) and the pytest plugin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

import policy_engine
from policy_engine.testing import pytest_plugin
from policy_engine.testing.snapshot import TraceExtension
from policy_engine.testing.trace_yaml import trace_document, trace_to_yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "workflow"
TINY = ROOT / "tests" / "fixtures" / "tiny.yaml"


def _decision(**order: Any) -> Any:
    request = json.loads((FIXTURES / "tiny_request.json").read_text())
    request["order"].update(order)
    return policy_engine.load(TINY).evaluate(request, trace=True)


def test_the_yaml_has_no_timings_hashes_or_locations_and_is_stable() -> None:
    decision = _decision()
    text = trace_to_yaml(decision)
    assert text == trace_to_yaml(_decision())
    data = yaml.safe_load(text)
    assert list(data) == ["outcome", "reason", "rule", "message", "values", "fired", "events", "policy", "trace"]
    assert data["policy"] == {"id": "test.tiny", "version": "1.0.0"}
    assert [step["rule"] for step in data["trace"]][:3] == ["FRESH_GATE", "notional", "NOTIONAL_GATE"]
    for banned in ("duration", "sha256", "location", "tiny.yaml:"):
        assert banned not in text
    with_lines = trace_document(decision, locations=True)["trace"][0]
    assert with_lines["location"].endswith("tiny.yaml:26")


def test_trace_snapshot_of_an_approval(snapshot: Any) -> None:
    assert _decision() == snapshot(extension_class=TraceExtension)


def test_trace_snapshot_of_a_rejection(snapshot: Any) -> None:
    assert _decision(qty=1000) == snapshot(extension_class=TraceExtension)


def test_the_plugin_collects_scenarios_when_asked_and_provides_its_fixtures(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES, tmp_path / "workflow")
    shutil.copy(TINY, tmp_path / "tiny.yaml")
    shutil.copy(ROOT / "tests" / "fixtures" / "tiny.schema.json", tmp_path / "tiny.schema.json")
    for name in ("cover.tests.yaml", "diff_old.yaml", "diff_new.yaml"):
        (tmp_path / "workflow" / name).unlink()
    (tmp_path / "test_uses_fixtures.py").write_text(
        "import json\nfrom pathlib import Path\n"
        "def test_snapshot(policy_loader, trace_snapshot):\n"
        "    policy = policy_loader('tiny.yaml')\n"
        "    assert policy is policy_loader('tiny.yaml')\n"
        "    request = json.loads(Path('workflow/tiny_request.json').read_text())\n"
        "    assert policy.evaluate(request, trace=True) == trace_snapshot\n")
    run = _pytest(tmp_path, "--policy-scenarios", "--snapshot-update", "-rA")
    assert "4 failed, 3 passed" in run.stdout, run.stdout
    assert "PASSED test_uses_fixtures.py::test_snapshot" in run.stdout
    snapshot_file = tmp_path / "__snapshots__" / "test_uses_fixtures" / "test_snapshot.yaml"
    assert yaml.safe_load(snapshot_file.read_text())["outcome"] == "approved"
    assert "PASSED workflow/tiny.tests.yaml::small order is approved" in run.stdout
    assert "FAILED workflow/tiny_failing.tests.yaml::expects a rejection the balance gate does not make" in run.stdout
    assert "parted at trace step 4/10: gate BALANCE_GATE (" in run.stdout


def test_scenario_collection_is_off_unless_asked() -> None:
    class Config:
        def __init__(self, option: bool, ini: bool):
            self.option, self.ini = option, ini

        def getoption(self, name: str) -> bool:
            return self.option

        def getini(self, name: str) -> bool:
            return self.ini

    def collected(option: bool, ini: bool) -> bool:
        parent = type("Parent", (), {"config": Config(option, ini)})()
        if not (option or ini):
            return pytest_plugin.pytest_collect_file(FIXTURES / "tiny.tests.yaml", parent) is not None
        return pytest_plugin._enabled(parent.config)  # type: ignore[arg-type]

    assert [collected(False, False), collected(True, False), collected(False, True)] == [False, True, True]
    assert pytest_plugin.INI_OPTION == "policy_scenarios"


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Plugins named explicitly, so the run is the same whether or not the package is installed.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pytest", "-p", "policy_engine.testing.pytest_plugin", "-p", "syrupy",
               "-p", "no:cacheprovider", "-q", "-W", "error", *args]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False)
