"""What the log holds about one component of one run, read for a replay.

Nothing here loads a whole run: a component's inputs, its recorded outputs and its recorded
step durations are each one ordered query, streamed from DuckDB in Arrow batches
(:data:`BATCH_ROWS` rows at a time), so replaying one component of a run of any size holds a
few batches in memory (bench/replay.py).

Per step ``k`` of component ``c``: input ``p`` is ``initial_values[p][k]`` while there are
initial values left, otherwise the message on a channel into ``c.p`` whose ``receiver_step``
is ``k`` (fan-in: several channels, one message per step, in the recorded order). Output
``q`` is the message ``seq == k`` on the first channel out of ``c.q`` (every connector of an
output carries the same value); a step that sent nothing (the closing step, a failed or
cancelled one, a source ended because nobody listened) has none.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import msgpack  # type: ignore[import-untyped]

from ..recorder import codec
from ..recorder.log import RecordedRun
from .errors import ReplayError

__all__ = [
    "BATCH_ROWS", "Column", "RecordedComponent", "Unfeedable", "decode_input", "decode_output", "fixed_values", "read_component", "unfeedable",
]

BATCH_ROWS = 65_536
# A batch of messages holds at most this many bytes of large payloads (or one payload).
PAYLOAD_BYTES = 32 << 20


@dataclass(slots=True)
class RecordedComponent:
    """One component of a recorded run, as its replay needs it (no messages: see the streams)."""

    run: RecordedRun
    key: int  # runs.key
    id: int  # components.id
    name: str
    class_path: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    spec: dict[str, Any]
    steps: int
    # Per input, the channels into it; per output, the first channel out of it (None: no connector).
    input_channels: dict[str, list[int]] = field(default_factory=dict)
    output_channel: dict[str, int | None] = field(default_factory=dict)
    # Failed or cancelled steps: index -> (status, error line).
    failures: dict[int, tuple[str, str]] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"component {self.name!r} ({self.class_path}) of run {self.run.id!r}"

    @property
    def initial_values(self) -> dict[str, list[Any]]:
        return {port: list(values) for port, values in (self.spec.get("initial_values") or {}).items()}

    def input_column(self, port: str) -> Column:
        """The payloads input ``port`` consumed, by ``receiver_step`` (from the first step
        that had no initial value left)."""
        channels = self.input_channels.get(port, [])
        where = "list_contains($channels, channel) AND receiver_step IS NOT NULL"
        return Column(_messages(self, "receiver_step", where, {"channels": channels}) if channels else iter(()))

    def output_column(self, port: str) -> Column:
        """The payloads output ``port`` sent, by the sender's step."""
        channel = self.output_channel.get(port)
        return Column(_messages(self, "seq", "channel = $channel", {"channel": channel}) if channel is not None else iter(()))

    def durations(self) -> Column:
        """``end_ns - start_ns`` of every recorded step, by step."""
        ranges = _ranges(self, "step", "end_ns - start_ns", "step_log", "component = $id", {"id": self.id})
        return Column((steps.to_pylist(), values.to_pylist(), True) for steps, values in ranges)


# A batch of a column: its steps, its values, and whether the values are decoded already
# (:func:`fixed_values`) rather than payloads to decode.
Batch = tuple[list[int], list[Any], bool]


def _ranges(rc: RecordedComponent, key: str, value: str, table: str, where: str, params: dict[str, Any]) -> Iterator[list[Any]]:
    """The columns ``key, value`` (``value``: one or more expressions; Arrow arrays) of the rows of ``table`` for ``rc``'s run, ordered by ``key``, a range of
    :data:`BATCH_ROWS` keys per query. One ``ORDER BY`` over the whole run would sort (and
    hold) every row first; rows are stored in about key order, so DuckDB's min/max index
    skips all but a row group or two per range, and memory stays flat."""
    cursor = rc.run.log.con.cursor()
    try:
        args = {"run": rc.key, **params}
        sql = f"FROM {table} WHERE run = $run AND {where}"
        (top,) = cursor.execute(f"SELECT max({key}) {sql}", args).fetchall()[0]
        if top is None:
            return
        for low in range(0, int(top) + 1, BATCH_ROWS):
            found = cursor.sql(
                f"SELECT {key}, {value} {sql} AND {key} >= $low AND {key} < $high ORDER BY {key}",
                params={**args, "low": low, "high": low + BATCH_ROWS},
            ).to_arrow_table()
            if found.num_rows:
                yield [column.combine_chunks() for column in found.columns]
    finally:
        cursor.close()


def _messages(rc: RecordedComponent, key: str, where: str, params: dict[str, Any]) -> Iterator[Batch]:
    """``(key, payload)`` of ``rc``'s run's messages that match ``where``, by ``key``: the
    small payloads are in ``message_log``; each larger one is read from ``payloads`` by id,
    for the ids of one range at a time (never a join over every payload of the run)."""
    cursor = rc.run.log.con.cursor()
    try:
        for step_column, cell_column, id_column in _ranges(rc, key, "payload, payload_id", "message_log", where, params):
            steps = step_column.to_pylist()
            if id_column.null_count == len(id_column):  # every payload inline
                fixed = fixed_values(cell_column)
                yield (steps, fixed, True) if fixed is not None else (steps, cell_column.to_pylist(), False)
                continue
            cells, ids = cell_column.to_pylist(), id_column.to_pylist()
            wanted = [i for i in ids if i is not None]
            args = {"run": rc.key, "low": min(wanted), "high": max(wanted), "ids": wanted}
            sizes = cursor.sql(
                "SELECT id, octet_length(data) FROM payloads WHERE run = $run AND id >= $low AND id <= $high AND list_contains($ids, id)",
                params=args,
            ).fetchall()
            size = dict(sizes)
            # Cut the range where its large payloads add up to PAYLOAD_BYTES, and read each
            # part's payloads in one query.
            start, held, part = 0, 0, []
            for k, i in enumerate(ids):
                if i is not None:
                    held += size.get(i, 0)
                    part.append(i)
                if held >= PAYLOAD_BYTES or k == len(ids) - 1:
                    blobs = _payloads(cursor, rc.key, part)
                    yield steps[start : k + 1], [blobs[i] if i is not None else cell for cell, i in zip(cells[start : k + 1], ids[start : k + 1])], False
                    start, held, part = k + 1, 0, []
    finally:
        cursor.close()


def _payloads(cursor: Any, run: int, ids: list[int]) -> dict[int, bytes]:
    if not ids:
        return {}
    found = cursor.sql(
        "SELECT id, data FROM payloads WHERE run = $run AND id >= $low AND id <= $high AND list_contains($ids, id)",
        params={"run": run, "low": min(ids), "high": max(ids), "ids": ids},
    ).to_arrow_table()
    return dict(zip(found.column(0).to_pylist(), found.column(1).to_pylist()))


_FIXED = {0xD3: "q", 0xCB: "d"}  # msgpack int64 / float64: the writer's fixed-width items


def fixed_values(cells: Any) -> list[Any] | None:
    """The values of an Arrow binary column of payloads that are all 9-byte msgpack int64 (or
    all float64) items, decoded in bulk; else ``None`` (decode them one by one).

    The writer stores a drained batch of plain ints (or floats) that way
    (``recorder/writer.py``, ``_fixed_width``), so a column of numbers is one check of its
    lengths and markers, eight strided byte copies and one ``array`` conversion, about 25 ns a
    value instead of an ``unpackb`` call each (150-250 ns); the values are the same ints and
    floats ``unpackb`` gives."""
    import pyarrow as pa

    n = len(cells)
    if n == 0 or cells.null_count or cells.type != pa.binary():
        return None
    # Every item 9 bytes: the offsets step by 9 (compared as arrays, in C; pyarrow.compute's
    # kernels would do it too, for 12 MiB more memory once loaded).
    offsets = array("i")
    offsets.frombytes(cells.buffers()[1])
    first = offsets[cells.offset]
    if offsets[cells.offset : cells.offset + n + 1] != array("i", range(first, first + 9 * n + 1, 9)):
        return None
    data = cells.buffers()[2].to_pybytes()[first : first + 9 * n]
    code = _FIXED.get(data[0])
    if code is None or data[0::9] != data[0:1] * n:
        return None
    raw = bytearray(8 * n)
    for i in range(8):
        raw[i::8] = data[1 + i :: 9]
    numbers = array(code)
    numbers.frombytes(raw)
    if sys.byteorder == "little":
        numbers.byteswap()  # msgpack is big-endian
    return numbers.tolist()


class Column:
    """A stream of ``(step, value)`` rows in step order, taken a run of steps at a time: the
    replay's hot loop indexes plain lists instead of resuming a generator per message."""

    __slots__ = ("_batches", "_steps", "_values", "_pos", "decoded")

    def __init__(self, batches: Iterator[Batch]) -> None:
        self._batches = batches
        self._steps: list[int] = []
        self._values: list[Any] = []
        self._pos = 0
        # Whether the values the last take() gave are decoded already (fixed_values), or
        # payloads to decode.
        self.decoded = False

    def ready(self) -> int | None:
        """How many values are read and not taken yet (reading the next batch when none
        are); ``None`` at the end of the stream."""
        if self._pos >= len(self._values):
            batch = next(self._batches, None)
            if batch is None:
                self._steps, self._values, self._pos = [], [], 0
                return None
            self._steps, self._values, self.decoded = batch
            self._pos = 0
        return len(self._values) - self._pos

    def take(self, first: int, n: int) -> list[Any]:
        """The values of steps ``first`` .. ``first + n - 1``, in order; fewer where the
        stream ends, or skips a step, before ``first + n`` (the values up to there), and
        where a batch of the other kind (decoded or not: :attr:`decoded`) begins."""
        out: list[Any] = []
        while len(out) < n:
            if self._pos >= len(self._values):
                batch = next(self._batches, None)
                if batch is None:
                    break
                if out and batch[2] != self.decoded:
                    # Kept for the next take: one take gives values of one kind.
                    self._batches = _chain(batch, self._batches)
                    break
                self._steps, self._values, self.decoded = batch
                self._pos = 0
                continue
            steps, start = self._steps, self._pos
            expect = first + len(out)
            if steps[start] != expect:
                break
            end = min(len(steps), start + n - len(out))
            # Sorted, one row per step: the ends say whether every step between is there.
            if steps[end - 1] != expect + (end - 1 - start):
                stop = start
                while stop < end and steps[stop] == expect + (stop - start):
                    stop += 1
                out.extend(self._values[start:stop])
                self._pos = stop
                break
            out.extend(self._values[start:end])
            self._pos = end
        return out

    def close(self) -> None:
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()


def _chain(first: Batch, rest: Iterator[Batch]) -> Iterator[Batch]:
    try:
        yield first
        yield from rest
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()


def read_component(run: RecordedRun, name: str) -> RecordedComponent:
    """Component ``name`` of ``run``; ``LogError`` for an unknown name (with the close match
    and the run's components) or a run recorded before constructor arguments were kept."""
    spec = run.component_spec(name)  # raises the one-line errors for unknown names and old runs
    con = run.log.con
    key = int(run.info["key"])
    cid, class_path, inputs, outputs = con.execute(
        "SELECT id, class_path, inputs, outputs FROM components WHERE run_id = ? AND name = ? ORDER BY id LIMIT 1",
        [run.id, name],
    ).fetchall()[0]
    (steps,) = con.execute("SELECT count(*) FROM step_log WHERE run = ? AND component = ?", [key, cid]).fetchall()[0]
    found = RecordedComponent(run, key, int(cid), name, str(class_path), tuple(inputs or ()), tuple(outputs or ()), spec, int(steps))
    for channel, source, source_port, target, target_port in con.execute(
        "SELECT id, source_component, source_port, target_component, target_port FROM channels WHERE run_id = ? ORDER BY id",
        [run.id],
    ).fetchall():
        if target == name:
            found.input_channels.setdefault(target_port, []).append(int(channel))
        if source == name and found.output_channel.get(source_port) is None:
            found.output_channel[source_port] = int(channel)
    for port in found.outputs:
        found.output_channel.setdefault(port, None)
    for step, status, error in con.execute(
        "SELECT step, status, error FROM step_failures WHERE run = ? AND component = ?", [key, cid]
    ).fetchall():
        found.failures[int(step)] = (str(status), str(error or ""))
    return found


class Unfeedable(Exception):
    """A payload recorded with the ``repr`` fallback: text, not the value it stood for."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _ext_hook(code: int, data: bytes) -> Any:
    if code == codec.REPR:
        raise Unfeedable(data.decode("utf-8", "replace"))
    if code in (codec.TUPLE, codec.SET, codec.FROZENSET):  # their items may hold a repr too
        items = decode_input(data)
        return tuple(items) if code == codec.TUPLE else set(items) if code == codec.SET else frozenset(items)
    return codec._ext_hook(code, data)


# The value ``data`` was encoded from, as the codec decodes it, except that a value recorded
# as text only (``fallback='repr'``) raises :class:`Unfeedable`: it cannot be fed. (A partial
# of the C function: no Python frame per message.)
decode_input: Callable[[bytes], Any] = partial(msgpack.unpackb, ext_hook=_ext_hook, raw=False, strict_map_key=False)
# A recorded output as the codec decodes it (``Unrecorded`` for a repr): compared, never fed.
decode_output: Callable[[bytes], Any] = partial(msgpack.unpackb, ext_hook=codec._ext_hook, raw=False, strict_map_key=False)


def unfeedable(where: str, what: str, problem: Unfeedable) -> ReplayError:
    text = problem.text if len(problem.text) <= 60 else problem.text[:57] + "..."
    return ReplayError(
        f"{where}: {what} was recorded as text only (Recorder(fallback='repr')): {text}; it cannot be fed to the "
        "component: record the run again with msgpack-able values or Recorder(fallback='pickle')"
    )
