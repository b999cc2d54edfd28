"""Fuzzing the front door: arbitrary YAML-ish text and random mutations of every shipped
DecisionPolicy only ever end in a compiled policy or a PolicyError — never another exception,
never a hang.

Mutations work on the parsed document (delete, duplicate, retype and rename keys, swap ids,
inject nasty expressions, reorder lists, change numbers) or on the text (drop, repeat or cut
lines). Every case runs under a wall-clock alarm: a hang detector, not a performance check.
The number of cases is printed after the module runs (with or without -s) and recorded as a
junit property.
"""

from __future__ import annotations

import copy
import os
import json
import math
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine.errors import PolicyError

ROOT = Path(__file__).resolve().parents[2]
CASE_SECONDS = 30.0  # a hang detector, generous for a loaded CI machine: not a performance bound

NASTY_EXPRESSIONS = [
    "().__class__.__bases__[0].__subclasses__()", "order.__globals__", "__import__('os').system('true')",
    "eval('1')", "exec('x=1')", "open('/etc/passwd')", "getattr(order, 'qty')", "type(1)", "lambda: 1",
    "(x := 1)", "f'{order}'", "9**9**9", "'a' * 10**9", "[1] * 10**9", "[x for x in range(10**9)]",
    "[[y for y in range(1000)] for x in range(1000)]", "(" * 300 + "1" + ")" * 300, "+".join(["1"] * 900),
    "'x'.upper()", "1 if", "", " ", "now -", "params", "params.nope", "{'a': 1}['b']", "[1, 2][5]",
    "1 / 0", "min()", "max([], default=None)", "1e400", "10**15 * 10**15", "None + 1", "'a' + 1",
    "1 is 1", "1[0]", "abs(-1) is not True", "not", "'\\x00'", "\"{notional}\"", "{x for x in []}",
]
WEIRD_VALUES: list[Any] = [None, True, False, 0, -1, 1.5, 1e308, math.inf, -math.inf, "", "x", "1.0.0",
                           "policy-engine/v1", [], [1], {}, {"a": 1}, "{notional}", "{{", "}"]
NUMBERS: list[float] = [0, -0.0, -1, 1, 0.5, 1e-12, 1e15, 1e16, -1e300, math.inf, -math.inf, math.nan, 2**63]
YAMLISH = list("abcxyz_:-[]{},'\"#&*!|>%@`?~ \n\n\n\t0123456789.") + ["  ", "- ", ": ", "\n  ", "apiVersion",
                                                                      "kind", "gates", "pass_if", "---", "..."]
YAMLISH_TEXT = st.lists(st.sampled_from(YAMLISH), max_size=150).map("".join)

CASES: Counter[str] = Counter()
OUTCOMES: Counter[str] = Counter()  # first diagnostic code, or "compiled", per case


def _decision_policies() -> list[Path]:
    found = []
    for path in sorted(ROOT.glob("policies/**/*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue
        if isinstance(data, dict) and data.get("kind") == "DecisionPolicy":
            found.append(path)
    return [*found, ROOT / "tests" / "fixtures" / "tiny.yaml"]


SHIPPED = {path: yaml.safe_load(path.read_text(encoding="utf-8")) for path in _decision_policies()}
TINY_REQUEST = {"now": "2025-01-01T00:00:05Z", "account": {"balance": 5000.0, "drawdown": 0.15},
                "order": {"qty": 10, "price": 100.0, "placed_at": "2025-01-01T00:00:01Z", "tags": []}}


def _sample_requests() -> dict[Path, Any]:
    """For each policy, the first shipped example its input schema accepts."""
    examples = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(ROOT.glob("policies/**/examples/**/*.json"))]
    samples: dict[Path, Any] = {}
    for path in SHIPPED:
        checker = policy_engine.load(path).checker
        fits = [r for r in [*examples, TINY_REQUEST] if isinstance(r, dict) and not checker.check(r)[1]]
        if fits:
            samples[path] = fits[0]
    return samples


SAMPLES = _sample_requests()
# A large policy costs ~0.3 s per case (YAML source map and code generation): fewer cases there.
LARGE = [p for p in SHIPPED if len(p.read_text(encoding="utf-8")) > 10_000]
SMALL = [p for p in SHIPPED if p not in LARGE]


class CaseHung(BaseException):
    """Raised by the alarm; a BaseException so no `except Exception` in the engine can hide it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise CaseHung(f"a fuzz case ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def compile_only_or_diagnose(text: str, path: Path, kind: str) -> None:
    """The property: a compiled policy, or a PolicyError with located diagnostics. A mutant
    that compiles must also decide the policy's sample request without raising."""
    CASES[kind] += 1
    with time_limit(CASE_SECONDS):
        try:
            policy = policy_engine.loads(text, str(path))
            OUTCOMES["compiled"] += 1
            if path in SAMPLES:
                for trace in (False, True):
                    policy.evaluate(SAMPLES[path], trace=trace).to_json()
        except PolicyError as problem:
            assert problem.diagnostics, "a PolicyError must carry diagnostics"
            OUTCOMES[problem.diagnostics[0].code.name] += 1
            for diagnostic in problem.diagnostics:
                assert diagnostic.line >= 1 and diagnostic.col >= 1
                diagnostic.format_text()
                diagnostic.to_dict()


@pytest.fixture(scope="module", autouse=True)
def report_case_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    total = sum(CASES.values())
    detail = ", ".join(f"{kind}: {n}" for kind, n in sorted(CASES.items()))
    plugins = request.config.pluginmanager
    reporter, capture = plugins.getplugin("terminalreporter"), plugins.getplugin("capturemanager")
    if reporter is not None and capture is not None and total:
        with capture.global_and_fixture_disabled():  # shown with or without -s
            reporter.ensure_newline()
            reporter.write_line(f"fuzzed {total} policy documents ({detail}): {OUTCOMES['compiled']} compiled, "
                                f"{total - OUTCOMES['compiled']} refused with diagnostics")


@pytest.fixture(autouse=True)
def record_case_count(record_property: Any) -> Iterator[None]:
    yield
    record_property("fuzzed_policies", sum(CASES.values()))


# --- paths into a document ------------------------------------------------------------------------

def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def _pick(data: st.DataObject, doc: Any, want: type | tuple[type, ...] | None = None) -> tuple[Any, ...] | None:
    paths = [p for p in _paths(doc) if want is None or isinstance(_value(doc, p), want)]
    return data.draw(st.sampled_from(paths)) if paths else None


def _value(doc: Any, path: tuple[Any, ...]) -> Any:
    return _parent(doc, path)[path[-1]]


# --- mutations on the document --------------------------------------------------------------------

def delete(data: st.DataObject, doc: Any) -> None:
    if (path := _pick(data, doc)) is not None:
        del _parent(doc, path)[path[-1]]


def retype(data: st.DataObject, doc: Any) -> None:
    if (path := _pick(data, doc)) is not None:
        _parent(doc, path)[path[-1]] = data.draw(st.sampled_from(WEIRD_VALUES))


def rename(data: st.DataObject, doc: Any) -> None:
    paths = [p for p in _paths(doc) if isinstance(p[-1], str)]
    if not paths:
        return
    path = data.draw(st.sampled_from(paths))
    parent = _parent(doc, path)
    new = data.draw(st.sampled_from([path[-1] + "x", path[-1].upper(), "id", "else", "when", "of", "_", "1"]))
    renamed = {(new if key == path[-1] else key): value for key, value in parent.items()}
    parent.clear()
    parent.update(renamed)


def swap_ids(data: st.DataObject, doc: Any) -> None:
    sections = [doc.get(name) for name in ("gates", "tables", "combiners", "triggers")]
    rules = [item for section in sections if isinstance(section, list)
             for item in section if isinstance(item, dict) and "id" in item]
    if len(rules) >= 2:
        first, second = data.draw(st.permutations(rules))[:2]
        if data.draw(st.booleans()):
            first["id"], second["id"] = second["id"], first["id"]
        else:
            first["id"] = second["id"]


EXPRESSION_KEYS = {"pass_if", "when", "applies_when", "of", "message"}


def _is_expression(path: tuple[Any, ...]) -> bool:
    return path[-1] in EXPRESSION_KEYS or path[0] == "values" or (len(path) > 1 and path[-2] in ("of", "bounds"))


def inject(data: st.DataObject, doc: Any) -> None:
    """A nasty expression where the policy has an expression (or a message template)."""
    paths = [p for p in _paths(doc) if isinstance(_value(doc, p), str) and _is_expression(p)]
    if paths:
        path = data.draw(st.sampled_from(paths))
        _parent(doc, path)[path[-1]] = data.draw(st.sampled_from(NASTY_EXPRESSIONS))


def reorder(data: st.DataObject, doc: Any) -> None:
    if (path := _pick(data, doc, list)) is not None:
        items = _value(doc, path)
        _parent(doc, path)[path[-1]] = data.draw(st.permutations(items)) if items else items


def renumber(data: st.DataObject, doc: Any) -> None:
    paths = [p for p in _paths(doc) if isinstance(_value(doc, p), (int, float)) and not isinstance(_value(doc, p), bool)]
    if paths:
        path = data.draw(st.sampled_from(paths))
        _parent(doc, path)[path[-1]] = data.draw(st.sampled_from(NUMBERS) | st.floats(-1e6, 1e6) | st.integers())


def duplicate_entry(data: st.DataObject, doc: Any) -> None:
    if (path := _pick(data, doc, list)) is not None and _value(doc, path):
        items = _value(doc, path)
        items.insert(data.draw(st.integers(0, len(items))), copy.deepcopy(data.draw(st.sampled_from(items))))


DOC_MUTATIONS = [delete, retype, rename, swap_ids, inject, inject, reorder, renumber, duplicate_entry]


# --- mutations on the text (duplicate keys, broken indentation, truncation) -------------------------

def text_mutation(data: st.DataObject, text: str) -> str:
    lines = text.splitlines()
    index = data.draw(st.integers(0, max(len(lines) - 1, 0)))
    how = data.draw(st.sampled_from(["repeat", "drop", "cut", "indent", "garble"]))
    if how == "repeat":
        lines.insert(index, lines[index] if lines else "")
    elif how == "drop" and lines:
        del lines[index]
    elif how == "cut":
        return text[:data.draw(st.integers(0, len(text)))]
    elif how == "indent" and lines:
        lines[index] = data.draw(st.sampled_from([" ", "\t", "   "])) + lines[index]
    elif lines:
        lines[index] = data.draw(YAMLISH_TEXT) + lines[index][index % 7:]
    return "\n".join(lines) + "\n"


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10_000)


# CI replays the same cases; FUZZ_EXPLORE=1 draws new ones (run it locally to hunt for holes).
FUZZ = settings(max_examples=50, deadline=None, database=None, derandomize=not os.environ.get("FUZZ_EXPLORE"),
                suppress_health_check=list(HealthCheck))


def _mutate_and_compile(path: Path, data: st.DataObject) -> None:
    doc = copy.deepcopy(SHIPPED[path])
    for mutation in data.draw(st.lists(st.sampled_from(DOC_MUTATIONS), min_size=1, max_size=3)):
        mutation(data, doc)
    compile_only_or_diagnose(_dump(doc), path, f"{path.stem} mutated")


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.stem)
@FUZZ
@given(data=st.data())
def test_mutated_shipped_policy_compiles_or_diagnoses(path: Path, data: st.DataObject) -> None:
    _mutate_and_compile(path, data)


@pytest.mark.parametrize("path", LARGE, ids=lambda p: p.stem)
@settings(FUZZ, max_examples=15)
@given(data=st.data())
def test_mutated_large_shipped_policy_compiles_or_diagnoses(path: Path, data: st.DataObject) -> None:
    _mutate_and_compile(path, data)


@pytest.mark.parametrize("path", list(SHIPPED), ids=lambda p: p.stem)
@settings(FUZZ, max_examples=10)
@given(data=st.data())
def test_text_mutations_of_shipped_policy_compile_or_diagnose(path: Path, data: st.DataObject) -> None:
    text = text_mutation(data, path.read_text(encoding="utf-8"))
    compile_only_or_diagnose(text, path, f"{path.stem} text")


@settings(FUZZ, max_examples=300)
@given(text=YAMLISH_TEXT | st.text(max_size=100) | st.binary(max_size=100).map(lambda raw: raw.decode("latin-1")))
def test_arbitrary_yamlish_text_compiles_or_diagnoses(text: str) -> None:
    compile_only_or_diagnose(text, ROOT / "tests" / "fixtures" / "fuzz.yaml", "arbitrary text")


SCALARS = st.none() | st.booleans() | st.integers(-10, 10) | st.floats(allow_nan=False) | st.sampled_from(
    NASTY_EXPRESSIONS + ["policy-engine/v1", "DecisionPolicy", "tiny.schema.json", "x", "1.0.0"])
KEYS = st.sampled_from(["apiVersion", "kind", "metadata", "id", "version", "owners", "inputs", "schema", "params",
                        "values", "tables", "combiners", "gates", "triggers", "outputs", "steps", "of", "pass_if",
                        "reject", "checks", "when", "reason", "below", "else", "value", "bounds", "x"])
DOCS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
                    max_leaves=25)


@settings(FUZZ, max_examples=100)
@given(body=st.dictionaries(KEYS, DOCS, max_size=8))
def test_policy_shaped_documents_compile_or_diagnose(body: dict[str, Any]) -> None:
    doc = {"apiVersion": "policy-engine/v1", "kind": "DecisionPolicy",
           "metadata": {"id": "fuzz", "version": "1.0.0", "owners": ["t"]}, "inputs": {"schema": "tiny.schema.json"},
           **body}
    compile_only_or_diagnose(_dump(doc), ROOT / "tests" / "fixtures" / "fuzz.yaml", "policy-shaped")


def test_the_hang_detector_fires() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal.alarm needs the main thread")
    with pytest.raises(CaseHung), time_limit(0.05):
        threading.Event().wait(5)
