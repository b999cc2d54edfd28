"""The ``policy-engine`` command: a thin shell over the public API.

Exit codes (documented in docs/cli.md):
  0  success: the policy is valid / the decision was approved
  1  the policy has errors (diagnostics printed)
  2  usage error or unreadable file
  3  the decision was rejected by a rule
  4  the decision was rejected because the input was invalid or a rule failed to evaluate
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence, TextIO

from policy_engine.cli import (
    audit_command, commands, exposure_command, machine_commands, metrics_command, workflow_commands,
)
from policy_engine.cli import hedge_commands
from policy_engine.cli import budget_commands
from policy_engine.cli.common import EXIT_USAGE, UsageError
from policy_engine.cli.limits_command import add_limits_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="policy-engine", description="Compile, check and evaluate risk policies.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser("validate", help="check policy files or folders")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.add_argument("--strict", action="store_true", help="fail on warnings of static verification too")
    validate.add_argument("-v", "--verbose", action="store_true", help="print the range of every table and combiner")
    validate.set_defaults(run=commands.validate)

    evaluate = sub.add_parser("eval", help="evaluate a policy on one request or a JSONL batch")
    evaluate.add_argument("policy", metavar="POLICY")
    evaluate.add_argument("input", nargs="?", metavar="INPUT.json")
    evaluate.add_argument("--jsonl", metavar="IN.jsonl", help="one request per line in, one decision per line out")
    evaluate.add_argument("--jobs", type=int, default=1, metavar="N",
                          help="with --jsonl: decide in N worker processes (output stays in input order)")
    evaluate.add_argument("--now", help="decision time (ISO 8601 with offset); default: the request's `now`")
    evaluate.add_argument("--format", choices=("text", "json"), default="text")
    evaluate.add_argument("--trace", action="store_true", help="include the full trace")
    _add_set(evaluate)
    evaluate.set_defaults(run=commands.evaluate)

    explain = sub.add_parser("explain", help="the decision in plain words")
    explain.add_argument("policy", metavar="POLICY")
    explain.add_argument("input", metavar="INPUT.json")
    explain.add_argument("--now")
    _add_set(explain)
    explain.set_defaults(run=commands.explain)

    graph = sub.add_parser("graph", help="the evaluation graph")
    graph.add_argument("policy", metavar="POLICY")
    graph.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    graph.set_defaults(run=commands.graph)
    add_limits_parser(sub)
    machine_commands.register(sub, _add_set)
    audit_command.register(sub)
    metrics_command.register(sub)
    workflow_commands.register(sub)
    exposure_command.register(sub)
    hedge_commands.register(sub)
    budget_commands.register(sub)
    return parser


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                        help="override a param for this run (repeatable)")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_USAGE
    try:
        code: int = args.run(args, out, err)
    except UsageError as problem:
        print(f"policy-engine: {problem}", file=err)
        return EXIT_USAGE
    return code


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
