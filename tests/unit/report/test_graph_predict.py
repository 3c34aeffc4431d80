"""The step graph, its longest path, the list-scheduling simulation, bounds and verdicts, on
graphs built by hand (known answers) and on a recorded run."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest
from report_models import record_diamond

from tapeflow.replay.calibrate import ConnectorCost
from tapeflow.replay.graph import StepGraph, load_graph, longest_path, with_backpressure
from tapeflow.replay.predict import Costs, fanout_costs, first_nodes, node_costs, placement_problem, simulate, verdict


def hand_graph(steps: list[int], messages: list[tuple[int, int, int, int]], dur: list[list[int]]) -> StepGraph:
    """Components with ``steps[c]`` steps of ``dur[c][k]`` ns; messages (src, k, dst, k')."""
    offset = [0]
    for n in steps:
        offset.append(offset[-1] + n)
    n = offset[-1]
    comp = [c for c, k in enumerate(steps) for _ in range(k)]
    first = [k for c in steps for k in range(c)]
    succ: list[list[int]] = [[] for _ in range(n)]
    for c in range(len(steps)):
        for v in range(offset[c], offset[c + 1] - 1):
            succ[v].append((v + 1) << 1)
    ins, outs = [0] * n, [0] * n
    for src, k, dst, k2 in messages:
        s, t = offset[src] + k, offset[dst] + k2
        succ[s].append(t << 1 | 1)
        outs[s] += 1
        ins[t] += 1
    flat = [d for row in dur for d in row]
    names = [f"c{i}" for i in range(len(steps))]
    return StepGraph("r", names, 1, offset, comp, first, [1] * n, [0] * n, [0] * n, flat, list(flat), ins, outs, succ, None)


def fan_out(branches: int, n: int, d: int) -> StepGraph:
    """A source of n tiny steps feeding ``branches`` branches of n steps of d ns each."""
    steps = [n] + [n] * branches
    messages = [(0, k, b, k) for b in range(1, branches + 1) for k in range(n)]
    return hand_graph(steps, messages, [[0] * n] + [[d] * n for _ in range(branches)])


def test_the_longest_path_goes_through_the_slow_branch() -> None:
    # diamond: a -> (b: 10 a step, c: 30 a step) -> d
    g = hand_graph([3, 3, 3, 3], [(0, k, 1, k) for k in range(3)] + [(0, k, 2, k) for k in range(3)]
                   + [(1, k, 3, k) for k in range(3)] + [(2, k, 3, k) for k in range(3)],
                   [[1, 1, 1], [10, 10, 10], [30, 30, 30], [1, 1, 1]])
    path = longest_path(g, g.dur_ns)
    assert path.length_ns == 1 + 90 + 1
    assert path.components(g) == ["c0", "c2", "c3"]
    assert path.by_component["c2"] == 90


def test_latency_is_added_on_message_edges_only() -> None:
    g = hand_graph([2, 2], [(0, 0, 1, 0), (0, 1, 1, 1)], [[5, 5], [5, 5]])
    assert longest_path(g, g.dur_ns, latency=100).length_ns == 5 + 100 + 5 + 5


def test_cpu_branches_share_the_cores_and_waiting_ones_do_not() -> None:
    g = fan_out(4, 10, 1_000_000)
    cpu = Costs([d / 1e9 for d in g.dur_ns], [0.0] * len(g.dur_ns))
    waiting = Costs([0.0] * len(g.dur_ns), [d / 1e9 for d in g.dur_ns])
    assert simulate(g, cpu, 1, 0.0) == pytest.approx(0.040)
    assert simulate(g, cpu, 2, 0.0) == pytest.approx(0.020)
    assert simulate(g, cpu, 4, 0.0) == pytest.approx(0.010)
    assert simulate(g, waiting, 1, 0.0) == pytest.approx(0.010)


def test_cpu_steps_share_the_cores_as_processes_do_less_what_ray_takes() -> None:
    g = fan_out(3, 10, 1_000_000)  # three branches of 10 ms of CPU each
    cpu = Costs([d / 1e9 for d in g.dur_ns], [0.0] * len(g.dur_ns))
    # Three runnable on two cores: each at 2/3 of a core, all done at 30 ms / 2.
    assert simulate(g, cpu, 2, 0.0) == pytest.approx(0.015)
    # Ray's own processes take half a core once every core is busy: 30 ms over 1.5 cores.
    assert simulate(g, cpu, 2, 0.0, overhead_cores=0.5) == pytest.approx(0.020)
    # One runnable step on two cores leaves a core to Ray: it goes at full speed.
    one = fan_out(1, 10, 1_000_000)
    alone = Costs([d / 1e9 for d in one.dur_ns], [0.0] * len(one.dur_ns))
    assert simulate(one, alone, 2, 0.0, overhead_cores=0.5) == pytest.approx(0.010)


def test_a_channels_first_message_pays_first_s_once() -> None:
    g = hand_graph([2, 2], [(0, 0, 1, 0), (0, 1, 1, 1)], [[5, 5], [5, 5]])
    assert first_nodes(g) == [True, False, True, False]
    waiting = Costs([0.0] * 4, [d / 1e9 for d in g.dur_ns])
    # a0 (5) -> hop (100 + 1000 first) -> b0 (5) -> b1 (5); a1's message (5 + 5 + 100) is earlier
    assert simulate(g, waiting, 2, 100e-9, first_s=1000e-9) == pytest.approx((5 + 1100 + 5 + 5) * 1e-9)
    path = longest_path(g, g.dur_ns, latency=100, first_latency=1100, first=first_nodes(g))
    assert path.length_ns == 5 + 1100 + 5 + 5


def loop_with_a_sink(n: int) -> StepGraph:
    """a -> b -> a (fed back) and b -> sink: b sends on two channels every step."""
    messages = [(0, k, 1, k) for k in range(n)] + [(1, k, 0, k + 1) for k in range(n - 1)] + [(1, k, 2, k) for k in range(n)]
    g = hand_graph([n, n, n], messages, [[0] * n] * 3)
    g.ends = {0: (0, 1), 1: (1, 0), 2: (1, 2)}
    return g


def test_a_step_that_ships_alone_on_two_channels_pays_fanout_on_its_hops() -> None:
    g = loop_with_a_sink(3)
    assert fanout_costs(g, 50e-9) == pytest.approx([0.0, 50e-9, 0.0])  # only b sends on two channels
    idle = Costs([0.0] * len(g), [0.0] * len(g))
    charged = [0.0] * len(g)
    # a0 -> 100 -> b0 -> 150 -> a1 -> 100 -> b1 -> 150 -> a2 -> 100 -> b2 -> 150 -> sink2
    made = simulate(g, idle, 2, 100e-9, fanout=fanout_costs(g, 50e-9), charged=charged)
    assert made == pytest.approx(750e-9)
    assert charged == pytest.approx([0.0] * 3 + [50e-9] * 3 + [0.0] * 3)  # b waits for a after every step
    path = longest_path(g, [0.0] * len(g), 100e-9, extra=charged)
    assert path.length_ns == pytest.approx(750e-9)
    assert simulate(g, idle, 2, 100e-9) == pytest.approx(600e-9)  # without it: 6 hops


def test_a_stream_that_steps_on_without_waiting_ships_in_batches_and_pays_no_fanout() -> None:
    n = 5
    g = hand_graph([n, n, n], [(0, k, 1, k) for k in range(n)] + [(0, k, 2, k) for k in range(n)], [[0] * n] * 3)
    g.ends = {0: (0, 1), 1: (0, 2)}
    charged = [0.0] * len(g)
    simulate(g, Costs([1e-6] * len(g), [0.0] * len(g)), 4, 100e-9, fanout=fanout_costs(g, 50e-9), charged=charged)
    # The source's next step is always ready: only its last step's sends leave by themselves.
    assert charged[:n] == pytest.approx([0.0] * (n - 1) + [50e-9])
    assert sum(charged[n:]) == 0.0


def test_cpu_stretch_adds_waiting_in_proportion_to_a_steps_cpu() -> None:
    g = hand_graph([1, 1], [(0, 0, 1, 0)], [[2_000_000], [4_000_000]])
    g.cpu_ns = [1_000_000, 4_000_000]
    costs = node_costs(g, ConnectorCost(step_s=0.0, message_s=0.0, latency_s=0, cpu_stretch=0.5), {})
    assert costs.cpu == pytest.approx([1e-3, 4e-3])
    assert costs.wait == pytest.approx([1e-3 + 0.5e-3, 2e-3])


@pytest.mark.parametrize("cores", [1, 2, 3])
def test_a_simulated_schedule_keeps_within_the_work_span_and_graham_bounds(cores: int) -> None:
    rng = random.Random(cores)
    steps = [20, 20, 20, 20, 20]
    messages = [(0, k, 1, k) for k in range(20)] + [(0, k, 2, k) for k in range(20)] + [(1, k, 3, k) for k in range(20)] \
        + [(2, k, 3, k) for k in range(20)] + [(3, k, 4, k) for k in range(20)]
    g = hand_graph(steps, messages, [[rng.randint(1, 1000) for _ in range(20)] for _ in steps])
    costs = Costs([d / 1e9 * rng.random() for d in g.dur_ns], [])
    costs.wait = [d / 1e9 - c for d, c in zip(g.dur_ns, costs.cpu)]
    made = simulate(g, costs, cores, 1e-7)
    span = longest_path(g, [c + w for c, w in zip(costs.cpu, costs.wait)], 1e-7).length_ns
    work = costs.cpu_work
    assert max(span, work / cores) - 1e-12 <= made <= work / cores + span + 1e-12


def test_node_costs_add_steps_and_messages_and_honour_what_if() -> None:
    g = hand_graph([1, 1], [(0, 0, 1, 0)], [[2_000_000], [4_000_000]])
    g.cpu_ns = [1_000_000, 4_000_000]
    costs = node_costs(g, ConnectorCost(step_s=1e-6, message_s=10e-6, latency_s=0), {1: 2.0})
    assert costs.cpu == pytest.approx([1e-3 + 1e-6 + 10e-6, 2e-3 + 1e-6 + 10e-6])
    assert costs.wait == pytest.approx([1e-3, 0.0])


def test_a_step_replayed_alone_gets_the_engines_work_inside_its_window_and_a_recorded_one_has_it() -> None:
    """A replay times the step alone; on an actor (as in the recording) the engine's work
    around it inside the step's window (inputs taken, outputs handed on, clock readings) is
    there too: ``window_s`` per step, added only to replayed times."""
    g = hand_graph([1, 1], [(0, 0, 1, 0)], [[2_000_000], [4_000_000]])
    g.cpu_ns = [1_000_000, 4_000_000]
    cost = ConnectorCost(step_s=1e-6, message_s=0.0, latency_s=0, window_s=0.5e-6)
    recorded = node_costs(g, cost, {})
    replayed = node_costs(g, cost, {}, wall_ns=[1_000_000.0, 3_000_000.0])
    assert recorded.cpu == pytest.approx([1e-3 + 1e-6, 4e-3 + 1e-6])
    assert replayed.cpu == pytest.approx([1e-3 + 1.5e-6, 3e-3 + 1.5e-6])


@pytest.mark.parametrize(("speedup", "said"), [(2.0, "pays off"), (1.25, "pays off"), (1.1, "marginal"), (1.0, "marginal"), (0.5, "does not pay off")])
def test_verdicts(speedup: float, said: str) -> None:
    assert verdict(speedup) == said


def test_placement_refuses_what_no_node_holds_and_what_cannot_run_at_once() -> None:
    big = placement_problem([("cpu-task", {"num_cpus": 4.0})], cpus=2, memory=1e10)
    assert big is not None and "component 'cpu-task' asks for cpu=4" in big and "2 CPUs" in big
    together = placement_problem([("a", {"num_cpus": 1.0}), ("b", {"num_cpus": 1.5})], cpus=2, memory=1e10)
    assert together is not None and "cpu=2.5 together" in together
    gpu = placement_problem([("g", {"num_cpus": 0.5, "num_gpus": 1})], cpus=8, memory=1e10)
    assert gpu is not None and "gpu=1" in gpu
    assert placement_problem([("a", {"num_cpus": 0.001})] * 5, cpus=1, memory=1e10) is None


def _graph(log: Path, run_id: str, capacity: int | None, max_nodes: int = 200_000) -> StepGraph:
    con = duckdb.connect(str(log), read_only=True)
    try:
        key = con.execute("SELECT key FROM runs WHERE id = ?", [run_id]).fetchone()[0]
        graph = load_graph(con, key, run_id, capacity, max_nodes)
        if capacity is not None:
            assert with_backpressure(graph, con, key, capacity).backpressure_edges == graph.backpressure_edges
        return graph
    finally:
        con.close()


def test_a_recorded_run_unrolls_into_its_steps_and_messages(tmp_path: Path) -> None:
    log = tmp_path / "log.duckdb"
    run_id = record_diamond(log, n=50)
    graph = _graph(log, run_id, capacity=4)
    assert graph.block == 1
    assert graph.names == ["src", "left", "right", "add", "sink"]
    assert graph.steps == [1] * len(graph)
    assert [graph.offset[c + 1] - graph.offset[c] for c in range(5)] == [51, 50, 50, 50, 50]
    messages = sum(code & 1 for out in graph.succ for code in out)
    assert messages == 5 * 50  # every channel's every message
    assert graph.backpressure_edges > 0
    assert graph.topological_order() is not None
    path = longest_path(graph, graph.dur_ns)
    makespan = max(graph.end_ns) - min(graph.start_ns)
    assert 0 < path.length_ns <= makespan
    # Only the source's first step has no predecessor; where the heaviest path ends depends on
    # which steps were slow (with steps this tiny, it may stay in the source).
    assert path.components(graph)[0] == "src"


def test_a_large_run_is_read_in_blocks(tmp_path: Path) -> None:
    log = tmp_path / "log.duckdb"
    run_id = record_diamond(log, n=200)
    graph = _graph(log, run_id, capacity=64, max_nodes=100)
    assert graph.block == 11  # 1,001 steps in at most 100 nodes
    assert graph.total_steps == 1001
    assert len(graph) <= 100
    assert graph.topological_order() is not None
    assert graph.notes == ["channels of 64 items are shorter than two blocks of 11 steps: backpressure edges left out"] or graph.backpressure_edges > 0
