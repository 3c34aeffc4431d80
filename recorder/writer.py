"""The writer thread: turns drained stamp logs into Arrow tables and inserts them in bulk.

The event loop only swaps buffers and puts batches on a bounded queue; when the writer falls
behind, ``put`` blocks the loop, so the run slows down and no row is ever dropped.

The writer opens the log for each flush and closes it after (DuckDB allows one writing
process per file, and while one holds it nobody else can even read): two runs recording at
once, and `tapeflow runs` / `tapeflow query`, take turns at the file. Batches that queued up
while it waited are written together, so a slow turn means fewer, larger flushes.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine.tap import MESSAGE_WIDTH, STEP_WIDTH
from .connection import connect

__all__ = ["Batch", "Writer"]

HEARTBEAT_S = 2.0
HOLD_S = 1.0  # longest a writer keeps the file while batches keep coming
WRITER_THREADS = None


@dataclass(slots=True)
class Batch:
    """What the loop drained: per component ``(id, messages, steps, errors)`` flat lists (layout
    in ``tapeflow.engine.tap``), plus messages nobody consumed, ``(envelope, receive_raw)``."""

    parts: list[tuple[int, list[Any], list[int], list[tuple[int, BaseException]]]] = field(default_factory=list)
    unconsumed: list[Any] = field(default_factory=list)
    snapshots: bool = True


@dataclass(slots=True)
class Ending:
    status: str
    ended_ns: int
    error: str | None


class Writer:
    def __init__(
        self,
        path: str,
        run_id: str,
        component_names: list[str],
        offset_ns: Callable[[], int],
        encode: Callable[[Any], bytes],
        encoded_type: type,
        error_text: Callable[[BaseException], tuple[str, str | None]],
        fast: Callable[[Any], bytes],
        sole_inputs: dict[int, int] | None = None,
        max_batches: int = 4,
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.names = component_names
        self.offset_ns = offset_ns
        self.encode = encode
        self.encoded_type = encoded_type
        self.error_text = error_text
        self.fast = fast
        # Component id -> its one incoming channel, for components fed by exactly one.
        self.sole_inputs = sole_inputs or {}
        self.queue: queue.Queue[Batch | Ending] = queue.Queue(max_batches)
        # Converted batches wait here for the inserter: conversion needs the GIL, DuckDB's
        # insert releases it, so the two overlap (and overlap the event loop) on two cores.
        self.converted: queue.Queue[tuple[Any, Any, Any] | Ending] = queue.Queue(2)
        self.failure: BaseException | None = None
        self.rows = 0
        self.converter = threading.Thread(target=self._convert, name=f"tapeflow-convert-{run_id}", daemon=True)
        self.thread = threading.Thread(target=self._run, name=f"tapeflow-writer-{run_id}", daemon=True)
        self.converter.start()
        self.thread.start()

    def put(self, item: Batch | Ending) -> None:
        if self.failure is not None and isinstance(item, Batch):
            return  # nothing more can be written; run_ended reports why
        self.queue.put(item)

    def close(self) -> None:
        self.converter.join()
        self.thread.join()

    # --- the threads -----------------------------------------------------------------------
    def _convert(self) -> None:
        while True:
            item = self.queue.get()
            if isinstance(item, Ending):
                self.converted.put(item)
                return
            if self.failure is not None:
                continue
            try:
                self.converted.put(self._tables(item))
            except BaseException as error:
                self.failure = error

    def _run(self) -> None:
        while True:
            try:
                item = self.converted.get(timeout=HEARTBEAT_S)
            except queue.Empty:
                self._guard(self._beat)
                continue
            if isinstance(item, Ending):
                self._guard(lambda con: self._write(con, [], item))
                return
            if self.failure is not None:
                continue
            if self._guard(lambda con: self._drain_into(con, item)):
                return

    def _drain_into(self, con: Any, first: tuple[Any, Any, Any]) -> bool:
        """Write ``first`` and whatever is already waiting, one transaction per batch, on one
        connection; give the file back once nothing waits or after ``HOLD_S`` (readers and
        other runs' writers retry for seconds, so a short hold shuts nobody out). True when
        the ending was written."""
        held_since = time.monotonic()
        item: tuple[Any, Any, Any] | Ending = first
        while True:
            if isinstance(item, Ending):
                self._write(con, [], item)
                return True
            self._write(con, [item], None)
            if time.monotonic() - held_since > HOLD_S:
                return False
            try:
                item = self.converted.get_nowait()
            except queue.Empty:
                return False

    def _guard(self, action: Callable[[Any], bool | None]) -> bool:
        try:
            con = connect(self.path, read_only=False, wait_s=None, warn_after_s=5.0, threads=WRITER_THREADS)
            try:
                return bool(action(con))
            finally:
                con.close()
        except BaseException as error:
            if self.failure is None:
                self.failure = error
            return False

    def _beat(self, con: Any) -> None:
        con.execute("UPDATE runs SET heartbeat_ns = ? WHERE id = ?", [time.time_ns(), self.run_id])

    def _write(self, con: Any, tables: list[tuple[Any, Any, Any]], ending: Ending | None) -> None:
        con.execute("BEGIN")
        off = self.offset_ns()
        params = {"run": self.run_id, "off": off, "names": self.names}
        for steps, failures, messages in tables:
            con.register("steps_batch", steps)
            con.register("failures_batch", failures)
            if steps.num_rows:
                con.execute(
                    """INSERT INTO steps SELECT $run, list_extract($names, s.cid + 1), s.step, s.start + $off,
                              s.stop + $off, s.start - s.wait,
                              CASE WHEN f.step IS NULL THEN 'ok' WHEN f.traceback IS NULL THEN 'cancelled' ELSE 'failed' END,
                              f.error, f.traceback
                       FROM steps_batch s LEFT JOIN failures_batch f ON f.cid = s.cid AND f.step = s.step""",
                    params,
                )
            if messages.num_rows:
                con.register("messages_batch", messages)
                con.execute(
                    """INSERT INTO messages SELECT $run, m.channel, m.seq, m.sender_step, s.step, m.send_ns,
                              m.received + $off, s.start + $off, m.payload
                       FROM messages_batch m LEFT JOIN steps_batch s ON s.cid = m.cid AND s.step = m.rstep""",
                    {"run": self.run_id, "off": off},
                )
                con.unregister("messages_batch")
            con.unregister("failures_batch")
            con.unregister("steps_batch")
            self.rows += steps.num_rows + messages.num_rows
        now = time.time_ns()
        if ending is None:
            con.execute("UPDATE runs SET heartbeat_ns = ? WHERE id = ?", [now, self.run_id])
        else:
            error = ending.error
            if self.failure is not None:
                error = f"{error + '; ' if error else ''}recording failed: {type(self.failure).__name__}: {self.failure}"
            con.execute(
                "UPDATE runs SET status = ?, ended_ns = ?, heartbeat_ns = ?, error = ? WHERE id = ?",
                [ending.status, ending.ended_ns, now, error, self.run_id],
            )
        con.execute("COMMIT")

    def _tables(self, batch: Batch) -> tuple[Any, Any, Any]:
        """Arrow columns from the flat lists, by C-level slicing; no Python code runs per row
        except for payloads that need the codec's hooks.

        Converting a Python int costs about 45 ns here (bench/recording.py), so columns that
        are provably consecutive are generated in C instead: a component's step indices; and
        for a component fed by one channel, that channel's seq, the sender's step (the
        engine sends once per link per step, so it equals seq) and the receiver's step, each
        checked by its first and last value (they strictly increase, so equal ends mean no gap).
        """
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.compute as pc  # type: ignore[import-untyped]

        int64, int32 = pa.int64(), pa.int32()
        one = pa.scalar(1, int64)
        W = MESSAGE_WIDTH

        def arange(first: int, n: int) -> Any:
            return pc.add(pc.cumulative_sum(pa.repeat(one, n)), first - 1)

        def consecutive(flat: list[Any], at: int, n: int) -> bool:
            first, last = flat[at], flat[len(flat) - W + at]
            return type(first) is int and type(last) is int and last - first == n - 1

        waits: list[int] = []
        starts: list[int] = []
        stops: list[int] = []
        step_numbers: list[Any] = []
        step_cids: list[Any] = []
        failures: list[tuple[int, int, str, str | None]] = []
        sends: list[int] = []
        received: list[int | None] = []
        payloads: list[Any] = []
        cols: dict[str, list[Any]] = {"cid": [], "channel": [], "seq": [], "sender_step": [], "rstep": []}
        parts = [(cid, m, s, f) for cid, m, s, f in batch.parts]
        if batch.unconsumed:
            parts.append((-1, batch.unconsumed, [], []))
        for cid, messages, steps, failed in parts:
            n = len(steps) // STEP_WIDTH
            if n:
                step_numbers.append(arange(steps[0], n))
                waits += steps[1::STEP_WIDTH]
                starts += steps[2::STEP_WIDTH]
                stops += steps[3::STEP_WIDTH]
                step_cids.append(pa.repeat(pa.scalar(cid, int32), n))
            for index, exc in failed:
                text, tb = self.error_text(exc)
                failures.append((cid, index, text, tb))
            m = len(messages) // W
            if not m:
                continue
            payloads += messages[0::W]
            sends += messages[4::W]
            received += messages[5::W]
            cols["cid"].append(pa.repeat(pa.scalar(cid, int32), m))
            sole = self.sole_inputs.get(cid)
            if sole is not None and consecutive(messages, 2, m) and messages[1] == sole:
                seq = arange(messages[2], m)
                cols["channel"].append(pa.repeat(pa.scalar(sole, int32), m))
                cols["seq"].append(seq)
                same = messages[3] == messages[2] and consecutive(messages, 3, m)
                cols["sender_step"].append(seq if same else pa.array(messages[3::W], int64))
            else:
                cols["channel"].append(pa.array(messages[1::W], int32))
                cols["seq"].append(pa.array(messages[2::W], int64))
                cols["sender_step"].append(pa.array(messages[3::W], int64))
            if cid >= 0 and consecutive(messages, 6, m):
                cols["rstep"].append(arange(messages[6], m))
            else:
                cols["rstep"].append(pa.array(messages[6::W], int64))
        steps_table = pa.table(
            {
                "cid": pa.concat_arrays(step_cids) if step_cids else pa.array([], int32),
                "step": pa.concat_arrays(step_numbers) if step_numbers else pa.array([], int64),
                "wait": pa.array(waits, int64),
                "start": pa.array(starts, int64),
                "stop": pa.array(stops, int64),
            }
        )
        failures_table = pa.table(
            {
                "cid": pa.array([f[0] for f in failures], int32),
                "step": pa.array([f[1] for f in failures], int64),
                "error": pa.array([f[2] for f in failures], pa.string()),
                "traceback": pa.array([f[3] for f in failures], pa.string()),
            }
        )
        blobs: list[Any] | None = None
        if not batch.snapshots:
            try:
                blobs = list(map(self.fast, payloads))
            except (TypeError, OverflowError, ValueError):
                blobs = None
        if blobs is None:
            encoded, encode = self.encoded_type, self.encode
            blobs = [p if type(p) is encoded else encode(p) for p in payloads]
        types = {"cid": int32, "channel": int32, "seq": int64, "sender_step": int64, "rstep": int64}
        merged = {k: pa.concat_arrays([a.cast(types[k]) for a in v]) if v else pa.array([], types[k]) for k, v in cols.items()}
        messages_table = pa.table(
            {
                "cid": merged["cid"],
                "payload": pa.array(blobs, pa.binary()),
                "channel": merged["channel"],
                "seq": merged["seq"],
                "sender_step": merged["sender_step"],
                "send_ns": pa.array(sends, int64),
                "received": pa.array(received, int64),
                "rstep": merged["rstep"],
            }
        )
        return steps_table, failures_table, messages_table
