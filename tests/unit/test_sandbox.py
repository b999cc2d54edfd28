"""The expression sandbox holds: break-out and resource attempts in expressions and message
templates are refused at compile time with a located diagnostic, or, where only the input
decides (a repetition count, an exponent), bounded at run time: a rejection with reason
``engine_error`` naming the rule, and the process stays healthy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import policy_engine
from policy_engine.engine.interpret import ValueError_, interpret
from policy_engine.errors import Code, PolicyError
from policy_engine.expr.language import Scope, analyze

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
POLICY_PATH = FIXTURES / "sandbox.yaml"  # not a file: locates diagnostics and the input schema
PROBE_LINE, PROBE_COL = 9, 10

POLICY = """\
apiVersion: policy-engine/v1
kind: DecisionPolicy
metadata: {id: test.sandbox, version: 1.0.0, owners: [tests]}
inputs: {schema: tiny.schema.json}
params:
  max_notional: 10000
values:
  notional: order.qty * order.price
  probe: <probe>
gates:
  - id: PROBE_GATE
    pass_if: probe is not None
    reject: probe_missing
    message: <message>
outputs: [probe]
"""
MESSAGE_LINE = 14

REQUEST = {"now": "2025-01-01T00:00:05Z", "account": {"balance": 5000.0, "drawdown": 0.1},
           "order": {"qty": 10, "price": 100.0, "placed_at": "2025-01-01T00:00:01Z", "tags": ["a"]}}


def policy_text(probe: str, message: str = "probe failed") -> str:
    return POLICY.replace("<probe>", json.dumps(probe)).replace("<message>", json.dumps(message))


def refusal(probe: str, message: str = "probe failed") -> list[tuple[Code, int, int]]:
    with pytest.raises(PolicyError) as caught:
        policy_engine.loads(policy_text(probe, message), str(POLICY_PATH))
    return [(d.code, d.line, d.col) for d in caught.value.diagnostics]


def short(text: object) -> str:
    text = str(text)
    return text if len(text) <= 40 else f"{text[:24]}...({len(text)} chars)"


def request(**order: object) -> dict[str, object]:
    return {**REQUEST, "order": {**REQUEST["order"], **order}}  # type: ignore[dict-item]


# --- refused at compile time --------------------------------------------------------------------

UNSAFE = [
    # attribute and dunder walks
    "().__class__.__bases__", "().__class__.__bases__[0].__subclasses__()", "order.__globals__",
    "signal.__class__", "order.__class__", "notional.__class__.__mro__", "(1).__class__", "'x'.__doc__",
    "order._private", "__builtins__", "__builtins__['eval']",
    # imports and the dangerous builtins
    "__import__('os')", "__import__('os').system('true')", "eval('1')", "exec('x = 1')", "open('/etc/passwd')",
    "getattr(order, 'qty')", "setattr(order, 'qty', 1)", "type(order)", "type('X', (), {})",
    "compile('1', 'x', 'eval')", "globals()", "locals()", "vars()", "dir()", "breakpoint()", "input()",
    "print(1)", "format(notional, 'x')", "object()", "super()",
    # functions, assignments, formatting
    "lambda: 1", "(lambda: 1)()", "(x := 1)", "[y for y in order.tags if (z := y)]", "f'{order}'",
    "f'{notional!r}'", "'%s' % notional", "'{}'.format(notional)", "'x'.upper()", "order.tags.append(1)",
    "[*order.tags]", "{**order}", "min(*order.tags)", "{1, 2}", "{x for x in order.tags}",
    "{x: 1 for x in order.tags}", "b'x'", "1j", "...",
    # comprehension bombs and huge values known at compile time
    "[x for x in range(10**9)]", "[[[z for z in range(9)] for y in range(9)] for x in range(9)]",
    "[x for x in range(1000) for y in range(1000)]", "sum(x for x in range(2000))",
    "9**9**9", "2**1000", "10**15**2", "'a'*10**9", "10**9*'a'", "[1]*10**9", "[1, 2]*60000", "order.tags*10**6",
    "'ab' * 60000", "1" + "0" * 20, "1e400", "-1e16", "'" + "a" * 1500 + "'",
    # identity of values depends on the interpreter
    "order.qty is 1", "order.tags is []",
]
TOO_COMPLEX = [
    "(" * 500 + "1" + ")" * 500,
    "-(" * 100 + "1" + ")" * 100,
    "not " * 100 + "True",
    "[" * 60 + "1" + "]" * 60,
    "+".join(["1"] * 900),
    "[" + ", ".join(["1"] * 500) + "]",
]


@pytest.mark.parametrize("probe", UNSAFE, ids=short)
def test_unsafe_expression_is_refused_where_it_is(probe: str) -> None:
    found = refusal(probe)
    assert found, probe
    code, line, col = found[0]
    assert code is Code.EXPR_UNSAFE
    assert line == PROBE_LINE and PROBE_COL < col <= PROBE_COL + len(json.dumps(probe))


@pytest.mark.parametrize("probe", TOO_COMPLEX, ids=short)
def test_deep_or_large_expression_is_refused(probe: str) -> None:
    code, line, _ = refusal(probe)[0]
    assert (code, line) == (Code.EXPR_TOO_COMPLEX, PROBE_LINE)


@pytest.mark.parametrize("probe", [
    "+".join(["1"] * 5000),                            # 5,000 terms: the parser's own recursion limit
    "(" * 5000 + "1" + ")" * 5000,
    "[" + ", ".join(["order.qty"] * 2000) + "]",
    "1" + "0" * 5000,                                  # beyond Python's int-literal digit limit
    "'" + "a" * 5000 + "'",
], ids=short)
def test_huge_expression_is_refused_by_schema_and_by_the_language(probe: str) -> None:
    """The policy schema caps an expression at 2,000 characters; the language holds without it."""
    assert refusal(probe)[0] == (Code.INVALID_VALUE, PROBE_LINE, PROBE_COL)
    scope = Scope({"order": {"type": "object", "properties": {"qty": {"type": "integer"}}}}, {}, {})
    codes = {issue.code for issue in analyze(probe, scope).issues}
    assert codes and codes <= {Code.EXPR_TOO_COMPLEX, Code.EXPR_UNSAFE, Code.EXPR_SYNTAX}


TEMPLATE_TRICKS = [
    "{signal.__class__}", "{notional.__class__}", "{0.__globals__}", "{0}", "{}", "{notional!r}", "{notional!s}",
    "{notional:{params.max_notional}}", "{notional:>99999}", "{notional:%s}", "{__import__}", "{_x}",
    "{order[qty]}", "{notional + 1}", "{notional()}", "{ {notional} }", "unbalanced {", "a } b", "{notional",
]


@pytest.mark.parametrize("message", TEMPLATE_TRICKS)
def test_format_string_tricks_in_templates_are_refused(message: str) -> None:
    code, line, _ = refusal("notional", message)[0]
    assert (code, line) == (Code.TEMPLATE, MESSAGE_LINE)


def test_template_placeholder_names_are_resolved() -> None:
    assert refusal("notional", "secret is {secret}")[0][:2] == (Code.EXPR_UNKNOWN_NAME, MESSAGE_LINE)


def test_template_never_reaches_python_formatting() -> None:
    policy = policy_engine.loads(policy_text("None", "literal {{notional}} and {notional:,.2f}"), str(POLICY_PATH))
    decision = policy.evaluate(REQUEST)
    assert decision.message == "literal {notional} and 1,000.00"


# --- bounded at run time -------------------------------------------------------------------------

RUNTIME_BOMBS = [  # (expression, what the message says, an order size the expression handles)
    ("'a' * order.qty", "repetition", 3),
    ("[0] * order.qty", "repetition", 3),
    ("order.tags * order.qty", "repetition", 3),
    ("order.qty * 'a'", "repetition", 3),
    ("('a' * (order.qty // 2)) + ('a' * (order.qty // 2))", "repetition", 3),
    ("2 ** order.qty", "power", 3),
    ("order.price ** order.qty", "power", 3),
    ("(order.qty ** 100) ** 100", "too large", 1),
    ("((order.qty * 1.0) ** 100) * 10.0 ** 100", "OverflowError", 3),
    ("[x for x in range(order.qty)]", "range", 3),
    ("sum([x for x in range(order.qty)])", "range", 3),
    ("order.tags[order.qty]", "IndexError", 0),
    ("{'a': 1}['__class__']", "KeyError", None),
]
TINY = policy_engine.load(FIXTURES / "tiny.yaml")


def assert_healthy() -> None:
    decision = TINY.evaluate(REQUEST, trace=True)
    assert decision.outcome == "approved"
    assert decision.values == {"notional": 1000.0, "combined": 0.5, "ratio": 0.2}


@pytest.mark.parametrize("probe, says, fine_qty", RUNTIME_BOMBS)
def test_input_sized_bomb_rejects_with_engine_error(probe: str, says: str, fine_qty: int | None) -> None:
    policy = policy_engine.loads(policy_text(probe), str(POLICY_PATH))
    for trace in (False, True):
        decision = policy.evaluate(request(qty=10**9), trace=trace)
        assert (decision.outcome, decision.reason, decision.rule) == ("rejected", "engine_error", "PROBE_GATE")
        assert "computing 'probe'" in decision.message and says in decision.message
        decision.to_json()
    if fine_qty is not None:
        assert policy.evaluate(request(qty=fine_qty)).outcome == "approved"
    assert_healthy()


@pytest.mark.parametrize("probe, _says, _qty", RUNTIME_BOMBS)
def test_reference_evaluator_bounds_the_same_bombs(probe: str, _says: str, _qty: int | None) -> None:
    policy = policy_engine.loads(policy_text(probe), str(POLICY_PATH))
    inputs, issues = policy.checker.check(request(qty=10**9))
    assert not issues
    record = interpret(policy.plan, inputs, inputs["now"])
    assert isinstance(record.error, ValueError_) and record.error.name == "probe"


def test_bounded_nested_comprehension_runs() -> None:
    policy = policy_engine.loads(policy_text("[[y for y in range(1000)] for x in range(1000)]"), str(POLICY_PATH))
    decision = policy.evaluate(REQUEST)
    assert decision.outcome == "approved"
    assert len(decision.values["probe"]) == 1000 and decision.values["probe"][999][999] == 999


@pytest.mark.parametrize("probe, message", [
    ("order.qty ** 100 * order.qty ** 100 * order.qty ** 100", "{probe}"),
    ("order.qty ** 100", "{probe:.2f}"),
])
def test_huge_integers_still_render(probe: str, message: str) -> None:
    """Integers beyond Python's printable size neither break the message nor the JSON."""
    policy = policy_engine.loads(policy_text(probe, message).replace("probe is not None", "probe < 0"),
                                 str(POLICY_PATH))
    decision = policy.evaluate(request(qty=10**15), trace=True)
    assert (decision.outcome, decision.reason) == ("rejected", "probe_missing")
    assert decision.message
    assert json.loads(decision.to_json())["trace"]


def test_process_is_healthy_after_every_attempt() -> None:
    assert_healthy()
