"""Is the Ray verdict right? Predicted against measured RayProcess makespans.

    .venv/bin/python bench/verdict.py              # the whole matrix, 3 runs a side (about 9 min on 2 cores)
    .venv/bin/python bench/verdict.py --quick      # fewer steps
    .venv/bin/python bench/verdict.py --repeat 1   # one run a side
    .venv/bin/python bench/verdict.py --json

For each model shape (chain, fan-out, diamond, loop, and the seed tutorial model) and step
mix (sleeping steps, CPU-bound steps, tiny steps): record a LocalProcess run ``--repeat``
times and take the one of median makespan (what a user most likely recorded), predict its
makespan on RayProcess with this machine's cores for each connector (``tapeflow report
--replay``: every step's CPU time measured alone), run it on RayProcess with that connector
``--repeat`` times (recorded, so its makespan is read the same way: first step start to last
step end), and print predicted against the median measured, with both sides' ranges, the
error, and whether the verdict (from the predicted speedup against the medians' one) was
right. One run a side measures the noise of a 2-core machine as much as the predictor: a
tiny-step loop's makespan is thousands of hops whose cost moves by a third from minute to
minute. Ray's and the actors' start are not in either
makespan. Every local run and its report come first, before this process starts Ray, so the
local baseline has no Ray idling beside it. Uses the stored calibration (``tapeflow
calibrate``) if there is one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import typing as _t
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# bench/ holds ray.py: first on sys.path it would shadow Ray itself. At the end, this module
# still imports by its name (verdict), for Ray workers and the replay alike.
if sys.path and Path(sys.path[0] or os.getcwd()).resolve() == HERE:
    del sys.path[0]
if str(HERE) not in sys.path:
    sys.path.append(str(HERE))

from tapeflow import IO, Component, ComponentArgsDict, ConnectorSpec  # noqa: E402
from tapeflow.replay.calibrate import Count as Source  # noqa: E402  (the same counting source the calibration runs)

STEP_S = 0.02  # work per working step (sleep or CPU)


def _work(mode: str, seconds: float) -> None:
    if mode == "sleep":
        time.sleep(seconds)
    elif mode == "cpu":
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass


class Work(Component):
    """Passes ``x`` on after ``seconds`` of sleep or CPU (``mode``), or at once (``tiny``)."""

    io = IO(inputs=["x"], outputs=["y"])

    def __init__(self, mode: str, seconds: float, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._mode, self._seconds = mode, seconds

    async def step(self) -> None:
        _work(self._mode, self._seconds)
        self.y = self.x


class Join(Component):
    """Adds its ``width`` inputs."""

    io = IO()

    def __init__(self, width: int, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._ports = [f"x{i}" for i in range(width)]
        self.io = IO(inputs=self._ports, outputs=["y"])

    async def step(self) -> None:
        self.y = sum(getattr(self, p) for p in self._ports)


class Feedback(Component):
    """One side of a loop: ``x`` from outside, ``fb`` from the other side."""

    io = IO(inputs=["x", "fb"], outputs=["y"])

    def __init__(self, mode: str, seconds: float, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._mode, self._seconds = mode, seconds

    async def step(self) -> None:
        _work(self._mode, self._seconds)
        self.y = self.x + self.fb


class Sink(Component):
    io = IO(inputs=["x"], outputs=[])

    async def step(self) -> None:
        pass


def build(shape: str, mode: str, n: int, process: str, connector: str) -> Any:
    from tapeflow import AsyncioConnector, LocalProcess, RayConnector, RayProcess, ZMQConnector
    from tapeflow.engine.config import load_process

    kind: Any = {"asyncio": AsyncioConnector, "ray": RayConnector, "zmq": ZMQConnector}[connector]
    if shape == "tutorial":
        return load_process(ROOT / "examples" / "tutorial" / "model.yaml", process=process, connector=connector)
    s = STEP_S if mode != "tiny" else 0.0
    comps: list[Any] = [Source(name="src", n=n)]
    wires: list[tuple[str, str]] = []
    if shape == "chain":
        comps += [Work(name=f"w{i}", mode=mode, seconds=s) for i in range(3)] + [Sink(name="sink")]
        wires = [("src.x", "w0.x"), ("w0.y", "w1.x"), ("w1.y", "w2.x"), ("w2.y", "sink.x")]
    elif shape in ("fan-out", "diamond"):
        width = 4 if shape == "fan-out" else 2
        seconds = [s] * width if shape == "fan-out" else [s, 2 * s]
        comps += [Work(name=f"w{i}", mode=mode, seconds=seconds[i]) for i in range(width)]
        comps += [Join(name="join", width=width), Sink(name="sink")]
        wires = [("src.x", f"w{i}.x") for i in range(width)] + [(f"w{i}.y", f"join.x{i}") for i in range(width)] + [("join.y", "sink.x")]
    elif shape == "loop":
        comps += [Feedback(name="a", mode=mode, seconds=s, initial_values={"fb": [0]}), Work(name="b", mode=mode, seconds=s), Sink(name="sink")]
        wires = [("src.x", "a.x"), ("a.y", "b.x"), ("b.y", "a.fb"), ("b.y", "sink.x")]
    connectors = [kind(spec=ConnectorSpec(source=a, target=b)) for a, b in wires]
    process_class: Any = RayProcess if process == "ray" else LocalProcess
    return process_class(components=comps, connectors=connectors, name=f"{shape}-{mode}")


def run(process: Any, log: Path) -> str:
    from tapeflow.recorder import Recorder

    process.tap = Recorder(log)

    async def main() -> None:
        async with process:
            await process.run()

    asyncio.run(main())
    return str(process.run_id)


def makespan(log: Path, run_id: str) -> float:
    from tapeflow.recorder import open_log

    with open_log(log) as opened:
        row = opened.con.execute("SELECT (max(end_ns) - min(start_ns)) / 1e9 FROM steps WHERE run_id = ?", [run_id]).fetchone()
    return float(row[0]) if row else 0.0


def steps(log: Path, run_id: str) -> int:
    from tapeflow.recorder import open_log

    with open_log(log) as opened:
        row = opened.con.execute("SELECT count(*) FROM steps WHERE run_id = ?", [run_id]).fetchone()
    return int(row[0]) if row else 0


def predicted(shape: str, mode: str, n: int, cpus: int, log: Path, repeat: int) -> dict[str, Any]:
    """Record the LocalProcess run ``repeat`` times and report (``--replay``) on the run of
    median makespan, the one a user most likely has. Ray must not be running in this process
    yet, so that the local runs and the replay are what a user gets."""
    from tapeflow.replay.report import timing_report

    ids = [run(build(shape, mode, n, "local", "asyncio"), log) for _ in range(repeat)]
    runs = sorted((makespan(log, run_id), run_id) for run_id in ids)
    local_id = runs[(len(runs) - 1) // 2][1]
    folder = ROOT / "examples" / "tutorial" if shape == "tutorial" else HERE
    found = timing_report(local_id, log=log, cpus=[cpus], replay=True, path=[folder])
    found["local_runs_s"] = [m for m, _ in runs]
    return found


def measured(shape: str, mode: str, n: int, cpus: int, log: Path, found: dict[str, Any], repeat: int) -> list[dict[str, Any]]:
    """Run the model on RayProcess ``repeat`` times per connector predicted; the rows of the
    table. The error is against the median Ray run, the verdict from the median local run
    over the median Ray run; both ranges are kept."""
    from tapeflow.replay.predict import verdict

    local_runs = found["local_runs_s"]
    recorded = statistics.median(local_runs)
    local_steps = sum(c["steps"] for c in found["components"])
    rows = []
    for p in found["predictions"]:
        ray_runs, lost = [], 0
        for _ in range(repeat):
            ray_id = run(build(shape, mode, n, "ray", p["connector"]), log)
            ray_runs.append(makespan(log, ray_id))
            lost = max(lost, local_steps - steps(log, ray_id))  # steps a Ray run's log lacks (its makespan is then short)
        measured = statistics.median(ray_runs)
        error = (p["makespan_s"] - measured) / measured
        ok_time = abs(error) <= 0.15 or (measured < 1.0 and abs(p["makespan_s"] - measured) <= 0.15)
        actual = verdict(recorded / measured)
        rows.append({
            "shape": shape, "mix": "sleep" if shape == "tutorial" else mode, "cpus": cpus, "connector": p["connector"],
            "local_s": recorded, "local_runs_s": local_runs, "predicted_s": p["makespan_s"], "measured_s": measured,
            "measured_runs_s": sorted(ray_runs), "error": error, "within_bar": ok_time,
            "predicted_speedup": p["speedup"], "measured_speedup": recorded / measured, "predicted_verdict": p["verdict"],
            "measured_verdict": actual, "verdict_right": p["verdict"] == actual, "steps_lost": lost,
        })
    return rows


def spread(samples: list[float]) -> str:
    return f"{min(samples):.3f}–{max(samples):.3f}"


def render(rows: list[dict[str, Any]], calibrated: bool) -> str:
    head = (f"{'shape':<9} {'mix':<6} {'cpus':>4} {'conn':<4} {'local s':>8} {'range':>13} {'pred s':>8} {'meas s':>8} {'range':>13} "
            f"{'error':>7} {'bar':>4} "
            f"{'pred x':>7} {'meas x':>7}  {'predicted':<17} {'measured':<17} right")
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['shape']:<9} {r['mix']:<6} {r['cpus']:>4} {r['connector']:<4} {r['local_s']:>8.3f} {spread(r['local_runs_s']):>13} "
            f"{r['predicted_s']:>8.3f} {r['measured_s']:>8.3f} {spread(r['measured_runs_s']):>13} {r['error']:>+7.1%} {'ok' if r['within_bar'] else 'MISS':>4} {r['predicted_speedup']:>6.2f}x "
            f"{r['measured_speedup']:>6.2f}x  {r['predicted_verdict']:<17} {r['measured_verdict']:<17} {'yes' if r['verdict_right'] else 'NO'}"
        )
    for r in rows:
        if r.get("steps_lost", 0) > 0:
            lines.append(f"  {r['shape']} {r['mix']} {r['connector']}: the Ray run's log lacks {r['steps_lost']} steps of the local run's: "
                         "its measured makespan is short")
    within = sum(r["within_bar"] for r in rows)
    right = sum(r["verdict_right"] for r in rows)
    lines.append(f"{within}/{len(rows)} within 15% (or 0.15 s under 1 s); {right}/{len(rows)} verdicts right; "
                 f"costs {'calibrated (tapeflow calibrate)' if calibrated else 'built-in defaults'}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", help="comma-separated shapes")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each model, local and per connector on Ray; medians compared")
    args = parser.parse_args()
    from tapeflow.engine.ray_cluster import ensure_ray
    from tapeflow.replay.calibrate import load

    cpus = os.cpu_count() or 1
    shapes = ["chain", "fan-out", "diamond", "loop"]
    mixes = {"sleep": 15 if args.quick else 30, "cpu": 15 if args.quick else 30, "tiny": 1000 if args.quick else 3000}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tapeflow-verdict-") as folder:
        os.chdir(folder)  # the tutorial's FileWriter writes ray.csv here
        log = Path(folder) / "verdict.duckdb"
        plan = [(s, m, n) for s in shapes for m, n in mixes.items()] + [("tutorial", "sleep", 0)]
        plan = [(s, m, n) for s, m, n in plan if not args.only or s in args.only.split(",")]
        # Every local run and its report first, before this process starts Ray: a user's
        # LocalProcess run has no Ray beside it.
        reports = []
        for shape, mode, n in plan:
            reports.append(predicted(shape, mode, n, cpus, log, args.repeat))
            if not args.json:
                print(f"  recorded and predicted {shape} {mode}", file=sys.stderr, flush=True)
        ensure_ray()
        for (shape, mode, n), found in zip(plan, reports):
            rows.extend(measured(shape, mode, n, cpus, log, found, args.repeat))
            if not args.json:
                print(f"  measured {shape} {mode}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"verdict: predicted vs measured RayProcess makespan, {cpus} CPUs, median (min–max) of {args.repeat} runs a side, "
              f"python {sys.version.split()[0]}")
        print(render(rows, load().measured))


if __name__ == "__main__":
    # The components by their module's name, not __main__'s: Ray workers and the replay
    # import them as verdict.Work.
    import verdict

    verdict.main()
