"""The evaluation graph: values and rules as nodes, data dependencies and rule order as edges.

Edges are data dependencies (a value or rule reads a value) plus the declared order of rules.
A cycle between values is a compile error that names the cycle; otherwise a lexicographic
topological sort keyed by declaration order yields one deterministic evaluation order.

Compiling needs only adjacency and a depth-first walk of a few dozen nodes, so ``DependencyGraph``
is a plain structure (importing networkx costs more than a whole small policy's compile).
networkx lists the cycles once one is found, and ``to_networkx`` hands the graph over for analysis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from policy_engine.compiler.plan import OutputsNode, Rule, Step, TriggerNode, ValueNode

if TYPE_CHECKING:
    import networkx as nx


class DependencyGraph:
    """Directed graph of node keys: each node holds its ``step`` and ``rank``, each edge its ``why``."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str], dict[str, str]] = {}
        self._predecessors: dict[str, list[str]] = {}
        self._successors: dict[str, list[str]] = {}

    def add_node(self, key: str, **attributes: Any) -> None:
        self.nodes.setdefault(key, {}).update(attributes)
        self._predecessors.setdefault(key, [])
        self._successors.setdefault(key, [])

    def add_edge(self, source: str, target: str, why: str) -> None:
        for key in (source, target):
            if key not in self.nodes:
                self.add_node(key)
        if (source, target) not in self.edges:
            self._predecessors[target].append(source)
            self._successors[source].append(target)
        self.edges[source, target] = {"why": why}

    def predecessors(self, key: str) -> list[str]:
        return self._predecessors[key]

    def has_cycle(self) -> bool:
        """Depth-first search with colours, iterative (no recursion limit on long chains)."""
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        for root in self.nodes:
            if root in state:
                continue
            state[root] = 1
            stack = [(root, iter(self._successors[root]))]
            while stack:
                key, successors = stack[-1]
                following = next(successors, None)
                if following is None:
                    state[key] = 2
                    stack.pop()
                elif state.get(following) == 1:
                    return True
                elif following not in state:
                    state[following] = 1
                    stack.append((following, iter(self._successors[following])))
        return False

    def to_networkx(self) -> "nx.DiGraph":
        import networkx as nx

        graph = nx.DiGraph()
        for key, attributes in self.nodes.items():
            graph.add_node(key, **attributes)
        for (source, target), attributes in self.edges.items():
            graph.add_edge(source, target, **attributes)
        return graph


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


def build_graph(values: dict[str, ValueNode], rules: Iterable[Rule]) -> DependencyGraph:
    graph = DependencyGraph()
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


def value_cycles(graph: DependencyGraph) -> list[list[str]]:
    """Each cycle once, as value names in dependency order, smallest rotation first."""
    if not graph.has_cycle():
        return []
    import networkx as nx

    cycles = []
    for cycle in nx.simple_cycles(graph.to_networkx()):
        names = [c.removeprefix("value:") for c in cycle]
        start = names.index(min(names))
        cycles.append(names[start:] + names[:start])
    return sorted(cycles)


def evaluation_order(graph: DependencyGraph) -> tuple[Step, ...]:
    """Rules in declared order, each preceded by the values it reads that are not placed yet.

    The graph must be acyclic. Predecessors are visited in declaration order, so the result is a
    topological order that reads like the file: a value appears just before its first reader.
    Values no rule reads come last, in declared order.
    """
    ranks = {key: attributes["rank"] for key, attributes in graph.nodes.items()}
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
