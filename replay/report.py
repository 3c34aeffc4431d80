"""Where a recorded run's time went, and whether ``RayProcess`` would make it faster.

    from tapeflow.replay.report import timing_report
    report = timing_report("r0f5q", log="tapeflow.duckdb", cpus=[1, 2, 4])
    report["critical_path"], report["predictions"][0]["verdict"]

The result is plain JSON-ready data (``tapeflow report --format json`` prints it; the keys are
in docs/report.md). Per component: steps, busy time, time blocked on inputs and on full
outputs, step-time quantiles; per channel: messages, latency quantiles, payload bytes; the
critical path through the unrolled step graph (``graph.py``), work T1, span T∞, parallelism;
and per core count and connector a predicted makespan with its bounds and a verdict
(``predict.py``).

Step durations are the recorded ones, unless ``replay`` asks for each component to be
replayed alone (``tapeflow.replay``), which also splits each step into CPU time and waiting.
Without it the log has wall times only, and every step is taken to be CPU: a step that
sleeps or waits on I/O counts as CPU, which can only make the prediction slower.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tapeflow.recorder.log import Log, RecordedRun, open_log

from .calibrate import Calibration, load
from .errors import ReplayError
from .graph import StepGraph, load_graph, longest_path, with_backpressure
from .predict import Context, Costs, node_costs, placement_problem, predict

__all__ = ["CONNECTORS", "default_cpus", "parse_what_if", "timing_report"]

CONNECTORS = ("ray", "zmq")
QUANTILES = (0.5, 0.9, 0.99)


def default_cpus() -> list[int]:
    """1, 2, 4, 8 and this machine's cores."""
    return sorted({1, 2, 4, 8, os.cpu_count() or 1})


def parse_what_if(items: Iterable[str]) -> dict[str, float]:
    """``["sum=2"]`` -> ``{"sum": 2.0}``: component ``sum`` twice as fast."""
    found: dict[str, float] = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            factor = float(value)
        except ValueError:
            factor = float("nan")
        if not sep or not name or not factor > 0:
            raise ReplayError(f"--what-if {item!r}: expected COMPONENT=FACTOR with FACTOR > 0, such as sum=2 (sum twice as fast)")
        found[name] = factor
    return found


def timing_report(
    run: str,
    *,
    log: str | os.PathLike[str] | Log | None = None,
    cpus: Sequence[int] | None = None,
    connectors: Sequence[str] = CONNECTORS,
    what_if: Mapping[str, float] | None = None,
    replay: bool = False,
    path: Sequence[str | os.PathLike[str]] = (),
    calibration: Calibration | None = None,
    memory_bytes: float | None = None,
) -> dict[str, Any]:
    """The report of run ``run`` (an id or a unique prefix) in ``log``; see the module doc."""
    for n in cpus or ():
        if n < 1:
            raise ReplayError(f"--cpus: must be at least 1, got {n}; pass a core count such as --cpus 4")
    unknown = [c for c in connectors if c not in CONNECTORS]
    if unknown:
        raise ReplayError(f"--connector: unknown connector {unknown[0]!r}; choose {' or '.join(CONNECTORS)}")
    opened = open_log(log) if not isinstance(log, Log) else None
    source = opened if opened is not None else log
    assert isinstance(source, Log)
    try:
        recorded = source.run(run)
        return _report(recorded, list(cpus or default_cpus()), list(connectors), dict(what_if or {}), replay, path,
                       calibration or load(), memory_bytes)
    finally:
        if opened is not None:
            opened.close()


def _report(
    run: RecordedRun, cpus: list[int], connectors: list[str], what_if: dict[str, float], replay: bool,
    path: Sequence[str | os.PathLike[str]], calibration: Calibration, memory_bytes: float | None,
) -> dict[str, Any]:
    con = run.log.con
    key = int(run.info["key"])
    notes: list[str] = []
    kind = str(run.info.get("process_kind") or "local")
    components = _components(con, run.id, key)
    names = [c["name"] for c in components]
    factors = _factors(run.id, what_if, names)
    channels = _channels(con, run.id)
    if run.status != "completed":
        notes.append(f"run {run.id!r} is {run.status}: the report covers the steps recorded")
    span_row = con.execute("SELECT min(start_ns), max(end_ns), count(*), sum(end_ns - start_ns) FROM step_log WHERE run = ?", [key]).fetchone()
    if span_row is None or not span_row[2]:
        raise ReplayError(f"run {run.id!r} has no recorded steps; nothing to report")
    makespan_s = (span_row[1] - span_row[0]) / 1e9
    work_s = span_row[3] / 1e9

    capacity = _capacity(run.info, kind)
    bare = load_graph(con, key, run.id, None)
    graph = with_backpressure(bare, con, key, capacity)
    order = graph.topological_order()
    path_found = longest_path(graph, graph.dur_ns, 0.0, order)
    span_s = path_found.length_ns / 1e9
    critical = path_found.components(graph)
    notes.extend(graph.notes)
    if graph.block > 1:
        notes.append(f"{graph.total_steps:,} steps read in blocks of {graph.block} (a node per block): "
                     f"paths are longer by up to a block per component")
    shared = _shared_loop(con, key, kind) if not replay else None
    if shared:
        notes.append(shared)

    wall_ns: list[float] | None = None
    if replay:
        wall_ns = _replayed(run, graph, path)
        notes.append("step durations and CPU time from replaying each component alone (--replay)")
    else:
        notes.append("the log has wall times only: every step is taken as CPU time (a step that sleeps or waits counts as CPU, "
                     "so the prediction errs slow); --replay measures each step's CPU time alone")

    from tapeflow.engine.ray_process import REMOTE_CAPACITY

    # In flight plus the receiver's inbox (ray_process.REMOTE_CAPACITY, README).
    ray_graph = with_backpressure(bare, con, key, 2 * REMOTE_CAPACITY)
    ray_graph.cpu_ns = graph.cpu_ns
    ray_order = ray_graph.topological_order()
    by_name = {c["name"]: c for c in components}
    per_step = sorted(
        ((name, (c["busy_ns"] or 0) / 1e9 / c["steps"] / what_if.get(name, 1.0)) for name, c in by_name.items() if c["steps"]),
        key=lambda x: -x[1],
    )
    per_step = [(name, mean) for name, mean in per_step if per_step and mean >= 0.1 * per_step[0][1]]
    p50 = con.execute("SELECT quantile_disc(end_ns - start_ns, 0.5) FROM step_log WHERE run = ?", [key]).fetchone()
    messages = sum(ch["messages"] for ch in channels)
    context = Context(makespan_s, work_s, span_s, critical, per_step, (p50[0] or 0) / 1e9 if p50 else 0.0, messages, len(names))
    costs: dict[str, Costs] = {c: node_costs(ray_graph, calibration.connectors[c], factors, wall_ns) for c in connectors}
    requests = _requests(components)
    memory = memory_bytes if memory_bytes is not None else _memory()
    predictions: list[dict[str, Any]] = []
    for n in cpus:
        problem = placement_problem(requests, n, memory)
        predictions.extend(p.to_json() for p in predict(ray_graph, costs, calibration, n, context, ray_order, problem))
    notes.extend(calibration.notes)
    return {
        "run_id": run.id,
        "log": run.log.where,
        "status": run.status,
        "process_kind": kind,
        "channel_kind": run.info.get("channel_kind"),
        "makespan_s": round(makespan_s, 6),
        "work_s": round(work_s, 6),
        "span_s": round(span_s, 6),
        "parallelism": round(work_s / span_s, 3) if span_s > 0 else None,
        "critical_path": critical,
        "critical_path_s": {name: round(s / 1e9, 6) for name, s in path_found.by_component.items()},
        "components": components,
        "channels": channels,
        "predictions": predictions,
        "what_if": what_if,
        "capacity": capacity,
        "block": graph.block,
        "one_off_s": {"ray_start_s": round(calibration.ray_start_s, 3), "actor_start_s": round(calibration.actor_start_s, 3),
                      "total_s": round(calibration.one_off_s(len(names)), 3)},
        "calibration": {"measured": calibration.measured, "where": calibration.where, "measured_at": calibration.measured_at,
                        "connectors": {k: {f: v for f, v in vars_of(c).items()} for k, c in calibration.connectors.items() if k in connectors}},
        "notes": notes,
    }


def vars_of(cost: Any) -> dict[str, float]:
    return {"step_s": cost.step_s, "message_s": cost.message_s, "latency_s": cost.latency_s, "first_s": cost.first_s,
            "overhead_cores": cost.overhead_cores, "fanout_s": cost.fanout_s, "cpu_stretch": cost.cpu_stretch}


def _components(con: Any, run_id: str, key: int) -> list[dict[str, Any]]:
    rows = con.execute(
        """
        SELECT c.name, c.class_path, c.resources, coalesce(t.steps, 0), t.busy_ns, t.waiting_ns, t.send_blocked_ns, q.qs, q.mx
        FROM components c
        LEFT JOIN component_time t ON t.run_id = c.run_id AND t.component = c.name
        LEFT JOIN (SELECT component, quantile_disc(end_ns - start_ns, [0.5, 0.9, 0.99]) AS qs, max(end_ns - start_ns) AS mx
                   FROM step_log WHERE run = $key GROUP BY ALL) q ON q.component = c.id
        WHERE c.run_id = $run ORDER BY c.id
        """,
        {"key": key, "run": run_id},
    ).fetchall()
    found = []
    for name, class_path, resources, steps, busy, waiting, send_blocked, qs, mx in rows:
        quantiles = dict(zip(("p50_ns", "p90_ns", "p99_ns"), qs or (None, None, None)))
        found.append({
            "name": name, "class_path": class_path, "steps": int(steps), "busy_ns": busy, "blocked_ns": waiting,
            "send_blocked_ns": send_blocked, "step_ns": {**quantiles, "max_ns": mx},
            "resources": json.loads(resources) if isinstance(resources, str) else resources,
        })
    return found


def _channels(con: Any, run_id: str) -> list[dict[str, Any]]:
    rows = con.execute(
        """
        SELECT ch.id, ch.source_component || '.' || ch.source_port || ' -> ' || coalesce(ch.target_component || '.' || ch.target_port, '(no connector)'),
               count(m.seq), quantile_disc(m.receive_ns - m.send_ns, [0.5, 0.99]), quantile_disc(m.consume_ns - m.send_ns, [0.5, 0.99]),
               sum(octet_length(m.payload))
        FROM channels ch LEFT JOIN messages m ON m.run_id = ch.run_id AND m.channel = ch.id
        WHERE ch.run_id = ? GROUP BY ALL ORDER BY ch.id
        """,
        [run_id],
    ).fetchall()
    found = []
    for cid, label, n, receive, consume, size in rows:
        receive = receive or (None, None)
        consume = consume or (None, None)
        found.append({
            "id": int(cid), "label": label, "messages": int(n),
            "receive_ns": {"p50_ns": receive[0], "p99_ns": receive[1]},
            "consume_ns": {"p50_ns": consume[0], "p99_ns": consume[1]},
            "payload_bytes": int(size or 0),
        })
    return found


def _factors(run_id: str, what_if: Mapping[str, float], names: list[str]) -> dict[int, float]:
    problems = []
    found: dict[int, float] = {}
    for name, factor in what_if.items():
        if name in names:
            found[names.index(name)] = factor
            continue
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.append(f"--what-if: run {run_id!r} has no component {name!r}; {hint}components are: {', '.join(repr(n) for n in names)}")
    if problems:
        raise ReplayError("\n".join(problems))
    return found


def _capacity(info: Mapping[str, Any], kind: str) -> int:
    from tapeflow.engine.channel import DEFAULT_CAPACITY
    from tapeflow.engine.ray_process import REMOTE_CAPACITY

    capacity = None
    try:
        config = json.loads(info.get("config") or "null")
        root = next(iter(config.values())) if isinstance(config, dict) and config else {}
        capacity = root.get("process", {}).get("args", {}).get("capacity")
    except (ValueError, AttributeError, StopIteration):
        pass
    if isinstance(capacity, int) and capacity > 0:
        return 2 * capacity if kind == "ray" else capacity
    return 2 * REMOTE_CAPACITY if kind == "ray" else DEFAULT_CAPACITY


def _shared_loop(con: Any, key: int, kind: str) -> str | None:
    """Steps of one event loop that overlap: a step that awaited while others ran, so its
    recorded duration holds their time too."""
    if kind != "local":
        return None
    row = con.execute(
        """
        SELECT count(*), list(DISTINCT component)[:5] FROM (
            SELECT component, start_ns,
                   max(end_ns) OVER (ORDER BY start_ns, end_ns ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
            FROM step_log WHERE run = ?)
        WHERE start_ns < before
        """,
        [key],
    ).fetchone()
    if not row or not row[0]:
        return None
    return (f"{row[0]:,} steps began while another step of the one event loop was still going (they awaited): their recorded "
            "durations include other components' time; --replay measures each step alone")


def _replayed(run: RecordedRun, graph: StepGraph, path: Sequence[str | os.PathLike[str]]) -> list[float]:
    """Replay every component alone; set ``graph.cpu_ns`` and return the replayed wall times, per node."""
    from .replayer import replay

    result = replay(run.id, log=run.log, path=path)
    wall = [float(d) for d in graph.dur_ns]
    cpu = list(graph.cpu_ns)
    for found in result.components:
        c = graph.names.index(found.name)
        times = found.times
        start, stop = graph.offset[c], graph.offset[c + 1]
        for v in range(start, stop):
            lo, hi = graph.first_step[v], graph.first_step[v] + graph.steps[v]
            if hi > len(times):
                continue  # the replay stopped early (it diverged): keep the recorded times
            w = sum(times.wall_ns[lo:hi])
            wall[v] = float(w)
            cpu[v] = min(w, sum(times.cpu_ns[lo:hi]))
    graph.cpu_ns = cpu
    return wall


def _requests(components: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    from tapeflow.engine.resources import Resource

    found = []
    for c in components:
        resources = c.get("resources")
        if not isinstance(resources, dict):
            continue
        try:
            found.append((c["name"], Resource.coerce(resources).to_ray_options()))
        except Exception:  # a resource the recording kept as text: nothing to place
            continue
    return found


def _memory() -> float:
    """What Ray would offer as ``memory`` on this machine (70% of it, as Ray's default)."""
    try:
        return 0.7 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return float("inf")
