"""Impact replay: evaluate both versions of a DecisionPolicy on every record of a corpus
(``replay_machine`` and ``replay_limits`` do the same for the other kinds, into the same report).

A record is one JSON object per line: a request, or a log record holding it under ``request``
(with an optional ``now``). Both versions decide on every record without tracing (the fast
path); a record whose decision differs is a flip:

    approved -> rejected, rejected -> approved   the outcome changed
    different gate                               both rejected, by different rules
    different reason                             both rejected by the same rule, for another reason
    size up, size down, value changed            both approved, a ``--value`` path changed
    outputs changed                              both approved, no ``--value`` given, outputs differ

Fired triggers that change without a flip are counted apart (``warnings changed``). Only the
examples shown are evaluated again, with tracing, to find the first step where the two traces
differ. Large corpora are split into byte ranges replayed by worker processes (each compiles
both versions once); the order of records, and so every count and example, does not depend
on how many workers ran.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import policy_engine
from policy_engine.decision import APPROVED, Decision
from policy_engine.diff.steps import StepDifference, first_difference
from policy_engine.testing.dotted import MISSING_VALUE, lookup

FLIP_ORDER = ("approved -> rejected", "rejected -> approved", "different gate", "different reason", "size up",
              "size down", "value changed", "outputs changed")
PARALLEL_FROM = 20_000  # records; below this one process is faster than starting workers
CHUNK_BYTES = 2 * 1024 * 1024
Progress = Callable[[int, int], None]


def replay_lines(corpus: str, progress: Progress | None, handle: Callable[[Any], None]) -> None:
    """Hand every line of ``corpus`` (a ``records.CorpusLine``) to ``handle``, in order,
    reporting progress; blank lines at the end count as read."""
    from policy_engine.diff.records import corpus_lines

    total, reported = count_lines(corpus), 0
    for entry in corpus_lines(corpus):
        handle(entry)
        if progress:
            progress(entry.line, total)
            reported = entry.line
    if progress and reported < total:
        progress(total, total)


@dataclass(frozen=True)
class Flip:
    line: int
    offset: int
    category: str
    old: str
    new: str
    subject: str = ""  # what flipped within the record, for kinds with several answers per record ("order o-2")


@dataclass(frozen=True)
class Example:
    flip: Flip
    step: StepDifference | None
    note: str = ""  # shown instead of the step when there is none to show


@dataclass
class ReplayReport:
    """A replay of any kind; the fields after ``jobs`` say how the kind counts (defaults: decisions)."""

    corpus: str
    records: int = 0
    unreadable: list[int] = field(default_factory=list)  # line numbers
    flips: list[Flip] = field(default_factory=list)
    warnings_changed: int = 0  # records that changed without a flip (fired warnings, events, limit statuses)
    examples: list[Example] = field(default_factory=list)
    value_paths: tuple[str, ...] = ()
    seconds: float = 0.0
    jobs: int = 1
    kind: str = "DecisionPolicy"
    order: tuple[str, ...] = FLIP_ORDER  # the flip categories, in the order reports list them
    unit: str = "decisions"  # what one flip is: a decision, a machine step, an order
    compared: int | None = None  # how many units were compared; None: one per record
    quiet_label: str = "fired warnings changed without a flip"
    sequential: bool = False  # records depend on the ones before (a machine): the first flip matters most

    @property
    def total(self) -> int:
        return self.records if self.compared is None else self.compared

    def counts(self) -> dict[str, int]:
        found = Counter(flip.category for flip in self.flips)
        ordered = [*self.order, *sorted(set(found) - set(self.order))]
        return {category: found[category] for category in ordered if found[category]}


# --- one record ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Context:
    old: Any
    new: Any
    value_paths: tuple[str, ...]


_CONTEXT: _Context | None = None


def _init_worker(old_path: str, new_path: str, value_paths: tuple[str, ...]) -> None:
    global _CONTEXT
    _CONTEXT = _Context(policy_engine.load(old_path), policy_engine.load(new_path), value_paths)


def request_of(record: Any) -> tuple[Any, Any]:
    """(request, now) of a corpus record: the record itself, or its ``request`` with its ``now``."""
    if isinstance(record, dict) and isinstance(record.get("request"), dict):
        return record["request"], record.get("now")
    return record, None


def summarize(decision: Decision, value_paths: Sequence[str]) -> str:
    if decision.outcome != APPROVED:
        return f"rejected by {decision.rule}: {decision.reason}"
    shown = [f"{path} {_show(lookup(decision.values, path))}" for path in value_paths]
    return "approved" + (f" ({', '.join(shown)})" if shown else "")


def _show(value: Any) -> str:
    return "missing" if value is MISSING_VALUE else json.dumps(value, default=repr)


def classify(old: Decision, new: Decision, value_paths: Sequence[str]) -> str | None:
    """The flip category of one record, or None when the decision is the same."""
    if old.outcome != new.outcome:
        return f"{old.outcome} -> {new.outcome}"
    if old.outcome != APPROVED:
        if old.rule != new.rule:
            return "different gate"
        return "different reason" if old.reason != new.reason else None
    if not value_paths:
        return "outputs changed" if _canonical(old.values) != _canonical(new.values) else None
    for path in value_paths:
        before, after = lookup(old.values, path), lookup(new.values, path)
        if _is_number(before) and _is_number(after):
            if after > before:
                return "size up"
            if after < before:
                return "size down"
        elif _canonical(before) != _canonical(after):
            return "value changed"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _canonical(value: Any) -> str:
    return "<missing>" if value is MISSING_VALUE else json.dumps(value, sort_keys=True, default=repr)


@dataclass
class _ChunkResult:
    index: int
    lines: int = 0
    records: int = 0
    unreadable: list[int] = field(default_factory=list)
    flips: list[Flip] = field(default_factory=list)  # line numbers relative to the chunk
    warnings_changed: int = 0


def _replay_range(corpus: str, index: int, start: int, end: int, context: _Context | None = None) -> _ChunkResult:
    context = context or _CONTEXT
    assert context is not None, "a worker replays after _init_worker"
    result = _ChunkResult(index)
    with open(corpus, "rb") as stream:
        stream.seek(start)
        offset = start
        while offset < end:
            raw = stream.readline()
            if not raw:
                break
            result.lines += 1
            _replay_line(context, raw, result, offset)
            offset += len(raw)
    return result


def _replay_line(context: _Context, raw: bytes, result: _ChunkResult, offset: int) -> None:
    if not raw.strip():
        return
    try:
        request, now = request_of(json.loads(raw))
    except ValueError:
        result.unreadable.append(result.lines)
        return
    result.records += 1
    old, new = context.old.evaluate(request, now=now), context.new.evaluate(request, now=now)
    category = classify(old, new, context.value_paths)
    if category is not None:
        result.flips.append(Flip(result.lines, offset, category, summarize(old, context.value_paths),
                                 summarize(new, context.value_paths)))
    elif old.outcome == new.outcome and [f.id for f in old.fired] != [f.id for f in new.fired]:
        result.warnings_changed += 1


# --- the corpus -----------------------------------------------------------------------------------
def _ranges(corpus: str, chunk_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges that start at line starts and cover the file."""
    size = os.path.getsize(corpus)
    starts = [0]
    with open(corpus, "rb") as stream:
        while starts[-1] + chunk_bytes < size:
            stream.seek(starts[-1] + chunk_bytes)
            stream.readline()
            if stream.tell() >= size:
                break
            starts.append(stream.tell())
    return [(a, b) for a, b in zip(starts, [*starts[1:], size])]


def count_lines(corpus: str) -> int:
    count, last = 0, b"\n"
    with open(corpus, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def replay_corpus(old_path: str, new_path: str, corpus: str, value_paths: Sequence[str] = (), jobs: int | None = None,
           examples: int = 3, progress: Progress | None = None, compiled: tuple[Any, Any] | None = None) -> ReplayReport:
    """Replay ``corpus`` on both versions (policy files that compile; ``compiled``: the two already
    loaded, used in this process); see the module docstring."""
    started = time.perf_counter()
    paths = tuple(value_paths)
    total = count_lines(corpus)
    workers = jobs or (min(os.cpu_count() or 1, 8) if total >= PARALLEL_FROM else 1)
    chunk = CHUNK_BYTES if workers > 1 else max(os.path.getsize(corpus), 1)
    ranges = _ranges(corpus, chunk)
    old, new = compiled or (policy_engine.load(old_path), policy_engine.load(new_path))
    context = _Context(old, new, paths)
    results = list(_run(context, (old_path, new_path), corpus, ranges, workers, total, progress))
    report = _merge(corpus, sorted(results, key=lambda r: r.index), paths)
    report.jobs = workers
    report.examples = _examples(context, corpus, report, examples)
    report.seconds = time.perf_counter() - started
    return report


def _run(context: _Context, files: tuple[str, str], corpus: str, ranges: list[tuple[int, int]], workers: int,
         total: int, progress: Progress | None) -> Iterator[_ChunkResult]:
    done = 0
    if workers <= 1:
        for index, (start, end) in enumerate(ranges):
            result = _replay_range(corpus, index, start, end, context)
            done += result.lines
            if progress:
                progress(done, total)
            yield result
        return
    with _pool(context, files, workers) as pool:
        futures = [pool.submit(_replay_range, corpus, index, start, end) for index, (start, end) in enumerate(ranges)]
        for future in futures:
            result = future.result()
            done += result.lines
            if progress:
                progress(done, total)
            yield result


def _pool(context: _Context, files: tuple[str, str], workers: int) -> ProcessPoolExecutor:
    """Forked workers inherit both compiled policies; where fork is unavailable, spawned workers
    compile them once each."""
    global _CONTEXT
    if "fork" in multiprocessing.get_all_start_methods():
        _CONTEXT = context
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                               initargs=(*files, context.value_paths))


def _merge(corpus: str, results: list[_ChunkResult], paths: tuple[str, ...]) -> ReplayReport:
    report = ReplayReport(corpus, value_paths=paths)
    base = 0
    for result in results:
        report.records += result.records
        report.unreadable += [base + line for line in result.unreadable]
        report.flips += [Flip(base + f.line, f.offset, f.category, f.old, f.new) for f in result.flips]
        report.warnings_changed += result.warnings_changed
        base += result.lines
    return report


def _examples(context: _Context, corpus: str, report: ReplayReport, per_category: int) -> list[Example]:
    chosen: list[Flip] = []
    for category in FLIP_ORDER:
        chosen += [flip for flip in report.flips if flip.category == category][:per_category]
    old, new = context.old, context.new
    found = []
    with open(corpus, "rb") as stream:
        for flip in chosen:
            stream.seek(flip.offset)
            request, now = request_of(json.loads(stream.readline()))
            traced_old, traced_new = old.evaluate(request, now=now, trace=True), new.evaluate(request, now=now, trace=True)
            found.append(Example(flip, first_difference(traced_old, traced_new)))
    return found
