"""Recording's cost as a user meets it: whole runs, recorded and not, side by side.

    .venv/bin/python bench/recording.py                 # every scenario, 5 pairs, a table
    .venv/bin/python bench/recording.py --json          # one JSON object with every raw sample
    .venv/bin/python bench/recording.py --quick         # a tenth of the messages, 1 pair: smoke test
    .venv/bin/python bench/recording.py --only ints-100k,arrays-10mb --repeat 9

Every run is a fresh interpreter (this script in ``--worker`` mode, printing one JSON line), so
start-up, imports, the final flush and peak memory are each run's own. Each scenario runs
unrecorded (``tap=None``) and recorded (the default tap, with ``$TAPEFLOW_LOG`` naming a fresh
temporary file: what ``LocalProcess(...)`` does for a user, importing DuckDB included), in
pairs, off then on, ``--repeat`` times, the repeats outermost, so noise on this machine hits
both modes alike. Beside them a third fresh process inserts the rows the recorded run writes,
prebuilt as Arrow tables, into a bare DuckDB file: the raw primitive, the floor under the
recorder. Every figure is a median with its range (min–max) over the repeats; a ratio or
difference is taken within each pair first.

Times in a worker (``time.perf_counter()``):
- t0: just before ``async with process:`` (the process is built; ``init()`` opens the record);
- first: read by the source in its first step;
- last: read by the sink at the end of every step, so the last one is the last step's end;
- exit: after ``async with`` returns (``run()`` has written every row; ``destroy()`` ran).
start = first - t0; close = exit - last; µs per component-step = (last - first) / steps, steps
counted by the engine (``process.step_counts``); wall = interpreter start to exit, measured by
the parent around the subprocess.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from memory import peak_rss_mib

from tapeflow import IO, AsyncioConnector, Component, ConnectorSpec, LocalProcess

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

KIB = 1024
MB = 1e6  # MB/s in decimal megabytes; payload sizes are binary (1 KiB, 100 KiB, 10 MiB)


@dataclass(frozen=True)
class Scenario:
    name: str
    shape: str  # "chain": Source -> stages x Pass -> Sink; "fanout": Source -> stages x Pass -> one Sink
    stages: int
    messages: int
    payload: str  # int | bytes-1k | dict-20 | array-100k | array-10mb
    what: str

    @property
    def components(self) -> int:
        return self.stages + 2

    @property
    def channels(self) -> int:
        return self.stages + 1 if self.shape == "chain" else 2 * self.stages


SCENARIOS = [
    Scenario("ints-10k", "chain", 10, 10_000, "int", "Source -> 10 x Pass -> Sink, int payloads"),
    Scenario("ints-100k", "chain", 10, 100_000, "int", "the same, 100,000 messages"),
    Scenario("bytes-1k", "chain", 10, 20_000, "bytes-1k", "the chain, a distinct 1 KiB bytes per message"),
    Scenario("dict-20", "chain", 10, 20_000, "dict-20", "the chain, a new 20-key dict (int/str/float values) per message"),
    Scenario("array-100k", "chain", 10, 2_000, "array-100k", "the chain, a new 100 KiB float64 numpy array per message"),
    Scenario("fanout-8", "fanout", 8, 50_000, "int", "Source -> 8 parallel Pass -> one Sink with 8 inputs, ints"),
    Scenario("chain-10000", "chain", 10_000, 10, "int", "a chain of 10,000 Pass, 10 messages: the fixed cost"),
    Scenario("arrays-10mb", "chain", 1, 50, "array-10mb", "Source -> Pass -> Sink, a new 10 MiB float64 array per message"),
]
BY_NAME = {s.name: s for s in SCENARIOS}


# ------------------------------------------------------------------------------ payloads
# Each message carries a new object with distinct content, made by slicing a random buffer
# built before the timed part: a slice is one memcpy (cheap, the same in both modes), and
# random content keeps the log from looking smaller than a user's data would make it.


def payload_maker(kind: str, n: int) -> Callable[[int], Any] | None:
    """``make(i)``: the i-th message's payload; ``None`` for ints (the message is ``i``)."""
    if kind == "int":
        return None
    if kind == "bytes-1k":
        raw = os.urandom(KIB + n)
        return lambda i: raw[i : i + KIB]
    if kind == "dict-20":
        keys = [f"key{j:02d}" for j in range(20)]

        def make(i: int) -> dict[str, Any]:
            return {k: (i + j if j % 3 == 0 else f"v{i + j}" if j % 3 == 1 else (i + j) * 0.5) for j, k in enumerate(keys)}

        return make
    import numpy as np

    width = {"array-100k": 100 * KIB // 8, "array-10mb": 10 * KIB * KIB // 8}[kind]
    base = np.random.default_rng(1).random(width + n)
    return lambda i: base[i : i + width].copy()


def payload_blob(value: Any) -> bytes:
    """What the floor stores for one payload, and its size for MB/s: the bytes themselves, an
    array's data, a dict's msgpack (what the recorder's codec makes of it, less its headers)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, dict):
        import msgpack  # type: ignore[import-untyped]

        return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]
    return value.tobytes()  # type: ignore[no-any-return]


def payload_bytes(kind: str, n: int) -> int:
    """Distinct payload bytes the source sends in a run of ``n`` messages."""
    if kind == "int":
        return 0
    make = payload_maker(kind, n)
    assert make is not None
    if kind == "dict-20":
        return sum(len(payload_blob(make(i))) for i in range(n))
    return n * len(payload_blob(make(0)))


# ------------------------------------------------------------------------------ worker
# Runs in its own interpreter: builds one model, runs it once, prints one JSON line.


class Source(Component):
    """Sends ``count`` payloads on ``x``; reads the clock in its first step."""

    io = IO(outputs=["x"])

    def __init__(self, count: int, payload: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._count = count
        # Built here, before the clock starts, not in init(): init() is inside start-up.
        self._make = payload_maker(payload, count)
        self.first: float | None = None

    async def init(self) -> None:
        self._i = 0

    async def step(self) -> None:
        i = self._i
        if i == 0:
            self.first = time.perf_counter()
        if i == self._count:
            await self.io.close()
            return
        self._i = i + 1
        self.x = i if self._make is None else self._make(i)


class Pass(Component):
    io = IO(inputs=["x"], outputs=["y"])

    async def step(self) -> None:
        self.y = self.x


class Counting(Component):
    """Counts and reads the clock; keeps no value (a 10 MiB array would sit in the memory figure).
    No ports of its own: a subclass's ``io`` adds to its base's."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.count = 0
        self.last = 0.0

    async def step(self) -> None:
        self.count += 1
        self.last = time.perf_counter()


class Sink(Counting):
    io = IO(inputs=["x"])


class Join(Counting):
    """The fan-out's sink: one input per parallel Pass, so it steps once per source message."""

    io = IO(inputs=[f"x{i}" for i in range(8)])


def build(s: Scenario, record: bool) -> Any:
    src = Source(name="src", count=s.messages, payload=s.payload)
    passes = [Pass(name=f"p{i}") for i in range(s.stages)]
    specs: list[tuple[str, str]]
    if s.shape == "chain":
        sink = Sink(name="sink")
        names = [p.name for p in passes]
        specs = [("src.x", f"{names[0]}.x")] + [(f"{a}.y", f"{b}.x") for a, b in zip(names, names[1:])] + [(f"{names[-1]}.y", "sink.x")]
    else:
        if s.stages != 8:
            raise SystemExit("fanout needs 8 stages (the join has 8 inputs)")
        sink = Join(name="sink")
        specs = [("src.x", f"p{i}.x") for i in range(8)] + [(f"p{i}.y", f"sink.x{i}") for i in range(8)]
    connectors = [AsyncioConnector(ConnectorSpec(source=a, target=b)) for a, b in specs]
    components = [src, *passes, sink]
    if record:  # the default tap: TAPEFLOW_LOG (set by the parent) names the file
        return LocalProcess(components, connectors)
    return LocalProcess(components, connectors, tap=None)


async def _timed(process: Any) -> dict[str, float]:
    t0 = time.perf_counter()
    async with process:
        await process.run()
        returned = time.perf_counter()
    exit_ = time.perf_counter()
    return {"t0": t0, "returned": returned, "exit": exit_}


def worker(name: str, mode: str, messages: int, stages: int) -> None:
    s = _sized(BY_NAME[name], messages, stages)
    if mode == "floor":
        print(json.dumps(floor(s, os.environ["BENCH_FLOOR_FILE"])), flush=True)
        return
    if mode.startswith("blobs-"):
        print(json.dumps(blob_floor(s, mode.removeprefix("blobs-"), os.environ["BENCH_FLOOR_FILE"])), flush=True)
        return
    built = time.perf_counter()
    process = build(s, record=mode == "on")
    built = time.perf_counter() - built
    t = asyncio.run(_timed(process))
    src, sink = process.components["src"], process.components["sink"]
    out = {
        "build_s": built,
        "start_s": src.first - t["t0"],
        "steady_s": sink.last - src.first,
        "close_s": t["exit"] - sink.last,
        "run_returned_s": t["returned"] - sink.last,  # close = this + destroy()
        "run_s": t["exit"] - t["t0"],
        "steps": sum(process.step_counts.values()),
        "sink_count": sink.count,
        "run_id": getattr(process, "run_id", None),  # (older tapeflow: see before_after.py)
        "peak_rss_mib": peak_rss_mib(),
    }
    writer = getattr(getattr(process, "run_tap", None), "_writer", None)
    if writer is not None and hasattr(writer, "write_s"):  # the writer's time in writes, and on CPU
        out["writer_s"], out["writer_cpu_s"] = writer.write_s, writer.write_cpu_s
    print(json.dumps(out), flush=True)


def floor(s: Scenario, path: str) -> dict[str, Any]:
    """The rows a recorded run of ``s`` writes, prebuilt as Arrow tables, inserted into a bare
    DuckDB file (no tapeflow schema, no keys), then closed: the least that writing them costs.

    Rows: one per message per channel (6 columns, as the log's message table), one
    per component-step (6), and for payload scenarios one per distinct payload (its bytes)."""
    import duckdb
    import pyarrow as pa  # type: ignore[import-untyped]

    n = s.messages
    make = payload_maker(s.payload, n)
    m_rows, s_rows = n * s.channels, (n + 1) * s.components
    ints = pa.array(range(max(m_rows, s_rows)), pa.int64())
    m = ints.slice(0, m_rows)
    one = pa.repeat(pa.scalar(1, pa.int32()), max(m_rows, s_rows))
    if make is None:  # an int's payload in the log: msgpack of the int, a few bytes inline
        inline = pa.array([i.to_bytes(4, "big") for i in range(m_rows)], pa.binary())
        payload_id = pa.nulls(m_rows, pa.int64())
        blobs = None
    else:
        inline = pa.nulls(m_rows, pa.binary())
        payload_id = m
        blobs = pa.table({"run": one.slice(0, n), "id": ints.slice(0, n), "data": pa.array([payload_blob(make(i)) for i in range(n)], pa.binary())})
    tables = {
        # A message row as the log stores it (schema 5): its times are its steps'.
        "messages": pa.table({"run": one.slice(0, m_rows), "channel": m.cast(pa.int32()), "seq": m, "receiver_step": m,
                              "payload": inline, "payload_id": payload_id}),
        "steps": pa.table({"run": one.slice(0, s_rows), "component": ints.slice(0, s_rows).cast(pa.int32()), "step": ints.slice(0, s_rows),
                           "start_ns": ints.slice(0, s_rows), "end_ns": ints.slice(0, s_rows), "blocked_ns": ints.slice(0, s_rows)}),
    }
    if blobs is not None:
        tables["payloads"] = blobs
    started = time.perf_counter()
    con = duckdb.connect(path)
    # Opening a fresh file (~20 ms) is left out: the recorder pays it at start-up, not per row.
    connected = time.perf_counter() - started
    started = time.perf_counter()
    each: dict[str, float] = {}
    for table_name, table in tables.items():
        con.register("arrow_rows", table)  # named explicitly rather than found by DuckDB's variable scan
        con.execute(f"CREATE TABLE {table_name} AS SELECT * FROM arrow_rows")
        con.unregister("arrow_rows")
        each[f"{table_name}_s"] = time.perf_counter() - started - sum(each.values())
    con.close()  # writes the file (a checkpoint), as the recorder's last close does
    elapsed = time.perf_counter() - started
    return {"floor_s": elapsed, **each, "close_s": elapsed - sum(each.values()), "rows": sum(t.num_rows for t in tables.values()), "payload_bytes": 0 if blobs is None else blobs["data"].nbytes,
            "connect_s": connected, "file_bytes": os.path.getsize(path), "peak_rss_mib": peak_rss_mib()}


BLOB_STRATEGIES = ("reopen", "held", "sidecar", "segments")


def blob_floor(s: Scenario, strategy: str, path: str) -> dict[str, Any]:
    """The scenario's distinct payloads (random bytes of its payload's size) written to a bare
    DuckDB file in the recorder's batches (32 MiB, ``writer.GATHER_BYTES``), three ways:

    - ``reopen``: open, insert, commit and close the file per batch, as the recorder does (a
      reader gets in between writes); DuckDB checkpoints at every close;
    - ``held``: one connection for the whole run (no reader gets in), a commit per batch, one
      checkpoint at the end (``checkpoint_threshold`` raised: DuckDB otherwise checkpoints any
      commit whose write-ahead log passes 16 MiB);
    - ``sidecar``: each batch appended to a file beside the log and synced, DuckDB keeping
      only (id, offset, length) rows, per batch as ``reopen``;
    - ``segments``: as ``reopen``, but each batch into a table of its own (a checkpoint then
      writes only that batch's blocks, never an earlier batch's row group again).

    Payloads are made per batch, so peak RSS over the process before the first batch is the
    strategy's own."""
    import duckdb
    import pyarrow as pa  # type: ignore[import-untyped]

    size = len(payload_blob(payload_maker(s.payload, 1)(0)))  # type: ignore[misc]
    per = max(1, (32 << 20) // size)
    side = f"{path}.blobs"
    con = duckdb.connect(path)
    con.execute("CREATE TABLE payloads (run INTEGER, id BIGINT, data BLOB USING COMPRESSION uncompressed)")
    con.execute("CREATE TABLE payload_refs (run INTEGER, id BIGINT, off BIGINT, len BIGINT)")
    con.close()
    before = peak_rss_mib()
    # held: no checkpoint until the close (DuckDB checkpoints a commit whose log passes 16 MiB)
    held = duckdb.connect(path, config={"threads": 1, "checkpoint_threshold": "1TB"}) if strategy == "held" else None
    fd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_APPEND) if strategy == "sidecar" else -1
    spent = offset = 0.0
    for first in range(0, s.messages, per):
        chunk = [os.urandom(size) for _ in range(min(per, s.messages - first))]
        started = time.perf_counter()
        ids = pa.array(range(first, first + len(chunk)), pa.int64())
        if strategy == "sidecar":
            os.writev(fd, chunk)
            os.fsync(fd)
            offsets = [int(offset) + size * i for i in range(len(chunk))]
            offset += size * len(chunk)
            rows = pa.table({"id": ids, "off": pa.array(offsets, pa.int64()), "len": pa.repeat(pa.scalar(size, pa.int64()), len(chunk))})
            con = duckdb.connect(path, config={"threads": 1})
            con.register("rows", rows)
            con.execute("BEGIN; INSERT INTO payload_refs SELECT 1, id, off, len FROM rows; COMMIT")
            con.close()
        else:
            rows = pa.table({"id": ids, "data": pa.array(chunk, pa.binary())})
            con = held or duckdb.connect(path, config={"threads": 1})
            con.register("rows", rows)
            if strategy == "segments":
                con.execute(f"BEGIN; CREATE TABLE payloads_{first} (run INTEGER, id BIGINT, data BLOB USING COMPRESSION uncompressed);"
                            f" INSERT INTO payloads_{first} SELECT 1, id, data FROM rows; COMMIT")
            else:
                con.execute("BEGIN; INSERT INTO payloads SELECT 1, id, data FROM rows; COMMIT")
            con.unregister("rows")
            if held is None:
                con.close()
        spent += time.perf_counter() - started
        del chunk, rows
    started = time.perf_counter()
    if held is not None:
        held.close()
    if fd >= 0:
        os.close(fd)
    spent += time.perf_counter() - started
    files = log_bytes(Path(path)) + (os.path.getsize(side) if os.path.exists(side) else 0)
    return {"blob_s": spent, "payload_bytes": size * s.messages, "file_bytes": files, "peak_rss_mib": peak_rss_mib(), "rss_before_mib": before}


def blob_report(names: list[str], repeat: int) -> str:
    """``--blob-floor``: each strategy of :func:`blob_floor` for each scenario, in its own
    process, strategies interleaved within each repeat."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="tapeflow-blobs-") as tmp:
        for _ in range(repeat):
            for name in names:
                for strategy in BLOB_STRATEGIES:
                    out = run_worker(BY_NAME[name], f"blobs-{strategy}", Path(tmp))
                    runs.setdefault((name, strategy), []).append(out)
    rows = []
    for (name, strategy), outs in runs.items():
        mb = outs[0]["payload_bytes"] / MB
        rows.append([name, strategy, f"{mb:,.0f}", fmt([mb / r["blob_s"] for r in outs]),
                     fmt([r["peak_rss_mib"] - r["rss_before_mib"] for r in outs]), fmt([r["file_bytes"] / MB for r in outs])])
    return "\n".join([f"bare DuckDB, the scenario's payloads in 32 MiB batches; median (min–max) of {repeat}", table(
        ["scenario", "strategy", "payload MB", "MB/s", "peak RSS over start, MiB", "files MB"], rows)])


# ------------------------------------------------------------------------------ driver


def _sized(s: Scenario, messages: int, stages: int) -> Scenario:
    return Scenario(s.name, s.shape, stages, messages, s.payload, s.what)


def log_bytes(path: Path) -> int:
    """The log on disk: the file and its write-ahead log, if one is left."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}.wal")) if p.exists())


def run_worker(s: Scenario, mode: str, tmp: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("TAPEFLOW_LOG", "TAPEFLOW_RECORD")}
    log = tmp / f"{s.name}-{mode}.duckdb"
    for stale in (log, Path(f"{log}.wal")):
        stale.unlink(missing_ok=True)
    if mode == "on":
        env["TAPEFLOW_LOG"] = str(log)
    elif mode == "floor" or mode.startswith("blobs-"):
        env["BENCH_FLOOR_FILE"] = str(log)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", s.name, mode, str(s.messages), str(s.stages)]
    # Working folder: the temp dir, so nothing can land in the repository by accident.
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{s.name} {mode}: worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
    out = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    out["wall_s"] = wall
    if mode in ("off", "on") and out["sink_count"] != s.messages:
        raise SystemExit(f"{s.name} {mode}: the sink got {out['sink_count']} messages, not {s.messages}")
    if mode == "on":
        out.update(check_log(log, s))
    for path in (log, Path(f"{log}.wal"), Path(f"{log}.blobs")):
        path.unlink(missing_ok=True)  # 10 MiB arrays make 500 MB logs: keep the disk free
    return out


def check_log(path: Path, s: Scenario) -> dict[str, Any]:
    """Size the log as the run left it, check it holds the run, CHECKPOINT it, size it again."""
    import duckdb

    size = log_bytes(path)
    con = duckdb.connect(str(path))
    try:
        status, logged = con.execute("SELECT status, messages FROM run_summary").fetchall()[0]
        con.execute("CHECKPOINT")
        # Blocks in use, beside the file's size: DuckDB keeps freed blocks in the file (a
        # CHECKPOINT reuses them, never gives them back), and the difference can be large.
        used = con.execute("SELECT block_size * used_blocks FROM pragma_database_size()").fetchall()[0][0]
    finally:
        con.close()
    if status != "completed":
        raise SystemExit(f"{s.name}: the recorded run is {status!r} in its log")
    return {"log_bytes": size, "log_bytes_checkpointed": log_bytes(path), "log_used_bytes": used, "logged_messages": logged}


def median_range(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def fmt(values: list[float], scale: float = 1.0) -> str:
    """``1.23 (1.20–1.31)``: median (min–max), decimals by the median's size."""
    if not values:
        return "-"
    med, lo, hi = (v * scale for v in median_range(values))
    mag = abs(med)
    d = 0 if mag >= 100 else 1 if mag >= 10 else 2 if mag >= 0.1 else 3
    return f"{med:.{d}f}" if len(values) == 1 else f"{med:.{d}f} ({lo:.{d}f}–{hi:.{d}f})"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), *(line(r) for r in rows)])


def summarise(s: Scenario, runs: dict[str, list[dict[str, Any]]], payload: int) -> dict[str, Any]:
    off, on, fl = runs["off"], runs["on"], runs["floor"]

    def us(r: dict[str, Any]) -> float:
        return float(r["steady_s"] / r["steps"] * 1e6)

    return {
        "us_step_off": [us(r) for r in off],
        "us_step_on": [us(r) for r in on],
        "us_step_ratio": [us(b) / us(a) for a, b in zip(off, on)],
        "us_step_diff": [us(b) - us(a) for a, b in zip(off, on)],
        "us_step_floor": [r["floor_s"] / b["steps"] * 1e6 for r, b in zip(fl, on)],
        "start_ms_off": [r["start_s"] * 1e3 for r in off],
        "start_ms_on": [r["start_s"] * 1e3 for r in on],
        "close_ms_off": [r["close_s"] * 1e3 for r in off],
        "close_ms_on": [r["close_s"] * 1e3 for r in on],
        "wall_s_off": [r["wall_s"] for r in off],
        "wall_s_on": [r["wall_s"] for r in on],
        # The writer thread's time in writes, and the part it was not on CPU (waiting for the
        # disk or for the GIL); absent for a tapeflow that does not report them.
        "writer_s": [r["writer_s"] for r in on if "writer_s" in r],
        "writer_waiting_s": [r["writer_s"] - r["writer_cpu_s"] for r in on if "writer_s" in r],
        "rss_mib_off": [r["peak_rss_mib"] for r in off],
        "rss_mib_on": [r["peak_rss_mib"] for r in on],
        "log_b_per_msg": [r["log_bytes"] / s.messages for r in on],
        "log_b_per_msg_checkpointed": [r["log_bytes_checkpointed"] / s.messages for r in on],
        "mb_s_on": [payload / r["run_s"] / MB for r in on] if payload else [],
        "mb_s_floor": [payload / r["floor_s"] / MB for r in fl] if payload else [],
    }


def render(report: dict[str, Any]) -> str:
    """The table of a report (what ``--json`` prints): one row per scenario, in three parts."""
    meta, sc = report["meta"], report["scenarios"]
    rows = [(name, d, d["figures"]) for name, d in sc.items()]
    out = [f"recording off vs on: each run a fresh interpreter; median (min–max) of {meta['repeat']}, off/on interleaved; "
           f"python {meta['python']}, {meta['cpus']} CPUs, {meta['elapsed_s']:.0f} s in all", ""]
    out.append("µs per component-step = (sink's last step end - source's first step start) / steps; on/off and on-off per pair;")
    out.append("floor = bare DuckDB writing the same rows from prebuilt Arrow tables, per step")
    out.append(table(
        ["scenario", "msgs", "comps", "steps", "off µs", "on µs", "on/off", "on-off µs", "floor µs"],
        [[name, f"{d['messages']:,}", f"{d['components']:,}", f"{d['runs']['on'][0]['steps']:,}",
          fmt(f["us_step_off"]), fmt(f["us_step_on"]), fmt(f["us_step_ratio"]), fmt(f["us_step_diff"]), fmt(f["us_step_floor"])]
         for name, d, f in rows],
    ))
    out += ["", "fixed cost, ms: start = before `async with process:` -> first step starts; close = last step ends -> `async with` returns;",
            "wall, s = the worker interpreter's start to exit; writes, s = the writer thread in writes (open to close of the file),",
            "waiting = the part of it off CPU (the disk, or the GIL the event loop holds)"]
    out.append(table(
        ["scenario", "start off", "start on", "close off", "close on", "wall off", "wall on", "writes s", "waiting s"],
        [[name, fmt(f["start_ms_off"]), fmt(f["start_ms_on"]), fmt(f["close_ms_off"]), fmt(f["close_ms_on"]),
          fmt(f["wall_s_off"]), fmt(f["wall_s_on"]), fmt(f.get("writer_s", [])), fmt(f.get("writer_waiting_s", []))]
         for name, d, f in rows],
    ))
    out += ["", "peak RSS, MiB; log bytes per source message as the run left it and after CHECKPOINT;",
            "MB/s = distinct payload bytes / recorded run (before `async with` -> it returns); floor: the same rows, INSERT + close"]
    out.append(table(
        ["scenario", "RSS off", "RSS on", "log B/msg", "after CHECKPOINT", "payload MB", "MB/s on", "MB/s floor"],
        [[name, fmt(f["rss_mib_off"]), fmt(f["rss_mib_on"]), fmt(f["log_b_per_msg"]), fmt(f["log_b_per_msg_checkpointed"]),
          f"{d['payload_bytes'] / MB:,.1f}" if d["payload_bytes"] else "-", fmt(f["mb_s_on"]), fmt(f["mb_s_floor"])]
         for name, d, f in rows],
    ))
    short = [f"{name}: {r['logged_messages']:,} of {d['messages'] * d['channels']:,}" for name, d, _ in rows for r in d["runs"]["on"]
             if r["logged_messages"] != d["messages"] * d["channels"]]
    if short:
        out.append("WARNING: logged messages differ from messages sent x channels: " + "; ".join(short))
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5, help="off/on pairs per scenario (and floor runs); medians reported")
    p.add_argument("--only", default=None, metavar="NAME[,NAME]", help=f"scenarios to run: {', '.join(BY_NAME)}")
    p.add_argument("--quick", action="store_true", help="a tenth of the messages, one repeat: a smoke test")
    p.add_argument("--json", action="store_true", help="print one JSON object with every raw sample instead of the table")
    p.add_argument("--save", metavar="FILE", help="also write that JSON object to FILE")
    p.add_argument("--render", metavar="FILE", help="print the table of a saved JSON object and exit")
    p.add_argument("--blob-floor", action="store_true",
                   help="instead: bare DuckDB taking the payloads of array-100k and arrays-10mb (or --only) three ways (see blob_floor)")
    p.add_argument("--worker", nargs=4, metavar=("NAME", "MODE", "MESSAGES", "STAGES"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        name, mode, messages, stages = a.worker
        worker(name, mode, int(messages), int(stages))
        return
    if a.render:
        print(render(json.loads(Path(a.render).read_text())))
        return
    if a.blob_floor:
        names = [n.strip() for n in a.only.split(",")] if a.only else ["array-100k", "arrays-10mb"]
        print(blob_report(names, a.repeat))
        return

    chosen = SCENARIOS
    if a.only:
        names = [n.strip() for n in a.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            p.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
        chosen = [BY_NAME[n] for n in names]
    if a.quick:
        a.repeat = 1
        chosen = [_sized(s, max(1, s.messages // 10), s.stages) for s in chosen]

    payloads = {s.name: payload_bytes(s.payload, s.messages) for s in chosen}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {s.name: {"off": [], "on": [], "floor": []} for s in chosen}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tapeflow-bench-") as tmp:
        # Repeats outermost and off/on back to back: a slow minute on this shared machine then
        # lands on both modes of every scenario instead of on all repeats of one.
        for rep in range(a.repeat):
            for s in chosen:
                print(f"[{time.perf_counter() - began:6.1f} s] repeat {rep + 1}/{a.repeat} {s.name}", file=sys.stderr, flush=True)
                for mode in ("off", "on", "floor"):
                    runs[s.name][mode].append(run_worker(s, mode, Path(tmp)))
    elapsed = time.perf_counter() - began

    report = {
        "meta": {"python": sys.version.split()[0], "cpus": os.cpu_count(), "repeat": a.repeat, "quick": a.quick,
                 "elapsed_s": round(elapsed, 1), "date": time.strftime("%Y-%m-%d"), "argv": sys.argv[1:]},
        "scenarios": {s.name: {"shape": s.shape, "stages": s.stages, "components": s.components, "channels": s.channels,
                               "messages": s.messages, "payload": s.payload, "payload_bytes": payloads[s.name], "what": s.what,
                               "runs": runs[s.name], "figures": summarise(s, runs[s.name], payloads[s.name])} for s in chosen},
    }
    text = json.dumps(report, indent=1)
    if a.save:
        Path(a.save).write_text(text + "\n")
    print(text if a.json else render(report))


if __name__ == "__main__":
    main()
