"""How the record shows a recorded run's own pauses: one recorded run of a `recording.py`
scenario, then, from its log, the longest pause between two steps of a Pass component, how
many pauses passed 10 ms, the longest step and the run's makespan.

    .venv/bin/python bench/pauses.py ints-100k          # or dict-20, bytes-1k, ...
    .venv/bin/python bench/pauses.py dict-20 --messages 20000

A pause that every component shows at once is the recorder's (a drain, an import), not the
model's: it lands in the record as every step's wait for its inputs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import recording  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenario", choices=[s.name for s in recording.SCENARIOS])
    p.add_argument("--messages", type=int, default=None, help="default: the scenario's")
    args = p.parse_args()
    base = recording.BY_NAME[args.scenario]
    with tempfile.TemporaryDirectory(prefix="tapeflow-pauses-") as folder:
        log = Path(folder) / "log.duckdb"
        os.environ["TAPEFLOW_LOG"] = str(log)
        s = recording._sized(base, args.messages or base.messages, base.stages)
        asyncio.run(recording._timed(recording.build(s, record=True)))
        import duckdb

        con = duckdb.connect(str(log), read_only=True)
        [(gap_ms, gaps, step_ms)] = con.execute(
            """WITH s AS (
                   SELECT end_ns - start_ns AS took, start_ns - lag(end_ns) OVER (PARTITION BY component ORDER BY step) AS gap
                   FROM step_log WHERE component BETWEEN 1 AND 10)
               SELECT max(gap) / 1e6, count(*) FILTER (WHERE gap > 1e7), max(took) / 1e6 FROM s"""
        ).fetchall()
        [(makespan_ms,)] = con.execute("SELECT (max(end_ns) - min(start_ns)) / 1e6 FROM step_log").fetchall()
        con.close()
    print(f"{args.scenario}: longest pause {gap_ms:.1f} ms, {gaps} pauses over 10 ms (components 1-10), "
          f"longest step {step_ms:.2f} ms, makespan {makespan_ms:.0f} ms")


if __name__ == "__main__":
    main()
