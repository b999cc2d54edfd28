"""``eval --jsonl --jobs N``: worker processes decide chunks of lines; the output is the same,
line for line and in order, as deciding them in one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from policy_engine.cli.jsonl import CHUNK_LINES, chunks
from tests.e2e.test_cli import APPROVED, INVALID, LOW_BALANCE, ROOT, TINY


def _eval(batch: Path, *extra: str) -> tuple[int, list[str]]:
    done = subprocess.run([sys.executable, "-m", "policy_engine.cli", "eval", str(TINY), "--jsonl", str(batch), *extra],
                          check=False, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stderr == ""
    return done.returncode, done.stdout.splitlines()


def test_workers_write_what_one_process_writes_in_the_same_order(tmp_path: Path) -> None:
    kinds = [json.dumps(APPROVED), json.dumps(LOW_BALANCE), "", json.dumps(INVALID), "{not json"]
    lines = [kinds[index % len(kinds)] for index in range(CHUNK_LINES * 2 + 7)] + ["{not json"]  # three chunks
    batch = tmp_path / "in.jsonl"
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    single, parallel = _eval(batch), _eval(batch, "--jobs", "2")
    assert single == parallel and single[0] == 4  # invalid lines: exit 4 either way
    decisions = [json.loads(line) for line in parallel[1]]
    assert len(decisions) == len([line for line in lines if line])
    last = decisions[-1]["input_errors"][0]["message"]
    assert last.startswith(f"line {len(lines)}: not valid JSON")  # numbers survive the chunking


def test_chunks_keep_line_numbers() -> None:
    stream = [f"{n}\n" for n in range(1, 8)]
    assert list(chunks(stream, size=3)) == [(1, stream[0:3]), (4, stream[3:6]), (7, stream[6:7])]
