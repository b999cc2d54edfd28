"""A replay corpus read line by line: each JSON value with its line number and byte offset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

UNREADABLE = object()  # the value of a line that is not JSON


@dataclass(frozen=True)
class CorpusLine:
    line: int  # 1-based, counting blank lines
    offset: int  # byte offset of the line in the file
    value: Any  # the parsed JSON value, or UNREADABLE


def corpus_lines(corpus: str) -> Iterator[CorpusLine]:
    """Every non-blank line of ``corpus``, in file order."""
    with open(corpus, "rb") as stream:
        offset = 0
        for number, raw in enumerate(stream, start=1):
            if raw.strip():
                try:
                    value = json.loads(raw)
                except ValueError:
                    value = UNREADABLE
                yield CorpusLine(number, offset, value)
            offset += len(raw)
