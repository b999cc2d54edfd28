"""The expression language: parse once, check against a whitelist, resolve every name.

Expressions are Python expression syntax restricted to a whitelist (the same surface simpleeval
evaluates). ``analyze`` walks the tree once at compile time and returns what the rest of the
compiler needs: the names it reads, the kind of value it yields (number, bool, string, any) and
diagnostics for everything it refuses. Nothing here evaluates anything.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass, field
from typing import Any, Iterator

from policy_engine.errors import Code
from policy_engine.expr.functions import BOOL_RESULT, FUNCTIONS, KEYWORDS, MAX_RANGE, NUMERIC_RESULT

MAX_NODES = 400
MAX_DEPTH = 40
MAX_STRING = 1_000
MAX_NUMBER = 1e15
MAX_POWER = 100
MAX_SEQUENCE = 100_000  # items a string or list repetition may build (also enforced at run time)
MAX_COMPREHENSION_NESTING = 2

# Names people try in order to break out; refused with a clear "unsafe" code, not "unknown".
UNSAFE_NAMES = frozenset(
    {"eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "globals", "locals", "vars",
     "type", "object", "input", "breakpoint", "help", "dir", "import", "__import__", "__builtins__",
     "lambda", "format", "print", "memoryview", "bytearray", "classmethod", "super"}
)

NUM, BOOL, STR, NONE, LIST, ANY = "num", "bool", "str", "none", "list", "any"

_ARITH = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot)
_UNARY = (ast.Not, ast.USub, ast.UAdd)
_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp,
    ast.Call, ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.List, ast.Tuple,
    ast.Dict, ast.ListComp, ast.GeneratorExp, ast.comprehension, ast.Store, ast.keyword, ast.Slice,
) + _ARITH + _COMPARE + _UNARY


@dataclass(frozen=True)
class Issue:
    """A problem found in an expression, located by column offset within its text."""

    code: Code
    message: str
    col: int = 0
    hint: str = ""


@dataclass(frozen=True)
class Scope:
    """What names an expression may read, and what is known about them."""

    inputs: dict[str, dict[str, Any]]  # input root -> its JSON Schema node
    params: dict[str, Any]
    value_kinds: dict[str, str]  # value / table / combiner name -> kind
    extra: dict[str, str] = field(default_factory=dict)  # engine-provided names, e.g. now


@dataclass(frozen=True)
class Analysis:
    tree: ast.Expression
    value_refs: frozenset[str]  # named values it reads
    input_paths: tuple[tuple[str, ...], ...]  # input roots and attribute paths it reads
    param_refs: frozenset[str]
    kind: str
    issues: tuple[Issue, ...]
    node_kinds: dict[int, str] = field(default_factory=dict, compare=False, repr=False)


def parse(text: str) -> ast.Expression | Issue:
    """Parse expression text; a syntax error becomes an Issue, never an exception."""
    try:
        # Folded YAML strings may span lines; an expression is one logical line.
        tree = ast.parse(" ".join(text.split("\n")).strip(), mode="eval")
    except SyntaxError as err:
        if "too many nested" in (err.msg or ""):
            return Issue(Code.EXPR_TOO_COMPLEX, f"expression cannot be parsed: {err.msg}")
        return Issue(Code.EXPR_SYNTAX, f"invalid expression: {err.msg}", col=max((err.offset or 1) - 1, 0))
    except (ValueError, RecursionError, MemoryError) as err:
        return Issue(Code.EXPR_TOO_COMPLEX, f"expression cannot be parsed: {type(err).__name__}")
    return tree


def analyze(text: str, scope: Scope) -> Analysis:
    parsed = parse(text)
    if isinstance(parsed, Issue):
        return Analysis(ast.Expression(body=ast.Constant(None)), frozenset(), (), frozenset(), ANY, (parsed,))
    checker = _Checker(scope)
    try:
        kind = checker.visit(parsed.body, depth=0)
    except RecursionError:
        checker.issue(Code.EXPR_TOO_COMPLEX, "expression nests too deeply", parsed.body)
        kind = ANY
    if checker.node_count > MAX_NODES:
        checker.issue(Code.EXPR_TOO_COMPLEX, f"expression has {checker.node_count} parts (limit {MAX_NODES})",
                      parsed.body)
    return Analysis(parsed, frozenset(checker.values), tuple(sorted(checker.paths)), frozenset(checker.params),
                    kind, tuple(checker.issues), checker.kinds)


def input_path_of(node: ast.AST) -> tuple[str, ...] | None:
    """``signal.entry_price_zone.low`` -> ('signal', 'entry_price_zone', 'low'); None otherwise."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return tuple(reversed(parts))
    return None


class _Checker:
    """One pass over the tree: whitelist, names, limits and kinds."""

    def __init__(self, scope: Scope):
        self.scope = scope
        self.issues: list[Issue] = []
        self.values: set[str] = set()
        self.params: set[str] = set()
        self.paths: set[tuple[str, ...]] = set()
        self.locals: list[dict[str, dict[str, Any] | None]] = []  # comprehension variables -> schema
        self.node_count = 0
        self.kinds: dict[int, str] = {}  # id(node) -> kind, for the code generator

    def issue(self, code: Code, message: str, node: ast.AST, hint: str = "") -> None:
        self.issues.append(Issue(code, message, getattr(node, "col_offset", 0), hint))

    def visit(self, node: ast.AST, depth: int) -> str:
        self.node_count += 1
        if depth > MAX_DEPTH:
            self.issue(Code.EXPR_TOO_COMPLEX, f"expression nests deeper than {MAX_DEPTH} levels", node)
            return ANY
        if not isinstance(node, _ALLOWED):
            self.issue(Code.EXPR_UNSAFE, f"{_describe(node)} is not allowed in policy expressions", node,
                       "expressions may use operators, literals, names and the functions of docs/expressions.md")
            return ANY
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            for child in ast.iter_child_nodes(node):
                self.visit(child, depth + 1)
            return ANY
        kind: str = method(node, depth + 1)
        self.kinds[id(node)] = kind
        return kind

    # --- leaves -------------------------------------------------------------------------
    def visit_Constant(self, node: ast.Constant, depth: int) -> str:
        value = node.value
        if isinstance(value, bool):
            return BOOL
        if value is None:
            return NONE
        if isinstance(value, (int, float)):
            if abs(value) > MAX_NUMBER:
                self.issue(Code.EXPR_UNSAFE, f"number literal {value:.3g} is too large (limit {MAX_NUMBER:g})", node)
            return NUM
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                self.issue(Code.EXPR_UNSAFE, f"string literal of {len(value)} characters (limit {MAX_STRING})", node)
            return STR
        self.issue(Code.EXPR_UNSAFE, f"{type(value).__name__} literals are not allowed", node)
        return ANY

    def visit_Name(self, node: ast.Name, depth: int) -> str:
        return self._resolve_path(node, (node.id,))

    def visit_Attribute(self, node: ast.Attribute, depth: int) -> str:
        path = input_path_of(node)
        if path is None:
            self.issue(Code.EXPR_UNSAFE, "attribute access is only allowed on names (e.g. signal.confidence)", node)
            return ANY
        return self._resolve_path(node, path)

    # --- name resolution ----------------------------------------------------------------
    def _resolve_path(self, node: ast.AST, path: tuple[str, ...]) -> str:
        bad = next((p for p in path if p.startswith("_")), None)
        if bad is not None:
            self.issue(Code.EXPR_UNSAFE, f"names starting with '_' are not allowed ('{bad}')", node)
            return ANY
        root = path[0]
        for frame in reversed(self.locals):
            if root in frame:
                return self._walk_schema(node, path, frame[root])
        if root == "params":
            return self._resolve_param(node, path)
        if root in self.scope.value_kinds:
            self.values.add(root)
            return self.scope.value_kinds[root] if len(path) == 1 else ANY
        if root in self.scope.extra:
            self.paths.add(path)
            return self.scope.extra[root]
        if root in self.scope.inputs:
            self.paths.add(path)
            return self._walk_schema(node, path, self.scope.inputs[root])
        self._unknown(node, root)
        return ANY

    def _unknown(self, node: ast.AST, name: str) -> None:
        if name in UNSAFE_NAMES or name in FUNCTIONS:
            what = "is not allowed" if name in UNSAFE_NAMES else "is a function: call it, e.g. abs(x)"
            self.issue(Code.EXPR_UNSAFE if name in UNSAFE_NAMES else Code.EXPR_UNKNOWN_NAME, f"'{name}' {what}", node)
            return
        known = [*self.scope.inputs, *self.scope.value_kinds, *self.scope.extra, "params"]
        self.issue(Code.EXPR_UNKNOWN_NAME, f"unknown name '{name}'", node, _suggest(name, known))

    def _resolve_param(self, node: ast.AST, path: tuple[str, ...]) -> str:
        if len(path) != 2:
            self.issue(Code.EXPR_UNKNOWN_NAME, "params are read as params.NAME", node)
            return ANY
        name = path[1]
        if name not in self.scope.params:
            self.issue(Code.EXPR_UNKNOWN_NAME, f"unknown param '{name}'", node, _suggest(name, self.scope.params))
            return ANY
        self.params.add(name)
        return _kind_of_value(self.scope.params[name])

    def _walk_schema(self, node: ast.AST, path: tuple[str, ...], schema: dict[str, Any] | None) -> str:
        for depth, part in enumerate(path[1:], start=1):
            if schema is None:
                return ANY
            props = schema.get("properties")
            if props is None:
                self.issue(Code.EXPR_UNKNOWN_NAME, f"'{'.'.join(path[:depth])}' has no fields", node)
                return ANY
            if part not in props:
                where = ".".join(path[:depth])
                self.issue(Code.EXPR_UNKNOWN_NAME, f"'{where}' has no field '{part}'", node, _suggest(part, props))
                return ANY
            schema = props[part]
        return _kind_of_schema(schema)

    # --- compound nodes -----------------------------------------------------------------
    def visit_BinOp(self, node: ast.BinOp, depth: int) -> str:
        left, right = self.visit(node.left, depth), self.visit(node.right, depth)
        self.visit(node.op, depth)
        if isinstance(node.op, ast.Pow):
            exponent = static_number(node.right)
            if exponent is not None and abs(exponent) > MAX_POWER:
                self.issue(Code.EXPR_UNSAFE, f"power {exponent} exceeds the limit {MAX_POWER}", node)
        if isinstance(node.op, ast.Mult):
            self._check_repetition(node, left, right)
        if isinstance(node.op, ast.Mod) and left == STR:
            self.issue(Code.EXPR_UNSAFE, "string formatting with % is not allowed", node)
        if left == NUM and right == NUM:
            return NUM
        if isinstance(node.op, ast.Add) and left == right == STR:
            return STR
        return ANY

    def _check_repetition(self, node: ast.BinOp, left: str, right: str) -> None:
        """A string or list repeated a constant number of times beyond the limit."""
        for seq, seq_kind, count_node in ((node.left, left, node.right), (node.right, right, node.left)):
            count = static_number(count_node)
            if seq_kind not in (STR, LIST) or count is None:
                continue
            length = len(seq.value) if isinstance(seq, ast.Constant) and isinstance(seq.value, str) else \
                len(seq.elts) if isinstance(seq, (ast.List, ast.Tuple)) else 1
            if length * count > MAX_SEQUENCE:
                self.issue(Code.EXPR_UNSAFE, f"repetition to {length * count:.3g} items exceeds the limit "
                           f"{MAX_SEQUENCE}", node)

    def visit_UnaryOp(self, node: ast.UnaryOp, depth: int) -> str:
        operand = self.visit(node.operand, depth)
        return BOOL if isinstance(node.op, ast.Not) else operand if operand == NUM else ANY

    def visit_BoolOp(self, node: ast.BoolOp, depth: int) -> str:
        kinds = {self.visit(value, depth) for value in node.values}
        return BOOL if kinds == {BOOL} else ANY

    def visit_Compare(self, node: ast.Compare, depth: int) -> str:
        self.visit(node.left, depth)
        operands = [node.left, *node.comparators]
        for index, (op, comparator) in enumerate(zip(node.ops, node.comparators)):
            self.visit(op, depth)
            self.visit(comparator, depth)
            pair = operands[index:index + 2]
            literal = any(not _is_singleton(o) and not any(isinstance(n, ast.Name) for n in ast.walk(o)) for o in pair)
            if isinstance(op, (ast.Is, ast.IsNot)) and (literal or not any(map(_is_singleton, pair))):
                # Identity of numbers or strings depends on the interpreter: not deterministic.
                self.issue(Code.EXPR_UNSAFE, "'is' compares identity: use it only with None, True or False "
                           "(compare values with ==)", node)
        return BOOL

    def visit_IfExp(self, node: ast.IfExp, depth: int) -> str:
        self.visit(node.test, depth)
        body, orelse = self.visit(node.body, depth), self.visit(node.orelse, depth)
        return body if body == orelse else ANY

    def visit_Call(self, node: ast.Call, depth: int) -> str:
        if not isinstance(node.func, ast.Name):
            self.issue(Code.EXPR_UNSAFE, "only the language's functions can be called (no methods)", node)
            return ANY
        name = node.func.id
        if name not in FUNCTIONS:
            if name in UNSAFE_NAMES or name.startswith("_"):
                self.issue(Code.EXPR_UNSAFE, f"'{name}' is not allowed", node)
            else:
                self.issue(Code.EXPR_UNKNOWN_NAME, f"unknown function '{name}'", node, _suggest(name, FUNCTIONS))
            return ANY
        kinds = [self.visit(arg, depth) for arg in node.args]
        for keyword in node.keywords:
            if keyword.arg not in KEYWORDS.get(name, set()):
                self.issue(Code.EXPR_UNSAFE, f"{name}() takes no keyword '{keyword.arg}'", node)
            self.visit(keyword.value, depth)
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            self.issue(Code.EXPR_UNSAFE, "argument unpacking is not allowed", node)
        if name == "range" and node.args:
            size = static_number(node.args[0])
            if size is not None and size > MAX_RANGE:
                self.issue(Code.EXPR_UNSAFE, f"range({size:.3g}) exceeds the limit {MAX_RANGE}", node)
        return _kind_of_call(name, kinds)

    def visit_Subscript(self, node: ast.Subscript, depth: int) -> str:
        self.visit(node.value, depth)
        self.visit(node.slice, depth)
        return ANY

    def visit_List(self, node: ast.List, depth: int) -> str:
        for element in node.elts:
            self.visit(element, depth)
        return LIST

    visit_Tuple = visit_List

    def visit_Dict(self, node: ast.Dict, depth: int) -> str:
        for key, value in zip(node.keys, node.values):
            if key is None:
                self.issue(Code.EXPR_UNSAFE, "dict unpacking is not allowed", node)
                continue
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                self.issue(Code.EXPR_UNSAFE, "dict keys must be string literals", node)
            self.visit(value, depth)
        return ANY

    def visit_ListComp(self, node: ast.ListComp | ast.GeneratorExp, depth: int) -> str:
        if len(node.generators) != 1:
            self.issue(Code.EXPR_UNSAFE, "a comprehension may have one 'for' clause", node)
            return ANY
        if len(self.locals) >= MAX_COMPREHENSION_NESTING:
            self.issue(Code.EXPR_UNSAFE, f"comprehensions nest at most {MAX_COMPREHENSION_NESTING} deep", node)
            return ANY
        generator = node.generators[0]
        if not isinstance(generator.target, ast.Name) or generator.is_async:
            self.issue(Code.EXPR_UNSAFE, "a comprehension binds a single name", node)
            return ANY
        self.visit(generator.iter, depth)
        self.locals.append({generator.target.id: self._item_schema(generator.iter)})
        try:
            for condition in generator.ifs:
                self.visit(condition, depth)
            self.visit(node.elt, depth)
        finally:
            self.locals.pop()
        return LIST

    visit_GeneratorExp = visit_ListComp

    def _item_schema(self, iterable: ast.AST) -> dict[str, Any] | None:
        """The schema of the items of an input list, so fields of loop variables are checked too."""
        path = input_path_of(iterable)
        if path is None or path[0] not in self.scope.inputs:
            return None
        schema: dict[str, Any] | None = self.scope.inputs[path[0]]
        for part in path[1:]:
            schema = (schema or {}).get("properties", {}).get(part)
        items = (schema or {}).get("items")
        return items if isinstance(items, dict) else None


_STATIC_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b}


def static_number(node: ast.AST) -> float | None:
    """The value of a constant numeric expression (``10**9``, ``-3``), computed within the
    language's limits; None when it reads names or cannot be computed safely."""
    if isinstance(node, ast.Constant):
        value = node.value
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = static_number(node.operand)
        return None if operand is None else -operand if isinstance(node.op, ast.USub) else operand
    if not isinstance(node, ast.BinOp):
        return None
    left, right = static_number(node.left), static_number(node.right)
    if left is None or right is None:
        return None
    if isinstance(node.op, ast.Pow):
        if abs(right) > MAX_POWER or abs(left) > MAX_NUMBER:
            return None  # the power itself is refused (or bounded at run time)
        try:
            result = left**right
        except (OverflowError, ZeroDivisionError):
            return None
        return result if isinstance(result, (int, float)) else None
    operation = _STATIC_OPS.get(type(node.op))
    return operation(left, right) if operation else None


def _is_singleton(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool))


def _describe(node: ast.AST) -> str:
    names = {"Lambda": "lambda", "NamedExpr": "assignment (:=)", "JoinedStr": "an f-string",
             "Starred": "unpacking", "SetComp": "a set comprehension", "DictComp": "a dict comprehension",
             "Set": "a set literal", "Await": "await", "Yield": "yield"}
    return names.get(type(node).__name__, f"'{type(node).__name__}'")


def _suggest(name: str, candidates: Any) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def _kind_of_value(value: Any) -> str:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, (int, float)):
        return NUM
    if isinstance(value, str):
        return STR
    if value is None:
        return NONE
    return LIST if isinstance(value, (list, tuple)) else ANY


def _kind_of_schema(schema: dict[str, Any] | None) -> str:
    if not schema:
        return ANY
    types = schema.get("type")
    if isinstance(types, str):
        types = [types]
    if not types or len(types) != 1:
        return ANY  # nullable or untyped: may be None at run time
    if types[0] == "string" and schema.get("format") == "date-time":
        return NUM  # timestamps are normalized to integer microseconds
    return {"number": NUM, "integer": NUM, "boolean": BOOL, "string": STR, "array": LIST}.get(types[0], ANY)


def _kind_of_call(name: str, args: list[str]) -> str:
    if name in NUMERIC_RESULT:
        return NUM
    if name in BOOL_RESULT:
        return BOOL
    if name in ("min", "max") and len(args) > 1 and all(kind == NUM for kind in args):
        return NUM
    return ANY


def iter_names(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.id
