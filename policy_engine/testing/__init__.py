"""Policy tests: scenario files, coverage, and trace snapshots (docs/workflow.md).

    from policy_engine.testing import run_scenarios
    summary = run_scenarios(["policies"], coverage=True)
    summary.ok, summary.count("failed"), summary.coverage["policies/risk/position_sizing.yaml"].percent

One module per stage: ``scenarios`` (read and resolve ``*.tests.yaml``), ``adapters`` (the
per-kind registry; ``decision_adapter``, ``machine_adapter``, ``limits_adapter``), ``runner``,
``compare`` (expected vs actual, the parting trace step), ``coverage``, ``report`` (text, JSON,
JUnit), ``trace_yaml`` and ``snapshot`` (the syrupy extension), ``pytest_plugin``.
"""

from __future__ import annotations

from policy_engine.testing.runner import RunSummary, ScenarioRunner, run_scenarios
from policy_engine.testing.scenarios import load_scenario_file
from policy_engine.testing.trace_yaml import trace_document, trace_to_yaml

__all__ = ["RunSummary", "ScenarioRunner", "load_scenario_file", "run_scenarios", "trace_document", "trace_to_yaml"]
