"""Semantic diff of two policy versions, and the impact of the change on a corpus of records.

    report = diff_policies("HEAD:policies/risk/position_sizing.yaml", "policies/risk/position_sizing.yaml",
                           corpus="requests.jsonl", value_paths=["sizing.final_size"])
    report.changes                      # Change per rule added / removed / moved, threshold, band, param, expression
    report.replay.counts()              # {"approved -> rejected": 412, "size down": 37, ...}

Stages, one module each: ``sources`` (a file or ``REV:path`` from git), ``semantic`` (the data of
both versions compared rule by rule; ``exprs`` normalizes expressions), ``replay`` (both
versions evaluated on every request), ``replay_machine`` (both stepped through an observation
log), ``replay_limits`` (both applied to recorded limits calls), ``records`` (reading a corpus),
``steps`` (where two traces part), ``render``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import policy_engine
from policy_engine.diff.replay import Progress, ReplayReport, replay_corpus
from policy_engine.diff.replay_limits import replay_limits_corpus
from policy_engine.diff.replay_machine import replay_machine_corpus
from policy_engine.diff.semantic import Change, semantic_diff
from policy_engine.diff.sources import PolicySide, SideError, new_workdir, read_side

__all__ = ["Change", "DiffReport", "PolicySide", "ReplayReport", "SideError", "diff_policies", "diff_sides",
           "replay_corpus", "replay_limits_corpus", "replay_machine_corpus"]

REPLAY_KINDS = ("DecisionPolicy", "MachinePolicy", "LimitsPolicy")


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
        kinds = {str(old.doc.data.get("kind")), str(new.doc.data.get("kind"))}
        if len(kinds) != 1 or not kinds <= set(REPLAY_KINDS):
            raise SideError(f"--replay needs two versions of one kind ({', '.join(REPLAY_KINDS)}), "
                            f"not {' and '.join(sorted(kinds))}")
        kind = kinds.pop()
        if kind != "DecisionPolicy" and value_paths:
            raise SideError(f"--value applies to DecisionPolicy replays; a {kind} replay compares every step or order")
        if kind == "MachinePolicy":
            report.replay = replay_machine_corpus(*compiled, corpus, examples, progress)
        elif kind == "LimitsPolicy":
            report.replay = replay_limits_corpus(*compiled, corpus, examples, progress)
        else:
            report.replay = replay_corpus(old.path, new.path, corpus, value_paths, jobs, examples, progress, compiled)
    return report


def diff_policies(old: str, new: str, corpus: str | None = None, value_paths: Sequence[str] = (),
                  jobs: int | None = None, examples: int = 3) -> DiffReport:
    """``old`` and ``new`` are policy files or ``REV:path``; see ``diff_sides``."""
    with new_workdir() as workdir:
        sides = [read_side(spec, Path(workdir)) for spec in (old, new)]
        return diff_sides(sides[0], sides[1], corpus, value_paths, jobs, examples)

