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
from itertools import chain
from typing import Any

from .connection import connect

__all__ = ["Batch", "Writer"]

HEARTBEAT_S = 2.0


@dataclass(slots=True)
class Batch:
    """What the loop drained: per component ``(id, messages, steps, errors)`` flat lists (layout
    in ``tapeflow.engine.tap``), plus messages nobody consumed, ``(envelope, receive_raw)``."""

    parts: list[tuple[int, list[Any], list[int], list[tuple[int, BaseException]]]] = field(default_factory=list)
    unconsumed: list[tuple[Any, int | None]] = field(default_factory=list)
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
        max_batches: int = 4,
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.names = component_names
        self.offset_ns = offset_ns
        self.encode = encode
        self.encoded_type = encoded_type
        self.error_text = error_text
        self.queue: queue.Queue[Batch | Ending] = queue.Queue(max_batches)
        self.failure: BaseException | None = None
        self.rows = 0
        self.thread = threading.Thread(target=self._run, name=f"tapeflow-writer-{run_id}", daemon=True)
        self.thread.start()

    def put(self, item: Batch | Ending) -> None:
        if self.failure is not None and isinstance(item, Batch):
            return  # nothing more can be written; run_ended reports why
        self.queue.put(item)

    def close(self) -> None:
        self.thread.join()

    # --- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                item = self.queue.get(timeout=HEARTBEAT_S)
            except queue.Empty:
                self._guard(self._beat)
                continue
            items: list[Batch | Ending] = [item]
            while not isinstance(items[-1], Ending):
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            batches = [b for b in items if isinstance(b, Batch)]
            ending = items[-1] if isinstance(items[-1], Ending) else None
            if self.failure is None:
                try:
                    tables = [self._tables(b) for b in batches]
                except BaseException as error:
                    self.failure = error
                    tables = []
                self._guard(lambda con: self._write(con, tables, ending))
            elif ending is not None:
                self._guard(lambda con: self._write(con, [], ending))
            if ending is not None:
                return

    def _guard(self, action: Callable[[Any], None]) -> None:
        try:
            con = connect(self.path, read_only=False, wait_s=None, warn_after_s=5.0)
            try:
                action(con)
            finally:
                con.close()
        except BaseException as error:
            if self.failure is None:
                self.failure = error

    def _beat(self, con: Any) -> None:
        con.execute("UPDATE runs SET heartbeat_ns = ? WHERE id = ?", [time.time_ns(), self.run_id])

    def _write(self, con: Any, tables: list[tuple[Any, Any]], ending: Ending | None) -> None:
        con.execute("BEGIN")
        off = self.offset_ns()
        params = {"run": self.run_id, "off": off, "names": self.names}
        for steps, messages in tables:
            con.register("steps_batch", steps)
            if steps.num_rows:
                con.execute(
                    """INSERT INTO steps SELECT $run, list_extract($names, s.cid + 1), s.step, s.start + $off,
                              s.stop + $off, s.start - s.wait,
                              CASE WHEN s.error IS NULL THEN 'ok' WHEN s.cancelled THEN 'cancelled' ELSE 'failed' END,
                              s.error, s.traceback
                       FROM steps_batch s""",
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

    def _tables(self, batch: Batch) -> tuple[Any, Any]:
        """Columns from the flat lists, by C-level slicing; Python touches no row one by one
        except payloads that still need encoding."""
        import pyarrow as pa

        int64 = pa.int64()
        step_cols: list[list[Any]] = [[], [], [], []]
        cids: list[Any] = []
        errors: list[str | None] = []
        tracebacks: list[str | None] = []
        cancelled: list[bool] = []
        env_lists: list[list[Any]] = []
        received: list[Any] = []
        rsteps: list[Any] = []
        mcids: list[Any] = []
        for cid, messages, steps, failed in batch.parts:
            n = len(steps) // 4
            for k in range(4):
                step_cols[k] += steps[k::4]
            cids.append(pa.repeat(pa.scalar(cid, pa.int32()), n))
            row_errors: list[str | None] = [None] * n
            row_tbs: list[str | None] = [None] * n
            row_cancel = [False] * n
            if failed:
                first = steps[0]
                for index, exc in failed:
                    text, tb = self.error_text(exc)
                    row_errors[index - first] = text
                    row_tbs[index - first] = tb
                    row_cancel[index - first] = tb is None
            errors += row_errors
            tracebacks += row_tbs
            cancelled += row_cancel
            m = len(messages) // 3
            env_lists.append(messages[0::3])
            received += messages[1::3]
            rsteps += messages[2::3]
            mcids.append(pa.repeat(pa.scalar(cid, pa.int32()), m))
        for envelope, receive_raw in batch.unconsumed:
            env_lists.append([envelope])
            received.append(receive_raw)
            rsteps.append(None)
            mcids.append(pa.array([-1], pa.int32()))
        steps_table = pa.table(
            {
                "cid": pa.concat_arrays(cids) if cids else pa.array([], pa.int32()),
                "step": pa.array(step_cols[0], int64),
                "wait": pa.array(step_cols[1], int64),
                "start": pa.array(step_cols[2], int64),
                "stop": pa.array(step_cols[3], int64),
                "error": pa.array(errors, pa.string()),
                "traceback": pa.array(tracebacks, pa.string()),
                "cancelled": pa.array(cancelled, pa.bool_()),
            }
        )
        flat = list(chain.from_iterable(chain.from_iterable(env_lists)))
        payloads = flat[0::5]
        encode = self.encode
        if batch.snapshots:
            encoded = self.encoded_type
            blobs = [p if type(p) is encoded else encode(p) for p in payloads]
        else:
            blobs = list(map(encode, payloads))
        messages_table = pa.table(
            {
                "cid": pa.concat_arrays(mcids) if mcids else pa.array([], pa.int32()),
                "payload": pa.array(blobs, pa.binary()),
                "channel": pa.array(flat[1::5], pa.int32()),
                "seq": pa.array(flat[2::5], int64),
                "sender_step": pa.array(flat[3::5], int64),
                "send_ns": pa.array(flat[4::5], int64),
                "received": pa.array(received, int64),
                "rstep": pa.array(rsteps, int64),
            }
        )
        return steps_table, messages_table
