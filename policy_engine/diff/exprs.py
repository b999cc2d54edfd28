"""Expressions compared by meaning of their text: normalized, and threshold edits told apart.

Two expressions that differ only in layout (line folding, spaces, quotes, redundant parens)
are the same rule. Two that have the same shape and differ only in number literals are a
threshold change (``confidence >= 0.30`` -> ``>= 0.35``), reported as ``0.3 -> 0.35``; anything
else is an expression change, shown as normalized old and new text.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


def normalize(text: str) -> str:
    """Canonical text of an expression; text that does not parse is only whitespace-folded."""
    try:
        return ast.unparse(ast.parse(text.strip(), mode="eval"))
    except (SyntaxError, ValueError, RecursionError):
        return " ".join(text.split())


@dataclass(frozen=True)
class ExprChange:
    kind: str  # "threshold" | "expression"
    old: str
    new: str
    numbers: tuple[tuple[object, object], ...] = ()  # (old, new) literals for a threshold change

    def describe(self) -> str:
        if self.kind == "threshold":
            return ", ".join(f"{old!r} -> {new!r}" for old, new in self.numbers) + f" in `{self.new}`"
        return f"`{self.old}` -> `{self.new}`"


def compare_exprs(old: str, new: str) -> ExprChange | None:
    """None when the two mean the same; else what changed."""
    old_norm, new_norm = normalize(old), normalize(new)
    if old_norm == new_norm:
        return None
    numbers = _number_edits(old_norm, new_norm)
    if numbers:
        return ExprChange("threshold", old_norm, new_norm, numbers)
    return ExprChange("expression", old_norm, new_norm)


def _number_edits(old: str, new: str) -> tuple[tuple[object, object], ...]:
    """The literals that differ when the two trees have the same shape otherwise, else ()."""
    try:
        old_tree, new_tree = ast.parse(old, mode="eval"), ast.parse(new, mode="eval")
    except SyntaxError:
        return ()
    old_nums, new_nums = _numbers(old_tree), _numbers(new_tree)
    if ast.dump(_blank(old_tree)) != ast.dump(_blank(new_tree)) or len(old_nums) != len(new_nums):
        return ()
    return tuple((a, b) for a, b in zip(old_nums, new_nums) if a != b or type(a) is not type(b))


def _is_number(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _numbers(tree: ast.AST) -> list[object]:
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and _is_number(node)]


class _Blank(ast.NodeTransformer):
    """Every number literal replaced by 0, so two trees compare by shape."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Constant(value=0) if _is_number(node) else node


def _blank(tree: ast.AST) -> ast.AST:
    blanked: ast.AST = _Blank().visit(ast.parse(ast.unparse(tree), mode="eval"))
    return blanked
