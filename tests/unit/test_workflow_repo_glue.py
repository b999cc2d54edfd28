"""The files a policy repository borrows: pre-commit hooks and the example CI workflow name real
commands with real options, and match the files they are meant for."""

from __future__ import annotations

import io
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy_engine.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / ".pre-commit-hooks.yaml"
CI_EXAMPLE = ROOT / "docs" / "examples" / "policy-repo-ci.yml"
HOOK_FIELDS = {"id", "name", "entry", "language", "files", "exclude", "pass_filenames", "description", "args",
               "types", "always_run", "require_serial", "stages"}


def _hooks() -> dict[str, dict[str, Any]]:
    hooks = yaml.safe_load(HOOKS.read_text())
    assert isinstance(hooks, list)
    return {hook["id"]: hook for hook in hooks}


def _scripts() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])


def _subcommands() -> set[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")  # argparse keeps subparsers here
    return set(action.choices)  # type: ignore[arg-type]


def test_the_hooks_parse_and_run_real_commands() -> None:
    hooks = _hooks()
    assert set(hooks) == {"policy-engine-validate", "policy-engine-test", "policy-engine-docs"}
    for hook in hooks.values():
        assert set(hook) <= HOOK_FIELDS and hook["language"] == "python"
        program, command = shlex.split(hook["entry"])
        assert program in _scripts() and command in _subcommands(), hook["entry"]
    parser = build_parser()
    parser.parse_args(["validate", "policies/risk/position_sizing.yaml"])  # entry + the changed files
    parser.parse_args(["test", "--coverage", "--threshold", "90"])  # entry + the args the header suggests
    parser.parse_args(["docs", "policies", "-o", "docs/policies", "--check"])
    assert hooks["policy-engine-test"]["pass_filenames"] is False
    assert main(["validate", str(ROOT / "tests" / "fixtures" / "tiny.yaml")], io.StringIO(), io.StringIO()) == 0


@pytest.mark.parametrize(("path", "validated", "tested"), [
    ("policies/risk/position_sizing.yaml", True, True),
    ("policies/ops/controls.yml", True, True),
    ("policies/risk/position_sizing.tests.yaml", False, True),
    ("policies/risk/examples/limits/orders.yaml", False, True),
    ("schemas/position_sizing.request.schema.json", False, True),
    (".github/workflows/policies.yml", False, False),
    (".pre-commit-config.yaml", False, False),
])
def test_the_hooks_pick_the_files_they_are_for(path: str, validated: bool, tested: bool) -> None:
    """pre-commit matches ``files`` and ``exclude`` with re.search on the path from the repository root."""
    hooks = _hooks()
    validate, test = hooks["policy-engine-validate"], hooks["policy-engine-test"]
    assert bool(re.search(validate["files"], path) and not re.search(validate["exclude"], path)) is validated
    assert bool(re.search(test["files"], path)) is tested


def test_the_example_ci_workflow_runs_real_commands() -> None:
    workflow = yaml.safe_load(CI_EXAMPLE.read_text())
    steps = workflow["jobs"]["policies"]["steps"]
    commands = [_command(line) for step in steps for line in str(step.get("run", "")).splitlines()
                if line.strip().startswith("policy-engine ")]
    assert [c[0] for c in commands] == ["validate", "test", "diff"]
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)
    flags = {token for argv in commands for token in argv if token.startswith("--")}
    assert {"--coverage", "--threshold", "--replay", "--format", "--fail-on-flip"} <= flags
    assert commands[1][commands[1].index("--threshold") + 1] == "90"
    assert commands[2][commands[2].index("--format") + 1] == "markdown"
    assert "docs/examples/policy-repo-ci.yml" in (ROOT / "docs" / "workflow.md").read_text()


def _command(line: str) -> list[str]:
    """A shell line of the workflow as the CLI sees it: redirections and `||` cut, the optional
    `--replay` array spelt out, variables as placeholders."""
    text = re.split(r"\s(?:>>|\|\|)\s", line.strip())[0]
    text = text.replace('"${replay[@]}"', "--replay corpus.jsonl")
    return [re.sub(r"\$\{?\w+\}?", "x", token) for token in shlex.split(text)][1:]
