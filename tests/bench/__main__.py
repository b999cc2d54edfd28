"""The benchmark suite: decisions measured against a hand-written floor in the same run.

    python -m tests.bench [--requests 10000] [--jsonl 100000] [--memory 1000000] [--quick]

Not collected by pytest (no timing ever lives in a unit test). It prints one table and writes
tests/bench/results/bench.json. Before timing, the engine's decisions are checked against the
floor (tests/bench/floor.py, the seed's decision written by hand) on every generated request.

Measured, each with its ratio to the floor of the same run:
  floor                 the hand-written decision (the speed floor)
  engine                CompiledPolicy.evaluate, tracing off (the engine's public facade)
  engine, traced        the same with the full trace built
  engine, batch         CompiledPolicy.evaluate_batch over the whole list
  RiskManager.size      the domain facade: engine + the seed's PositionSizingDecision contract
and: cold load + compile of every shipped policy, `eval --jsonl` end to end on N requests
(a subprocess, as a user runs it), the limits benchmark, and peak traced memory over many
decisions, sampled to show it stays flat.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import policy_engine
from policy_engine.risk.facade import RiskManager
from tests.bench import floor
from tests.bench.agreement import check_agreement
from tests.bench.generator import generate_requests

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results" / "bench.json"
SIZING = ROOT / "policies" / "risk" / "position_sizing.yaml"


def per_call_us(function: Callable[[Any], Any], requests: list[Any], repeats: int = 5) -> dict[str, float]:
    """Median and p99 of per-call latency (µs), from the fastest of several passes per request."""
    samples: list[float] = []
    clock = time.perf_counter_ns
    best = [float("inf")] * len(requests)
    for _ in range(repeats):
        for index, request in enumerate(requests):
            started = clock()
            function(request)
            elapsed = clock() - started
            if elapsed < best[index]:
                best[index] = elapsed
    samples = sorted(b / 1000 for b in best)
    return {"median_us": statistics.median(samples), "p99_us": samples[int(len(samples) * 0.99) - 1]}


def batch_us(policy: Any, requests: list[Any], repeats: int = 5) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        policy.evaluate_batch(requests)
        times.append((time.perf_counter_ns() - started) / 1000 / len(requests))
    return {"median_us": statistics.median(times), "p99_us": max(times)}


def cold_load_ms() -> dict[str, float]:
    """Each shipped policy loaded and compiled in a fresh interpreter (no caches), in ms."""
    results = {}
    for path in sorted((ROOT / "policies").rglob("*.yaml")):
        if path.name.endswith(".tests.yaml") or "examples" in path.parts:
            continue
        code = ("import time; t=time.perf_counter(); import policy_engine; "
                f"policy_engine.load({str(path)!r}); print((time.perf_counter()-t)*1000)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
        results[str(path.relative_to(ROOT))] = round(float(out.stdout.strip()), 1)
    return results


def jsonl_throughput(count: int) -> dict[str, float]:
    """`policy-engine eval POLICY --jsonl` end to end on `count` generated requests."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "requests.jsonl"
        with source.open("w", encoding="utf-8") as stream:
            for request in generate_requests(count, seed=17):
                stream.write(json.dumps(request) + "\n")
        started = time.perf_counter()
        with (Path(folder) / "out.jsonl").open("w") as sink:
            subprocess.run([sys.executable, "-m", "policy_engine.cli", "eval", str(SIZING), "--jsonl", str(source)],
                           stdout=sink, cwd=ROOT, check=False)
        seconds = time.perf_counter() - started
        lines = sum(1 for _ in (Path(folder) / "out.jsonl").open())
    return {"requests": count, "decisions": lines, "seconds": round(seconds, 2),
            "per_second": round(count / seconds)}


def memory_profile(policy: Any, requests: list[Any], total: int) -> dict[str, Any]:
    """Traced memory after each tenth of `total` decisions: flat means nothing accumulates."""
    tracemalloc.start()
    checkpoints = []
    step = max(total // 10, 1)
    for done in range(1, total + 1):
        policy.evaluate(requests[done % len(requests)])
        if done % step == 0:
            checkpoints.append(round(tracemalloc.get_traced_memory()[0] / 1024, 1))
    peak = tracemalloc.get_traced_memory()[1] / 1024
    tracemalloc.stop()
    return {"decisions": total, "current_kib_each_tenth": checkpoints, "peak_kib": round(peak, 1),
            "growth_kib_after_first_tenth": round(checkpoints[-1] - checkpoints[0], 1)}


def limits_benchmark(quick: bool) -> dict[str, Any]:
    argv = [sys.executable, "-m", "tests.bench.bench_limits"] + (["--repeats", "3"] if quick else [])
    subprocess.run(argv, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
    path = ROOT / "tests" / "bench" / "results" / "limits.json"
    return json.loads(path.read_text()) if path.exists() else {"error": "limits benchmark produced no result"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--jsonl", type=int, default=100_000)
    parser.add_argument("--memory", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.jsonl, args.memory = 2_000, 5_000, 50_000
    requests = generate_requests(args.requests, seed=7)
    policy = policy_engine.load(SIZING)
    manager = RiskManager(policy)
    agreed = check_agreement(policy, requests)
    print(f"engine == floor on {agreed:,} generated requests")

    rows = {
        "floor": per_call_us(floor.decide, requests),
        "engine": per_call_us(policy.evaluate, requests),
        "engine, traced": per_call_us(lambda r: policy.evaluate(r, trace=True), requests[:2000], repeats=3),
        "engine, batch": batch_us(policy, requests),
        "RiskManager.size": per_call_us(manager.size, requests[:2000], repeats=3),
    }
    base = rows["floor"]["median_us"]
    print(f"\n{'decision path':<20} {'median µs':>10} {'p99 µs':>10} {'x floor':>8}")
    for name, row in rows.items():
        row["ratio_to_floor"] = round(row["median_us"] / base, 2)
        print(f"{name:<20} {row['median_us']:>10.2f} {row['p99_us']:>10.2f} {row['ratio_to_floor']:>8.2f}")
    loads = cold_load_ms()
    print("\ncold load + compile (ms): " + ", ".join(f"{Path(k).name} {v}" for k, v in loads.items()))
    jsonl = jsonl_throughput(args.jsonl)
    print(f"eval --jsonl: {jsonl['requests']:,} requests in {jsonl['seconds']} s ({jsonl['per_second']:,}/s)")
    memory = memory_profile(policy, requests, args.memory)
    print(f"memory over {memory['decisions']:,} decisions (KiB each tenth): {memory['current_kib_each_tenth']}")
    limits = limits_benchmark(args.quick)
    print(f"limits: {json.dumps(limits.get('results', limits))[:300]}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpus": os.cpu_count()},
              "requests": args.requests, "agreement": agreed, "latency": rows, "cold_load_ms": loads,
              "jsonl": jsonl, "memory": memory, "limits": limits}
    RESULTS.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
