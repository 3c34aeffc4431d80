"""Benchmark (c)/(d): the seed tutorial model ("Running in parallel").

Iterator -> {Sleep slow, Sleep very-slow} -> Timestamper -> FileWriter, with sleeps scaled
to 0.05 s and 0.1 s and 20 iterations (defaults).

Usage:
  python bench_tutorial.py --process local                      # AsyncioConnector
  python bench_tutorial.py --process ray                        # RayConnector (as in tutorial)
  python bench_tutorial.py --process ray --connector zmq        # ZMQConnector on Ray

Prints one JSON line. Ideal (fully parallel) run time is iters * max(sleeps) = 2.0 s;
fully serial is iters * sum(sleeps) = 3.0 s.

This copy (from the shared peer bench) adds ``--runs K``: K processes built and run one after
another in the same driver, each one's build/init/run/destroy under ``runs`` (the first run's
figures stay at the top level, as before), so bench/ray.py can show a second process's start
once Ray's workers are warm; and peak RSS is VmHWM, as on tapeflow's side.
"""

import argparse
import asyncio
import csv
import json
import os

# Keep Ray on loopback (otherwise it binds/talks to the eth0 address).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
import resource
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

T0 = time.perf_counter()
from plugboard.connector import AsyncioConnector, RayConnector, ZMQConnector  # noqa: E402
from plugboard.library import FileWriter  # noqa: E402
from plugboard.process import LocalProcess, RayProcess  # noqa: E402
from plugboard.schemas import ConnectorSpec  # noqa: E402

from pb_models import Iterator, Sleep, Timestamper  # noqa: E402

T_IMPORT = time.perf_counter() - T0
CONNECTORS = {"asyncio": AsyncioConnector, "ray": RayConnector, "zmq": ZMQConnector}


async def main(a: argparse.Namespace, out_path: str) -> dict:
    conn = CONNECTORS[a.connector]
    t0 = time.perf_counter()
    proc_cls = LocalProcess if a.process == "local" else RayProcess
    process = proc_cls(
        components=[
            Iterator(name="input", iters=a.iters),
            Sleep(name="slow-sleep", sleep_seconds=a.slow),
            Sleep(name="very-slow-sleep", sleep_seconds=a.very_slow),
            Timestamper(name="timestamper"),
            FileWriter(name="save-results", path=out_path, field_names=["timestamp"]),
        ],
        connectors=[
            conn(spec=ConnectorSpec(source="input.x", target="slow-sleep.x")),
            conn(spec=ConnectorSpec(source="input.x", target="very-slow-sleep.x")),
            conn(spec=ConnectorSpec(source="slow-sleep.y", target="timestamper.x")),
            conn(spec=ConnectorSpec(source="very-slow-sleep.y", target="timestamper.y")),
            conn(spec=ConnectorSpec(source="timestamper.timestamp", target="save-results.timestamp")),
        ],
    )
    t1 = time.perf_counter()
    await process.init()
    t2 = time.perf_counter()
    await process.run()
    t3 = time.perf_counter()
    await process.destroy()
    t4 = time.perf_counter()
    return {
        "build_s": round(t1 - t0, 3),
        "init_s": round(t2 - t1, 3),
        "run_s": round(t3 - t2, 3),
        "destroy_s": round(t4 - t3, 3),
        "total_s": round(t4 - t0, 3),
        "status": str(process.status),
    }


def _peak_rss_mib() -> float:
    # VmHWM, as tapeflow's side reports it (bench/memory.py; this script runs in the peer's
    # venv and cannot import it): ru_maxrss would include the parent's peak from the fork.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--process", choices=["local", "ray"], default="local")
    p.add_argument("--connector", choices=list(CONNECTORS), default=None)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--slow", type=float, default=0.05)
    p.add_argument("--very-slow", type=float, default=0.1)
    p.add_argument("--runs", type=int, default=1, help="processes built and run one after another in this driver")
    a = p.parse_args()
    a.connector = a.connector or ("asyncio" if a.process == "local" else "ray")
    ray_init_s = None
    if a.process == "ray":
        import ray

        t = time.perf_counter()
        ray.init(include_dashboard=False, log_to_driver=False)
        ray_init_s = round(time.perf_counter() - t, 3)
    folder = tempfile.mkdtemp(prefix="pbbench")

    async def all_runs() -> list[dict]:
        done = []
        for k in range(a.runs):
            out = os.path.join(folder, f"out{k}.csv")
            one = await main(a, out)
            with open(out) as f:
                one["csv_rows"] = max(sum(1 for _ in csv.reader(f)) - 1, 0)
            done.append(one)
        return done

    runs = asyncio.run(all_runs())
    res = dict(runs[0])
    rows = res.pop("csv_rows")
    res["runs"] = runs
    res.update(
        bench="tutorial",
        process=a.process,
        connector=a.connector,
        iters=a.iters,
        sleeps=[a.slow, a.very_slow],
        import_s=round(T_IMPORT, 3),
        ray_init_s=ray_init_s,
        csv_rows=rows,
        peak_rss_mib_driver=_peak_rss_mib(),
    )
    print(json.dumps(res), flush=True)

