"""``policy-engine replay`` and ``policy-engine state show``: machines over observation logs.

replay POLICY OBSERVATIONS.jsonl [--state DB] [--set P=V] [--format text|json] [--trace]
    steps the machine through the log, one observation per line, and prints every transition with
    its reason, the events and the actions. Without --state the state lives in memory, so two
    runs print byte-identical output. With --state the state is loaded from and committed to the
    SQLite file; steps already committed there are reported and skipped.
state show --state DB [--machine ID] [--format text|json]
    prints the committed state of every machine (or one), its recent history and events.
Exit codes: 0 ok, 1 policy errors, 2 usage, 4 an observation or a stored state was refused.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from policy_engine.cli.common import EXIT_INVALID, EXIT_OK, EXIT_POLICY, UsageError, load_policy
from policy_engine.decision import iso_from_us
from policy_engine.machine import CompiledMachine, MachineError, MachineState, StepResult
from policy_engine.store import MachineRunner, MachineStore, StoredMachine, StoreError

SHOWN = 10  # history, transitions and events listed by `state show`
_UNSET = object()


def register(sub: Any, add_set: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the machine commands to the main parser's subcommands."""
    replay_cmd = sub.add_parser("replay", help="step a machine policy through an observation log")
    replay_cmd.add_argument("policy", metavar="POLICY")
    replay_cmd.add_argument("observations", metavar="OBSERVATIONS.jsonl")
    replay_cmd.add_argument("--state", metavar="DB", help="SQLite state file to resume from and commit to")
    replay_cmd.add_argument("--machine", metavar="ID", help="machine instance id (default: the policy id)")
    replay_cmd.add_argument("--format", choices=("text", "json"), default="text")
    replay_cmd.add_argument("--trace", action="store_true", help="include every step's trace")
    add_set(replay_cmd)
    replay_cmd.set_defaults(run=replay)

    state_cmd = sub.add_parser("state", help="inspect durable machine state")
    state_sub = state_cmd.add_subparsers(dest="state_command", required=True, metavar="ACTION")
    show = state_sub.add_parser("show", help="the committed state of the machines in a state file")
    show.add_argument("--state", metavar="DB", required=True)
    show.add_argument("--machine", metavar="ID")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(run=state_show)


# --- replay ------------------------------------------------------------------------------
def replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    machine = load_policy(args.policy, args.set, err)
    if machine is None:
        return EXIT_POLICY
    if not isinstance(machine, CompiledMachine):
        raise UsageError(f"{args.policy} is not a MachinePolicy")
    lines = _read_lines(args.observations)
    store = _open_store(args.state) if args.state else MachineStore(":memory:")
    with store:
        runner = MachineRunner(machine, store, args.machine)
        report = _Replay(runner, args.policy, args.trace)
        code = report.run(lines, err)
    print(report.render(args.format), file=out)
    return code


class _Replay:
    def __init__(self, runner: MachineRunner, policy_path: str, trace: bool):
        self.runner, self.policy_path, self.trace = runner, policy_path, trace
        self.steps: list[dict[str, Any]] = []
        self.start: MachineState | None = None
        self.final: MachineState | None = None
        self._line = 0

    def run(self, lines: list[tuple[int, str]], err: TextIO) -> int:
        try:
            self.start = self.final = self.runner.state()
            for number, text in lines:
                self._feed(number, text)
        except MachineError as problem:
            print(f"policy-engine: {self.policy_path}: refused: {problem}", file=err)
            self.steps.append({"line": self._line, "error": str(problem)})
            return EXIT_INVALID
        return EXIT_OK

    def _feed(self, number: int, text: str) -> None:
        self._line = number
        try:
            observation = json.loads(text, parse_constant=_refuse_constant)
        except ValueError as problem:
            raise _LineError(f"line {number}: not valid JSON: {problem}") from None
        fed = self.runner.feed(observation, trace=self.trace)
        if fed.result is None:
            self.steps.append({"line": number, "skipped": "already committed", "step_id": fed.step_id})
            return
        self.final = fed.result.new_state
        self.steps.append({"line": number, **fed.result.to_dict(trace=self.trace), "_result": fed.result})

    def render(self, fmt: str) -> str:
        machine = self.runner.machine
        head = {"policy": machine.id, "version": machine.version, "file": self.policy_path,
                "content_hash": machine.content_hash, "machine": self.runner.machine_id}
        if fmt == "json":
            steps = [{k: v for k, v in step.items() if k != "_result"} for step in self.steps]
            data = {**head, "start": self.start.to_display() if self.start else None, "steps": steps,
                    "final": self.final.to_display() if self.final else None}
            return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
        lines = [f"replay {machine.id} {machine.version} ({self.policy_path}, {machine.content_hash[:19]})",
                 f"machine {self.runner.machine_id}: " + (_mode_line(self.start) if self.start else "new")]
        previous: dict[str, Any] = {}
        for step in self.steps:
            lines += _step_text(step, self.trace, previous)
            previous = step.get("outputs", previous)
        transitions = sum(len(s.get("transitions", ())) for s in self.steps)
        skipped = sum(1 for s in self.steps if "skipped" in s)
        stepped = sum(1 for s in self.steps if "_result" in s)
        end = _mode_line(self.final) if self.final else "no step taken"
        lines.append(f"end: {end}; {stepped} steps, {transitions} transitions, {skipped} skipped")
        return "\n".join(lines)


class _LineError(MachineError):
    """A line of the log is not an observation at all."""


def _mode_line(state: MachineState) -> str:
    return f"{state.mode} since {iso_from_us(state.mode_since)} ({state.entry_trigger}), step {state.seq}"


def _step_text(step: dict[str, Any], trace: bool, previous: dict[str, Any]) -> list[str]:
    """A step's transitions, events, actions, and the outputs that changed since the step before."""
    line = step["line"]
    if "error" in step:
        return [f"line {line}: refused: {step['error']}"]
    if "skipped" in step:
        return [f"line {line}: skipped, already committed (step {step['step_id']})"]
    result: StepResult = step["_result"]
    body = [f"  {t.from_mode} -> {t.to_mode} [{t.trigger}] {t.reason}" + ("  (manual)" if t.manual else "")
            for t in result.transitions]
    triggers = {t.trigger for t in result.transitions}
    body += [f"  event {e.type} {e.severity} ({e.rule}: {e.reason})" + ("" if e.reason in triggers else f" {e.message}")
             for e in result.events]
    body += [f"  action {a.action}: " + "; ".join(_item_text(i) for i in a.items) for a in result.actions]
    body += [f"  invalid {path}: {message}" for path, message in result.invalid]
    changed = {k: v for k, v in result.outputs.items() if previous.get(k, _UNSET) != v}
    if changed:
        body.append("  outputs: " + ", ".join(f"{k}={json.dumps(v, sort_keys=True)}" for k, v in changed.items()))
    if trace and result.trace:
        body += ["  " + row for step_trace in result.trace for row in step_trace.format_text().split("\n")]
    if not body:
        return []
    return [f"line {line}  step {result.new_state.seq}  {step['at']}  now {result.new_state.mode}", *body]


def _item_text(item: Any) -> str:
    if isinstance(item, dict) and {"symbol", "qty"} <= item.keys():
        rest = ", ".join(f"{k}={v}" for k, v in item.items() if k not in ("symbol", "qty"))
        return f"{item['symbol']} {item['qty']}" + (f" ({rest})" if rest else "")
    return json.dumps(item, sort_keys=True, ensure_ascii=False)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _read_lines(path: str) -> list[tuple[int, str]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise UsageError(f"cannot read {path}: {problem.__class__.__name__}: {problem}") from problem
    return [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _open_store(path: str, must_exist: bool = False) -> MachineStore:
    if must_exist and not Path(path).is_file():
        raise UsageError(f"no state file {path}")
    try:
        return MachineStore(path)
    except (StoreError, OSError, sqlite3.Error) as problem:  # unreadable, not a database, another schema
        raise UsageError(f"cannot open state file {path}: {problem}") from problem


# --- state show ----------------------------------------------------------------------------
def state_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _open_store(args.state, must_exist=True) as store:
        machines = store.machines()
        if args.machine is not None:
            machines = [m for m in machines if m.machine_id == args.machine]
            if not machines:
                known = ", ".join(m.machine_id for m in store.machines()) or "none"
                raise UsageError(f"no machine '{args.machine}' in {args.state} (machines: {known})")
        shown = [_machine_data(store, m) for m in machines]
    if args.format == "json":
        print(json.dumps({"state_file": args.state, "machines": shown}, indent=2, sort_keys=True,
                         ensure_ascii=False), file=out)
    else:
        print("\n\n".join(_machine_text(m) for m in shown) or f"{args.state}: no machines", file=out)
    return EXIT_OK


def _machine_data(store: MachineStore, stored: StoredMachine) -> dict[str, Any]:
    try:
        state: Any = MachineState.model_validate(stored.state).to_display()
    except ValueError as problem:
        state = {"error": f"stored state is malformed: {problem}"}
    events = [{**e, "at": iso_from_us(e["at"])} for e in store.events(stored.machine_id, SHOWN)]
    transitions = [{**t, "at": iso_from_us(t["at"])} for t in store.transitions(stored.machine_id, SHOWN)]
    return {"machine_id": stored.machine_id, "policy": stored.policy_id, "version": stored.policy_version,
            "content_hash": stored.content_hash, "step": stored.seq, "state_id": stored.state_id,
            "state": state, "recent_transitions": transitions, "recent_events": events}


def _machine_text(data: dict[str, Any]) -> str:
    state = data["state"]
    lines = [f"machine {data['machine_id']} (policy {data['policy']} {data['version']}, step {data['step']})"]
    if "error" in state:
        return "\n".join([*lines, f"  {state['error']}"])
    lines += [f"  mode: {state['mode']} since {state['mode_since']} ({state['entry_trigger']}: {state['mode_reason']})",
              f"  last step: {state['updated_at']}"]
    for key in ("counters", "timers", "windows", "memory"):
        if state[key]:
            lines.append(f"  {key}: " + ", ".join(f"{k}={json.dumps(v, sort_keys=True)}" for k, v in state[key].items()))
    if state["bounce_armed_at"]:
        lines.append(f"  bounce prevention armed at {state['bounce_armed_at']}")
    lines.append(f"  history (last {len(state['mode_history'])}):")
    lines += [f"    {t['transition_at']}  {t['from_mode']} -> {t['to_mode']} [{t['trigger']}] {t['reason']}"
              for t in state["mode_history"]]
    lines.append(f"  recent events (last {len(data['recent_events'])}):")
    lines += [f"    {e['at']}  {e['type']} {e['severity']} ({e['rule']}: {e['reason']}) {e['message']}"
              for e in data["recent_events"]]
    return "\n".join(lines)
