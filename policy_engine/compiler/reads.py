"""Which parts of the inputs a policy's expressions read, so the input checker checks those only.

An expression reads an input path in one of four ways:

- whole: the value flows somewhere (a function argument, arithmetic, a comparison, a result,
  a value of its own), so every part of it must be checked and normalized;
- presence: ``x is None`` / ``x is not None`` (or ``is True``/``is False``) looks at the value
  itself but not into it: its type is checked, its fields are not;
- fields: ``x.a.b`` reads ``a.b`` of ``x``, not the rest of ``x``;
- items: ``[i.a for i in x]`` reads ``a`` of every item of ``x`` (what the loop variable is
  used for decides what each item is read for; ``[i for i in x]`` reads the items whole).

The result, ``InputReads.tree``, is what ``compile_input_checker`` takes as ``reads``: a dict of
the fields read, each ``True`` (whole) or a dict of its own; ``"[]"`` holds the items' reads.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

from policy_engine.expr.language import input_path_of
from policy_engine.inputs import ITEMS


class _Node:
    """What is read of one value: all of it, or some fields and what of each item."""

    __slots__ = ("fields", "items", "whole")

    def __init__(self) -> None:
        self.whole = False
        self.fields: dict[str, _Node] = {}
        self.items: _Node | None = None

    def at(self, parts: Iterable[str]) -> _Node:
        node = self
        for part in parts:
            if node.whole:  # already read whole: nothing under it needs recording
                return node
            node = node.fields.setdefault(part, _Node())
        return node

    def tree(self) -> Any:
        if self.whole:
            return True
        reads: dict[str, Any] = {name: field.tree() for name, field in self.fields.items()}
        if self.items is not None:
            reads[ITEMS] = self.items.tree()
        return reads


Locals = dict[str, "_Node | None"]  # comprehension variable -> what its items are read for


class InputReads:
    """Collects the reads of many expressions over the same inputs."""

    def __init__(self, roots: Iterable[str], shadowed: Iterable[str]):
        self.roots = frozenset(roots)
        self.shadowed = frozenset(shadowed)  # names resolved before inputs: values, params, engine names
        self._root = _Node()

    @property
    def tree(self) -> dict[str, Any]:
        reads: dict[str, Any] = self._root.tree()
        return reads

    def add_path(self, path: tuple[str, ...]) -> None:
        """A path read whole by the engine itself (not by an expression)."""
        self._root.at(path).whole = True

    def add(self, tree: ast.Expression) -> None:
        self._visit(tree.body, {}, presence=False)

    def _target(self, path: tuple[str, ...], scope: Locals) -> _Node | None:
        root, rest = path[0], path[1:]
        if root in scope:  # the language resolves comprehension variables first, then the rest
            items = scope[root]
            return None if items is None else items.at(rest)
        if root in self.shadowed or root not in self.roots:
            return None
        return self._root.at(path)

    def _visit(self, node: ast.AST, scope: Locals, presence: bool) -> None:
        path = input_path_of(node)
        if path is not None:
            target = self._target(path, scope)
            if target is not None and not presence:
                target.whole = True
            return
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Is, ast.IsNot)):
            left, right = node.left, node.comparators[0]
            self._visit(left, scope, presence=_is_singleton(right))
            self._visit(right, scope, presence=_is_singleton(left))
            return
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)) and _single_loop(node):
            generator = node.generators[0]
            inner = {**scope, generator.target.id: self._iterated(generator.iter, scope)}  # type: ignore[attr-defined]
            for part in (*generator.ifs, node.elt):
                self._visit(part, inner, presence=False)
            return
        children: Iterable[ast.AST] = [*node.args, *node.keywords] if isinstance(node, ast.Call) \
            else ast.iter_child_nodes(node)
        for child in children:  # a called function's name is not a read
            self._visit(child, scope, presence=False)

    def _iterated(self, iterable: ast.AST, scope: Locals) -> _Node | None:
        """The node recording what each item of ``iterable`` is read for (None: not an input)."""
        path = input_path_of(iterable)
        target = self._target(path, scope) if path is not None else None
        if target is None:
            self._visit(iterable, scope, presence=False)
            return None
        if target.whole:
            return None  # the items are read whole already
        if target.items is None:
            target.items = _Node()
        return target.items


def _is_singleton(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool))


def _single_loop(node: ast.ListComp | ast.GeneratorExp) -> bool:
    return len(node.generators) == 1 and isinstance(node.generators[0].target, ast.Name)
