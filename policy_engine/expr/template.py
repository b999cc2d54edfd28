"""Message templates: ``"proposed risk {proposed_risk:.2f} >= budget {budget.remaining_daily_budget}"``.

Placeholders are names (dotted input paths, values, ``params.NAME``) with an optional format spec
from a small whitelist. Templates are parsed and checked at compile time; nothing in a template
can reach Python's attribute or format machinery (``str.format`` is never called on policy text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_SPEC = re.compile(r"^[<>^]?[+\- ]?[0-9]{0,3}(,)?(\.[0-9]{1,2})?[dfeg%]?$")


@dataclass(frozen=True)
class Placeholder:
    name: str  # dotted path, e.g. budget.remaining_daily_budget
    spec: str


@dataclass(frozen=True)
class Template:
    parts: tuple[str | Placeholder, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts if isinstance(p, Placeholder))

    def render(self, lookup: Callable[[str], Any]) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(_format(lookup(part.name), part.spec))
        return "".join(out)


_UNBALANCED = "unbalanced '{' or '}' in message (write {{ or }} for a literal brace)"


def _stray_brace(literal: str) -> bool:
    return "{" in literal or "}" in literal


def parse_template(text: str) -> Template | str:
    """Parse a template; a problem is returned as a message (the caller locates it)."""
    parts: list[str | Placeholder] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        if _stray_brace(text[position:match.start()]):
            return _UNBALANCED
        parts.append(text[position:match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
            continue
        name, _, spec = match.group(1).partition(":")
        name = name.strip()
        if not _NAME.match(name):
            return f"placeholder '{{{match.group(1)}}}' must be a name such as {{proposed_risk}} or {{signal.symbol}}"
        if spec and not _SPEC.match(spec):
            return f"format '{spec}' in '{{{match.group(1)}}}' is not allowed (use e.g. .2f, .1%, ,.0f)"
        parts.append(Placeholder(name, spec))
    rest = text[position:]
    if _stray_brace(rest):
        return _UNBALANCED
    parts.append(rest)
    return Template(tuple(p for p in parts if p != ""))


def _format(value: Any, spec: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        if spec and isinstance(value, (int, float)):
            try:
                return format(value, spec)
            except (ValueError, OverflowError):  # a spec for another type, or an int beyond float range
                pass
        return repr(value) if isinstance(value, float) else str(value)
    except ValueError:  # an integer too long to print: the message must still render
        return "<value too large to show>"
