"""Checks a model's wiring as a whole before anything runs, and reports every problem at once.

A model that passes cannot hang for want of a value: every input is fed (by a connector or by
initial values) and every cycle holds at least one initial value to start it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .component import Component
from .connector import Connector, PortRef, parse_port_ref
from .errors import ModelError, Problem

__all__ = [
    "Edge",
    "Wiring",
    "check_wiring",
    "close_match",
    "described",
    "initial_values_problems",
    "quote_list",
]


@dataclass(frozen=True, slots=True)
class Edge:
    """One valid connector: ``index`` is its position in the process's connector list."""

    index: int
    source: PortRef
    target: PortRef
    connector: Connector


@dataclass(slots=True)
class Wiring:
    components: dict[str, Component]
    edges: list[Edge]


def quote_list(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def close_match(word: str, choices: Sequence[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def described(value: Any, *, yaml: bool = False) -> str:
    """A value as a message shows it: its type and a short repr, or what kind of container;
    ``yaml``: spelled as the model file spells it (``null``, ``bool true``)."""
    if value is None:
        return "null" if yaml else "None"
    if yaml and isinstance(value, bool):
        return f"bool {str(value).lower()}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{type(value).__name__} {text}"


def initial_values_problems(value: Any, inputs: Sequence[str]) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong with ``initial_values`` as a component was given them: per problem, the
    path below ``initial_values`` and the message (without the ``component 'x': `` prefix).

    Each input's initial values are a list of values (from Python any iterable but a string,
    bytes or a mapping). A string is refused because it is iterable: ``{"x": "10"}`` would
    feed '1' and then '0'.
    """
    if not isinstance(value, Mapping):
        example = inputs[0] if inputs else "x"
        return [
            (
                (),
                f"initial_values is {described(value)}, not a mapping of input name to a list of values; "
                f"write e.g. {{{example!r}: [1]}}",
            )
        ]
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for port, values in value.items():
        if isinstance(values, (str, bytes, bytearray, Mapping)) or not isinstance(values, Iterable):
            problems.append(
                (
                    (port,),
                    f"initial_values for input {port!r} is {described(values)}, not a list of values; "
                    + _as_list(values),
                )
            )
    return problems


def _as_list(value: Any) -> str:
    if value is None:
        return "leave the input out, or give a list of values"
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return f"write [{value!r}] for one value"
        return f"write [{value.strip()}] (or [{value!r}] for one string)"
    text = repr(value)
    if len(text) > 40:
        return "put it in a list, [...], for one value"
    return f"write [{text}] for one value"


def check_wiring(components: Sequence[Component], connectors: Sequence[Connector]) -> Wiring:
    """Validate names, ports, feeds and cycles; raise ``ModelError`` listing every problem."""
    problems: list[Problem] = []
    by_name: dict[str, Component] = {}
    first_index: dict[str, int] = {}
    for i, component in enumerate(components):
        if not isinstance(component, Component):
            problems.append(
                Problem(f"components[{i}]: {component!r} is not a Component; pass Component instances", ("components", i))
            )
            continue
        name = component.name
        if name in by_name:
            problems.append(
                Problem(
                    f"duplicate component name {name!r} (components[{first_index[name]}] and components[{i}]); "
                    "names must be unique",
                    ("components", i, "args", "name"),
                )
            )
            continue
        by_name[name] = component
        first_index[name] = i

    for name, component in by_name.items():
        inputs = component.io.inputs
        for port in component.initial_values:
            if port not in inputs:
                problems.append(
                    Problem(
                        f"component {name!r}: initial_values names unknown input {port!r}; "
                        + _valid_ports("inputs", inputs),
                        ("components", first_index[name], "args", "initial_values", port),
                    )
                )

        # The values as given, before Component.__init__ turned each into a list: only they
        # show a string that list() would have split into characters.
        given = getattr(component, "init_args", None)
        raw = given.get("initial_values") if isinstance(given, Mapping) else None
        if raw is not None:
            for suffix, message in initial_values_problems(raw, inputs):
                problems.append(
                    Problem(f"component {name!r}: {message}", ("components", first_index[name], "args", "initial_values", *suffix))
                )

    edges: list[Edge] = []
    seen_pairs: dict[tuple[PortRef, PortRef], int] = {}
    for i, connector in enumerate(connectors):
        if not isinstance(connector, Connector):
            problems.append(
                Problem(f"connectors[{i}]: {connector!r} is not a Connector; pass e.g. AsyncioConnector(spec=...)", ("connectors", i))
            )
            continue
        label = connector.spec.label
        source = _resolve(connector.spec.source, "source", "outputs", label, i, by_name, problems)
        target = _resolve(connector.spec.target, "target", "inputs", label, i, by_name, problems)
        if source is None or target is None:
            continue
        pair = (source, target)
        if pair in seen_pairs:
            problems.append(
                Problem(
                    f"connector {label!r} is given twice (connectors[{seen_pairs[pair]}] and connectors[{i}]); "
                    "remove one",
                    ("connectors", i),
                )
            )
            continue
        seen_pairs[pair] = i
        edges.append(Edge(i, source, target, connector))

    fed = {(e.target.component, e.target.port) for e in edges}
    for name, component in by_name.items():
        for port in component.io.inputs:
            if (name, port) not in fed and not component.initial_values.get(port):
                problems.append(
                    Problem(
                        f"component {name!r}: input {port!r} has no connector and no initial value; "
                        f"connect an output to '{name}.{port}' or give it initial_values",
                        ("components", first_index[name]),
                    )
                )

    problems.extend(_unstarted_cycles(by_name, edges))
    if problems:
        raise ModelError(problems)
    return Wiring(by_name, edges)


def _valid_ports(kind: str, ports: Sequence[str]) -> str:
    return f"{kind} are: {quote_list(ports)}" if ports else f"it has no {kind}"


def _resolve(
    text: str,
    end: str,
    kind: str,
    label: str,
    index: int,
    by_name: dict[str, Component],
    problems: list[Problem],
) -> PortRef | None:
    where = ("connectors", index, end)
    ref = parse_port_ref(text)
    if ref is None:
        problems.append(
            Problem(f"connector {label!r}: {end} {text!r} is not 'component.port'; write it as e.g. 'producer.x'", where)
        )
        return None
    component = by_name.get(ref.component)
    if component is None:
        hint = close_match(ref.component, list(by_name))
        advice = f"did you mean {hint!r}?" if hint else f"components are: {quote_list(list(by_name))}"
        problems.append(Problem(f"connector {label!r}: no component named {ref.component!r}; {advice}", where))
        return None
    ports = component.io.outputs if kind == "outputs" else component.io.inputs
    if ref.port not in ports:
        singular = kind[:-1]
        hint = close_match(ref.port, ports)
        advice = _valid_ports(kind, ports) + (f" (did you mean {hint!r}?)" if hint and len(ports) > 5 else "")
        problems.append(
            Problem(f"connector {label!r}: component {ref.component!r} has no {singular} {ref.port!r}; {advice}", where)
        )
        return None
    return ref


def _unstarted_cycles(by_name: dict[str, Component], edges: list[Edge]) -> list[Problem]:
    """One problem per strongly connected group of components that no initial value starts."""
    graph: dict[str, list[Edge]] = {name: [] for name in by_name}
    for edge in edges:
        if not by_name[edge.target.component].initial_values.get(edge.target.port):
            graph[edge.source.component].append(edge)

    problems = []
    for group in _strongly_connected(graph):
        cycle = _cycle_in(group, graph)
        if cycle is None:
            continue
        path = " -> ".join([str(cycle[0].source)] + [str(e.target) for e in cycle])
        problems.append(
            Problem(
                f"cycle with no initial value: {path}; give {str(cycle[0].target)!r} an initial value",
                ("connectors", cycle[0].index),
            )
        )
    return problems


def _strongly_connected(graph: dict[str, list[Edge]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative so deep chains cannot hit the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            recurse = False
            successors = graph[node]
            while i < len(successors):
                nxt = successors[i].target.component
                i += 1
                if nxt not in index:
                    work.append((node, i))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if recurse:
                continue
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(group)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return groups


def _cycle_in(group: list[str], graph: dict[str, list[Edge]]) -> list[Edge] | None:
    members = set(group)
    start = min(group)  # deterministic messages
    # Breadth-first from start back to start, inside the group only.
    frontier: list[tuple[str, list[Edge]]] = [(start, [])]
    visited = {start}
    while frontier:
        nxt_frontier = []
        for node, path in frontier:
            for edge in sorted(graph[node], key=lambda e: e.index):
                target = edge.target.component
                if target not in members:
                    continue
                if target == start:
                    return path + [edge]
                if target not in visited:
                    visited.add(target)
                    nxt_frontier.append((target, path + [edge]))
        frontier = nxt_frontier
    return None
