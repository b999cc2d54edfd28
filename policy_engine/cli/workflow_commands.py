"""The review workflow's commands: ``test`` (scenarios, coverage), ``diff`` (semantic diff, replay)
and ``docs`` (reference pages).

    policy-engine test [PATH...] [--coverage] [--threshold 90] [--format text|json|junit] [--junit FILE]
    policy-engine diff OLD NEW [--replay CORPUS.jsonl] [--value PATH]... [--format text|markdown|json]
                               [--fail-on-flip] [--examples N] [--jobs N]
    policy-engine docs POLICY [-o FILE] [--check]       one page (standard output without -o)
    policy-engine docs FOLDER -o DIR [--check]          a page per policy and an index (README.md)

Exit codes: 0 all good; 1 a scenario failed or errored, coverage under the threshold, a policy
or scenario file has errors, (``--fail-on-flip``) a decision flipped, or (``docs --check``) a
page is missing or stale; 2 usage.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from policy_engine.cli.common import EXIT_OK, EXIT_POLICY, UsageError, print_diagnostics
from policy_engine.errors import PolicyError

DEFAULT_TEST_PATHS = ["policies"]


def register(sub: Any) -> None:
    """Add ``test``, ``diff`` and ``docs`` to the CLI's subcommands."""
    test = sub.add_parser("test", help="run policy scenario files (*.tests.yaml), with coverage")
    test.add_argument("paths", nargs="*", metavar="PATH",
                      help="scenario files, policies (their .tests.yaml) or folders; default: policies/")
    test.add_argument("--format", choices=("text", "json", "junit"), default="text")
    test.add_argument("--coverage", action="store_true", help="report what the scenarios exercise, per policy")
    test.add_argument("--threshold", type=float, metavar="PERCENT",
                      help="fail when a policy's coverage is under PERCENT (implies --coverage)")
    test.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report to FILE")
    test.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    test.set_defaults(run=run_test)

    diff = sub.add_parser("diff", help="what changed between two versions of a policy, and what it flips")
    diff.add_argument("old", metavar="OLD", help="a policy file or REV:path (read with git show)")
    diff.add_argument("new", metavar="NEW", help="a policy file or REV:path")
    diff.add_argument("--replay", metavar="CORPUS.jsonl", help="evaluate both versions on every request")
    diff.add_argument("--value", action="append", default=[], metavar="PATH",
                      help="a value path whose change counts as a flip (size up/down), e.g. sizing.final_size")
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    diff.add_argument("--fail-on-flip", action="store_true", help="exit 1 when any decision flips")
    diff.add_argument("--examples", type=int, default=3, metavar="N", help="examples shown per kind of flip")
    diff.add_argument("--jobs", type=int, metavar="N", help="worker processes for --replay (default: automatic)")
    diff.set_defaults(run=run_diff)

    docs = sub.add_parser("docs", help="render policies as Markdown reference pages for reviewers")
    docs.add_argument("policy", metavar="POLICY", help="a policy file, or a folder of policies (then -o is a folder)")
    docs.add_argument("-o", "--output", metavar="FILE",
                      help="write the page to FILE; for a folder, the pages and an index under this folder")
    docs.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 when a page under -o is missing or differs from the policy")
    docs.set_defaults(run=run_docs)


# --- test -----------------------------------------------------------------------------------
def run_test(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from policy_engine.testing import report
    from policy_engine.testing.runner import run_scenarios

    paths = args.paths or DEFAULT_TEST_PATHS
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    threshold = args.threshold
    summary = run_scenarios(paths, coverage=args.coverage or threshold is not None)
    if not summary.files:
        raise UsageError(f"no scenario files (*.tests.yaml) under {', '.join(paths)}")
    if args.format == "json":
        print(report.to_json(summary, threshold), file=out)
    elif args.format == "junit":
        print(report.to_junit(summary, threshold), file=out)
    else:
        print(report.format_text(summary, args.verbose, threshold), file=out)
    if args.junit:
        _write(args.junit, report.to_junit(summary, threshold))
    return EXIT_OK if summary.ok and not summary.under(threshold) else EXIT_POLICY


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text + "\n", encoding="utf-8")
    except OSError as problem:
        raise UsageError(f"cannot write {path}: {problem}") from problem


# --- diff -------------------------------------------------------------------------------------
def run_diff(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from policy_engine.diff import SideError, diff_sides, render
    from policy_engine.diff.sources import new_workdir, read_side

    if args.replay is not None and not Path(args.replay).is_file():
        raise UsageError(f"cannot read {args.replay}: no such file")
    if args.jobs is not None and args.jobs < 1 or args.examples < 0:
        raise UsageError("--jobs must be at least 1 and --examples at least 0")
    progress = _ProgressBar(err) if args.replay and err.isatty() else None
    with new_workdir() as workdir:
        sides = []
        try:
            sides = [read_side(spec, Path(workdir)) for spec in (args.old, args.new)]
            report = diff_sides(sides[0], sides[1], args.replay, args.value, args.jobs, args.examples, progress)
        except SideError as problem:
            raise UsageError(str(problem)) from problem
        except PolicyError as problem:
            labels = {side.path: side.label for side in sides}
            for diagnostic in problem.diagnostics:
                print(replace(diagnostic, file=labels.get(diagnostic.file, diagnostic.file)).format_text(), file=err)
            return EXIT_POLICY
        formatter = {"markdown": render.format_markdown, "json": render.to_json}.get(args.format, render.format_text)
        text = formatter(report)
    print(text.rstrip("\n"), file=out)
    return EXIT_POLICY if args.fail_on_flip and report.flips else EXIT_OK


class _ProgressBar:
    """``[#####.....]  52,000/100,000 records  8.1 s`` on stderr, redrawn at most ten times a second."""

    WIDTH = 30

    def __init__(self, stream: TextIO):
        self.stream, self.started, self.shown = stream, time.perf_counter(), 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - self.shown < 0.1:
            return
        self.shown = now
        filled = self.WIDTH * done // max(total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\rreplay [{bar}] {done:,}/{total:,} records  {now - self.started:.1f} s{end}")
        self.stream.flush()


# --- docs ---------------------------------------------------------------------------------------------
def run_docs(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from policy_engine.docs import stale_pages

    source = Path(args.policy)
    if not source.exists():
        raise UsageError(f"no such file or folder: {args.policy}")
    if (source.is_dir() or args.check) and not args.output:
        raise UsageError("-o is required " + ("for a folder (the pages go under it)" if source.is_dir() else
                                              "with --check (the page to compare)"))
    pages = _render_docs(args, source.is_dir(), err)
    if pages is None:
        return EXIT_POLICY
    if not args.output:
        print(next(iter(pages.values())).rstrip("\n"), file=out)
        return EXIT_OK
    stale, extra = stale_pages(pages, args.output if source.is_dir() else None)
    if args.check:
        return _report_stale(stale, extra, args, out)
    for path in stale:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _write(path, pages[path].rstrip("\n"))
    print(f"{len(stale)} of {len(pages)} page{'s' if len(pages) != 1 else ''} written, the others up to date",
          file=out)
    for path in extra:
        print(f"{path}: no policy makes this page any more; delete it", file=err)
    return EXIT_OK


def _render_docs(args: argparse.Namespace, folder: bool, err: TextIO) -> dict[str, str] | None:
    """Page path -> text (the one page of a file without -o keyed ''), or None after printing the
    diagnostics of the policies that do not compile."""
    from policy_engine.docs import render_folder, render_policy

    try:
        if folder:
            return render_folder(args.policy, args.output)
        page = render_policy(args.policy, args.output)
        return {page.page: page.text}
    except PolicyError as problem:
        print_diagnostics(problem.diagnostics, err)
        return None


def _report_stale(stale: list[str], extra: list[str], args: argparse.Namespace, out: TextIO) -> int:
    for path in stale:
        print(f"{path}: {'stale' if Path(path).exists() else 'missing'}", file=out)
    for path in extra:
        print(f"{path}: no policy makes this page", file=out)
    if stale or extra:
        print(f"regenerate: policy-engine docs {args.policy} -o {args.output}", file=out)
        return EXIT_POLICY
    print(f"{args.output}: up to date", file=out)
    return EXIT_OK
