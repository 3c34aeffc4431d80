"""The recording benchmark's runs on two tapeflow installs side by side, in one run.

    .venv/bin/python bench/before_after.py --before /tmp/old-venv/bin/python [--only ints-100k,dict-20] [--repeat 5]

Each run is a whole recorded run in its own interpreter (``recording.py``'s worker: the
default tap into a fresh log, start-up, final flush and close included), alternating the two
interpreters so machine noise hits both; an unrecorded run of the current install is the
baseline. The ``--before`` interpreter needs an older tapeflow installed (``pip install``
of an older checkout into its own venv) and the same dependencies (numpy for arrays).
Medians (min–max) of µs per component-step, start, close, whole-process wall and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from recording import BY_NAME, SCENARIOS

HERE = Path(__file__).resolve().parent


def run(python: str, name: str, mode: str, messages: int, stages: int, folder: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("TAPEFLOW_LOG", "TAPEFLOW_RECORD")}
    log = folder / "log.duckdb"
    if mode == "on":
        env["TAPEFLOW_LOG"] = str(log)
    command = [python, str(HERE / "recording.py"), "--worker", name, mode, str(messages), str(stages)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=folder, env=env)
    wall = time.perf_counter() - started
    for path in (log, Path(f"{log}.wal")):
        path.unlink(missing_ok=True)
    if done.returncode != 0:
        raise SystemExit(f"{python} {name} {mode}: worker failed:\n{done.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


def cell(samples: list[float], scale: float, digits: int) -> str:
    values = [v * scale for v in samples]
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--before", required=True, metavar="PYTHON", help="an interpreter with the older tapeflow installed")
    p.add_argument("--only", default="ints-100k,bytes-1k,dict-20,array-100k", metavar="NAME[,NAME]")
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    chosen = [BY_NAME[n.strip()] for n in a.only.split(",") if n.strip()] if a.only else SCENARIOS
    sides = {"off (now)": (sys.executable, "off"), "on before": (a.before, "on"), "on now": (sys.executable, "on")}
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {s.name: {k: [] for k in sides} for s in chosen}
    with tempfile.TemporaryDirectory(prefix="tapeflow-ab-") as tmp:
        for rep in range(a.repeat):
            for s in chosen:
                print(f"repeat {rep + 1}/{a.repeat} {s.name}", file=sys.stderr, flush=True)
                for label, (python, mode) in sides.items():
                    samples[s.name][label].append(run(python, s.name, mode, s.messages, s.stages, Path(tmp)))
    print(f"before vs now, recorded, whole runs in their own process; median (min–max) of {a.repeat}; before = {a.before}")
    print(f"{'scenario':<12} {'side':<10} {'µs/step':>20} {'start ms':>20} {'close ms':>22} {'wall s':>20} {'peak MiB':>20}")
    for s in chosen:
        for label in sides:
            rows = samples[s.name][label]
            per_step = [r["steady_s"] / r["steps"] for r in rows]
            print(
                f"{s.name:<12} {label:<10} {cell(per_step, 1e6, 2):>20} {cell([r['start_s'] for r in rows], 1e3, 0):>20} "
                f"{cell([r['close_s'] for r in rows], 1e3, 0):>22} {cell([r['wall_s'] for r in rows], 1, 2):>20} "
                f"{cell([r['peak_rss_mib'] for r in rows], 1, 0):>20}"
            )


if __name__ == "__main__":
    main()
