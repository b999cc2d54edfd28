"""The CLI's commands. Each takes parsed arguments and two streams and returns an exit code."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Iterator, TextIO

import policy_engine
from policy_engine.cli.common import (
    EXIT_INVALID, EXIT_OK, EXIT_POLICY, EXIT_REJECTED, EXIT_USAGE, UsageError, load_decision_policy, parse_sets,
    print_diagnostics, read_json,
)
from policy_engine.cli.render import explain_text, graph_text, render_decision
from policy_engine.decision import APPROVED, Decision, INVALID_INPUT, ENGINE_ERROR
from policy_engine.errors import Diagnostic, PolicyError

POLICY_SUFFIXES = (".yaml", ".yml")


def _policy_files(paths: list[str]) -> Iterator[str]:
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in POLICY_SUFFIXES and not _is_companion(p))
            yield from (str(p) for p in found)
        else:
            yield name


def _is_companion(path: Path) -> bool:
    """Scenario files and examples live beside policies but are not policies."""
    return path.name.endswith((".tests.yaml", ".tests.yml")) or "examples" in path.parts


def validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    results: dict[str, list[Diagnostic]] = {}
    for path in _policy_files(args.paths):
        results[path] = policy_engine.validate(path)
    if args.format == "json":
        payload = [{"file": path, "ok": not diags, "diagnostics": [d.to_dict() for d in diags]}
                   for path, diags in results.items()]
        print(json.dumps(payload, indent=2, sort_keys=True), file=out)
    else:
        for path, diags in results.items():
            if diags:
                print_diagnostics(diags, out)
            else:
                print(f"{path}: ok", file=out)
    return EXIT_POLICY if any(results.values()) or not results else EXIT_OK


def _exit_for(decision: Decision) -> int:
    if decision.outcome == APPROVED:
        return EXIT_OK
    return EXIT_INVALID if decision.reason in (INVALID_INPUT, ENGINE_ERROR) else EXIT_REJECTED


def evaluate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if (args.input is None) == (args.jsonl is None):
        raise UsageError("eval needs exactly one of INPUT.json or --jsonl IN.jsonl")
    policy = load_decision_policy(args.policy, args.set, err)
    if policy is None:
        return EXIT_POLICY
    if args.jsonl:
        return _evaluate_jsonl(policy, args, out)
    request = read_json(args.input)
    if not isinstance(request, dict):
        raise UsageError(f"{args.input}: the request must be a JSON object")
    decision = policy.evaluate(request, now=args.now, trace=args.trace)
    print(render_decision(policy, request, decision, args.format, args.trace), file=out)
    return _exit_for(decision)


def _evaluate_jsonl(policy: policy_engine.CompiledPolicy, args: argparse.Namespace, out: TextIO) -> int:
    try:
        stream = open(args.jsonl, encoding="utf-8")
    except OSError as problem:
        raise UsageError(f"cannot read {args.jsonl}: {problem}") from problem
    worst = EXIT_OK
    with stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            decision, request = _decide_line(policy, line, number, args)
            print(render_decision(policy, request, decision, "jsonl", args.trace), file=out)
            worst = max(worst, _exit_for(decision) if decision.outcome != APPROVED else EXIT_OK)
    return EXIT_INVALID if worst == EXIT_INVALID else EXIT_OK


def _decide_line(policy: policy_engine.CompiledPolicy, line: str, number: int,
                 args: argparse.Namespace) -> tuple[Decision, Any]:
    try:
        request = json.loads(line, parse_constant=_no_constant)
    except ValueError as problem:
        message = f"line {number}: not valid JSON: {problem}"
        return policy.invalid_request(message), {"__line__": number, "__error__": message}
    return policy.evaluate(request, now=args.now, trace=args.trace), request


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    policy = load_decision_policy(args.policy, args.set, err)
    if policy is None:
        return EXIT_POLICY
    request = read_json(args.input)
    if not isinstance(request, dict):
        raise UsageError(f"{args.input}: the request must be a JSON object")
    decision = policy.evaluate(request, now=args.now, trace=True)
    print(explain_text(policy, decision), file=out)
    return _exit_for(decision)


def graph(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    policy = load_decision_policy(args.policy, [], err)
    if policy is None:
        return EXIT_POLICY
    print(graph_text(policy, args.format), file=out)
    return EXIT_OK


__all__ = ["validate", "evaluate", "explain", "graph", "parse_sets", "PolicyError", "EXIT_USAGE"]
