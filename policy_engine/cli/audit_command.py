"""``policy-engine audit``: export and verify the audit trail (policy_engine.audit).

audit export --db FILE [--format jsonl|csv] [--since ISO] [--until ISO] [--out FILE]
    writes every audit record of the window (since inclusive, until exclusive) with its policy
    version and content hash and its place in the hash chain; to stdout unless --out is given.
audit verify (--db FILE | --file EXPORT [--format jsonl|csv] [--partial])
    checks the hash chain and names every removed or edited record. An export of a time window
    (--since/--until) may leave out records of other times written in between: verify it with
    --partial, which checks every record and every link between records adjacent in the chain.
Exit codes: 0 ok, 2 usage or unreadable file, 4 the trail fails verification.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from policy_engine.audit import FORMATS, AuditError, AuditLog, read_export, verify_rows
from policy_engine.cli.common import EXIT_INVALID, EXIT_OK, UsageError
from policy_engine.engine.run import now_to_us


def register(sub: Any) -> None:
    """Add ``audit export`` and ``audit verify`` to the main parser's subcommands."""
    audit = sub.add_parser("audit", help="export or verify the audit trail")
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write the audit records as JSONL or CSV")
    export.add_argument("--db", required=True, metavar="FILE", help="the SQLite file holding the audit trail")
    export.add_argument("--format", choices=FORMATS, default="jsonl")
    export.add_argument("--since", metavar="ISO", help="first time included (ISO 8601 with offset)")
    export.add_argument("--until", metavar="ISO", help="first time excluded (ISO 8601 with offset)")
    export.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    export.set_defaults(run=export_command)
    verify = actions.add_parser("verify", help="check the hash chain of a database or an export")
    source = verify.add_mutually_exclusive_group(required=True)
    source.add_argument("--db", metavar="FILE")
    source.add_argument("--file", metavar="EXPORT", help="a JSONL or CSV export")
    verify.add_argument("--format", choices=FORMATS, help="of --file (default: from its suffix)")
    verify.add_argument("--partial", action="store_true",
                        help="--file is a time window: records outside it may be absent between its records")
    verify.set_defaults(run=verify_command)


def _open(path: str) -> AuditLog:
    if not Path(path).is_file():
        raise UsageError(f"cannot read {path}: no such file")
    try:
        return AuditLog(path)
    except AuditError as problem:
        raise UsageError(str(problem)) from None


def _time(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    at = now_to_us(text)
    if at is None:
        raise UsageError(f"{option} expects an ISO 8601 time with an offset, got '{text}'")
    return at


def export_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    since, until = _time(args.since, "--since"), _time(args.until, "--until")
    with _open(args.db) as log:
        if args.out is None:
            count = log.export(out, args.format, since, until)
        else:
            try:
                with open(args.out, "w", encoding="utf-8", newline="") as stream:
                    count = log.export(stream, args.format, since, until)
            except OSError as problem:
                raise UsageError(f"cannot write {args.out}: {problem}") from None
    window = " (a time window: verify it with --partial)" if since is not None or until is not None else ""
    print(f"exported {count} audit record{'s' if count != 1 else ''}{window}", file=err)
    return EXIT_OK


def verify_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.db is not None:
        with _open(args.db) as log:
            rows, what = log.rows(), args.db
        problems = verify_rows(rows, anchored=True)
    else:
        rows, what = _read_export(args.file, args.format), args.file
        problems = verify_rows(rows, anchored=False, partial=args.partial)
    for problem in problems:
        print(f"{what}: {problem}", file=out)
    if problems:
        print(f"{what}: audit trail FAILED verification ({len(problems)} problem(s), {len(rows)} records)", file=out)
        return EXIT_INVALID
    print(f"{what}: {len(rows)} audit records, chain intact", file=out)
    return EXIT_OK


def _read_export(path: str, fmt: str | None) -> list[dict[str, Any]]:
    fmt = fmt or ("csv" if path.endswith(".csv") else "jsonl")
    try:
        with open(path, encoding="utf-8", newline="") as stream:
            return read_export(stream, fmt)
    except (OSError, UnicodeDecodeError, ValueError) as problem:
        raise UsageError(f"cannot read {path}: {problem}") from None
