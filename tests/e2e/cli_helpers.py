"""What the end-to-end tests of the command line share: run it in process, from the repository root."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from policy_engine.cli import main

ROOT = Path(__file__).resolve().parents[2]


def cli(*argv: str) -> tuple[int, str, str]:
    """``policy-engine ARGV...``: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture()
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths in the tests (policies/..., schemas/...) resolve from the repository root."""
    monkeypatch.chdir(ROOT)
