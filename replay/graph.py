"""The unrolled step graph of a recorded run, and the longest path through it.

A node is component ``c`` at step ``k``; it depends on ``c``'s step ``k-1`` (an actor runs one
step at a time), on the sending steps of the messages step ``k`` consumed, and, on a bounded
channel of capacity ``C``, the sender's step ``j+C+1`` depends on the receiver having taken
message ``j`` (its step before the consuming one ended): the send at the end of step
``j+C`` waits for that room (backpressure).

Large runs are read in blocks: ``block`` consecutive steps of a component are one node (its
duration the sum, its edges the union), so that a run of millions of steps stays a graph of
at most ``MAX_NODES`` nodes. A block can only start when its first step could, so a block
graph's paths are longer than the step graph's by at most a block per component on the path
(``block`` is 1 up to ``MAX_NODES`` steps). Edges are built in DuckDB, in bulk; the graph
itself is plain lists: this module needs neither numpy nor networkx.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["MAX_NODES", "Path", "StepGraph", "load_graph", "longest_path", "with_backpressure"]

# Nodes a graph may have before steps are read in blocks: the report's loops are pure Python
# (~1 µs an edge), so this keeps the critical path and each simulated core count under a
# second or so (a 1,000,000-message run: see docs/report.md).
MAX_NODES = 200_000


@dataclass(slots=True)
class StepGraph:
    """Nodes ``0..n-1``, grouped by component (``offset[c] .. offset[c+1]``), in step order.

    ``succ[v]`` lists ``v``'s successors as ``target << 1 | is_message`` (a message edge may
    carry a latency; chain and backpressure edges do not). ``dur_ns`` is the recorded
    duration (the sum over the block), ``cpu_ns`` the part of it taken to be CPU (all of it
    unless replayed times say otherwise)."""

    run_id: str
    names: list[str]
    block: int
    offset: list[int]
    comp: list[int]
    first_step: list[int]
    steps: list[int]
    start_ns: list[int]
    end_ns: list[int]
    dur_ns: list[int]
    cpu_ns: list[int]
    msgs_in: list[int]
    msgs_out: list[int]
    succ: list[list[int]]
    capacity: int | None
    ends: dict[int, tuple[int, int]] = field(default_factory=dict)  # channel -> (source, target) component
    backpressure_edges: int = 0
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.comp)

    @property
    def total_steps(self) -> int:
        return sum(self.steps)

    def node(self, component: int, step: int) -> int:
        return self.offset[component] + step // self.block

    def topological_order(self) -> list[int] | None:
        """Kahn's order; ``None`` if the graph has a cycle."""
        n = len(self.comp)
        indegree = [0] * n
        for out in self.succ:
            for code in out:
                indegree[code >> 1] += 1
        ready = deque(v for v in range(n) if indegree[v] == 0)
        order: list[int] = []
        while ready:
            v = ready.popleft()
            order.append(v)
            for code in self.succ[v]:
                t = code >> 1
                indegree[t] -= 1
                if indegree[t] == 0:
                    ready.append(t)
        return order if len(order) == n else None


@dataclass(slots=True)
class Path:
    """The longest path: its length, its nodes in order, and how much of it each component holds."""

    length_ns: float
    nodes: list[int]
    by_component: dict[str, float]

    def components(self, graph: StepGraph) -> list[str]:
        """Component names along the path, a run of the same component said once."""
        names: list[str] = []
        for v in self.nodes:
            name = graph.names[graph.comp[v]]
            if not names or names[-1] != name:
                names.append(name)
        return names


def longest_path(
    graph: StepGraph, weight: Sequence[float], latency: float = 0.0, order: Sequence[int] | None = None,
    first_latency: float | None = None, first: Sequence[bool] | None = None, extra: Sequence[float] | None = None,
) -> Path:
    """The heaviest path, node weights ``weight``, plus ``latency`` on each message edge
    (``first_latency`` instead on one into a node that ``first`` marks: a component's first),
    and ``extra[v]`` more on each message edge out of ``v`` when given."""
    order = order if order is not None else graph.topological_order()
    if order is None:  # load_graph drops backpressure edges that would close a cycle
        raise ValueError("the step graph has a cycle")
    n = len(graph.comp)
    ready = [0.0] * n
    came = [-1] * n
    best, last = 0.0, -1
    succ = graph.succ
    marked = first if first_latency is not None and first is not None else None
    for v in order:
        done = ready[v] + weight[v]
        if done > best or last < 0:
            best, last = done, v
        sent = done + extra[v] if extra is not None else done
        for code in succ[v]:
            t = code >> 1
            if code & 1:
                at = sent + (first_latency if marked is not None and marked[t] else latency)  # type: ignore[operator]
            else:
                at = done
            if at > ready[t]:
                ready[t] = at
                came[t] = v
    nodes: list[int] = []
    v = last
    while v >= 0:
        nodes.append(v)
        v = came[v]
    nodes.reverse()
    by_component: dict[str, float] = {}
    for v in nodes:
        name = graph.names[graph.comp[v]]
        by_component[name] = by_component.get(name, 0.0) + weight[v]
    return Path(best, nodes, by_component)


def load_graph(con: Any, run_key: int, run_id: str, capacity: int | None, max_nodes: int = MAX_NODES) -> StepGraph:
    """Read run ``run_key``'s steps and messages from an open log connection into a graph;
    ``capacity``: the channels' bound (``None``: no backpressure edges)."""
    names = [r[0] for r in con.execute("SELECT name FROM components WHERE run_id = ? ORDER BY id", [run_id]).fetchall()]
    counts = dict(con.execute("SELECT component, max(step) + 1 FROM step_log WHERE run = ? GROUP BY ALL", [run_key]).fetchall())
    total = sum(int(counts.get(c, 0)) for c in range(len(names)))
    block = max(1, math.ceil(total / max_nodes))
    offset = [0]
    for c in range(len(names)):
        offset.append(offset[-1] + math.ceil(int(counts.get(c, 0)) / block))
    n = offset[-1]
    comp = [0] * n
    first = [0] * n
    for c in range(len(names)):
        for i, v in enumerate(range(offset[c], offset[c + 1])):
            comp[v] = c
            first[v] = i * block
    steps = [0] * n
    start = [0] * n
    end = [0] * n
    dur = [0] * n
    rows = con.execute(
        "SELECT component, step // ? AS b, count(*), min(start_ns), max(end_ns), sum(end_ns - start_ns) "
        "FROM step_log WHERE run = ? GROUP BY ALL",
        [block, run_key],
    ).fetchall()
    for c, b, k, s, e, d in rows:
        v = offset[c] + b
        steps[v], start[v], end[v], dur[v] = int(k), int(s), int(e), int(d)
    channels = con.execute(
        "SELECT ch.id, a.id, b.id FROM channels ch JOIN components a ON a.run_id = ch.run_id AND a.name = ch.source_component "
        "JOIN components b ON b.run_id = ch.run_id AND b.name = ch.target_component WHERE ch.run_id = ? ORDER BY ch.id",
        [run_id],
    ).fetchall()
    ends = {int(ch): (int(src), int(dst)) for ch, src, dst in channels}
    succ: list[list[int]] = [[] for _ in range(n)]
    for c in range(len(names)):
        for v in range(offset[c], offset[c + 1] - 1):
            succ[v].append((v + 1) << 1)
    msgs_in = [0] * n
    msgs_out = [0] * n
    seen: set[tuple[int, int]] = set()
    rows = con.execute(
        "SELECT channel, seq // ? AS sb, receiver_step // ? AS rb, count(*) FROM message_log "
        "WHERE run = ? GROUP BY ALL",
        [block, block, run_key],
    ).fetchall()
    for ch, sb, rb, k in rows:
        if int(ch) not in ends:
            continue  # an output with no connector (kind 'unconnected'): nobody consumes it
        src, dst = ends[int(ch)]
        s = offset[src] + sb
        if s >= offset[src + 1]:
            continue  # sent by a step the log does not hold: nothing to hang it on
        msgs_out[s] += int(k)
        if rb is None:
            continue
        t = offset[dst] + rb
        if t >= offset[dst + 1]:
            continue
        msgs_in[t] += int(k)
        if s != t and (s, t) not in seen and not (src == dst and t == s + 1):
            seen.add((s, t))
            succ[s].append(t << 1 | 1)
    graph = StepGraph(run_id, names, block, offset, comp, first, steps, start, end, dur, list(dur), msgs_in, msgs_out, succ, None, ends)
    return with_backpressure(graph, con, run_key, capacity) if capacity is not None else graph


def with_backpressure(graph: StepGraph, con: Any, run_key: int, capacity: int) -> StepGraph:
    """A copy of ``graph`` (made without backpressure) whose channels hold ``capacity`` items."""
    graph = replace(graph, succ=[list(out) for out in graph.succ], capacity=capacity, notes=list(graph.notes))
    _add_backpressure(graph, con, run_key, graph.ends, capacity)
    return graph


def _add_backpressure(graph: StepGraph, con: Any, run_key: int, ends: dict[int, tuple[int, int]], capacity: int) -> None:
    block = graph.block
    if capacity + 1 < 2 * block:
        graph.notes.append(
            f"channels of {capacity} items are shorter than two blocks of {block} steps: backpressure edges left out"
        )
        return
    added: list[tuple[int, int]] = []
    rows = con.execute(
        "SELECT channel, (seq + ? + 1) // ? AS sb, max((receiver_step - 1) // ?) AS rb FROM message_log "
        "WHERE run = ? AND receiver_step > 0 GROUP BY ALL",
        [capacity, block, block, run_key],
    ).fetchall()
    offset = graph.offset
    for ch, sb, rb in rows:
        if int(ch) not in ends:
            continue
        src, dst = ends[int(ch)]
        s = offset[src] + sb
        r = offset[dst] + rb
        if s >= offset[src + 1] or r >= offset[dst + 1] or (src == dst and s <= r):
            continue
        graph.succ[r].append(s << 1)
        added.append((r, s))
    if graph.topological_order() is None:
        # Real backpressure cannot close a cycle; blocks can in odd fan-in shapes. Without the
        # edges the bound is looser, never wrong in the other direction.
        for r, s in added:
            graph.succ[r].remove(s << 1)
        graph.notes.append("backpressure edges left out: in blocks of steps they would close a cycle")
        return
    graph.backpressure_edges = len(added)
