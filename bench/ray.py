"""tapeflow on Ray beside Plugboard 0.9 and the bare primitives, in one run.

    .venv/bin/python bench/ray.py                  # everything, median of 5 (about 15 min on 2 cores)
    .venv/bin/python bench/ray.py --quick          # one repeat, smaller chains (about 2 min)
    .venv/bin/python bench/ray.py --only seed,floors --repeat 3
    .venv/bin/python bench/ray.py --json           # one JSON object with every raw sample
    .venv/bin/python bench/ray.py --render FILE    # the table of a saved run

Every run is a whole run in a fresh interpreter (this script in ``--worker`` mode, or the
peer's script under the Plugboard venv), printing one JSON line; every Ray is started in that
interpreter, on loopback, without the dashboard. Repeats are outermost, so a slow minute on a
shared machine lands on every variant alike. Figures are ``median (min–max)`` of the repeats.

Three groups (``--only``):

- ``seed``: the seed tutorial's model (Iterator -> two Sleeps of 0.05 s and 0.1 s -> Timestamper
  -> FileWriter, 20 iterations: critical path 2.0 s on Ray, 3.0 s on one core) on tapeflow
  LocalProcess, RayProcess + RayConnector, RayProcess + ZMQConnector, and on Plugboard 0.9
  (bench/peer/bench_tutorial.py) with the same. Two processes one after another in each
  driver: **start** = from calling ``RayProcess(...)`` to ``init()`` returning (what ``async
  with`` does on entry), Ray already initialised in that interpreter, for the first process
  of a fresh driver and for the second; **run** = ``run()``; the CSV must hold 20 rows.
- ``chain``: Source -> 4 x Pass -> Sink on RayProcess carrying ``--n`` (20,000) ints, per
  connector, unrecorded (``tap=None``) and recorded (the default tap, ``$TAPEFLOW_LOG`` naming
  a DuckDB file in a temporary folder); Plugboard's bench/peer/bench_chain.py with the same
  chain (its RayConnector at ``--peer-ray-n``, 2,000: about 120 messages/s would make 20,000
  take three minutes a run). msgs/s = messages / ``run()``, as the peer's script counts it.
- ``floors``: the primitives under the connectors, items per second: a Ray async actor
  called from the driver, one call per item (all sent, then waited for: pipelined), one call
  per 100 items, and one call per item each awaited (a round trip); a ZeroMQ PUSH socket
  sending frames of 100 pickled ints (pickled in the loop) to a PULL socket in another
  process over loopback TCP.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# This file is named ray.py: run as a script, its folder is sys.path[0] and `import ray` would
# import this file. The folder goes to the end instead, where `memory` and `models` are still
# found and Ray's package comes first.
if sys.path and Path(sys.path[0] or os.getcwd()).resolve() == HERE:
    del sys.path[0]
if str(HERE) not in sys.path:
    sys.path.append(str(HERE))

from memory import peak_rss_mib  # noqa: E402
ROOT = HERE.parent
TUTORIAL = ROOT / "examples" / "tutorial"
PEER = HERE / "peer"

SEED_CRITICAL_PATH_S = {"local": 3.0, "ray": 2.0}  # 20 x (0.05 + 0.1) on one core; 20 x 0.1 in parallel
GROUPS = ("seed", "chain", "floors")


# ------------------------------------------------------------------------------ workers
# Each runs in its own interpreter and prints one JSON line.


def _start_ray() -> float:
    """Start Ray as a RayProcess would (loopback only, no dashboard), timed without ``import
    ray``, as the peer's scripts time their ``ray.init``."""
    importlib.import_module("ray")  # by name: `import ray` in this file reads, to mypy, as this file

    from tapeflow.engine.ray_cluster import ensure_ray

    started = time.perf_counter()
    ensure_ray()
    return time.perf_counter() - started


async def _seed_once(process_kind: str, connector: str, out: Path) -> dict[str, Any]:
    sys.path.insert(0, str(TUTORIAL))
    t0 = time.perf_counter()
    if process_kind == "local":
        import model  # type: ignore[import-not-found]

        process: Any = model.build(out)
        process.tap = None
    else:
        import ray_model  # type: ignore[import-not-found]

        from tapeflow import RayConnector, ZMQConnector

        process = ray_model.build(out, connector={"ray": RayConnector, "zmq": ZMQConnector}[connector], tap=None)
    async with process:
        t1 = time.perf_counter()
        await process.run()
        t2 = time.perf_counter()
    t3 = time.perf_counter()
    with open(out) as f:
        rows = max(sum(1 for _ in f) - 1, 0)
    return {"start_s": t1 - t0, "run_s": t2 - t1, "close_s": t3 - t2, "csv_rows": rows}


def worker_seed(process_kind: str, connector: str, runs: int) -> dict[str, Any]:
    t = time.perf_counter()
    import tapeflow  # noqa: F401

    import_s = time.perf_counter() - t
    ray_up_s = _start_ray() if process_kind == "ray" else None
    folder = Path(tempfile.mkdtemp(prefix="tapeflow-bench-seed-"))

    async def all_runs() -> list[dict[str, Any]]:
        return [await _seed_once(process_kind, connector, folder / f"out{k}.csv") for k in range(runs)]

    done = asyncio.run(all_runs())
    return {"import_s": import_s, "ray_up_s": ray_up_s, "runs": done, "peak_rss_mib": peak_rss_mib()}


def _clocked(source: type, sink: type, clock_file: str) -> tuple[type, type]:
    """The chain's Source and Sink, reading the clock: the source in its first step, the sink
    at the end of every step; both write what they read to ``clock_file`` in ``destroy()``.
    ``time.perf_counter`` is CLOCK_MONOTONIC on Linux, one clock for every process of the
    machine, so the driver can set the actors' readings against its own."""

    class ClockedSource(source):  # type: ignore[misc,valid-type]
        async def step(self) -> None:
            if not hasattr(self, "first"):
                self.first = time.perf_counter()
            await super().step()

        async def destroy(self) -> None:
            with open(f"{clock_file}.source", "w") as f:
                json.dump({"first": getattr(self, "first", None)}, f)

    class ClockedSink(sink):  # type: ignore[misc,valid-type]
        async def step(self) -> None:
            self.count += 1
            self.last = time.perf_counter()

        async def destroy(self) -> None:
            with open(f"{clock_file}.sink", "w") as f:
                json.dump({"last": getattr(self, "last", None), "count": self.count}, f)

    return ClockedSource, ClockedSink


def worker_chain(connector: str, recorded: bool, n: int, length: int) -> dict[str, Any]:
    from models import Pass, Sink, Source

    from tapeflow import ConnectorSpec, RayConnector, RayProcess, ZMQConnector

    ray_up_s = _start_ray()
    clock_file = tempfile.mktemp(prefix="tapeflow-bench-clock-")
    ClockedSource, ClockedSink = _clocked(Source, Sink, clock_file)
    kind = {"ray": RayConnector, "zmq": ZMQConnector}[connector]
    components: list[Any] = [ClockedSource(name="src", iters=n), *(Pass(name=f"p{i}") for i in range(length)), ClockedSink(name="sink")]
    names = [c.name for c in components]
    wires = [("src.x", f"{names[1]}.x")] + [(f"{a}.y", f"{b}.x") for a, b in zip(names[1:-1], names[2:])]
    connectors = [kind(spec=ConnectorSpec(source=s, target=t)) for s, t in wires]
    args: dict[str, Any] = {} if recorded else {"tap": None}  # recorded: the default tap, $TAPEFLOW_LOG

    async def go() -> dict[str, Any]:
        t0 = time.perf_counter()
        process = RayProcess(components, connectors, **args)
        async with process:
            t1 = time.perf_counter()
            await process.run()
            t2 = time.perf_counter()
        t3 = time.perf_counter()
        return {"t_begin": t0, "t_init": t1, "t_run": t2, "t_exit": t3, "start_s": t1 - t0, "run_s": t2 - t1,
                "close_s": t3 - t2, "sink_steps": process.step_counts.get("sink", 0)}

    out = asyncio.run(go())
    with open(f"{clock_file}.source") as f:
        first = json.load(f)["first"]
    with open(f"{clock_file}.sink") as f:
        sink = json.load(f)
    for end in ("source", "sink"):
        os.unlink(f"{clock_file}.{end}")
    # first step -> last step: the stream alone; last step -> run() returns: the end of the run
    # (every actor's run call returning, the last recorded parts pulled, the log written).
    out.update(first_step_s=first - out["t_init"], stream_s=sink["last"] - first, end_s=out["t_run"] - sink["last"], sink_count=sink["count"])
    log = os.environ.get("TAPEFLOW_LOG")
    if recorded and log:
        out.update(_check_log(Path(log)))
    return {**out, "ray_up_s": ray_up_s, "peak_rss_mib": peak_rss_mib()}


def _check_log(path: Path) -> dict[str, Any]:
    """The recorded run is in its log: status and messages, and the file's size."""
    import duckdb

    if not path.exists():
        return {"log_status": "missing", "log_messages": 0, "log_bytes": 0}
    con = duckdb.connect(str(path), read_only=True)
    try:
        status, messages = con.execute("SELECT status, messages FROM run_summary").fetchall()[0]
    finally:
        con.close()
    return {"log_status": status, "log_messages": messages, "log_bytes": path.stat().st_size}


def worker_ray_floor(n: int, batch: int, serial_n: int, actors: int) -> dict[str, Any]:
    from collections import deque

    ray: Any = importlib.import_module("ray")
    ray_up_s = _start_ray()

    @ray.remote(num_cpus=0.001)  # tapeflow's default request, as a component's actor makes it
    class Receiver:
        """An async actor, as tapeflow's component actors are; counts what it is given."""

        def __init__(self) -> None:
            self.items = 0

        async def push(self, items: Any) -> None:
            self.items += len(items) if isinstance(items, list) else 1

        async def count(self) -> int:
            return self.items

    def fresh_actors() -> float:
        """Seconds to create ``actors`` new actors and hear back from each: what starting a
        process of that many components costs at least, before any component is loaded."""
        started = time.perf_counter()
        made = [Receiver.remote() for _ in range(actors)]  # type: ignore[attr-defined]
        ray.get([r.count.remote() for r in made])
        elapsed = time.perf_counter() - started
        for r in made:
            ray.kill(r)
        return elapsed

    out: dict[str, Any] = {"ray_up_s": ray_up_s, "actors": actors, "actors_first_s": fresh_actors(), "actors_second_s": fresh_actors()}
    receiver = Receiver.remote()  # type: ignore[attr-defined]
    ray.get(receiver.count.remote())  # the actor is up before any clock starts

    # One call per item, at most WINDOW in flight (Ray warns past 10,000 pending calls).
    window = 1000
    started = time.perf_counter()
    pending: deque[Any] = deque()
    for i in range(n):
        pending.append(receiver.push.remote(i))
        if len(pending) >= window:
            ray.get(pending.popleft())
    ray.get(list(pending))
    out["per_item_s"], out["per_item_n"] = time.perf_counter() - started, n

    chunks = [list(range(i, min(i + batch, n))) for i in range(0, n, batch)]
    started = time.perf_counter()
    ray.get([receiver.push.remote(chunk) for chunk in chunks])
    out["batched_s"], out["batched_n"] = time.perf_counter() - started, n

    started = time.perf_counter()
    for i in range(serial_n):
        ray.get(receiver.push.remote(i))
    out["serial_s"], out["serial_n"] = time.perf_counter() - started, serial_n
    # Async actor calls may run out of order, so the count is checked once, at the end.
    assert ray.get(receiver.count.remote()) == 2 * n + serial_n
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def worker_zmq_floor(n: int, batch: int) -> dict[str, Any]:
    import pickle

    import zmq

    ctx = zmq.Context()
    back = ctx.socket(zmq.PULL)
    back_port = back.bind_to_random_port("tcp://127.0.0.1")
    puller = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--worker", "zmq-pull", str(n), str(back_port)],
        stdout=subprocess.PIPE, text=True,
    )
    assert puller.stdout is not None
    port = int(puller.stdout.readline())  # the receiver binds, then says where
    push = ctx.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{port}")
    push.send(pickle.dumps([]))  # connected and the receiver reading before the clock starts
    assert back.recv() == b"ready"
    started = time.perf_counter()
    for i in range(0, n, batch):
        push.send(pickle.dumps(list(range(i, min(i + batch, n)))))
    got = int(back.recv())  # the receiver has unpickled the last frame
    elapsed = time.perf_counter() - started
    puller.wait(timeout=30)
    push.close(linger=0)
    back.close(linger=0)
    ctx.term()
    assert got == n, got
    return {"zmq_s": elapsed, "zmq_n": n, "peak_rss_mib": peak_rss_mib()}


def worker_zmq_pull(n: int, back_port: int) -> None:
    import pickle

    import zmq

    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    back = ctx.socket(zmq.PUSH)
    back.connect(f"tcp://127.0.0.1:{back_port}")
    print(port, flush=True)
    pickle.loads(pull.recv())
    back.send(b"ready")
    got = 0
    while got < n:
        got += len(pickle.loads(pull.recv()))
    back.send(str(got).encode())
    back.close(linger=5000)
    pull.close(linger=0)
    ctx.term()


# ------------------------------------------------------------------------------ driver


def find_peer_python(flag: str | None) -> Path | None:
    """The peer venv's python: --peer-venv, else $TAPEFLOW_PEER_VENV, else .venv-plugboard in
    the repository or its parent folder (as bench/chain.py finds it)."""
    candidates = [flag, os.environ.get("TAPEFLOW_PEER_VENV"), str(ROOT / ".venv-plugboard"), str(ROOT.parent / ".venv-plugboard")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "bin" / "python").exists():
            return Path(candidate) / "bin" / "python"
    return None


TIMEOUT_S = [240.0]  # per run; --timeout. Plugboard's ZeroMQ chain hung now and then here (a run that takes ~15 s)


def run_json(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One whole run in its own process; its last stdout line, as JSON, plus its wall time.
    A failed run gives ``{"error": ...}`` and the rest of the benchmark goes on."""
    timeout = TIMEOUT_S[0]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - started
    # Ray's own processes print to the driver's stdout too: the result is the last JSON line.
    lines = [line for line in done.stdout.strip().splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {done.returncode}: {tail[-300:]}", "stderr": done.stderr[-4000:]}
    try:
        out = dict(json.loads(lines[-1]))
    except ValueError:
        return {"error": f"no JSON line: {lines[-1][-300:]}"}
    out["wall_s"] = wall
    return out


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "TAPEFLOW_LOG", "TAPEFLOW_RECORD")}
    env.update(extra)
    return env


def peer_env() -> dict[str, str]:
    """The peer's scripts call ``ray.init()`` with no address, which joins any Ray already
    running on the machine (another benchmark's, a test session's: a Python 3.11 one fails
    with a version mismatch). ``RAY_ADDRESS=local`` makes each start its own; the scripts keep
    it on loopback (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``)."""
    return clean_env(RAY_ADDRESS="local")


def variants(a: argparse.Namespace, peer: Path | None) -> list[dict[str, Any]]:
    """Every variant to run: name, group, and how to run it (a callable taking the temp dir)."""
    me = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    out: list[dict[str, Any]] = []

    def add(group: str, name: str, make: Any, **meta: Any) -> None:
        if group in a.only:
            out.append({"group": group, "name": name, "make": make, **meta})

    for proc, conn in (("local", "asyncio"), ("ray", "ray"), ("ray", "zmq")):
        add("seed", f"tapeflow {proc}+{conn}", lambda tmp, p=proc, c=conn: run_json([*me, "seed", p, c, "2"], tmp, clean_env()),
            side="tapeflow", process=proc, connector=conn)
        if peer is not None:
            add("seed", f"plugboard {proc}+{conn}",
                lambda tmp, p=proc, c=conn: run_json([str(peer), str(PEER / "bench_tutorial.py"), "--process", p, "--connector", c, "--runs", "2"], tmp, peer_env()),
                side="plugboard", process=proc, connector=conn)
    for conn in ("ray", "zmq"):
        for recorded in (False, True):
            def chain(tmp: Path, c: str = conn, r: bool = recorded) -> dict[str, Any]:
                log = tmp / f"chain-{c}.duckdb"
                for stale in (log, Path(f"{log}.wal")):
                    stale.unlink(missing_ok=True)
                env = clean_env(TAPEFLOW_LOG=str(log)) if r else clean_env()
                result = run_json([*me, "chain", c, "on" if r else "off", str(a.n), str(a.length)], tmp, env)
                for path in (log, Path(f"{log}.wal")):
                    path.unlink(missing_ok=True)
                return result

            add("chain", f"tapeflow {conn}{' recorded' if recorded else ''}", chain, side="tapeflow", connector=conn, recorded=recorded, n=a.n)
        if peer is not None:
            n = a.peer_ray_n if conn == "ray" else a.n
            add("chain", f"plugboard {conn}",
                lambda tmp, c=conn, m=n: run_json([str(peer), str(PEER / "bench_chain.py"), "--process", "ray", "--connector", c, "--length", str(a.length), "--n", str(m)], tmp, peer_env()),
                side="plugboard", connector=conn, recorded=False, n=n)
    add("floors", "ray actor calls", lambda tmp: run_json([*me, "ray-floor", str(a.floor_n), "100", str(a.floor_serial_n), "5"], tmp, clean_env()))
    add("floors", "zmq push/pull", lambda tmp: run_json([*me, "zmq-floor", str(a.zmq_n), "100"], tmp, clean_env()))
    return out


# ------------------------------------------------------------------------------ figures


def median_range(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    mid = len(ordered) // 2
    med = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return med, ordered[0], ordered[-1]


def fmt(values: list[float], scale: float = 1.0, digits: int | None = None) -> str:
    """``1.23 (1.20–1.31)``: median (min–max), decimals by the median's size."""
    if not values:
        return "-"
    med, lo, hi = (v * scale for v in median_range(values))
    mag = abs(med)
    d = digits if digits is not None else 0 if mag >= 100 else 1 if mag >= 10 else 2 if mag >= 0.1 else 3
    if len(values) == 1:
        return f"{med:,.{d}f}"
    return f"{med:,.{d}f} ({lo:,.{d}f}–{hi:,.{d}f})"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), *(line(r) for r in rows)])


def _ok(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in samples if "error" not in s]


def _errors(samples: list[dict[str, Any]]) -> str:
    bad = [s["error"] for s in samples if "error" in s]
    return f"{len(bad)} of {len(samples)} failed: {bad[0]}" if bad else ""


def seed_figures(v: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, list[float]]:
    ok = _ok(samples)
    if v["side"] == "tapeflow":
        start = [[r["start_s"] for r in s["runs"]] for s in ok]
        run = [[r["run_s"] for r in s["runs"]] for s in ok]
        rows = [r["csv_rows"] for s in ok for r in s["runs"]]
        ray_up = [s["ray_up_s"] for s in ok if s.get("ray_up_s") is not None]
    else:
        start = [[r["build_s"] + r["init_s"] for r in s["runs"]] for s in ok]
        run = [[r["run_s"] for r in s["runs"]] for s in ok]
        rows = [r["csv_rows"] for s in ok for r in s["runs"]]
        ray_up = [s["ray_init_s"] for s in ok if s.get("ray_init_s") is not None]
    return {
        "run_s": [r[0] for r in run], "run2_s": [r[1] for r in run if len(r) > 1],
        "start1_s": [s[0] for s in start], "start2_s": [s[1] for s in start if len(s) > 1],
        "ray_up_s": ray_up, "csv_rows": rows, "peak_rss_mib": [s.get("peak_rss_mib", s.get("peak_rss_mib_driver", 0)) for s in ok],
    }


def chain_figures(v: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, list[float]]:
    ok = _ok(samples)
    stream: list[float] = []
    end: list[float] = []
    if v["side"] == "tapeflow":
        msgs = [v["n"] / s["run_s"] for s in ok]
        stream = [v["n"] / s["stream_s"] for s in ok]
        end = [s["end_s"] for s in ok]
        start = [s["start_s"] for s in ok]
        counted = [s["sink_steps"] for s in ok]
    else:
        msgs = [s["n"] / s["run_s"] for s in ok]
        start = [s["build_s"] + s["init_s"] for s in ok]
        counted = [s["sink_count"] for s in ok]
    return {"msgs_per_s": msgs, "stream_msgs_per_s": stream, "end_s": end, "run_s": [s["run_s"] for s in ok], "start_s": start, "counted": counted,
            "log_messages": [s["log_messages"] for s in ok if "log_messages" in s],
            "peak_rss_mib": [s["peak_rss_mib"] for s in ok]}


def floor_figures(v: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, list[float]]:
    ok = _ok(samples)
    if v["name"].startswith("ray"):
        return {"per item, pipelined (1,000 in flight)": [s["per_item_n"] / s["per_item_s"] for s in ok],
                "per 100 items": [s["batched_n"] / s["batched_s"] for s in ok],
                "per item, each awaited": [s["serial_n"] / s["serial_s"] for s in ok],
                "actors_first_s": [s["actors_first_s"] for s in ok], "actors_second_s": [s["actors_second_s"] for s in ok]}
    return {"frames of 100": [s["zmq_n"] / s["zmq_s"] for s in ok]}


def summarise(report: dict[str, Any]) -> None:
    for v in report["variants"]:
        figures = {"seed": seed_figures, "chain": chain_figures, "floors": floor_figures}[v["group"]]
        v["figures"] = figures(v, v["samples"])
        v["failed"] = _errors(v["samples"])


def render(report: dict[str, Any]) -> str:
    meta = report["meta"]
    by_group: dict[str, list[dict[str, Any]]] = {}
    for v in report["variants"]:
        by_group.setdefault(v["group"], []).append(v)
    out = [f"tapeflow on Ray beside Plugboard 0.9: each run a fresh interpreter; median (min–max) of {meta['repeat']}; "
           f"python {meta['python']}, {meta['cpus']} CPUs, load {meta['load_before']} before / {meta['load_after']} after, "
           f"{meta['elapsed_s']:.0f} s in all"]
    failures = [f"  {v['name']}: {v['failed']}" for v in report["variants"] if v["failed"]]

    if "seed" in by_group:
        out += ["", "seed model (20 iterations, sleeps 0.05 s / 0.1 s): run = run(); critical path 3.0 s on LocalProcess, 2.0 s on Ray;",
                "start = RayProcess(...) called -> init() returned, Ray already up in that driver: first process of a fresh driver, and a second one"]
        rows = []
        for v in by_group["seed"]:
            f = v["figures"]
            path = SEED_CRITICAL_PATH_S[v["process"]]
            over = [r / path - 1 for r in f["run_s"]]
            rows.append([v["name"], fmt(f["run_s"]), fmt(over, 100, 1) + " %" if over else "-", fmt(f["run2_s"]),
                         fmt(f["start1_s"]), fmt(f["start2_s"]), fmt(f["ray_up_s"]),
                         f"{min(f['csv_rows'])}" if f["csv_rows"] else "-"])
        out.append(table(["variant", "run s", "over crit. path", "run s (2nd)", "start s (1st)", "start s (2nd)", "ray up s", "rows"], rows))

    if "chain" in by_group:
        sizes = sorted({v["n"] for v in by_group["chain"]})
        out += ["", f"chain: Source -> {meta['length']} x Pass -> Sink on RayProcess ({', '.join(f'{n:,}' for n in sizes)} int messages, see n); "
                "msgs/s = messages / run(), as the peer's script counts;",
                "stream = the same over the source's first step -> the sink's last; end = the sink's last step -> run() returns "
                "(the last recorded parts pulled and the log written);",
                "recorded = the default tap writing a DuckDB log in a temp folder; its cost = 1 - recorded/unrecorded msgs/s, run by run"]
        rows = []
        plain = {v["connector"]: v["figures"] for v in by_group["chain"] if v["side"] == "tapeflow" and not v["recorded"]}

        def cost(off: list[float], on: list[float]) -> str:
            return fmt([1 - b / a for a, b in zip(off, on)], 100, 1) + " %" if off and on else "-"

        for v in by_group["chain"]:
            f = v["figures"]
            costs = ["-", "-"]
            base = plain.get(v["connector"])
            if v["side"] == "tapeflow" and v["recorded"] and base:
                costs = [cost(base["msgs_per_s"], f["msgs_per_s"]), cost(base["stream_msgs_per_s"], f["stream_msgs_per_s"])]
            rows.append([v["name"], f"{v['n']:,}", fmt(f["msgs_per_s"], digits=0), fmt(f["stream_msgs_per_s"], digits=0), fmt(f["start_s"]),
                         fmt(f["end_s"]), *costs])
        out.append(table(["variant", "n", "msgs/s", "msgs/s stream", "start s", "end s", "recording costs", "... of stream"], rows))

    if "floors" in by_group:
        out += ["", "floors, items/s (Ray: one async actor called from the driver; ZeroMQ: PUSH -> PULL in another process, loopback TCP)"]
        rows = [[f"{v['name']}: {what}", fmt(vals, digits=0)] for v in by_group["floors"] for what, vals in v["figures"].items()
                if not what.startswith("actors")]
        out.append(table(["floor", "items/s"], rows))
        for v in by_group["floors"]:
            f = v["figures"]
            if f.get("actors_first_s"):
                out.append(f"start floor: {v['samples'][0]['actors']} fresh Ray actors created and each called once, Ray just up: "
                           f"{fmt(f['actors_first_s'])} s; the next {v['samples'][0]['actors']}: {fmt(f['actors_second_s'])} s")
    if failures:
        out += ["", "FAILED runs:", *failures]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5, help="runs of each variant; medians reported")
    p.add_argument("--only", default=",".join(GROUPS), metavar="GROUP[,GROUP]", help=f"groups to run: {', '.join(GROUPS)}")
    p.add_argument("--n", type=int, default=20_000, help="messages through the chain")
    p.add_argument("--length", type=int, default=4, help="pass-through components in the chain")
    p.add_argument("--peer-ray-n", type=int, default=2_000, help="messages through Plugboard's chain on its RayConnector")
    p.add_argument("--floor-n", type=int, default=20_000, help="items through the Ray floors")
    p.add_argument("--floor-serial-n", type=int, default=2_000, help="items through the awaited-call Ray floor")
    p.add_argument("--zmq-n", type=int, default=2_000_000, help="items through the ZeroMQ floor")
    p.add_argument("--peer-venv", default=None, help="Plugboard venv (default: $TAPEFLOW_PEER_VENV or .venv-plugboard)")
    p.add_argument("--no-peer", action="store_true", help="leave Plugboard out")
    p.add_argument("--timeout", type=float, default=TIMEOUT_S[0], help="seconds one run may take before it counts as failed")
    p.add_argument("--quick", action="store_true", help="one repeat, a tenth of the messages: a smoke test")
    p.add_argument("--json", action="store_true", help="print the JSON object instead of the table")
    p.add_argument("--save", metavar="FILE", help="write the JSON object here (default: a file in the temp folder, named on stderr)")
    p.add_argument("--render", metavar="FILE", help="print the table of a saved JSON object and exit")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args()

    if a.worker:
        kind, *args = a.worker
        if kind == "zmq-pull":
            worker_zmq_pull(int(args[0]), int(args[1]))
            return
        result = {
            "seed": lambda: worker_seed(args[0], args[1], int(args[2])),
            "chain": lambda: worker_chain(args[0], args[1] == "on", int(args[2]), int(args[3])),
            "ray-floor": lambda: worker_ray_floor(int(args[0]), int(args[1]), int(args[2]), int(args[3])),
            "zmq-floor": lambda: worker_zmq_floor(int(args[0]), int(args[1])),
        }[kind]()
        print(json.dumps(result), flush=True)
        return
    if a.render:
        print(render(json.loads(Path(a.render).read_text())))
        return

    TIMEOUT_S[0] = a.timeout
    a.only = [g.strip() for g in a.only.split(",") if g.strip()]
    unknown = [g for g in a.only if g not in GROUPS]
    if unknown:
        p.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    if a.quick:
        a.repeat = 1
        a.n, a.peer_ray_n, a.floor_n, a.floor_serial_n, a.zmq_n = a.n // 10, a.peer_ray_n // 10, a.floor_n // 10, a.floor_serial_n // 10, a.zmq_n // 10
    peer = None if a.no_peer else find_peer_python(a.peer_venv)
    if peer is None and not a.no_peer:
        print("plugboard: skipped: peer venv not found (run bench/setup-peer.sh)", file=sys.stderr)
    chosen = variants(a, peer)
    for v in chosen:
        v["samples"] = []
    load_before = round(os.getloadavg()[0], 1)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tapeflow-bench-ray-") as tmp:
        for rep in range(a.repeat):
            for v in chosen:
                print(f"[{time.perf_counter() - began:6.1f} s] {rep + 1}/{a.repeat} {v['group']}: {v['name']}", file=sys.stderr, flush=True)
                sample = v["make"](Path(tmp))
                if "error" in sample:
                    print(f"    failed: {sample['error']}", file=sys.stderr, flush=True)
                v["samples"].append(sample)
    report = {
        "meta": {"python": sys.version.split()[0], "cpus": os.cpu_count(), "repeat": a.repeat, "quick": a.quick,
                 "n": a.n, "length": a.length, "peer_ray_n": a.peer_ray_n, "peer": str(peer) if peer else None,
                 "elapsed_s": round(time.perf_counter() - began, 1), "load_before": load_before,
                 "load_after": round(os.getloadavg()[0], 1), "date": time.strftime("%Y-%m-%d"), "argv": sys.argv[1:]},
        "variants": [{k: val for k, val in v.items() if k != "make"} for v in chosen],
    }
    summarise(report)
    text = json.dumps(report, indent=1)
    save = Path(a.save) if a.save else Path(tempfile.gettempdir()) / f"tapeflow-bench-ray-{time.strftime('%Y%m%d-%H%M%S')}.json"
    save.write_text(text + "\n")
    print(f"results: {save}", file=sys.stderr)
    print(text if a.json else render(report))


if __name__ == "__main__":
    main()
