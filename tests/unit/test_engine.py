"""The engine's promises: a full trace pinned as a snapshot; tracing changes nothing; compiling
twice gives the same plan and the same code; the same inputs give byte-identical JSON; one
compiled policy serves many threads.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

import policy_engine
from policy_engine.compiler.graph import node_key
from policy_engine.decision import Decision
from policy_engine.engine.run import CompiledPolicy
from policy_engine.testing.snapshot import TraceExtension

ROOT = Path(__file__).resolve().parents[2]
TINY = "tests/fixtures/tiny.yaml"  # relative to ROOT, so trace locations read the same everywhere
SIZING = "policies/risk/position_sizing.yaml"
SIZING_EXAMPLE = ROOT / "policies" / "risk" / "examples" / "approved.json"

TINY_APPROVED: dict[str, Any] = {"now": "2025-01-01T00:00:05Z", "account": {"balance": 1500.0, "drawdown": 0.15},
                 "order": {"qty": 10, "price": 100.0, "placed_at": "2025-01-01T00:00:01.250Z", "tags": []}}
TINY_REJECTED: dict[str, Any] = {"now": "2025-01-01T00:00:05Z", "account": {"balance": 900.0, "drawdown": None},
                 "order": {"qty": 20, "price": 45.5, "placed_at": "2025-01-01T00:00:04Z", "tags": ["retail"]}}


@pytest.fixture(scope="module")
def policies() -> Iterator[dict[str, CompiledPolicy]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        yield {TINY: policy_engine.load(TINY), SIZING: policy_engine.load(SIZING)}


def _requests() -> list[dict[str, Any]]:
    """The seeded generator's requests (position sizing), or the shipped example alone."""
    try:
        from tests.bench.generator import generate_requests
    except ImportError:
        return [json.loads(SIZING_EXAMPLE.read_text(encoding="utf-8"))]
    return generate_requests(400, seed=3)


REQUESTS = _requests()


def without_trace(decision: Decision) -> dict[str, Any]:
    data = decision.to_dict()
    data.pop("trace", None)
    return data


# --- the snapshot -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, request_", [("approved", TINY_APPROVED), ("rejected", TINY_REJECTED)])
def test_tiny_trace_snapshot(policies: dict[str, CompiledPolicy], name: str, request_: dict[str, Any],
                             snapshot: SnapshotAssertion) -> None:
    decision = policies[TINY].evaluate(request_, trace=True)
    assert decision.outcome == name
    assert decision == snapshot(extension_class=TraceExtension)


def test_position_sizing_trace_snapshot(policies: dict[str, CompiledPolicy], snapshot: SnapshotAssertion) -> None:
    request = json.loads(SIZING_EXAMPLE.read_text(encoding="utf-8"))
    decision = policies[SIZING].evaluate(request, trace=True)
    assert decision.outcome == "approved"
    assert decision == snapshot(extension_class=TraceExtension)


def test_trace_lists_every_step_in_plan_order(policies: dict[str, CompiledPolicy]) -> None:
    policy = policies[TINY]
    trace = policy.evaluate(TINY_REJECTED, trace=True).trace
    assert trace is not None
    assert [s.rule for s in trace.steps] == [node_key(s).split(":", 1)[1] for s in policy.plan.order]
    statuses = {s.rule: s.status for s in trace.steps}
    assert statuses == {"FRESH_GATE": "passed", "notional": "computed", "NOTIONAL_GATE": "passed",
                        "BALANCE_GATE": "failed", "ratio": "computed", "BIG_RATIO": "fired",
                        "dd": "not reached", "size_mult": "not reached", "combined": "not reached",
                        "outputs": "not reached"}
    failed = trace.step("BALANCE_GATE")
    assert failed.location == f"{TINY}:34" and failed.detail == "balance_too_low"
    assert dict(failed.reads) == {"account.balance": 900.0, "order.tags": ["retail"], "params.min_balance": 1000}


# --- tracing on and off ---------------------------------------------------------------------------

def test_tracing_changes_nothing_on_generated_requests(policies: dict[str, CompiledPolicy]) -> None:
    policy = policies[SIZING]
    outcomes = set()
    for request in REQUESTS:
        traced, plain = policy.evaluate(request, trace=True), policy.evaluate(request, trace=False)
        assert plain.trace is None and traced.trace is not None
        assert without_trace(traced) == without_trace(plain)
        outcomes.add(plain.outcome)
    assert outcomes == {"approved", "rejected"} or len(REQUESTS) == 1


@pytest.mark.parametrize("request_", [TINY_APPROVED, TINY_REJECTED, {"now": "2025-01-01T00:00:05Z"},
                                      {**TINY_APPROVED, "account": {"balance": 0.0, "drawdown": 0.0}}])
def test_tracing_changes_nothing_on_tiny(policies: dict[str, CompiledPolicy], request_: dict[str, Any]) -> None:
    policy = policies[TINY]
    assert without_trace(policy.evaluate(request_, trace=True)) == without_trace(policy.evaluate(request_))


# --- compile twice, determinism, byte stability ---------------------------------------------------

@pytest.mark.parametrize("path", [TINY, SIZING])
def test_compiling_twice_gives_the_same_plan_and_code(policies: dict[str, CompiledPolicy], path: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    first, second = policies[path], policy_engine.load(path)
    assert [node_key(s) for s in first.plan.order] == [node_key(s) for s in second.plan.order]
    assert first.plan.order == second.plan.order
    assert first.source == second.source
    assert first.plan.info == second.plan.info


@pytest.mark.parametrize("path", [TINY, SIZING])
def test_same_inputs_give_byte_identical_json(policies: dict[str, CompiledPolicy], path: str) -> None:
    request = TINY_APPROVED if path == TINY else json.loads(SIZING_EXAMPLE.read_text(encoding="utf-8"))
    policy = policies[path]
    first = policy.evaluate(copy.deepcopy(request), trace=True).to_json()
    shuffled = json.loads(json.dumps(request), object_pairs_hook=lambda pairs: dict(reversed(pairs)))
    assert policy.evaluate(shuffled, trace=True).to_json() == first
    assert policy.evaluate(request, trace=True).to_json() == first


def test_json_is_canonical_and_free_of_durations(policies: dict[str, CompiledPolicy]) -> None:
    decision = policies[TINY].evaluate(TINY_APPROVED, trace=True)
    text = decision.to_json()
    assert "duration" not in text
    assert json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) == text
    timed = json.loads(decision.to_json(timing=True))
    assert timed["provenance"]["duration_us"] >= 0


def test_input_hash_is_stable_and_sensitive(policies: dict[str, CompiledPolicy]) -> None:
    policy = policies[TINY]
    hashes = {policy.evaluate(copy.deepcopy(TINY_APPROVED)).provenance.input_hash for _ in range(3)}
    reordered = {"order": dict(reversed(list(TINY_APPROVED["order"].items()))), "account": TINY_APPROVED["account"],
                 "now": TINY_APPROVED["now"]}
    hashes.add(policy.evaluate(reordered).provenance.input_hash)
    assert len(hashes) == 1 and hashes.pop().startswith("sha256:")
    same_instant = {**TINY_APPROVED, "now": "2025-01-01T01:00:05+01:00"}  # timestamps are normalized first
    assert policy.evaluate(same_instant).provenance.input_hash == policy.evaluate(TINY_APPROVED).provenance.input_hash
    other = {**TINY_APPROVED, "order": {**TINY_APPROVED["order"], "qty": 11}}
    assert policy.evaluate(other).provenance.input_hash != policy.evaluate(TINY_APPROVED).provenance.input_hash


def test_provenance_names_policy_and_engine(policies: dict[str, CompiledPolicy]) -> None:
    provenance = policies[TINY].evaluate(TINY_APPROVED).to_dict()["provenance"]
    assert provenance["policy_id"] == "test.tiny" and provenance["policy_version"] == "1.0.0"
    assert provenance["content_hash"].startswith("sha256:") and provenance["engine_version"] == policy_engine.__version__
    assert provenance["evaluated_at"] == "2025-01-01T00:00:05.000Z"


def test_evaluate_does_not_change_its_input(policies: dict[str, CompiledPolicy]) -> None:
    request = copy.deepcopy(TINY_APPROVED)
    policies[TINY].evaluate(request, trace=True)
    assert request == TINY_APPROVED


# --- threads ----------------------------------------------------------------------------------------

def test_eight_threads_decide_like_one(policies: dict[str, CompiledPolicy]) -> None:
    policy = policies[SIZING]
    work = [(request, index % 5 == 0) for index, request in enumerate(REQUESTS[:250] * 2)]
    sequential = [policy.evaluate(request, trace=trace).to_dict() for request, trace in work]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda item: policy.evaluate(item[0], trace=item[1]).to_dict(), work))
    assert threaded == sequential


def test_a_trigger_message_without_placeholders_renders() -> None:
    """Regression (found by the fuzzer): a fired trigger whose message reads no value carries the
    not-computed sentinel as its values; rendering must not iterate it."""
    import policy_engine as pe

    text = Path("tests/fixtures/tiny.yaml").read_text().replace(
        "    event: LIMIT_WARNING", '    event: LIMIT_WARNING\n    message: "ratio above half"')
    policy = pe.loads(text, "tests/fixtures/tiny.yaml")
    request = {"now": "2025-01-01T00:00:01Z", "account": {"balance": 1500, "drawdown": 0.15},
               "order": {"qty": 10, "price": 99.5, "placed_at": "2025-01-01T00:00:00Z", "tags": []}}
    decision = policy.evaluate(request, trace=True)
    assert [f.message for f in decision.fired] == ["ratio above half"]
    assert decision.events[-1].message == "ratio above half"
    assert '"ratio above half"' in decision.to_json()


# --- the generated function: each value computed once, and only when needed ------------------------

LAZY_POLICY = """\
apiVersion: policy-engine/v1
kind: DecisionPolicy
metadata: {id: test.lazy, version: 1.0.0, owners: [tests]}
inputs: {schema: tiny.schema.json}
values:
  per_unit: account.balance / order.qty
  big: per_unit > 100
  label: "'big' if big else 'small'"
  shown: "'none' if order.qty == 0 else label"
  per_dd: account.balance / account.drawdown
gates:
  - id: QTY_GATE
    pass_if: order.qty == 0 or per_unit > 1
    reject: too_small
    message: "per unit {per_unit}"
  - id: DD_GATE
    applies_when: order.price > 1
    pass_if: account.drawdown is None or 0 < per_dd < account.balance * 100
    reject: drawdown
outputs: [shown]
"""


def _lazy_request(qty: int, balance: float, drawdown: float | None, price: float = 2.0) -> dict[str, Any]:
    return {"now": "2025-01-01T00:00:05Z", "account": {"balance": balance, "drawdown": drawdown},
            "order": {"qty": qty, "price": price, "placed_at": "2025-01-01T00:00:01Z", "tags": []}}


@pytest.mark.parametrize("request_, outcome, reason, computed", [
    (_lazy_request(0, 1500.0, None), "approved", None, {"shown"}),  # qty 0: per_unit would divide by zero
    (_lazy_request(10, 1500.0, 0.5), "approved", None, {"per_unit", "per_dd", "big", "label", "shown"}),
    (_lazy_request(10, 5.0, None), "rejected", "too_small", {"per_unit"}),
    (_lazy_request(10, 1500.0, 0.0), "rejected", "engine_error", {"per_unit"}),  # per_dd: 1500 / 0.0
    (_lazy_request(10, 1500.0, 0.0, price=0.5), "approved", None, {"per_unit", "big", "label", "shown"}),
])
def test_a_value_needed_on_some_paths_is_computed_only_there(request_: dict[str, Any], outcome: str, reason: str | None,
                                                            computed: set[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from policy_engine.engine.interpret import interpret

    monkeypatch.chdir(ROOT)
    policy = policy_engine.loads(LAZY_POLICY, "tests/fixtures/lazy.yaml")
    decision = policy.evaluate(request_, trace=True)
    assert (decision.outcome, decision.reason) == (outcome, reason)
    assert decision.trace is not None
    assert {s.rule for s in decision.trace.steps if s.kind == "value" and s.status == "computed"} == computed
    inputs, _ = policy.checker.check(request_)
    record = interpret(policy.plan, inputs, inputs["now"])
    assert set(record.values) == computed  # the reference computes exactly the same values
    if reason == "engine_error":  # fails closed, naming the rule and the value
        assert decision.rule == "DD_GATE" and "computing 'per_dd'" in decision.message
    if reason == "too_small":
        assert decision.message == "per unit 0.5" and isinstance(decision.message, str)


def test_sizing_source_writes_each_value_out_once_per_path(policies: dict[str, CompiledPolicy]) -> None:
    """Regression guard: values read on some paths used to be inlined in full, recursively, at
    every read (~600 KB of source for position sizing). Now a value is computed by statements
    where it is first needed; only reads inside a comprehension's element compute inline."""
    source = policies[SIZING].source
    assert len(source) < 100_000
    inline = [line for line in source.splitlines() if ":=" in line]
    assert all(" for l_" in line for line in inline)  # only comprehension elements
    statements = [line.strip() for line in source.splitlines() if not line.endswith("= _M")]
    for name in policies[SIZING].plan.values:  # a few statements per value (a branch each, a path or two)
        assert sum(line.startswith(f"v_{name} = ") for line in statements) <= 6, name


def test_a_chain_too_deep_to_compile_is_a_located_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    chain = "\n".join(["  v0: order.price * 2"] + [f"  v{i}: \"v{i - 1} + 1 if order.qty > {i} else 0\""
                                                     for i in range(1, 400)])
    text = LAZY_POLICY.split("values:")[0] + f"values:\n{chain}\noutputs: [v399]\n"
    with pytest.raises(policy_engine.PolicyError) as raised:
        policy_engine.loads(text, "tests/fixtures/deep.yaml")
    assert [d.code.value for d in raised.value.diagnostics] == ["E304"]


# --- the Decision and its trace --------------------------------------------------------------------

def test_a_trace_is_what_the_evaluation_saw_whenever_it_is_read(policies: dict[str, CompiledPolicy]) -> None:
    """Steps are made on first read, from reads taken at decision time: changing the request
    afterwards (the checked inputs share its parts) does not change the trace."""
    policy = policies[SIZING]
    request = copy.deepcopy(REQUESTS[1])
    expected = policy.evaluate(copy.deepcopy(request), trace=True).trace
    decision = policy.evaluate(request, trace=True)
    request["signal"]["confidence"], request["exposure"]["open_positions"] = 0.0, 99
    request["signal"]["entry_price_zone"] = {"low": -1.0, "high": -1.0}
    assert decision.trace is not None and expected is not None
    assert decision.trace.to_list() == expected.to_list() and decision.trace == expected


def test_a_decision_is_immutable(policies: dict[str, CompiledPolicy]) -> None:
    decision = policies[TINY].evaluate(TINY_REJECTED)
    with pytest.raises(AttributeError):
        decision.outcome = "approved"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        decision.events[0].type = "OTHER"  # type: ignore[misc]
    assert decision.message == decision.events[0].message and isinstance(decision.message, str)


SLICE_POLICY = """\
apiVersion: policy-engine/v1
kind: DecisionPolicy
metadata: {id: test.slices, version: 1.0.0, owners: [tests]}
inputs: {schema: tiny.schema.json}
values:
  cut: order.qty // 2
  n: "len(order.tags[0:(cut if order.qty > 0 else 1)])"
  m: "min(order.qty, cut) if order.price > 1 else 0"
  k: "[t for t in order.tags][0:cut] if order.qty > 3 else []"
gates:
  - id: G
    pass_if: "order.qty == 0 or n > 5 or 0 < cut < m"
    reject: bad
outputs: [n, m, k]
"""


@pytest.mark.parametrize("qty, price", [(0, 2.0), (6, 2.0), (6, 0.5), (1, 2.0)])
def test_lowered_slices_and_comparison_chains_agree_with_the_reference(qty: int, price: float,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from policy_engine.engine.interpret import interpret

    monkeypatch.chdir(ROOT)
    policy = policy_engine.loads(SLICE_POLICY, "tests/fixtures/slices.yaml")
    request = {"now": "2025-01-01T00:00:05Z", "account": {"balance": 1.0, "drawdown": None},
               "order": {"qty": qty, "price": price, "placed_at": "2025-01-01T00:00:01Z", "tags": ["a", "b", "c"]}}
    decision = policy.evaluate(request, trace=True)
    inputs, _ = policy.checker.check(request)
    record = interpret(policy.plan, inputs, inputs["now"])
    assert decision.trace is not None
    assert {s.rule for s in decision.trace.steps if s.kind == "value" and s.status == "computed"} == set(record.values)
    assert (decision.outcome == "rejected") == (record.rejected_gate >= 0)
    if record.outputs is not None:
        assert tuple(decision.values.values()) == record.outputs
