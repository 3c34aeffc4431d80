"""The writer: turns drained stamp logs into Arrow tables and inserts them in bulk.

``put`` turns a batch into Arrow tables on the caller's thread (the event loop, at a drain:
a few tens of ms every 0.2 s), then hands them to the inserter thread through a bounded
queue; when the inserter falls behind, ``put`` blocks the loop, so the run slows down and no
row is ever dropped. Conversion used to run on its own thread too, but it needs the GIL, and
sharing it with the loop cost more in switching than it saved: recording on minus off on the
chain benchmark was 1.17-1.45 µs per component-step with a converter thread, 1.03-1.24 with
conversion inline (bench/recording.py, same machine). DuckDB releases the GIL while it
inserts, so the inserter does run beside the loop.

The writer opens the log for each flush and closes it after (DuckDB allows one writing
process per file, and while one holds it nobody else can even read): two runs recording at
once, and `tapeflow runs` / `tapeflow query`, take turns at the file. Batches that queued up
while it waited are written together, so a slow turn means fewer, larger flushes.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine.tap import Drained, RunInfo
from . import schema
from .connection import connect

__all__ = ["Batch", "Writer"]

# One batch's Arrow tables: steps, failures, messages, send_waits, payloads, offsets
# (matching.Tables).
TableSet = tuple[Any, Any, Any, Any, Any, Any]

HEARTBEAT_S = 2.0
# The heartbeat also takes back a 'crashed' mark: a reader that could not see this process
# (another host or PID namespace) while the writer was held up may have set it.
_BEAT = """UPDATE runs SET heartbeat_ns = ?,
    status = 'running', ended_ns = NULL, error = CASE WHEN status = 'crashed' THEN NULL ELSE error END
WHERE id = ?"""
PAYLOAD_ADVICE = (
    "send msgpack-able values (numbers, str, bytes, lists, dicts, tuples, sets, datetimes, Decimal, "
    "numpy arrays), record with Recorder(fallback='pickle') or fallback='repr', or run unrecorded "
    "(--no-record, TAPEFLOW_RECORD=0, or tap=None)"
)
# Rows (steps, messages, ...) after which gathered batches are written, as soon as the
# inserter is free (batches that came during a write go into the next one together). Each
# write opens, checkpoints and closes the file, and DuckDB holds a transaction's rows in memory
# until it commits: 1,000,000 rows (or GATHER_S) left up to a second of rows for the close.
# bench/before_after.py --only ints-100k, with the last write below (5 runs each): close 490
# -> 303 ms, peak 331 -> 307 MiB; 250,000 saved 10 MiB more but each write leaves freed blocks
# in the file (log 24 -> 28 MB).
WRITE_ROWS = 500_000
GATHER_S = 1.0  # the longest rows wait in memory before they are written
# The longest the writer keeps the log open across writes while it is behind. It takes the
# file again at once after, so a reader trying meanwhile can wait longer (docs/log-schema.md:
# 1.7 s at most with 10 MiB arrays; 1.0-2.9 s when every write opened the file).
HOLD_S = 0.5
# Payload bytes per insert: large payloads are written as soon as this much has gathered, so
# the memory they hold is bounded by bytes, not by how many arrive in GATHER_S. DuckDB holds
# about seven times an insert's blobs while it takes them (bare, 2,000 x 100 KiB: 39, 67, 121,
# 228 MiB over the start for 4, 8, 16, 32 MiB inserts, at 136, 185, 198, 204 MB/s).
# bench/recording.py --only array-100k,arrays-10mb --repeat 3, 32 -> 8 MiB (with FLUSH_BYTES
# 16 -> 4 MiB): peak 531 -> 318 and 552 -> 426 MiB, 147 -> 122 and 214 -> 189 MB/s.
GATHER_BYTES = 8 << 20
# A payload segment takes writes until it holds this much; the next write starts a new one.
# A write into a segment makes DuckDB's checkpoint rewrite the segment whole, so this bounds
# what each write rewrites and holds in memory. bench/recording.py --blob-floor (segments)
# and the array scenarios, side by side: see bench/README.md.
SEGMENT_BYTES = 8 << 20
# One DuckDB thread: the inserter shares 2 cores with the event loop, and DuckDB took 100 KB
# blobs faster with one thread than with its default (140 against 91 MB/s, one insert of
# 2,000, measured here).
WRITER_THREADS: int | None = 1
# DuckDB buffers 5 row groups of a bulk insert in memory before it writes them out (its
# default): 1 writes each as it fills. bench/recording.py --only ints-100k, peak RSS 311 ->
# 287 MiB, no slower (3 runs each, side by side).
WRITER_SETTINGS: dict[str, Any] = {"write_buffer_row_group_count": 1}


@dataclass(slots=True)
class Batch:
    """What the loop drained from every component's stamp log at one moment."""

    parts: list[Drained] = field(default_factory=list)
    final: bool = False
    # False for parts shipped from another process: a receiver's part may come before the
    # sender's it consumed from (see ``Matcher.add``).
    ordered: bool = True


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
        run_key: int,
        run: RunInfo,
        encode: Callable[[Any], bytes],
        encoded_type: type,
        error_text: Callable[[BaseException], tuple[str, str | None]],
        fast: Callable[[Any], bytes],
        port_labels: dict[tuple[int, int], str],
        max_batches: int = 2,
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.run_key = run_key
        self.encode = encode
        self.encoded_type = encoded_type
        self.error_text = error_text
        self.fast = fast
        self.port_labels = port_labels
        self.run = run
        self._matcher: Any = None
        # Drained batches go from the event loop to the converter thread (Arrow tables,
        # messages matched), then to the inserter thread (DuckDB): see ``put``.
        self.queued: queue.Queue[Batch | Ending] = queue.Queue(max_batches)
        self.converted: queue.Queue[TableSet | Ending] = queue.Queue(max_batches)
        self._final_put = False  # the run's last batch is queued; its Ending follows
        self._final_converted = threading.Event()  # ... and has been converted (or cannot be)
        self.failure: BaseException | None = None
        self.rows = 0
        # Time in writes (opening the file to closing it), and the part of it this thread ran:
        # the rest it waited, for the disk or for the GIL (bench/recording.py reports both).
        self.write_s = self.write_cpu_s = 0.0
        # Where components ran (``Recorder.placed``), by id, until the next write takes them.
        self._placed: dict[int, tuple[str | None, str, int, int | None]] = {}
        self._placed_lock = threading.Lock()
        # The run's payload segment being filled (schema.new_payload_segment): name, number,
        # bytes in it.
        self._segment: tuple[str, int, int] | None = None
        # The connection kept open from one write to the next while the writer is behind
        # (see _guard), and when it was opened.
        self._held: Any = None
        self._held_since = 0.0
        self.converter = threading.Thread(target=self._convert, name=f"tapeflow-converter-{run_id}", daemon=True)
        self.thread = threading.Thread(target=self._run, name=f"tapeflow-writer-{run_id}", daemon=True)
        self.converter.start()
        self.thread.start()

    @property
    def matcher(self) -> Any:
        """Made at the first batch, on the converter thread. It needs pyarrow, which the
        recorder imports before the first step, on the event loop (``Recorder.component_log``):
        imported here it would take the GIL from the steps for as long. (Importing it on a
        thread while the run starts was tried: the import holds the GIL, and the start took
        as long again: init 0.16 against 0.08 s on a 3-component chain.)"""
        if self._matcher is None:
            from .matching import Matcher

            self._matcher = Matcher(self.run, self._encode_all, self.error_text, self._fixed)
        return self._matcher

    @property
    def unrecordable(self) -> Any:
        """The first sent value that could not be encoded (a ``PayloadError``), if any."""
        return None if self._matcher is None else self._matcher.failure

    def put(self, item: Batch | Ending) -> None:
        """Queue a drained batch, or the run's ending, for the converter thread (blocking
        while ``max_batches`` wait: the loop's backpressure when the recorder is behind).

        Converting on the event loop stopped every component for the whole conversion at
        each drain, a pause the record then showed in every component's steps (read from
        the log as bench/pauses.py does, on recording.py's models: ints-100k 41-103 ms at
        each of four drains; 20-key dicts 67 ms). On a thread of its own it shares the GIL with the loop a switch interval at a
        time, pyarrow's kernels run beside the loop, and it converts the next batch while
        the inserter writes the one before."""
        if isinstance(item, Ending):
            self.queued.put(item)
            return
        if item.final:
            self._final_put = True  # before the put: the inserter reads it once it has the batch
        if self.failure is not None:
            self._final_converted.set()
            return  # nothing more can be written; run_ended reports why
        self.queued.put(item)

    def wait_converted(self) -> None:
        """Wait until the run's last batch (put with ``final``) is converted: what
        ``unrecordable`` says is then all there is to say."""
        while self._final_put and not self._final_converted.wait(0.5):
            if not self.converter.is_alive():
                return

    def place(self, rows: dict[int, tuple[str | None, str, int, int | None]]) -> None:
        """``component id -> (node_id, host, pid, clock_offset_ns)``, written with the next
        write (a row placed again replaces the one before)."""
        with self._placed_lock:
            self._placed.update(rows)

    def close(self) -> None:
        self.converter.join()
        self.thread.join()

    # --- the converter thread --------------------------------------------------------------
    def _convert(self) -> None:
        """Convert queued batches into Arrow tables, in order, for the inserter; after a
        failure, pass on only the ending."""
        while True:
            item = self.queued.get()
            if isinstance(item, Ending):
                self.converted.put(item)
                return
            if self.failure is None:
                try:
                    tables = self._tables(item)
                except BaseException as error:
                    self.failure = error
                else:
                    self.converted.put(tables)
            if item.final:
                self._final_converted.set()

    # --- the inserter thread ---------------------------------------------------------------
    def _run(self) -> None:
        """Insert converted batches, gathered into large inserts, as soon as there is enough.

        DuckDB writes an insert of a row group or more (122,880 rows) straight to the table's
        storage, and anything smaller through its write-ahead log: measured here, 20,000-row
        inserts manage 0.6 M rows/s and 500,000-row inserts 4.8 M rows/s. So the inserter
        gathers batches until ``WRITE_ROWS`` rows, ``GATHER_BYTES`` of payloads or
        ``GATHER_S`` seconds have waited, and writes them in one transaction (whose rows
        DuckDB counts together); a SIGKILL loses at most that much. Batches that came while a
        write was under way are taken together. What was gathered when the run ends goes in
        with the run's ending, in one last write: the close waits for one write at most after
        the one under way (it used to wait for up to ``GATHER_S`` of rows and then for a
        write of the ending alone).
        """
        gathered: list[TableSet] = []
        rows = payload_bytes = 0
        since = 0.0
        while True:
            if self._held is not None and self.converted.empty():
                self._release()  # nothing to write at once: let a reader in while this waits
            timeout = HEARTBEAT_S if not gathered else max(0.0, since + GATHER_S - time.monotonic())
            try:
                item = self.converted.get(timeout=timeout)
            except queue.Empty:
                if gathered:
                    self._guard(lambda con: self._write(con, list(gathered), None))
                    gathered, rows, payload_bytes = [], 0, 0
                else:
                    self._guard(self._beat)
                continue
            ending: Ending | None = None
            while True:  # everything already queued: what came while the last write ran
                if isinstance(item, Ending):
                    ending = item
                    break
                if self.failure is None:
                    if not gathered:
                        since = time.monotonic()
                    gathered.append(item)
                    rows += item[0].num_rows + item[2].num_rows + item[3].num_rows + item[4].num_rows
                    payload_bytes += item[4].nbytes
                if self._final_put:
                    # The run's last batch is (being) queued and its ending follows at once
                    # (run_ended): wait for them, and write them in one transaction.
                    item = self.converted.get()
                    continue
                try:
                    item = self.converted.get_nowait()
                except queue.Empty:
                    break
            if ending is not None:
                final, last = (list(gathered) if self.failure is None else []), ending
                self._guard(lambda con: self._write(con, final, last))
                return
            if rows >= WRITE_ROWS or payload_bytes >= GATHER_BYTES or time.monotonic() - since >= GATHER_S:
                self._guard(lambda con: self._write(con, list(gathered), None), hold=True)
                gathered, rows, payload_bytes = [], 0, 0

    def _guard(self, action: Callable[[Any], bool | None], *, hold: bool = False) -> bool:
        """Run ``action`` on a connection to the log: the one held from the write before, or
        a new one. It stays open after a write (``hold``) when the next batch is already
        queued and it has been open less than ``HOLD_S``: opening the file and closing it
        (its checkpoint) took 14 and 22 ms a write, two fifths of the writer's time with 100
        KiB arrays. Otherwise it is closed, so that a reader gets in between writes."""
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            con, self._held = self._held, None
            if con is None:
                con = connect(self.path, read_only=False, wait_s=None, warn_after_s=5.0, threads=WRITER_THREADS, settings=WRITER_SETTINGS)
                self._held_since = time.monotonic()
            try:
                done = bool(action(con))
            except BaseException:
                con.close()
                raise
            if hold and not self.converted.empty() and time.monotonic() - self._held_since < HOLD_S:
                # What closing would have checkpointed: the write leaves the write-ahead log
                # for the file now, and DuckDB lets go of its memory (100 KiB arrays: peak
                # 343 MiB held without it, 321 with it, 318 closing each time).
                con.execute("CHECKPOINT")
                self._held = con
            else:
                con.close()
            return done
        except BaseException as error:
            if self.failure is None:
                self.failure = error
            return False
        finally:
            self.write_s += time.perf_counter() - started
            self.write_cpu_s += time.thread_time() - cpu

    def _release(self) -> None:
        con, self._held = self._held, None
        try:
            con.close()
        except BaseException as error:
            if self.failure is None:
                self.failure = error

    def _beat(self, con: Any) -> None:
        con.execute(_BEAT, [time.time_ns(), self.run_id])

    def _write(self, con: Any, tables: list[TableSet], ending: Ending | None) -> None:
        con.execute("BEGIN")
        key = {"key": self.run_key}
        # Raw clock readings become wall-clock ns with the offset of the component that took
        # them (components may run in several processes): joined in SQL, per row, for free.
        segment = self._segment
        # Each gathered batch goes in on its own, as the loop made it, not all merged into one
        # contiguous copy first: that copy was a fifth of a recorded int chain's peak memory.
        # bench/recording.py --only ints-100k,fanout-8 --repeat 3, merged / as made: peak 425 /
        # 338 MiB (ints-100k), 357 / 282 (fanout-8). Making each batch one chunk per column
        # first cost memory and gained no speed. (GATHER_ROWS 400k saved 20 MiB more but each
        # write opens, checkpoints and closes the file: ints-100k wall 2.0 against 1.76 s.)
        for steps, failures, messages, send_waits, payloads, offsets in _merged(tables):
            con.register("offsets", offsets)
            if steps.num_rows:
                con.register("steps_batch", steps)
                con.execute(
                    "INSERT INTO step_log SELECT $key, s.cid, s.step, s.start + o.off, s.stop + o.off, s.start - s.wait"
                    " FROM steps_batch s JOIN offsets o ON o.cid = s.cid",
                    key,
                )
                con.unregister("steps_batch")
            if failures.num_rows:
                con.register("failures_batch", failures)
                con.execute(
                    """INSERT INTO step_failures SELECT $key, cid, step,
                              CASE WHEN traceback IS NULL THEN 'cancelled' ELSE 'failed' END, error, traceback
                       FROM failures_batch""",
                    {"key": self.run_key},
                )
                con.unregister("failures_batch")
            for batch_payloads in payloads:
                if batch_payloads.num_rows:
                    segment = self._store_payloads(con, batch_payloads, segment)
            if messages.num_rows:
                con.register("messages_batch", messages)
                con.execute(
                    "INSERT INTO message_log SELECT $key, channel, seq, receiver_step, payload, payload_id FROM messages_batch", key
                )
                con.unregister("messages_batch")
            if send_waits.num_rows:
                con.register("waits_batch", send_waits)
                con.execute(
                    "INSERT INTO send_waits SELECT $key, w.cid, w.step, w.channel, w.entered + o.off"
                    " FROM waits_batch w JOIN offsets o ON o.cid = w.cid",
                    key,
                )
                con.unregister("waits_batch")
            self.rows += steps.num_rows + messages.num_rows
            con.unregister("offsets")
        self._write_placements(con)
        now = time.time_ns()
        if ending is None:
            con.execute(_BEAT, [now, self.run_id])
        else:
            error = ending.error
            if self.failure is not None:
                error = f"{error + '; ' if error else ''}recording failed: {type(self.failure).__name__}: {self.failure}"
            con.execute(
                "UPDATE runs SET status = ?, ended_ns = ?, heartbeat_ns = ?, error = ? WHERE id = ?",
                [ending.status, ending.ended_ns, now, error, self.run_id],
            )
        con.execute("COMMIT")
        self._segment = segment

    def _store_payloads(self, con: Any, payloads: Any, segment: tuple[str, int, int] | None) -> tuple[str, int, int]:
        """Insert a batch of payloads into the run's current segment, or into a new one when
        it would pass ``SEGMENT_BYTES``; the segment as it is after, ``(name, number, bytes)``
        (the write's own until it commits)."""
        import pyarrow.compute as pc  # type: ignore[import-untyped]

        size = payloads.column("data").nbytes
        if segment is None or (segment[2] and segment[2] + size > SEGMENT_BYTES):
            number = 0 if segment is None else segment[1] + 1
            segment = (schema.new_payload_segment(con, self.run_key, number), number, 0)
        name, number, stored = segment
        con.register("payloads_batch", payloads)
        con.execute(f"INSERT INTO {name} SELECT $key, id, data FROM payloads_batch", {"key": self.run_key})
        con.unregister("payloads_batch")
        ids = payloads.column("id")
        con.execute(
            "UPDATE payload_segments SET first_id = least(coalesce(first_id, $low), $low), last_id = greatest(coalesce(last_id, $high), $high), bytes = bytes + $size"
            " WHERE name = $name",
            {"low": pc.min(ids).as_py(), "high": pc.max(ids).as_py(), "size": size, "name": name},
        )
        return name, number, stored + size

    def _write_placements(self, con: Any) -> None:
        with self._placed_lock:
            placed, self._placed = self._placed, {}
        if not placed:
            return
        names = {c.id: c.name for c in self.run.components}
        ids = [cid for cid in placed if cid in names]
        rows = [placed[cid] for cid in ids]
        params = {"run": self.run_id, "component": [names[cid] for cid in ids]}
        con.execute("DELETE FROM placements WHERE run_id = $run AND list_contains($component, component)", params)
        con.execute(
            "INSERT INTO placements SELECT $run, unnest($component), unnest($node_id), unnest($host), unnest($pid),"
            " unnest($clock_offset_ns)",
            {
                **params,
                "node_id": [r[0] for r in rows],
                "host": [r[1] for r in rows],
                "pid": [r[2] for r in rows],
                "clock_offset_ns": [r[3] for r in rows],
            },
        )

    def _tables(self, batch: Batch) -> TableSet:
        """Arrow tables for one batch; the matching of message ends is in ``matching.py``."""
        tables = self.matcher.add(batch.parts, final=batch.final, ordered=batch.ordered)
        return tables.steps, tables.failures, tables.messages, tables.send_waits, tables.payloads, tables.offsets

    @staticmethod
    def _fixed(values: list[Any]) -> Any:
        """One output's values as an Arrow binary column if they are all ints (or all floats)
        that fit 64 bits, encoded in bulk; else ``None``."""
        kinds = set(map(type, values))
        return _fixed_width(values, kinds.pop()) if len(kinds) == 1 else None

    def _encode_all(self, values: list[Any], component: int, port: int) -> Any:
        """Encode values into an Arrow binary column (``component``/``port``: who sent them,
        for the error message).

        Values already encoded at send (``Encoded``) give their bytes; immutable ones go
        through msgpack's own packer in one ``map`` (about 0.13 µs each) when none needs the
        codec's extension types, else each through the full encoder.
        """
        import pyarrow as pa

        encoded: Any = self.encoded_type  # (a plain type would narrow value to object below)
        blobs: list[Any] | None = None
        if encoded not in set(map(type, values)):
            try:
                blobs = list(map(self.fast, values))
            except (TypeError, OverflowError, ValueError):
                blobs = None
        if blobs is None:
            encode = self.encode
            blobs = []
            for index, value in enumerate(values):
                try:
                    blobs.append(value.blob if type(value) is encoded else encode(value))
                except (TypeError, ValueError, OverflowError) as problem:
                    from .payloads import PayloadError

                    label = self.port_labels.get((component, port), f"component {component} output {port}")
                    kind = type(value)
                    what = str(problem)
                    if not what.startswith("cannot record"):
                        what = f"cannot record payload of type {kind.__module__}.{kind.__qualname__} ({problem})"
                    raise PayloadError(label, index, what, PAYLOAD_ADVICE) from problem
        return pa.array(blobs, pa.binary())


def _merged(tables: list[TableSet]) -> list[tuple[Any, Any, Any, Any, list[Any], Any]]:
    """Consecutive batches with the same clock offsets as one batch: each kind's tables
    joined by their chunks, nothing copied; payloads stay a list of the batches' tables, as
    each goes into a segment that must not pass ``SEGMENT_BYTES``. One insert per kind per
    write instead of one per batch: each insert is a few calls into DuckDB, and the writer
    waits for the GIL, held by the event loop, after each of them."""
    import pyarrow as pa

    runs: list[list[TableSet]] = []
    for item in tables:
        if runs and runs[-1][0][5].equals(item[5]):
            runs[-1].append(item)
        else:
            runs.append([item])
    return [
        (*(group[0][k] if len(group) == 1 else pa.concat_tables([t[k] for t in group]) for k in range(4)),  # type: ignore[misc]
         [t[4] for t in group], group[0][5])
        for group in runs
    ]


_FIXED = {int: (b"\xd3", "q"), float: (b"\xcb", "d")}  # msgpack int64 / float64 markers
_OFFSETS: list[Any] = [array("i")]


def _fixed_width(values: list[Any], kind: type) -> Any:
    """A column of ints (or of floats) encoded in bulk as msgpack int64 (float64) items.

    msgpack lets any int be written in its 9-byte int64 form, and it reads back as the same
    int, so the whole column is one C-level conversion and nine strided byte copies (about
    60 ns a value here) instead of a packer call each (165 ns). Anything else, or an int that
    does not fit 64 bits, returns None and takes the general path.
    """
    import pyarrow as pa

    spec = _FIXED.get(kind)
    if spec is None:
        return None
    marker, code = spec
    try:
        numbers = array(code, values)
    except OverflowError:
        return None
    numbers.byteswap() if sys.byteorder == "little" else None  # msgpack is big-endian
    raw = numbers.tobytes()
    n = len(values)
    data = bytearray(9 * n)
    data[0::9] = marker * n
    for i in range(8):
        data[1 + i :: 9] = raw[i::8]
    offsets = _OFFSETS[0]
    if len(offsets) < n + 1:
        offsets = _OFFSETS[0] = array("i", range(0, 9 * max(n + 1, 1 << 16) + 1, 9))
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets[: n + 1]), pa.py_buffer(data)])
