"""Turns drained stamp logs into the rows of ``steps`` and ``messages``, in bulk.

The stamped loop records steps and sent values, never messages one by one (see
``tapeflow.engine.tap``). Each message is determined by them:

- message ``k`` on channel ``S.o -> R.p`` was sent by the sender's step ``k`` (the engine
  sends once per connector per step), so its payload is the ``k``-th value sent on ``S.o``;
- it was consumed by ``R``'s step ``j = n + i``, where ``n`` is the number of initial values
  of ``R.p`` and ``i`` the message's position in ``R.p``'s stream: ``i = k`` for an input fed
  by one connector; for a fanned-in input, the position of the ``k``-th value noted from that
  channel in ``R``'s ``sources``;
- its times are those of the two steps, and are not stored again: its send time is the end
  of ``S``'s step ``k`` (or when it entered the channel, for a send that waited: the
  ``send_waits`` row), its consume time the start of step ``j``, its receive time
  ``max(send, wait(j))``, the moment both the message and its receiver were there. The
  ``messages`` view joins them from ``step_log`` and ``send_waits`` (recorder/schema.py).

A drain can cut between the two ends of a message, so a :class:`Matcher` keeps, per
component, how many steps it recorded and the sent values that a later message may still
need, and emits a message once its receiving step is known. Sent values that will never be consumed (the run
ended, or the receiver finished first) are emitted with no receiver.

Everything per row happens in Arrow's C kernels; the only Python work per row is encoding a
payload (one msgpack call) and what ``array('q')`` did on the hot path. Memory held between
drains is bounded by the channels' capacity: a sender can be at most that far ahead.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ..engine.tap import Drained, RunInfo
from .arrow import EMPTY_INT32, INT32, INT64, arange, ints
from .errors import RecordingError
from .payloads import EMPTY_REFS, PayloadError, PayloadStore, Unencodable, empty_payloads, payload_columns

__all__ = ["Matcher", "Tables"]

@dataclass(slots=True)
class _History:
    """How many steps a component has recorded."""

    count: int = 0


class _StepRows:
    """One drain's step rows, gathered part by part into flat arrays and turned into one
    table: a few Arrow calls a drain instead of a few a component (a model of 10,000
    components drains 10,000 parts). Each step began waiting, and started, at the previous
    step's end, except the steps in a part's ``moved`` (see ``tapeflow.engine.tap``)."""

    __slots__ = ("cids", "step_delta", "stops", "shifted", "moved_at", "moved_wait", "moved_start")

    def __init__(self) -> None:
        self.cids = array("i")
        # A row's step is its position plus its part's delta: repeated as a block (a memcpy),
        # where a range of step numbers made in Python would cost 28 ns a row.
        self.step_delta, self.stops, self.shifted = array("q"), array("q"), array("q")
        self.moved_at, self.moved_wait, self.moved_start = array("q"), array("q"), array("q")

    def add(self, cid: int, part: Drained, previous_end: int) -> None:
        ends = part.ends
        n, base, first = len(ends), len(self.stops), part.first_step
        self.stops.extend(ends)
        self.cids.extend(array("i", (cid,)) * n)
        self.step_delta.extend(array("q", (first - base,)) * n)
        self.shifted.append(previous_end)
        self.shifted.extend(ends[: n - 1])
        moved = part.moved
        if moved:
            shift = base - first
            self.moved_at.extend([step + shift for step in moved[0::3]])
            self.moved_wait.extend(moved[1::3])
            self.moved_start.extend(moved[2::3])

    def table(self) -> Any:
        n = len(self.stops)
        shifted = ints(self.shifted)
        waits = starts = shifted
        if self.moved_at:
            mask = pc.is_in(arange(0, n), value_set=ints(self.moved_at))
            waits = pc.replace_with_mask(shifted, mask, ints(self.moved_wait))
            starts = pc.replace_with_mask(shifted, mask, ints(self.moved_start))
        return pa.table({
            "cid": pa.Array.from_buffers(INT32, n, [None, pa.py_buffer(self.cids)]),
            "step": pc.add(arange(0, n), ints(self.step_delta)),
            "wait": waits,
            "start": starts,
            "stop": ints(self.stops),
        })


class _MessageRows:
    """One drain's messages on channels that feed an input alone (message ``k`` consumed by
    the receiver's step ``initial + k``), gathered into flat arrays and made into one table,
    as :class:`_StepRows` does for steps."""

    __slots__ = ("channels", "seq_delta", "initial", "payloads")

    def __init__(self) -> None:
        self.channels = array("i")
        self.seq_delta = array("q")  # a row's seq is its position plus this (see _StepRows)
        # receiver_step = seq + the receiving input's initial values; None while every input
        # so far has none (the common case: receiver_step is then seq itself).
        self.initial: array[int] | None = None
        self.payloads: list[Any] = []

    def add(self, channel: int, k0: int, n: int, initial: int, payloads: Any) -> None:
        base = len(self.channels)
        self.channels.extend(array("i", (channel,)) * n)
        self.seq_delta.extend(array("q", (k0 - base,)) * n)
        if initial and self.initial is None:
            self.initial = array("q", (0,)) * base
        if self.initial is not None:
            self.initial.extend(array("q", (initial,)) * n)
        self.payloads.append(payloads)

    def table(self) -> Any:
        n = len(self.channels)
        seq = pc.add(arange(0, n), ints(self.seq_delta))
        return pa.table({
            "channel": pa.Array.from_buffers(INT32, n, [None, pa.py_buffer(self.channels)]),
            "seq": seq,
            "receiver_step": seq if self.initial is None else pc.add(seq, ints(self.initial)),
            # The payloads stay the senders' windows, chunk by chunk (no copy).
            **payload_columns(pa.chunked_array(self.payloads)),
        })


@dataclass(slots=True)
class _Sent:
    """A window of the values sent on one output, ``[base, base + len)`` by step, each as
    ``{inline, ref}``: the encoded payload itself when small, else its id in ``payloads``."""

    base: int = 0
    payloads: Any = field(default_factory=lambda: EMPTY_REFS)

    @property
    def count(self) -> int:
        return self.base + len(self.payloads)

    def keep_from(self, k: int) -> None:
        cut = min(max(k - self.base, 0), len(self.payloads))
        if cut:
            self.payloads = self.payloads.slice(cut)
            self.base += cut


@dataclass(slots=True)
class _Channel:
    id: int
    sender: int
    port: int
    receiver: int
    input: int
    initial: int
    next_k: int = 0  # first message not emitted yet


@dataclass(slots=True)
class _FanIn:
    """An input fed by several channels: which channel each consumed value came from."""

    receiver: int
    input: int
    initial: int
    channels: dict[int, _Channel]
    base: int = 0  # stream position of sources[0]
    sources: Any = field(default_factory=lambda: EMPTY_INT32)
    next_pos: int = 0  # first stream position not matched yet


@dataclass(slots=True)
class Tables:
    """One drain's rows, ready for ``INSERT … SELECT``. Times are raw clock readings of the
    component that took them; the writer adds each component's offset from ``offsets``.
    Messages carry no times: they are their steps' (see the module's docstring)."""

    steps: Any
    failures: Any
    messages: Any
    send_waits: Any  # (cid, step, channel, entered) of each send that had to wait
    payloads: Any  # (id, data): payloads stored once, referenced by messages' payload_id
    offsets: Any  # (cid, off): each component's clock offset; times above are raw readings


class Matcher:
    """Stateful: feed it every drain of a run in order, then once more with ``final=True``.

    Parts drained in one process at one moment (``ordered``) hold every value their receivers
    consumed: a message that does not add up is refused at once. Parts shipped from other
    processes (``ordered=False``) come per process, so a receiver's steps may arrive before
    the sender's part that holds what they consumed: from the first such batch on, a message
    waits until its sender's part is there, and the check is made at the final batch.
    """

    def __init__(
        self,
        run: RunInfo,
        encode_all: Callable[[list[Any], int, int], Any],
        error_text: Callable[[BaseException], tuple[str, str | None]],
        fixed: Callable[[list[Any]], Any] = lambda values: None,
    ) -> None:
        self.payloads = PayloadStore(encode_all, fixed)
        self.offsets: dict[int, int] = {}  # each component's clock offset, from its batches
        self._offsets_made: Any = None
        self._stored = empty_payloads()
        self.error_text = error_text
        by_name = {c.name: c for c in run.components}
        self.names = {c.id: c.name for c in run.components}
        self.history = {c.id: _History() for c in run.components}
        self.sent = {(c.id, port): _Sent() for c in run.components for port in range(len(c.outputs))}
        self.finished: set[int] = set()
        self.last_end: dict[int, int] = {}
        fed: dict[tuple[int, int], list[_Channel]] = {}
        # Outputs with no connector: what they were set to at each step is recorded on a
        # channel of their own that nothing consumes (replay compares them too).
        self.unconnected: list[_Channel] = []
        for info in run.channels:
            if info.target_component is None or info.target_port is None:
                sender = by_name[info.source_component]
                self.unconnected.append(_Channel(info.id, sender.id, sender.outputs.index(info.source_port), -1, -1, 0))
                continue
            sender, receiver = by_name[info.source_component], by_name[info.target_component]
            port, inp = sender.outputs.index(info.source_port), receiver.inputs.index(info.target_port)
            channel = _Channel(info.id, sender.id, port, receiver.id, inp, len(receiver.initial_values.get(info.target_port, ())))
            fed.setdefault((receiver.id, inp), []).append(channel)
        self.single = [chs[0] for chs in fed.values() if len(chs) == 1]
        self.fan_ins = {key: _FanIn(key[0], key[1], chs[0].initial, {c.id: c for c in chs}) for key, chs in fed.items() if len(chs) > 1}
        self.channels = [c for chs in fed.values() for c in chs]
        self.labels = {info.id: info.label for info in run.channels}
        # A sender whose value at step K could not be encoded: its record ends at step K
        # (kept, and marked failed); what it did after K is not recorded.
        self.cut_at: dict[int, int] = {}
        self.failure: PayloadError | None = None
        self.waits_for_senders = False

    def add(self, drained: Sequence[Drained], *, final: bool = False, ordered: bool = True) -> Tables:
        if not ordered:
            self.waits_for_senders = True
        waiting = self.waits_for_senders and not final
        step_rows = _StepRows()
        wait_parts: list[Any] = []
        failures: list[tuple[int, int, str, str | None]] = []
        encoded = self._encode_outputs(drained, failures)
        for part, outputs in zip(drained, encoded):
            cid = part.component
            if self.offsets.get(cid) != part.offset_ns:
                self.offsets[cid] = part.offset_ns
                self._offsets_made = None
            expected = self.history[cid].count
            if part.first_step != expected and cid not in self.cut_at:
                # A part went missing (or came twice): every later message of this component
                # would be matched to the wrong step. Refuse instead.
                raise RecordingError(
                    f"component {self.names[cid]!r}: the record does not add up: its part from step {part.first_step} "
                    f"came when step {expected} was next (steps {min(expected, part.first_step)}-"
                    f"{max(expected, part.first_step) - 1} {'missing' if part.first_step > expected else 'twice'}); "
                    "this is a tapeflow bug: please report it with the model (the run's earlier rows are kept)"
                )
            cut = self.cut_at.get(cid)
            if cut is not None:
                part = _before(part, cut + 1)
            n = len(part.ends)
            if n:
                step_rows.add(cid, part, self.last_end.get(cid, 0))
                self.last_end[cid] = part.ends[-1]
                self.history[cid].count += n
            for index, error in part.errors:
                text, trace = self.error_text(error)
                failures.append((cid, index, text, trace))
            for port, payloads in enumerate(outputs):
                if payloads is not None and len(payloads):
                    sent = self.sent[(cid, port)]
                    sent.payloads = pa.concat_arrays([sent.payloads, payloads])
            for inp, sources in enumerate(part.sources):
                if sources:
                    fan_in = self.fan_ins[(cid, inp)]
                    fan_in.sources = pa.concat_arrays([fan_in.sources, pa.array(sources, INT32)])
            if len(part.late):
                wait_parts.append(self._note_late(cid, part.late))
            if part.finished:
                self.finished.add(cid)

        message_parts: list[Any] = []
        single_rows = _MessageRows()
        for channel in self.single:
            consumed = max(self.history[channel.receiver].count - channel.initial, channel.next_k)
            if waiting:
                consumed = min(consumed, max(self._arrived(channel), channel.next_k))
            if consumed > channel.next_k:
                self._emit(channel, consumed - channel.next_k, None, message_parts, single_rows)
        if single_rows.channels:
            message_parts.append(single_rows.table())
        for fan_in in self.fan_ins.values():
            self._match_fan_in(fan_in, message_parts, waiting)
        for channel in self.unconnected:
            whole = min(self.sent[(channel.sender, channel.port)].count, self.history[channel.sender].count)
            self._emit_unconsumed(channel, message_parts, whole)
        if final:
            self._check_sent_counts()
        if final or self.finished:
            for channel in self.channels:
                if final or (channel.receiver in self.finished and (not waiting or self._all_matched(channel))):
                    self._emit_unconsumed(channel, message_parts)
        self._trim()

        return Tables(
            step_rows.table() if step_rows.stops else _empty_steps(),
            pa.table({
                "cid": pa.array([f[0] for f in failures], INT32),
                "step": pa.array([f[1] for f in failures], INT64),
                "error": pa.array([f[2] for f in failures], pa.string()),
                "traceback": pa.array([f[3] for f in failures], pa.string()),
            }),
            pa.concat_tables(message_parts) if message_parts else _empty_messages(),
            pa.concat_tables(wait_parts) if wait_parts else _empty_waits(),
            self._stored,
            self._offsets_table(),
        )

    def _offsets_table(self) -> Any:
        if self._offsets_made is None:
            cids = list(self.offsets)
            self._offsets_made = pa.table({"cid": pa.array(cids, INT32), "off": pa.array([self.offsets[c] for c in cids], INT64)})
        return self._offsets_made

    def _check_sent_counts(self) -> None:
        """At the end, every step of a sender sent on every output, but for its last step
        (the one that closed it, or failed): anything else means rows would be misattributed."""
        for channel in self.channels + self.unconnected:
            if channel.sender in self.cut_at:
                continue
            steps = self.history[channel.sender].count
            sent = self.sent[(channel.sender, channel.port)].count
            if not steps - 1 <= sent <= steps:
                raise RecordingError(
                    f"channel {self.labels[channel.id]!r}: the record does not add up: the sender recorded "
                    f"{steps} steps but {sent} sent values; this is a tapeflow bug: please report it with the model "
                    "(the run's earlier rows are kept)"
                )

    def _note_late(self, cid: int, late: Any) -> Any:
        """The rows of the ``send_waits`` table: sends that entered their channel late."""
        steps, channels, entered = ints(late[0::3]), ints(late[1::3]), ints(late[2::3])
        return pa.table({
            "cid": pa.repeat(pa.scalar(cid, INT32), len(steps)),
            "step": steps,
            "channel": channels.cast(INT32),
            "entered": entered,
        })

    def _encode_outputs(self, drained: Sequence[Drained], failures: list[tuple[int, int, str, str | None]]) -> list[list[Any]]:
        """Every part's sent values as ``{inline, ref}`` per port, before anything is matched.

        A value is encoded and stored once however often it is sent: fan-out shares a port's
        value among its channels, and the same object sent on by pass-through stages is found
        by identity (immutable values; a value that can change was encoded at send, and the
        recorder hands out the same encoded object while its encoding is unchanged). A payload
        of ``INLINE_MAX`` bytes or less is kept inline in the message row, where it costs
        less than a reference; ints and floats always are. A value that cannot be encoded
        cuts its sender's record at that step (see :class:`PayloadError`).
        """
        while True:
            try:
                refs = self.payloads.refs(drained, {key: sent.count for key, sent in self.sent.items()}, self.cut_at)
                self._stored = self.payloads.stored
                return refs
            except Unencodable as found:
                for cid, step in found.senders:
                    self.cut_at[cid] = min(step, self.cut_at.get(cid, step))
                    error = found.error.at_step(step)
                    if self.failure is None:
                        self.failure = error
                    failures.append((cid, step, *self.error_text(error)))
                # Encode again: the cut leaves the value out of every sender's record.

    # --- messages ---------------------------------------------------------------------------
    def _emit(self, channel: _Channel, n: int, positions: Any, out: list[Any], rows: _MessageRows | None = None) -> None:
        """Emit the next ``n`` messages of ``channel``; their receiving steps are
        ``initial + k`` (one feeding channel: into ``rows`` when given) or ``initial +
        positions`` (fan-in)."""
        k0 = channel.next_k
        sender = self.history[channel.sender]
        sent = self.sent[(channel.sender, channel.port)]
        if channel.sender in self.cut_at:  # values after the cut were consumed, never recorded
            n = min(n, sent.count - k0, sender.count - k0)
            if positions is not None:
                positions = positions.slice(0, max(n, 0))
        if n <= 0:
            return
        if k0 + n > min(sent.count, sender.count):
            # More consumed than the sender recorded: rows would shift; refuse instead.
            raise RecordingError(
                f"channel {self.labels[channel.id]!r}: the record does not add up: the receiver consumed "
                f"{k0 + n} messages but the sender recorded {sender.count} steps and {sent.count} sent values; "
                "this is a tapeflow bug: please report it with the model (the run's earlier rows are kept)"
            )
        if positions is None and rows is not None:
            rows.add(channel.id, k0, n, channel.initial, sent.payloads.slice(k0 - sent.base, n))
            channel.next_k = k0 + n
            return
        if positions is None:
            receiver_steps = arange(k0 + channel.initial, n)
        else:
            receiver_steps = pc.add(positions, channel.initial)
        out.append(
            pa.table({
                "channel": pa.repeat(pa.scalar(channel.id, INT32), n),
                "seq": arange(k0, n),
                "receiver_step": receiver_steps,
                **payload_columns(sent.payloads.slice(k0 - sent.base, n)),
            })
        )
        channel.next_k = k0 + n

    def _arrived(self, channel: _Channel) -> int:
        """How many of ``channel``'s messages are known whole: sent values whose step's
        sends all completed (the sender began another step, or ended), so a send that had to
        wait has its ``late`` entry here too. For parts from several processes."""
        sender = channel.sender
        steps = self.history[sender].count - (0 if sender in self.finished else 1)
        return min(self.sent[(sender, channel.port)].count, steps)

    def _all_matched(self, channel: _Channel) -> bool:
        """Every value ``channel``'s receiver consumed has been matched to its message."""
        consumed = self.history[channel.receiver].count - channel.initial
        fan_in = self.fan_ins.get((channel.receiver, channel.input))
        return (channel.next_k if fan_in is None else fan_in.next_pos) >= consumed

    def _match_fan_in(self, fan_in: _FanIn, out: list[Any], waiting: bool = False) -> None:
        consumed = self.history[fan_in.receiver].count - fan_in.initial
        stop = min(consumed, fan_in.base + len(fan_in.sources))
        n = stop - fan_in.next_pos
        if n <= 0:
            return
        window = fan_in.sources.slice(fan_in.next_pos - fan_in.base, n)
        if waiting:  # stop before the first value whose sender's part has not come yet
            for channel in fan_in.channels.values():
                if channel.sender in self.cut_at:
                    continue
                available = max(0, self._arrived(channel) - channel.next_k)
                local = pc.indices_nonzero(pc.equal(window, channel.id))
                if len(local) > available:
                    n = min(n, local[available].as_py())
            if n <= 0:
                return
            window = window.slice(0, n)
            stop = fan_in.next_pos + n
        for channel in fan_in.channels.values():
            local = pc.indices_nonzero(pc.equal(window, channel.id))
            if len(local):
                self._emit(channel, len(local), pc.add(local.cast(INT64), fan_in.next_pos), out)
        fan_in.next_pos = stop

    def _emit_unconsumed(self, channel: _Channel, out: list[Any], upto: int | None = None) -> None:
        """Emit ``channel``'s messages from the next up to ``upto`` (all sent: ``None``) as
        never consumed."""
        sent = self.sent[(channel.sender, channel.port)]
        n = (sent.count if upto is None else upto) - channel.next_k
        if n <= 0:
            return
        k0 = channel.next_k
        out.append(
            pa.table({
                "channel": pa.repeat(pa.scalar(channel.id, INT32), n),
                "seq": arange(k0, n),
                "receiver_step": pa.nulls(n, INT64),
                **payload_columns(sent.payloads.slice(k0 - sent.base, n)),
            })
        )
        channel.next_k = k0 + n

    def _trim(self) -> None:
        """Forget what no future message can need: memory stays bounded by the channels."""
        need_sent: dict[tuple[int, int], int] = {key: sent.count for key, sent in self.sent.items()}
        for channel in self.channels + self.unconnected:
            key = (channel.sender, channel.port)
            need_sent[key] = min(need_sent[key], channel.next_k)
        for fan_in in self.fan_ins.values():
            cut = fan_in.next_pos - fan_in.base
            if cut > 0:
                fan_in.sources = fan_in.sources.slice(cut)
                fan_in.base = fan_in.next_pos
        for key, k in need_sent.items():
            self.sent[key].keep_from(k)


def _before(part: Drained, stop: int) -> Drained:
    """``part`` without the steps from ``stop`` on (its outputs are cut by the caller)."""
    keep = max(0, min(len(part.ends), stop - part.first_step))
    if keep == len(part.ends):
        return part
    moved = array("q")
    for i in range(0, len(part.moved), 3):
        if part.moved[i] < stop:
            moved.extend(part.moved[i : i + 3])
    late = array("q")
    for i in range(0, len(part.late), 3):
        if part.late[i] < stop:
            late.extend(part.late[i : i + 3])
    return Drained(
        part.component, part.first_step, part.ends[:keep], moved, part.outputs, part.sources,
        [(i, e) for i, e in part.errors if i < stop], part.finished, late,
    )


def _empty_steps() -> Any:
    return pa.table({
        "cid": pa.array([], INT32), "step": pa.array([], INT64), "wait": pa.array([], INT64),
        "start": pa.array([], INT64), "stop": pa.array([], INT64),
    })


def _empty_waits() -> Any:
    return pa.table({
        "cid": pa.array([], INT32), "step": pa.array([], INT64), "channel": pa.array([], INT32), "entered": pa.array([], INT64),
    })


def _empty_messages() -> Any:
    return pa.table({
        "channel": pa.array([], INT32), "seq": pa.array([], INT64), "receiver_step": pa.array([], INT64),
        "payload": pa.array([], pa.binary()), "payload_id": pa.array([], INT64),
    })
