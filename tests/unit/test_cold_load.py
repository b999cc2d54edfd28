"""Loading a policy stays cheap: the shape cache, the dependency graph without networkx, and which
heavy libraries a fresh process imports to load, compile and evaluate (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.compiler.graph import DependencyGraph, value_cycles
from policy_engine.errors import Code
from policy_engine.schema import ShapeChecker
from policy_engine.shape_cache import ENV, ShapeCache, cache_root
from policy_engine.source import parse_source

ROOT = Path(__file__).resolve().parents[2]
# One policy of each kind (the sizing policy would do as well, but takes seconds to compile).
POLICIES = [str(ROOT / "tests" / "fixtures" / "tiny.yaml"), str(ROOT / "policies" / "risk" / "circuit_breaker.yaml"),
            str(ROOT / "policies" / "risk" / "pre_trade_limits.yaml")]
SCHEMA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}},
          "additionalProperties": False}

# Loads the policies, evaluates the DecisionPolicy, prints which heavy modules got imported.
PROBE = """
import json, sys
import policy_engine
for path in sys.argv[1:]:
    policy = policy_engine.load(path)
    if isinstance(policy, policy_engine.CompiledPolicy):
        policy.evaluate({})
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & {"pydantic", "jsonschema", "networkx"})))
"""


def _fresh_process_imports(cache: Path) -> list[str]:
    env = {"PATH": "/usr/bin:/bin", ENV: str(cache), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROBE, *POLICIES], capture_output=True, text=True, cwd=ROOT,
                          env=env, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_fresh_process_loads_and_evaluates_without_pydantic_or_networkx(tmp_path: Path) -> None:
    assert _fresh_process_imports(tmp_path) == ["jsonschema"]  # first load: the shapes are checked
    assert _fresh_process_imports(tmp_path) == []  # then known: no validator is even imported


def _doc(text: str) -> Any:
    return parse_source(text, "doc.yaml")


def test_a_passing_document_is_remembered_and_not_checked_again(tmp_path: Path) -> None:
    cache = ShapeCache(tmp_path, "schema-digest")
    assert ShapeChecker(SCHEMA, cache).check(_doc("name: a\n")) == []
    fresh = ShapeChecker(SCHEMA, cache)
    assert fresh.check(_doc("name: a\n")) == [] and fresh._validator is None  # answered from the cache
    assert fresh.check(_doc("name: b\n")) == [] and fresh._validator is not None  # other text: checked


def test_a_failing_document_is_never_remembered(tmp_path: Path) -> None:
    cache = ShapeCache(tmp_path, "schema-digest")
    for _ in range(2):
        (problem,) = ShapeChecker(SCHEMA, cache).check(_doc("name: 1\n"))
        assert (problem.code, problem.json_path) == (Code.WRONG_TYPE, "$.name")
    assert not cache.passed("name: 1\n") and len(list(tmp_path.iterdir())) == 1  # the schema's own pass


def test_another_schema_does_not_reuse_a_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    ShapeChecker(SCHEMA).check(_doc("name: a\n"))
    stricter = {**SCHEMA, "properties": {"name": {"type": "string", "maxLength": 0}}}
    assert [d.json_path for d in ShapeChecker(stricter).check(_doc("name: a\n"))] == ["$.name"]


def test_the_cache_can_be_turned_off_and_survives_an_unwritable_folder(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "off")
    assert cache_root() is None and ShapeChecker(SCHEMA).cache is None
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    cache = ShapeCache(blocked / "shape", "digest")
    assert ShapeChecker(SCHEMA, cache).check(_doc("name: a\n")) == []
    assert not cache.passed("name: a\n")


# --- the dependency graph agrees with networkx ----------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=20))
def test_cycles_are_found_exactly_when_networkx_finds_them(edges: list[tuple[int, int]]) -> None:
    graph = DependencyGraph()
    for index in range(8):
        graph.add_node(f"value:v{index}", rank=(1, index))
    for source, target in edges:
        graph.add_edge(f"value:v{source}", f"value:v{target}", why="reads")
    reference = graph.to_networkx()
    assert graph.has_cycle() == (not nx.is_directed_acyclic_graph(reference))
    expected = sorted(_rotated([c.removeprefix("value:") for c in cycle]) for cycle in nx.simple_cycles(reference))
    assert value_cycles(graph) == expected


def _rotated(names: list[str]) -> list[str]:
    start = names.index(min(names))
    return names[start:] + names[:start]


def test_the_schema_itself_is_checked_once_per_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jsonschema import Draft202012Validator

    cache = ShapeCache(tmp_path, "schema-digest")
    calls: list[Any] = []
    monkeypatch.setattr(Draft202012Validator, "check_schema", classmethod(lambda cls, schema: calls.append(schema)))
    ShapeChecker(SCHEMA, cache).check(_doc("name: a\n"))
    ShapeChecker(SCHEMA, cache).check(_doc("name: b\n"))
    assert calls == [SCHEMA] and cache.schema_passed()
