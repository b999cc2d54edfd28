"""The comments of a policy file: where its authors cite the seed sections and the readings.

PyYAML drops comments, so they are read from the source lines the source map keeps: the
comment at the end of an item's line (``max_open_positions: 5   # §3.7``), the block of comment
lines right above an item (``# --- RiskConfig (§3.7)``) and the file's header. Text is returned
as written; ``comment_markdown`` turns a block into paragraphs and list items.
"""

from __future__ import annotations

import re

from policy_engine.docs.markdown import prose
from policy_engine.source import SourceDoc

MODELINE = "yaml-language-server:"
_RULER = re.compile(r"^-{2,}\s*")


class Comments:
    """Comment lookups by 1-based line number of one source document."""

    def __init__(self, doc: SourceDoc):
        self.lines = doc.source_map.lines

    def trailing(self, line: int) -> str:
        """The comment at the end of ``line`` (after code), or ''."""
        text = self.lines[line - 1] if 1 <= line <= len(self.lines) else ""
        start = _comment_start(text)
        if start is None or not text[:start].strip():
            return ""
        return text[start + 1:].strip()

    def leading(self, line: int) -> list[str]:
        """The comment lines directly above ``line`` (no blank line between), '#' removed."""
        found: list[str] = []
        number = line - 1
        while number >= 1 and self.lines[number - 1].lstrip().startswith("#"):
            found.insert(0, _uncomment(self.lines[number - 1]))
            number -= 1
        if found:
            found[0] = _RULER.sub("", found[0].strip())
        return [text for text in found if MODELINE not in text]

    def header(self) -> list[str]:
        """The comment lines before the first line of YAML, without the editor's schema modeline."""
        found = []
        for text in self.lines:
            if text.strip() and not text.lstrip().startswith("#"):
                break
            if MODELINE not in text:
                found.append(_uncomment(text) if text.strip() else "")
        while found and not found[0].strip():
            found.pop(0)
        return found


def _uncomment(text: str) -> str:
    body = text.lstrip()[1:]
    return body.removeprefix(" ")


def _comment_start(text: str) -> int | None:
    """Index of the ``#`` that starts a comment: at the line start or after a space, outside quotes."""
    quote = ""
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"" and not _apostrophe(text, index):
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            return index
    return None


def _apostrophe(text: str, index: int) -> bool:
    """``it's``: a single quote between two letters does not open a quoted scalar."""
    return text[index] == "'" and 0 < index < len(text) - 1 and text[index - 1].isalnum() and text[index + 1].isalnum()


def comment_markdown(lines: list[str]) -> list[str]:
    """A comment block as Markdown: lines at one indent join into a paragraph; a ``- `` line, or a
    line indented under a paragraph, starts a list item whose continuation lines are indented
    deeper; a line indented less than the one before starts a new item; a blank line ends one."""
    blocks: list[tuple[bool, list[str]]] = []  # (is a list item, texts)
    previous_indent = 0
    for text in lines:
        body = text.strip()
        if not body:
            blocks.append((False, []))
            continue
        indent = len(text) - len(text.lstrip())
        bullet = body.startswith(("- ", "* "))
        under_paragraph = bool(blocks) and not blocks[-1][0] and indent > previous_indent
        if not blocks or not blocks[-1][1] or bullet or indent < previous_indent or under_paragraph:
            blocks.append((bullet or indent > 0, [body[2:] if bullet else body]))
        else:
            blocks[-1][1].append(body)
        previous_indent = indent
    return _blocks_text([(item, " ".join(texts)) for item, texts in blocks if texts])


def _blocks_text(blocks: list[tuple[bool, str]]) -> list[str]:
    out: list[str] = []
    for index, (item, text) in enumerate(blocks):
        if index and not (item and blocks[index - 1][0]):
            out.append("")
        out.append(f"- {prose(text)}" if item else prose(text))
    return out
