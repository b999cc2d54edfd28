"""``eval --jsonl``: one request per line in, one decision per line out, in input order.

Per line: the JSON text parsed by a decoder built once, the policy's decision, the decision
written by the policy's JSONL line writer (``render.jsonl_renderer``: compact, keys sorted), and
the output written a chunk of lines at a time. Blank lines are skipped but keep their numbers.

``--jobs N`` decides the chunks in N forked worker processes. Each worker inherits the compiled
policy from the fork (a generated function cannot be pickled, and need not be), so only line
text goes out and decision text comes back; results are written in input order. Where ``fork``
is not available the lines are decided in this process.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from policy_engine.cli.render import jsonl_renderer
from policy_engine.decision import APPROVED, ENGINE_ERROR, INVALID_INPUT, Decision
from policy_engine.engine.run import CompiledPolicy

CHUNK_LINES = 256
Chunk = tuple[int, list[str]]  # the number of the chunk's first line, and its lines


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# Built once: json.loads with parse_constant builds a decoder for every call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


class LineDecider:
    """Decides the lines of one chunk; ``invalid`` when a line was malformed or a rule failed."""

    def __init__(self, policy: CompiledPolicy, now: str | None, trace: bool):
        self.policy, self.now, self.trace = policy, now, trace
        self.render = jsonl_renderer(policy, trace)

    def __call__(self, chunk: Chunk) -> tuple[str, bool]:
        first, lines = chunk
        out: list[str] = []
        invalid = False
        for number, line in enumerate(lines, start=first):
            if not line.strip():
                continue
            decision, request = self.decide(line, number)
            out.append(self.render(request, decision))
            invalid = invalid or (decision.outcome != APPROVED and decision.reason in (INVALID_INPUT, ENGINE_ERROR))
        return "".join(text + "\n" for text in out), invalid

    def decide(self, line: str, number: int) -> tuple[Decision, Any]:
        try:
            request = _DECODER.decode(line)
        except ValueError as problem:
            message = f"line {number}: not valid JSON: {problem}"
            return self.policy.invalid_request(message), {"__line__": number, "__error__": message}
        return self.policy.evaluate(request, now=self.now, trace=self.trace), request


def chunks(stream: Iterable[str], size: int = CHUNK_LINES) -> Iterator[Chunk]:
    lines: list[str] = []
    first = 1
    for number, line in enumerate(stream, start=1):
        lines.append(line)
        if len(lines) == size:
            yield first, lines
            first, lines = number + 1, []
    if lines:
        yield first, lines


def evaluate_jsonl(policy: CompiledPolicy, stream: Iterable[str], out: TextIO, now: str | None, trace: bool,
                   jobs: int = 1) -> bool:
    """Write one decision per request line to ``out``; True when some line was invalid."""
    decider = LineDecider(policy, now, trace)
    parallel = jobs > 1 and "fork" in multiprocessing.get_all_start_methods()
    results = _forked(decider, chunks(stream), jobs) if parallel else map(decider, chunks(stream))
    invalid = False
    for text, chunk_invalid in results:
        out.write(text)
        invalid = invalid or chunk_invalid
    return invalid


_worker: LineDecider | None = None  # set before the fork: each worker inherits it


def _decide_in_worker(chunk: Chunk) -> tuple[str, bool]:
    assert _worker is not None
    return _worker(chunk)


def _forked(decider: LineDecider, work: Iterator[Chunk], jobs: int) -> Iterator[tuple[str, bool]]:
    global _worker
    _worker = decider
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            yield from pool.imap(_decide_in_worker, work)
    finally:
        _worker = None
