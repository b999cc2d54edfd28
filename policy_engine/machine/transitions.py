"""Choosing and taking transitions: priority, hysteresis, confirmation windows, chains, bounce
prevention and manual overrides. Everything here works on one step's ``Work``; nothing is kept.
"""

from __future__ import annotations

from typing import Any

from policy_engine.ir import EventSpec
from policy_engine.machine.evaluate import Env, ExprFailure, condition, evaluate
from policy_engine.machine.plan import MachinePlan, TransitionNode
from policy_engine.machine.state import ModeTransition
from policy_engine.machine.work import Recorder, Work, duration_text, names

CHAIN_STOPPED = "MACHINE_CHAIN_STOPPED"
TAKEN, FIRED, WAITING, CONFIRMING, BLOCKED, CLEAR = "taken", "fired", "waiting", "confirming", "blocked", "clear"
OVERRIDE_RULE = "manual_override"


def run_chain(plan: MachinePlan, work: Work, inputs: dict[str, Any], rec: Recorder) -> None:
    """Take transitions until none fires, at most ``max_chain`` of them, never revisiting a state."""
    visited = [work.mode]
    for depth in range(plan.max_chain + 1):
        chosen = select(plan, work, inputs, rec, lookahead=True)
        if chosen is None:
            return
        node, env = chosen
        stop = (f"stopped after {plan.max_chain} transitions in one step" if depth == plan.max_chain
                else f"{node.to} was already visited in this step" if node.to in visited else "")
        if stop:
            rec.event(work, CHAIN_STOPPED, "WARNING", node.id, "chain_stopped", f"{node.id} not taken: {stop}")
            return
        enter(plan, work, rec, to=node.to, rule=node.id, trigger=node.trigger, reason=_reason(node, env),
              emit=node.emit)
        visited.append(node.to)


def select(plan: MachinePlan, work: Work, inputs: dict[str, Any], rec: Recorder,
           lookahead: bool) -> tuple[TransitionNode, Env] | None:
    """Evaluate every transition out of the current state (all of them: windows must see every
    observation) and return the first, by priority, that may be taken now."""
    env = names(plan, work, inputs)
    chosen: TransitionNode | None = None
    windows: dict[str, int] = {}
    in_state = work.now - work.since
    for node in plan.outgoing.get(work.mode, ()):
        held = condition(node.when, env, node.id)
        status, detail = CLEAR, ""
        if held:
            start = work.windows.get(node.id, work.now)
            if node.confirm:
                windows[node.id] = start
            status, detail = _readiness(node, work, in_state, work.now - start, chosen)
            if status == TAKEN and lookahead and node.stable:
                blocker = destination_fires(plan, work, inputs, node)
                if blocker is not None:
                    status, detail = BLOCKED, f"{node.to} would move on at once ({blocker} fires there)"
            if status == TAKEN:
                chosen = node
        rec.step("transition", node.id, node.location, node.when, env, held, status, detail,
                 expression=f"{node.source} -> {node.to} when {node.when.text}")
    work.windows = windows
    return (chosen, env) if chosen is not None else None


def _readiness(node: TransitionNode, work: Work, in_state: int, held_for: int,
               chosen: TransitionNode | None) -> tuple[str, str]:
    if in_state < node.min_time:
        return WAITING, f"in {work.mode} for {duration_text(in_state)}, needs {duration_text(node.min_time)}"
    if held_for < node.confirm:
        return CONFIRMING, f"held for {duration_text(held_for)} of {duration_text(node.confirm)}"
    if chosen is not None:
        return FIRED, f"not chosen: {chosen.id} comes first"
    return TAKEN, f"held for {duration_text(held_for)}" if node.confirm else ""


def destination_fires(plan: MachinePlan, work: Work, inputs: dict[str, Any], node: TransitionNode) -> str | None:
    """The id of a transition that would leave ``node.to`` at once if ``node`` were taken, else None."""
    probe = work.copy()
    silent = Recorder(plan, tracing=False)
    enter(plan, probe, silent, to=node.to, rule=node.id, trigger=node.trigger, reason="")
    chosen = select(plan, probe, inputs, silent, lookahead=False)
    return chosen[0].id if chosen is not None else None


def enter(plan: MachinePlan, work: Work, rec: Recorder, *, to: str, rule: str, trigger: str, reason: str,
          emit: tuple[EventSpec, ...] = (), manual: bool = False) -> None:
    """Move to ``to``: record the ModeTransition, emit its events, reset the windows, apply bounce rules."""
    transition = ModeTransition(from_mode=work.mode, to_mode=to, transition_at=work.now, reason=reason,
                                trigger=trigger, rule=rule, step=work.seq, manual=manual)
    work.history = (*work.history, transition)[-plan.history_size:]
    work.mode, work.since, work.reason, work.entry_trigger = to, work.now, reason, trigger
    work.windows = {}
    work.entered.append(to)
    rec.transitions.append(transition)
    main = plan.transition_event if not manual else None
    for spec in (*((main,) if main else ()), *emit, *plan.on_enter.get(to, ())):
        rec.event(work, spec.event, spec.severity, rule, trigger, reason)
    _bounce(plan, work, rec, transition)


def _bounce(plan: MachinePlan, work: Work, rec: Recorder, transition: ModeTransition) -> None:
    """Disarm on the next move into ``applies_to``; arm on a completed round trip within the window."""
    rule = plan.bounce
    if rule is None:
        return
    if transition.to_mode == rule.applies_to and work.bounce_armed_at is not None:
        work.bounce_armed_at = None
        rec.step("bounce", "bounce", rule.location, None, None, rule.scale, "disarmed",
                 f"{transition.from_mode} -> {transition.to_mode} used threshold_scale {rule.scale}",
                 expression="bounce prevention")
    hops = len(rule.pattern) - 1
    recent = work.history[-hops:]
    path = [recent[0].from_mode, *(t.to_mode for t in recent)] if len(recent) == hops else []
    if path == list(rule.pattern):
        took = work.now - recent[0].transition_at
        armed = took <= rule.within
        if armed:
            work.bounce_armed_at = work.now
            if rule.emit is not None:
                rec.event(work, rule.emit.event, rule.emit.severity, "bounce", "bounce_armed",
                          f"{' -> '.join(rule.pattern)} in {duration_text(took)}")
        rec.step("bounce", "bounce", rule.location, None, None, rule.scale if armed else 1.0,
                 "armed" if armed else "not armed",
                 f"{' -> '.join(rule.pattern)} took {duration_text(took)}, limit {duration_text(rule.within)}",
                 expression="bounce prevention")


def take_override(plan: MachinePlan, work: Work, inputs: dict[str, Any], rec: Recorder) -> bool:
    """Apply an operator's request; True when it moved the machine (no automatic move follows)."""
    node = plan.override
    request = inputs.get(node.input) if node is not None else None
    if node is None or request is None:
        return False
    env = names(plan, work, inputs)
    request = request if isinstance(request, dict) else {}
    target, by = request.get("to"), request.get("by") or "operator"
    why = request.get("reason") or ""
    message = f"{by}: {work.mode} -> {target}" + (f" ({why})" if why else "")
    refusal = _refusal(plan, work, target, condition(node.allowed, env, OVERRIDE_RULE))
    rec.step("override", OVERRIDE_RULE, node.location, node.allowed, env, refusal is None,
             "taken" if refusal is None else "refused", refusal or "", message)
    if refusal is not None:
        rec.event(work, node.event, node.severity, OVERRIDE_RULE, refusal, f"refused: {message}")
        return False
    rec.event(work, node.event, node.severity, OVERRIDE_RULE, OVERRIDE_RULE, message)
    enter(plan, work, rec, to=str(target), rule=OVERRIDE_RULE, trigger=OVERRIDE_RULE,
          reason=f"manual override by {by}" + (f": {why}" if why else ""), manual=True)
    return True


def _refusal(plan: MachinePlan, work: Work, target: Any, allowed: bool) -> str | None:
    if not allowed:
        return "override_not_allowed"
    if target not in plan.states:
        return "unknown_state"
    if target == work.mode:
        return "already_in_state"
    if (work.mode, target) in plan.forbidden:
        return "invalid_transition"
    return None


def _reason(node: TransitionNode, env: Env) -> str:
    """The transition's reason template rendered with the values it names; its trigger otherwise."""
    if node.reason is None:
        return node.trigger

    def value(name: str) -> Any:
        try:
            return evaluate(node.reason_exprs[name], env, node.id)
        except ExprFailure:
            return "?"

    return node.reason.render(value)
