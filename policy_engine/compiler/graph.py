"""The evaluation graph: values and rules as nodes of a networkx DiGraph.

Edges are data dependencies (a value or rule reads a value) plus the declared order of rules.
A cycle between values is a compile error that names the cycle; otherwise a lexicographic
topological sort keyed by declaration order yields one deterministic evaluation order.
"""

from __future__ import annotations

from typing import Iterable

import networkx as nx

from policy_engine.compiler.plan import GateNode, OutputsNode, Rule, Step, TriggerNode, ValueNode


def node_key(step: Step) -> str:
    if isinstance(step, ValueNode):
        return f"value:{step.name}"
    return f"{type(step).__name__.removesuffix('Node').lower()}:{step.id}"


def rule_reads(rule: Rule, values: dict[str, ValueNode]) -> set[str]:
    if isinstance(rule, OutputsNode):
        return set(rule.names)
    if isinstance(rule, TriggerNode):
        return set(rule.when.value_refs) | _template_values(rule.message, values)
    exprs = [rule.applies_when] if rule.applies_when else []
    refs = set().union(*(e.value_refs for e in exprs)) if exprs else set()
    for check in rule.checks:
        refs |= check.pass_if.value_refs | _template_values(check.message, values)
    return refs


def _template_values(template: object, values: dict[str, ValueNode]) -> set[str]:
    names = getattr(template, "names", ())
    return {n for n in names if n in values}


def build_graph(values: dict[str, ValueNode], rules: Iterable[Rule]) -> nx.DiGraph:
    graph = nx.DiGraph()
    for position, value in enumerate(values.values()):
        graph.add_node(node_key(value), step=value, rank=(1, position))
    previous: str | None = None
    for position, rule in enumerate(rules):
        key = node_key(rule)
        graph.add_node(key, step=rule, rank=(0, position))
        if previous is not None:
            graph.add_edge(previous, key, why="order")
        previous = key
        for name in sorted(rule_reads(rule, values)):
            if name in values:
                graph.add_edge(f"value:{name}", key, why="reads")
    for value in values.values():
        for name in sorted(value.value_refs):
            if name in values:
                graph.add_edge(f"value:{name}", node_key(value), why="reads")
    return graph


def value_cycles(graph: nx.DiGraph) -> list[list[str]]:
    """Each cycle once, as value names in dependency order, smallest rotation first."""
    cycles = []
    for cycle in nx.simple_cycles(graph):
        names = [c.removeprefix("value:") for c in cycle]
        start = names.index(min(names))
        cycles.append(names[start:] + names[:start])
    return sorted(cycles)


def evaluation_order(graph: nx.DiGraph) -> tuple[Step, ...]:
    """Rules in declared order, each preceded by the values it reads that are not placed yet.

    The graph must be acyclic. Predecessors are visited in declaration order, so the result is a
    topological order that reads like the file: a value appears just before its first reader.
    Values no rule reads come last, in declared order.
    """
    ranks = nx.get_node_attributes(graph, "rank")
    placed: dict[str, None] = {}

    def place(key: str) -> None:
        if key in placed:
            return
        for dependency in sorted(graph.predecessors(key), key=lambda k: ranks[k]):
            if graph.edges[dependency, key]["why"] == "reads":
                place(dependency)
        placed[key] = None

    for key in sorted(graph.nodes, key=lambda k: ranks[k]):
        place(key)
    return tuple(graph.nodes[key]["step"] for key in placed)
