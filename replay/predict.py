"""Predicting a run's makespan on ``RayProcess`` (one actor per component) with N cores.

The unrolled step graph (``graph.py``) is simulated with greedy list scheduling: a step is
ready when its predecessors are done (its actor's step before, the steps whose messages it
consumes plus the connector's hop latency, and backpressure on bounded channels); a ready
step's CPU part takes one of N cores, first come first served, and its waiting part (a
sleep, I/O) takes none. Each step costs the actor loop's ``step_s`` and each message
``message_s`` of CPU on its sender and again on its receiver, a step's CPU part is stretched
by ``cpu_stretch`` (waiting), and a step that ships its outputs by themselves on several
channels adds ``fanout_s`` per channel beyond the first to its hops (``calibrate.py``).

Bounds, for the same graph and costs: the span law (no schedule beats the longest path), the
work law (no schedule beats the CPU work spread over N cores), and Graham's bound for any
greedy schedule (the CPU work over N plus the longest path).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .calibrate import Calibration, ConnectorCost
from .graph import StepGraph, longest_path

__all__ = ["MARGINAL", "PAYS_OFF", "Costs", "Prediction", "fanout_costs", "placement_problem", "predict", "simulate", "verdict"]

PAYS_OFF = 1.25
MARGINAL = 1.0


@dataclass(slots=True)
class Costs:
    """Per node: CPU seconds (competing for cores) and waiting seconds (not)."""

    cpu: list[float]
    wait: list[float]

    @property
    def cpu_work(self) -> float:
        return math.fsum(self.cpu)


@dataclass(slots=True)
class Prediction:
    cpus: int
    connector: str
    makespan_s: float | None
    speedup: float | None
    verdict: str
    reason: str
    lower_s: float | None = None  # span law / work law
    upper_s: float | None = None  # Graham
    span_s: float | None = None
    cpu_work_s: float | None = None
    messaging_s: float | None = None
    one_off_s: float | None = None
    cores_for_steps: float | None = None  # cpus less what Ray's own processes take (overhead_cores)

    def to_json(self) -> dict[str, Any]:
        speedup_bounds = None
        if self.makespan_s is not None and self.lower_s and self.upper_s and self.speedup is not None:
            base = self.speedup * self.makespan_s
            speedup_bounds = [round(base / self.upper_s, 3), round(base / self.lower_s, 3)]
        return {
            "cpus": self.cpus,
            "connector": self.connector,
            "makespan_s": r6(self.makespan_s),
            "speedup": None if self.speedup is None else round(self.speedup, 3),
            "verdict": self.verdict,
            "reason": self.reason,
            "bounds_s": {"span_law": r6(self.span_s),
                         "work_law": r6(None if self.cpu_work_s is None else self.cpu_work_s / (self.cores_for_steps or self.cpus)),
                         "graham": r6(self.upper_s)},
            "speedup_bounds": speedup_bounds,
            "cpu_work_s": r6(self.cpu_work_s),
            "messaging_s": r6(self.messaging_s),
            "one_off_s": r6(self.one_off_s),
            "cores_for_steps": r6(self.cores_for_steps),
        }


def r6(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def verdict(speedup: float) -> str:
    if speedup >= PAYS_OFF:
        return "pays off"
    if speedup >= MARGINAL:
        return "marginal"
    return "does not pay off"


def node_costs(graph: StepGraph, cost: ConnectorCost, factors: Mapping[int, float], wall_ns: Sequence[float] | None = None) -> Costs:
    """CPU and waiting seconds per node on Ray: the step's own (``wall_ns`` if given, else
    recorded; CPU part ``graph.cpu_ns``), divided by a what-if factor, plus loop and messages;
    and ``cpu_stretch`` times the step's own CPU part as waiting (an actor's step takes that
    much longer than its CPU time, with its hop after: ``calibrate.py``)."""
    durations = wall_ns if wall_ns is not None else graph.dur_ns
    # A step replayed alone lacks the engine's work inside its recorded window, which it
    # has on an actor too; a recorded duration has it already.
    per_step = cost.step_s + (cost.window_s if wall_ns is not None else 0.0)
    stretch = cost.cpu_stretch
    cpu: list[float] = []
    wait: list[float] = []
    for v, c in enumerate(graph.comp):
        f = factors.get(c, 1.0)
        own = durations[v] / 1e9 / f
        mine = min(graph.cpu_ns[v] / 1e9 / f, own)
        cpu.append(mine + graph.steps[v] * per_step + (graph.msgs_in[v] + graph.msgs_out[v]) * cost.message_s)
        wait.append(own - mine + mine * stretch)
    return Costs(cpu, wait)


def fanout_costs(graph: StepGraph, fanout_s: float) -> list[float]:
    """Per component: what a step that ships its outputs by themselves adds to its hops,
    ``fanout_s`` for each channel it sends on beyond the first (every step of a component
    sends on each of its connected channels)."""
    channels = [0] * len(graph.names)
    for src, _ in graph.ends.values():
        channels[src] += 1
    return [max(0, k - 1) * fanout_s for k in channels]


def first_nodes(graph: StepGraph) -> list[bool]:
    """Per node: is it its component's first (the one a channel's first message reaches)."""
    first = [False] * len(graph.comp)
    for c in range(len(graph.names)):
        if graph.offset[c] < graph.offset[c + 1]:
            first[graph.offset[c]] = True
    return first


def simulate(
    graph: StepGraph, costs: Costs, cores: int, latency: float, first_s: float = 0.0, overhead_cores: float = 0.0,
    fanout: Sequence[float] | None = None, charged: list[float] | None = None,
) -> float:
    """The makespan of ``graph`` on ``cores`` cores, each actor an OS process.

    Steps whose CPU part runs share the cores as the OS shares them among runnable
    processes: with ``r`` of them, each runs at ``min(1, (cores - overhead_cores) / r)`` of
    a core (``overhead_cores``: what Ray's own processes take once the cores are all busy).
    A step's waiting part takes no core. A message edge adds ``latency``, and ``first_s``
    more into a component's first node (a channel's first message).

    ``fanout`` (per component, ``fanout_costs``): what the message edges out of a node add
    when the node ships its outputs by themselves, which is when its actor waits after it
    (its next node is not ready the moment it ends, or it is the last): then every channel
    it sends on is a batch of its own. ``charged``, when given (a list of ``len(graph)``
    zeros), gets what was added per node, for ``longest_path``'s ``extra``."""
    n = len(graph.comp)
    indegree = [0] * n
    succ = graph.succ
    for out in succ:
        for code in out:
            indegree[code >> 1] += 1
    hop = [latency] * n  # what a message edge into each node adds
    if first_s > 0:
        for v, is_first in enumerate(first_nodes(graph)):
            if is_first:
                hop[v] = latency + first_s
    ready_at = [0.0] * n
    cpu, wait = costs.cpu, costs.wait
    comp, last_node = graph.comp, graph.offset[1:]
    fan = fanout if fanout is not None and any(x > 0 for x in fanout) else None
    capacity = max(cores - overhead_cores, 1e-3)
    # Events (time, kind, seq, node): kind 1 = a step is done, 2 = a step is ready. Running
    # CPU parts all go at one rate, so each is kept by the amount of "work clock" at which it
    # ends: the work clock advances at that rate, and the first to end is the heap's top.
    events: list[tuple[float, int, int, int]] = [(0.0, 2, v, v) for v in range(n) if indegree[v] == 0]
    heapq.heapify(events)
    running: list[tuple[float, int, int]] = []  # (work clock at its end, seq, node)
    clock = 0.0  # work done by each running CPU part since time 0
    now = 0.0
    seq = n
    end = 0.0
    push, pop = heapq.heappush, heapq.heappop
    inf = math.inf
    while events or running:
        r = len(running)
        rate = min(1.0, capacity / r) if r else 1.0
        cpu_done = now + max(0.0, running[0][0] - clock) / rate if r else inf
        if events and events[0][0] <= cpu_done:
            t, kind, _, v = pop(events)
            if r:
                clock += (t - now) * rate
            now = max(now, t)
            if kind == 2:
                if cpu[v] <= 0.0:
                    seq += 1
                    push(events, (now + wait[v], 1, seq, v))
                else:
                    seq += 1
                    push(running, (clock + cpu[v], seq, v))
                continue
            if now > end:
                end = now
            more = 0.0
            if fan is not None:
                extra = fan[comp[v]]
                if extra > 0:
                    w = v + 1
                    # It ships alone unless its next node is ready now (the edge from v
                    # is the one left): the loop then steps on and its sends join the next.
                    if w >= last_node[comp[v]] or indegree[w] > 1 or ready_at[w] > now:
                        more = extra
                        if charged is not None:
                            charged[v] = extra
            for code in succ[v]:
                s = code >> 1
                at = now + hop[s] + more if code & 1 else now
                if at > ready_at[s]:
                    ready_at[s] = at
                indegree[s] -= 1
                if indegree[s] == 0:
                    seq += 1
                    push(events, (ready_at[s], 2, seq, s))
        else:
            finish, _, v = pop(running)
            clock = max(clock, finish)
            now = cpu_done
            seq += 1
            push(events, (now + wait[v], 1, seq, v))
    return end


def placement_problem(resources: Sequence[tuple[str, Mapping[str, Any]]], cpus: int, memory: float, gpus: float = 0.0) -> str | None:
    """Why the components' declared resources cannot all be held at once by one node of
    ``cpus`` cores (``None`` when they can). ``resources``: (name, Ray options) pairs."""
    from tapeflow.engine.errors import ProcessError
    from tapeflow.engine.ray_cluster import check_placement

    node = {"CPU": float(cpus), "GPU": float(gpus), "memory": float(memory)}
    try:
        check_placement(resources, [node])
    except ProcessError as error:
        return str(error).replace("Ray cluster", f"Ray cluster of this machine with {cpus} CPUs")
    total_cpu = math.fsum(float(options.get("num_cpus") or 0) for _, options in resources)
    if total_cpu > cpus + 1e-9:
        return (f"the components ask for cpu={total_cpu:g} together and {cpus} CPUs hold them one after another, "
                "not at once: actors would wait for each other; lower their cpu, or give more CPUs")
    return None


@dataclass(slots=True)
class Context:
    """What the verdict's reason speaks of."""

    recorded_s: float
    work_s: float
    span_s: float
    critical_path: list[str]
    per_step: list[tuple[str, float]]  # (component, mean seconds a step), heaviest first
    step_p50_s: float
    messages: int
    components: int


def predict(
    graph: StepGraph,
    costs_by_connector: Mapping[str, Costs],
    calibration: Calibration,
    cpus: int,
    context: Context,
    order: Sequence[int] | None = None,
    placement: str | None = None,
) -> list[Prediction]:
    """One prediction per connector for ``cpus`` cores."""
    found: list[Prediction] = []
    first = first_nodes(graph)
    for connector, costs in costs_by_connector.items():
        cost = calibration.connectors[connector]
        one_off = calibration.one_off_s(context.components)
        if placement is not None:
            found.append(Prediction(cpus, connector, None, None, "cannot place", placement, one_off_s=one_off))
            continue
        fan = fanout_costs(graph, cost.fanout_s)
        capacity = max(cpus - cost.overhead_cores, 1e-3)
        charged: list[float] | None = None
        simulated: float | None = None
        if any(x > 0 for x in fan):
            # Which steps ship alone depends on the schedule: simulate first, then take the
            # span with what the simulation charged, so that the bounds hold the same costs.
            charged = [0.0] * len(graph)
            simulated = simulate(graph, costs, cpus, cost.latency_s, cost.first_s, cost.overhead_cores, fan, charged)
        span = longest_path(graph, [c + w for c, w in zip(costs.cpu, costs.wait)], cost.latency_s, order,
                            first_latency=cost.latency_s + cost.first_s, first=first, extra=charged).length_ns
        cpu_work = costs.cpu_work
        if simulated is not None:
            makespan = simulated
        elif capacity >= len(graph.names):
            makespan = span  # every actor has a core of its own: nothing waits for one
        else:
            makespan = simulate(graph, costs, cpus, cost.latency_s, cost.first_s, cost.overhead_cores)
        lower = max(span, cpu_work / capacity)
        upper = cpu_work / capacity + span
        makespan = min(max(makespan, lower), upper)
        speedup = context.recorded_s / makespan if makespan > 0 else math.inf
        messaging = context.messages * 2 * cost.message_s + graph.total_steps * cost.step_s
        found.append(Prediction(
            cpus, connector, makespan, speedup, verdict(speedup),
            _reason(speedup, makespan, cpus, connector, cost, messaging, cpu_work, context),
            lower, upper, span, cpu_work, messaging, one_off, capacity,
        ))
    return found


def seconds_text(seconds: float) -> str:
    """Seconds in the unit that reads best, three figures: ``1.5 s``, ``12.3 ms``, ``870 µs``."""
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def _reason(speedup: float, makespan: float, cpus: int, connector: str, cost: ConnectorCost, messaging: float, cpu_work: float, ctx: Context) -> str:
    said = f"{seconds_text(makespan)} instead of {seconds_text(ctx.recorded_s)}"
    if speedup < PAYS_OFF and messaging > 0.5 * max(ctx.work_s, 1e-12):
        return (f"steps of {seconds_text(ctx.step_p50_s)} (median) against {seconds_text(cost.message_s)} of CPU per {connector} message on each side"
                f" and {seconds_text(cost.latency_s)} a hop: messaging would dominate ({said})")
    parallelism = ctx.work_s / ctx.span_s if ctx.span_s > 0 else 1.0
    if speedup < PAYS_OFF and parallelism < PAYS_OFF:
        path = " -> ".join(ctx.critical_path[:6]) + (" -> …" if len(ctx.critical_path) > 6 else "")
        return (f"one chain: the critical path ({path}) holds {seconds_text(ctx.span_s)} of the {seconds_text(ctx.work_s)} of work, "
                f"so little can run side by side ({said})")
    if speedup < PAYS_OFF and cpu_work / cpus > 0.8 * makespan:
        return f"{seconds_text(cpu_work)} of CPU on {cpus} core{'s' if cpus > 1 else ''}: the cores set the pace ({said})"
    if speedup < PAYS_OFF:
        return f"what runs side by side saves less than the hops and messages cost ({said})"
    heavy = [(name, mean) for name, mean in ctx.per_step if mean > 0][:3]
    if len(heavy) >= 2:
        listed = ", ".join(f"{name!r} ({seconds_text(mean)} a step)" for name, mean in heavy)
        return f"{listed} run side by side instead of one after another: {said}"
    return f"the work of {seconds_text(ctx.work_s)} spreads over {cpus} cores along a longest chain of {seconds_text(ctx.span_s)}: {said}"
