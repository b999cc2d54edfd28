"""docs/testing.md is a recipe that works: its Python blocks, run as a test module with the plugin,
pass and write readable YAML snapshots, byte for byte what ``trace_to_yaml`` makes in process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

import policy_engine
from policy_engine.testing import trace_to_yaml

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "docs" / "testing.md"


def _pytest(test_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Plugins named explicitly, as the recipe says for autoloading off; run from the repository root,
    # where the recipe's policy paths are.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pytest", str(test_file), "-p", "policy_engine.testing.pytest_plugin",
               "-p", "syrupy", "-p", "no:cacheprovider", "-q", "-W", "error", "--rootdir", str(test_file.parent),
               "-c", os.devnull, *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_recipe_runs_and_its_snapshots_are_stable_yaml(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", RECIPE.read_text(), flags=re.DOTALL)
    test_file = tmp_path / "test_recipe.py"
    test_file.write_text("\n\n".join(blocks))
    created = _pytest(test_file, "--snapshot-update")
    assert "4 passed" in created.stdout, created.stdout + created.stderr
    folder = tmp_path / "__snapshots__" / "test_recipe"
    snapshots = {path.name: path.read_text() for path in sorted(folder.glob("*.yaml"))}
    assert sorted(snapshots) == ["test_daily_loss_warning_moves_to_reduce_only.yaml", "test_kill_switch_rejects.yaml"]
    decision = yaml.safe_load(snapshots["test_kill_switch_rejects.yaml"])
    assert (decision["outcome"], decision["rule"]) == ("rejected", "KILL_SWITCH_GATE")
    assert [s["status"] for s in decision["trace"] if s["rule"] == "KILL_SWITCH_GATE"] == ["failed"]
    step = yaml.safe_load(snapshots["test_daily_loss_warning_moves_to_reduce_only.yaml"])
    assert (step["mode"], step["transitions"][0]["rule"]) == ("REDUCE_ONLY", "DAILY_LOSS_WARNING")
    # The file is trace_to_yaml of the decision, so the next run (and any other machine) compares equal.
    sizing = policy_engine.load(ROOT / "policies" / "risk" / "position_sizing.yaml")
    request = json.loads((ROOT / "policies" / "risk" / "examples" / "approved.json").read_text())
    request["risk_state"]["kill_switch_active"] = True
    assert trace_to_yaml(sizing.evaluate(request, trace=True)) == snapshots["test_kill_switch_rejects.yaml"]
