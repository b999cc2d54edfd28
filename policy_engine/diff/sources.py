"""The two sides of a diff: a policy file, or ``REV:path`` read from git.

A side read from git is written, with the input schema it names (read from the same revision),
into a private folder laid out like the repository, so it compiles exactly as it did at that
revision. ``label`` is what the user wrote; it replaces the private path wherever a location is
shown.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from policy_engine.errors import PolicyError
from policy_engine.source import SourceDoc, load_source, parse_source


class SideError(Exception):
    """A side cannot be read (no such file, unknown revision, not a git repository)."""


@dataclass(frozen=True)
class PolicySide:
    label: str  # as given: a path or REV:path
    path: str  # a file that compiles like the side (the file itself, or its copy from git)
    doc: SourceDoc

    def show(self, text: str) -> str:
        """``text`` with the private path of a git side replaced by the label."""
        return text.replace(self.path, self.label) if self.path != self.label else text


def read_side(spec: str, workdir: Path) -> PolicySide:
    """``spec`` is a policy file, or ``REV:path`` (git); PolicyError when the YAML is broken."""
    if Path(spec).is_file() or ":" not in spec:
        if not Path(spec).is_file():
            raise SideError(f"{spec}: no such file")
        return PolicySide(spec, spec, load_source(spec))
    rev, _, path = spec.partition(":")
    root_path = _from_root(path)
    text = _git_show(rev, root_path)
    target = workdir / f"side-{len(list(workdir.iterdir()))}" / root_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(text)
    try:
        doc = parse_source(text, str(target))
    except PolicyError as err:
        raise PolicyError([replace(d, file=spec) for d in err.diagnostics]) from None
    _copy_input_schema(rev, root_path, doc, target)
    return PolicySide(spec, str(target), doc)


def new_workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="policy-diff-")


def _copy_input_schema(rev: str, root_path: str, doc: SourceDoc, target: Path) -> None:
    inputs = doc.data.get("inputs") if isinstance(doc.data, dict) else None
    schema = inputs.get("schema") if isinstance(inputs, dict) else None
    if not isinstance(schema, str):
        return
    schema_path = os.path.normpath(os.path.join(os.path.dirname(root_path), schema))
    if schema_path.startswith(".."):
        return  # outside the repository: the compiler reports it as not found
    try:
        text = _git_show(rev, schema_path)
    except SideError:
        return  # absent at that revision: the compiler reports it, located at inputs.schema
    destination = (target.parent / schema).resolve()
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(text)


def _from_root(path: str) -> str:
    """A path relative to the repository root, as ``git show REV:path`` wants it."""
    if not path.startswith(("./", "../")):
        return os.path.normpath(path)
    prefix = _git("rev-parse", "--show-prefix").decode().strip()
    return os.path.normpath(os.path.join(prefix, path))


def _git_show(rev: str, path: str) -> bytes:
    return _git("show", f"{rev}:{path}")


def _git(*args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise SideError(f"git {' '.join(args)}: {err}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise SideError(f"git {' '.join(args)}: {message[-1] if message else f'exit {done.returncode}'}")
    return done.stdout


__all__ = ["PolicyError", "PolicySide", "SideError", "new_workdir", "read_side"]
