"""Replay's feed rate: a pass-through component replayed over a recording of N messages.

    .venv/bin/python bench/replay.py                  # 1,000,000 messages, 3 replays, a table
    .venv/bin/python bench/replay.py --messages 100000 --repeat 1 --json
    .venv/bin/python bench/replay.py --before /tmp/old  # beside an older tapeflow, same recording

``--before FOLDER``: a folder holding an older tapeflow as a package (``FOLDER/tapeflow/`` with
its ``engine``, ``recorder`` and ``replay`` inside, as installed) replays the same recording
too, put first on the worker's ``PYTHONPATH``, alternating with this one.

Records Source -> Pass -> Sink (``models.py``) once into a temporary log, then replays
``pass`` (``tapeflow.replay.replay``, as ``tapeflow replay RUN -c pass`` does) in a fresh
interpreter per replay: every message it consumed is streamed from DuckDB, decoded, fed, the
step run and timed (wall and CPU), and its output compared with the recorded one. The rate is
messages fed per second of the whole replay (opening the log and building the component
included). Peak memory is the replaying process's (``memory.peak_rss_mib``), beside the same
for a whole replay of a run a tenth the size: replay streams, so the two should be close (the
step times, 16-24 bytes a step, are the part that grows).

Each replay runs three times over: with the default clocks (wall per step; CPU per step, read
around blocks of quick steps: replayer._CpuClock), with ``cpu=False`` (wall clock only), and
with the CPU clock read around every step (a system call, about 0.4 µs, two a step), which is
what a replay does for steps of 20 µs or more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from memory import peak_rss_mib

from models import Pass, Sink, Source
from tapeflow import AsyncioConnector, ConnectorSpec, LocalProcess
from tapeflow.recorder import Recorder

HERE = Path(__file__).resolve().parent
BAR = 500_000  # messages per second (issue 9)


def record(path: Path, messages: int) -> str:
    process = LocalProcess(
        [Source(name="source", iters=messages), Pass(name="pass"), Sink(name="sink")],
        [
            AsyncioConnector(spec=ConnectorSpec(source="source.x", target="pass.x")),
            AsyncioConnector(spec=ConnectorSpec(source="pass.y", target="sink.x")),
        ],
        tap=Recorder(path),
    )

    async def run() -> None:
        async with process:
            await process.run()

    asyncio.run(run())
    assert process.run_id is not None
    return process.run_id


def worker(log: str, run_id: str, clocks: str, limit: int | None) -> None:
    from tapeflow.replay import Debug, replay

    cpu = clocks != "wall"
    if clocks == "per-step":
        # Every step's CPU time read around it (two clock readings a step), as a replay does
        # for steps of 20 µs or more: what reading quick steps per block saves.
        from tapeflow.replay import replayer

        replayer._CpuClock.QUICK_NS = 0

    started, cpu_started = time.perf_counter(), time.process_time()
    result = replay(run_id, log=log, components=["pass"], path=[str(HERE)], debug=Debug(until=limit), cpu=cpu)
    wall, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    found = result["pass"]
    assert found.ok, found.report()
    print(json.dumps({"steps": found.steps, "compared": found.compared, "wall_s": wall, "cpu_s": cpu_s, "peak_mib": peak_rss_mib()}))


def replay_once(log: Path, run_id: str, clocks: str, limit: int | None = None, before: str | None = None) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", str(log), run_id, clocks] + ([] if limit is None else [str(limit)])
    env = dict(os.environ)
    if before is not None:  # the older tapeflow is found first
        env["PYTHONPATH"] = os.pathsep.join([before, *filter(None, [env.get("PYTHONPATH")])])
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=HERE, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--before", metavar="FOLDER", help="a folder with an older tapeflow package to replay beside this one")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        log, run_id, clocks, *limit = args.worker
        worker(log, run_id, clocks, int(limit[0]) if limit else None)
        return
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "bench.duckdb"
        started = time.perf_counter()
        run_id = record(log, args.messages)
        recorded_s = time.perf_counter() - started
        small_log = Path(folder) / "small.duckdb"
        tenth = replay_once(small_log, record(small_log, args.messages // 10), "cpu")
        # Alternated, so noise on a shared machine hits both modes (and both installs) alike.
        modes = ["cpu", "wall", "per-step"] + (["before-cpu", "before-wall"] if args.before else [])
        samples: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        for _ in range(args.repeat):
            for mode in samples:
                before = args.before if mode.startswith("before-") else None
                samples[mode].append(replay_once(log, run_id, mode.removeprefix("before-"), before=before))
    summary: dict[str, Any] = {"messages": args.messages, "recorded_s": recorded_s, "bar_messages_per_s": BAR, "peak_mib_tenth": tenth["peak_mib"]}
    for mode, runs in samples.items():
        rates = [s["steps"] / s["wall_s"] for s in runs]
        cpu_rates = [s["steps"] / s["cpu_s"] for s in runs]
        summary[mode] = {
            "wall_s": [s["wall_s"] for s in runs],
            "cpu_s": [s["cpu_s"] for s in runs],
            "messages_per_s_median": statistics.median(rates),
            "messages_per_s_range": [min(rates), max(rates)],
            "messages_per_cpu_s_median": statistics.median(cpu_rates),
            "peak_mib": max(s["peak_mib"] for s in runs),
        }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"replay of 'pass' over {args.messages:,} recorded messages (recorded in {recorded_s:.1f} s), {args.repeat} replays each:")
    labels = {
        "cpu": "steps timed by wall and CPU clock (default)", "wall": "steps timed by wall clock only (cpu=False, --no-cpu)",
        "per-step": "CPU clock read around every step (as for steps of 20 µs or more)",
        "before-cpu": f"--before {args.before}, wall and CPU clock", "before-wall": f"--before {args.before}, wall clock only",
    }
    for mode in samples:
        label = labels[mode]
        found = summary[mode]
        low, high = found["messages_per_s_range"]
        verdict = "met" if found["messages_per_s_median"] >= BAR else "NOT met"
        print(f"  {label}: {found['messages_per_s_median']:,.0f} messages/s (range {low:,.0f}-{high:,.0f}; "
              f"{found['messages_per_cpu_s_median']:,.0f} per CPU second); bar {BAR:,}: {verdict}; peak memory {found['peak_mib']:.0f} MiB")
    print(f"  peak memory replaying a run a tenth the size: {summary['peak_mib_tenth']:.0f} MiB")


if __name__ == "__main__":
    main()
