"""Markdown building blocks for the policy pages: code spans, table cells, tables, plain values.

Everything here is text in, text out and deterministic. Cells never hold a raw ``|`` or line
break (GitHub tables end a cell at either), prose never starts a blockquote or a heading by
accident, and a ``<`` in prose is an entity, so ``<not computed>`` is not taken for HTML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

_BLOCK_START = re.compile(r"^(\s*)([>#+=]|-{3,})")


def one_line(text: str) -> str:
    """Whitespace (line breaks included) folded to single spaces."""
    return " ".join(str(text).split())


def code(text: Any) -> str:
    """An inline code span of ``text`` on one line, fenced so that backticks inside survive."""
    body = one_line(str(text))
    if not body:
        return ""
    fence = "`" * (max((len(run) for run in re.findall("`+", body)), default=0) + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def prose(text: str) -> str:
    """Text from the policy (descriptions, comments) made safe to place in Markdown as written."""
    escaped = one_line(text).replace("<", "&lt;")
    return _BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)


def cell(text: str) -> str:
    """Markdown for one table cell: pipes escaped, on one line."""
    return one_line(text).replace("|", "\\|")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> list[str]:
    """A GitHub table; ``align`` has one letter per column: ``l`` (default) or ``r``."""
    marks = ["---:" if (align[i:i + 1] == "r") else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return lines


def value_text(value: Any) -> str:
    """A param or table value as it would be written in JSON: ``0.02``, ``true``, ``null``, ``["A", "B"]``."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


def value_code(value: Any) -> str:
    """``value_text`` as a code span (strings quoted, so ``"DOWN"`` reads as a string)."""
    return code(json.dumps(value, ensure_ascii=False) if isinstance(value, str) else value_text(value))


def number_text(value: Any) -> str:
    """A table's threshold or value: numbers as Python writes them (``0.5``, ``24``, ``1.0``)."""
    return repr(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value_text(value)


def section(title: str, level: int = 2) -> list[str]:
    return ["#" * level + " " + title, ""]
