"""Semantic diff of two policy versions, and the impact of the change on a corpus of requests.

    report = diff_policies("HEAD:policies/risk/position_sizing.yaml", "policies/risk/position_sizing.yaml",
                           corpus="requests.jsonl", value_paths=["sizing.final_size"])
    report.changes                      # Change per rule added / removed / moved, threshold, band, param, expression
    report.replay.counts()              # {"approved -> rejected": 412, "size down": 37, ...}

Stages, one module each: ``sources`` (a file or ``REV:path`` from git), ``semantic`` (the data of
both versions compared rule by rule; ``exprs`` normalizes expressions), ``replay`` (both
versions evaluated on every record; ``steps`` finds where two traces part), ``render``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import policy_engine
from policy_engine.diff.replay import Progress, ReplayReport, replay_corpus
from policy_engine.diff.semantic import Change, semantic_diff
from policy_engine.diff.sources import PolicySide, SideError, new_workdir, read_side

__all__ = ["Change", "DiffReport", "PolicySide", "ReplayReport", "SideError", "diff_policies", "diff_sides",
           "replay_corpus"]

REPLAY_KINDS = ("DecisionPolicy",)


@dataclass
class DiffReport:
    old: PolicySide
    new: PolicySide
    changes: list[Change]
    replay: ReplayReport | None = None

    @property
    def flips(self) -> int:
        return len(self.replay.flips) if self.replay is not None else 0


def diff_sides(old: PolicySide, new: PolicySide, corpus: str | None = None, value_paths: Sequence[str] = (),
               jobs: int | None = None, examples: int = 3, progress: Progress | None = None) -> DiffReport:
    """Compile both sides (PolicyError if either is broken), compare them, replay the corpus."""
    compiled = (policy_engine.load(old.path), policy_engine.load(new.path))
    report = DiffReport(old, new, semantic_diff(old.doc, new.doc))
    if corpus is not None:
        kinds = {old.doc.data.get("kind"), new.doc.data.get("kind")}
        if not kinds <= set(REPLAY_KINDS):
            raise SideError(f"--replay evaluates {', '.join(REPLAY_KINDS)} only, not {', '.join(sorted(map(str, kinds)))}")
        report.replay = replay_corpus(old.path, new.path, corpus, value_paths, jobs, examples, progress, compiled)
    return report


def diff_policies(old: str, new: str, corpus: str | None = None, value_paths: Sequence[str] = (),
                  jobs: int | None = None, examples: int = 3) -> DiffReport:
    """``old`` and ``new`` are policy files or ``REV:path``; see ``diff_sides``."""
    with new_workdir() as workdir:
        sides = [read_side(spec, Path(workdir)) for spec in (old, new)]
        return diff_sides(sides[0], sides[1], corpus, value_paths, jobs, examples)

