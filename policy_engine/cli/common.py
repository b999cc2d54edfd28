"""Shared pieces of the CLI: exit codes, loading with diagnostics, reading inputs, --set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, TextIO

import yaml

import policy_engine
from policy_engine.engine.run import CompiledPolicy
from policy_engine.errors import Diagnostic, PolicyError

EXIT_OK, EXIT_POLICY, EXIT_USAGE, EXIT_REJECTED, EXIT_INVALID = 0, 1, 2, 3, 4


class UsageError(Exception):
    """Bad arguments or an unreadable file: printed as one line, exit 2."""


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; VALUE is read as a YAML scalar (0.02, true, null, DOWN)."""
    overrides: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set expects PARAM=VALUE, got '{item}'")
        value = _scalar(text)
        if isinstance(value, (dict, list)) or (isinstance(value, float) and value != value):
            raise UsageError(f"--set {name}: expected a number, boolean, string or null")
        overrides[name.strip()] = value
    return overrides


def _scalar(text: str) -> Any:
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def load_policy(path: str, sets: Iterable[str], err: TextIO) -> Any:
    """The compiled policy of any kind, or None after printing its diagnostics."""
    try:
        return policy_engine.load(path, parse_sets(sets))
    except PolicyError as problem:
        print_diagnostics(problem.diagnostics, err)
        return None


# The command that runs each other kind's compiled policy.
KIND_COMMANDS = {"CompiledMachine": "replay", "CompiledLimits": "limits"}


def load_decision_policy(path: str, sets: Iterable[str], err: TextIO) -> CompiledPolicy | None:
    """Like load_policy, for commands that evaluate a DecisionPolicy: another kind is a usage error."""
    policy = load_policy(path, sets, err)
    if policy is not None and not isinstance(policy, CompiledPolicy):
        command = KIND_COMMANDS.get(type(policy).__name__)
        hint = f"; use `policy-engine {command}`" if command else ""
        raise UsageError(f"{path} is not a DecisionPolicy{hint}")
    # a request on the command line is held to its whole contract, read by a rule or not
    return policy.contract_checked() if policy is not None else None


def print_diagnostics(diagnostics: list[Diagnostic], stream: TextIO) -> None:
    for diagnostic in diagnostics:
        print(diagnostic.format_text(), file=stream)
    errors = sum(1 for d in diagnostics if d.severity.value == "error")
    print(f"{errors} error{'s' if errors != 1 else ''}", file=stream)


def read_json(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise UsageError(f"cannot read {path}: {problem.__class__.__name__}: {problem}") from problem
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError) as problem:
        raise UsageError(f"{path}: not valid JSON: {problem}") from problem


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
