"""The CLI's commands. Each takes parsed arguments and two streams and returns an exit code."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Iterator, TextIO

import policy_engine
from policy_engine.cli.common import (
    EXIT_INVALID, EXIT_OK, EXIT_POLICY, EXIT_REJECTED, EXIT_USAGE, UsageError, load_decision_policy, parse_sets,
    print_diagnostics, read_json,
)
from policy_engine.cli.jsonl import evaluate_jsonl
from policy_engine.cli.render import explain_text, graph_text, render_decision
from policy_engine.compiler.verify import Verification, verify
from policy_engine.decision import APPROVED, Decision, INVALID_INPUT, ENGINE_ERROR
from policy_engine.errors import PolicyError

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
    """Compile and statically verify each policy; warnings fail only with --strict."""
    results = [verify(path) for path in _policy_files(args.paths)]
    if args.format == "json":
        payload = [{"file": r.file, "ok": r.ok(args.strict), "diagnostics": [d.to_dict() for d in r.diagnostics],
                    "ranges": [v.to_dict() for v in r.ranges]} for r in results]
        print(json.dumps(payload, indent=2, sort_keys=True), file=out)
    else:
        for result in results:
            _print_verification(result, args, out)
    return EXIT_POLICY if not results or not all(r.ok(args.strict) for r in results) else EXIT_OK


def _print_verification(result: Verification, args: argparse.Namespace, out: TextIO) -> None:
    if result.errors:
        print_diagnostics(list(result.diagnostics), out)
        return
    for warning in result.warnings:
        print(warning.format_text(), file=out)
    count = len(result.warnings)
    noted = f"{count} warning{'s' if count != 1 else ''}"
    print(f"{result.file}: " + (noted + " (--strict)" if args.strict and count else
                                "ok" + (f", {noted}" if count else "")), file=out)
    if args.verbose:
        for value_range in result.ranges:
            print(f"  {value_range.format_text()}", file=out)


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
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    try:
        stream = open(args.jsonl, encoding="utf-8")
    except OSError as problem:
        raise UsageError(f"cannot read {args.jsonl}: {problem}") from problem
    with stream:
        invalid = evaluate_jsonl(policy, stream, out, args.now, args.trace, args.jobs)
    return EXIT_INVALID if invalid else EXIT_OK


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
