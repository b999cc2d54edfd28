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
  facade part of size   the contract alone, built from an already decided request
  eval --jsonl line     parse one JSON line, decide, write the contract decision as one line
and: cold load + compile of every shipped policy in fresh interpreters (empty and filled shape
cache, import and compile shares apart), `eval --jsonl` end to end on N requests
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
from policy_engine.cli.render import jsonl_renderer
from policy_engine.risk.facade import RiskManager, build_decision
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


COLD_PROBE = ("import time; t=time.perf_counter(); import policy_engine; i=time.perf_counter(); "
              "policy_engine.load({path!r}); e=time.perf_counter(); print((i-t)*1000, (e-i)*1000)")


def _cold_run(path: Path, cache: Path) -> tuple[float, float]:
    """(import ms, load + compile ms) of one fresh interpreter; interpreter start-up itself excluded."""
    env = {**os.environ, "POLICY_ENGINE_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-c", COLD_PROBE.format(path=str(path))], capture_output=True, text=True,
                         cwd=ROOT, env=env, check=True)
    imported, loaded = map(float, out.stdout.split())
    return imported, loaded


def cold_load_ms(runs: int = 3) -> dict[str, dict[str, float]]:
    """Each shipped policy loaded and compiled in fresh interpreters, the median of ``runs``: with an
    empty shape cache (the first load of a file's content on a machine: jsonschema checks it) and
    with the cache holding that content (every later load), each split into import and compile."""
    results = {}
    for path in sorted((ROOT / "policies").rglob("*.yaml")):
        if path.name.endswith(".tests.yaml") or "examples" in path.parts:
            continue
        with tempfile.TemporaryDirectory() as folder:
            empty = [_cold_run(path, Path(folder) / f"empty{run}") for run in range(runs)]
            warm = [_cold_run(path, Path(folder) / "empty0") for _ in range(runs)]
        row: dict[str, float] = {}
        for name, samples in (("empty_cache", empty), ("cached", warm)):
            imported, loaded = (statistics.median(column) for column in zip(*samples))
            row.update({f"{name}_import_ms": round(imported, 1), f"{name}_compile_ms": round(loaded, 1),
                        f"{name}_total_ms": round(imported + loaded, 1)})
        results[str(path.relative_to(ROOT))] = row
    return results


def jsonl_throughput(count: int, jobs: int = 1) -> dict[str, float]:
    """`policy-engine eval POLICY --jsonl [--jobs N]` end to end on `count` generated requests
    (interpreter start, import and compile included)."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "requests.jsonl"
        with source.open("w", encoding="utf-8") as stream:
            for request in generate_requests(count, seed=17):
                stream.write(json.dumps(request) + "\n")
        started = time.perf_counter()
        with (Path(folder) / "out.jsonl").open("w") as sink:
            subprocess.run([sys.executable, "-m", "policy_engine.cli", "eval", str(SIZING), "--jsonl", str(source),
                            "--jobs", str(jobs)], stdout=sink, cwd=ROOT, check=False)
        seconds = time.perf_counter() - started
        lines = sum(1 for _ in (Path(folder) / "out.jsonl").open())
    return {"requests": count, "jobs": jobs, "decisions": lines, "seconds": round(seconds, 2),
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
    decided = [(request, policy.evaluate(request)) for request in requests[:2000]]
    lines = [json.dumps(request) for request in requests[:2000]]
    render = jsonl_renderer(policy, trace=False)

    def jsonl_line(line: str) -> str:
        """What `eval --jsonl` does per line: parse, decide, write the contract decision."""
        request = json.loads(line)
        return render(request, policy.evaluate(request))

    print(f"engine == floor on {agreed:,} generated requests")

    rows = {
        "floor": per_call_us(floor.decide, requests),
        "engine": per_call_us(policy.evaluate, requests),
        "engine, traced": per_call_us(lambda r: policy.evaluate(r, trace=True), requests[:2000], repeats=3),
        "engine, batch": batch_us(policy, requests),
        "RiskManager.size": per_call_us(manager.size, requests[:2000], repeats=3),
        "facade part of size": per_call_us(lambda pair: build_decision(policy, *pair), decided[:2000], repeats=3),
        "eval --jsonl line": per_call_us(jsonl_line, lines[:2000], repeats=3),
    }
    base = rows["floor"]["median_us"]
    print(f"\n{'decision path':<22} {'median µs':>10} {'p99 µs':>10} {'x floor':>8}")
    for name, row in rows.items():
        row["ratio_to_floor"] = round(row["median_us"] / base, 2)
        print(f"{name:<22} {row['median_us']:>10.2f} {row['p99_us']:>10.2f} {row['ratio_to_floor']:>8.2f}")
    loads = cold_load_ms()
    print(f"\n{'cold load, fresh process (ms)':<30} {'import':>7} {'compile':>8} {'total':>7}   "
          f"{'cached: import':>14} {'compile':>8} {'total':>7}")
    for name, row in loads.items():
        print(f"{Path(name).name:<30} {row['empty_cache_import_ms']:>7} {row['empty_cache_compile_ms']:>8} "
              f"{row['empty_cache_total_ms']:>7}   {row['cached_import_ms']:>14} {row['cached_compile_ms']:>8} "
              f"{row['cached_total_ms']:>7}")
    jsonl = jsonl_throughput(args.jsonl)
    print(f"eval --jsonl: {jsonl['requests']:,} requests in {jsonl['seconds']} s ({jsonl['per_second']:,}/s)")
    jsonl_jobs = jsonl_throughput(args.jsonl, jobs=os.cpu_count() or 1)
    print(f"eval --jsonl --jobs {jsonl_jobs['jobs']}: {jsonl_jobs['requests']:,} requests in {jsonl_jobs['seconds']} s "
          f"({jsonl_jobs['per_second']:,}/s)")
    memory = memory_profile(policy, requests, args.memory)
    print(f"memory over {memory['decisions']:,} decisions (KiB each tenth): {memory['current_kib_each_tenth']}")
    limits = limits_benchmark(args.quick)
    print(f"limits: {json.dumps(limits.get('results', limits))[:300]}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpus": os.cpu_count()},
              "requests": args.requests, "agreement": agreed, "latency": rows, "cold_load_ms": loads,
              "jsonl": jsonl, "jsonl_jobs": jsonl_jobs, "memory": memory, "limits": limits}
    RESULTS.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
