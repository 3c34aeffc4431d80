"""The collector: the half of recording that lives beside an event loop.

A component loop writes into the ``StampLog`` its collector hands it (``component_log``);
payloads that could still change (lists, dicts, arrays, …) are encoded at once, immutable
ones later, by the writer. The collector drains the logs into ``Drained`` parts every
``FLUSH_S`` seconds (a timer on the event loop, from :meth:`Collector.start`), when a log is
full, when ``FLUSH_BYTES`` of payloads were encoded at send, and when asked
(:meth:`Collector.flush`), and hands them to ``on_parts``. It needs neither DuckDB nor
pyarrow: a process that runs components for a run recorded elsewhere (a Ray actor) builds
one from the :class:`CollectorSpec` the recorder gives (``Recorder.collector_spec()``) and
ships its parts to that recorder (``Recorder.accept``).

A local run's ``Recorder`` owns one collector whose parts go straight to its writer.
"""

from __future__ import annotations

import asyncio
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..engine.tap import IMMUTABLE_PAYLOADS, Drained, StampLog
from .codec import DictVersion, Fallback, dict_version, encoder

__all__ = [
    "FLUSH_BYTES", "FLUSH_S", "RECENT_BYTES", "RECENT_VALUES", "Collector", "CollectorSpec", "Encoded", "RecordedError",
    "error_text",
]

FLUSH_S = 0.2
# Payload bytes encoded at send after which the logs are drained at once, without waiting for
# the timer: what a run of large payloads holds in memory before it reaches the writer.
FLUSH_BYTES = 4 << 20
# How many values encoded at send are remembered to find them sent on unchanged. A value
# forwarded by a pass-through stage is found if fewer than this many other values were sent
# in between: a channel holds 64, so a few hundred covers a stage that keeps up.
RECENT_VALUES = 1024
RECENT_BYTES = 32 << 20


class Encoded:
    """A payload already encoded on the hot path (it could have been mutated later).

    A wrapper, not a ``bytes`` subclass: building one from the encoder's bytes copies
    nothing (a subclass would copy every byte, 10 MB for a 10 MB array). The same object is
    handed out again while the same value is sent unchanged, which is how the writer stores
    a value that travels through pass-through stages once (``matching``). Pickles as its
    bytes (a part shipped from another process).

    ``payload_id``: the id the writer stored it under (-1: not stored, or kept inline), set
    on the writer's thread, so a stage that sends it on however many drains later refers to
    the stored payload instead of storing it again."""

    __slots__ = ("blob", "payload_id")

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.payload_id = -1

    def __reduce__(self) -> tuple[type[Encoded], tuple[bytes]]:
        return Encoded, (self.blob,)


class RecordedError(Exception):
    """A step's error as the ``steps`` table shows it, rendered where it was raised: what a
    part shipped from another process carries instead of the exception, which may not
    pickle (or not unpickle where the log is written). ``traceback`` ``None``: cancelled."""

    def __init__(self, text: str, traceback: str | None) -> None:
        super().__init__(text)
        self.text, self.traceback = text, traceback

    def __reduce__(self) -> tuple[type[RecordedError], tuple[str, str | None]]:
        return RecordedError, (self.text, self.traceback)


def error_text(error: BaseException) -> tuple[str, str | None]:
    """One line for the ``error`` column and the traceback; ``None`` traceback = cancelled."""
    if isinstance(error, RecordedError):
        return error.text, error.traceback
    if isinstance(error, asyncio.CancelledError):
        return "cancelled: the run stopped during this step", None
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text, "".join(traceback.format_exception(error))


@dataclass(frozen=True, slots=True)
class CollectorSpec:
    """What a collector needs to know of a run, picklable: the payload ``fallback``, each
    component's ``(outputs, inputs)`` count by id, and each output's channel label by
    ``(component id, output index)`` (for error messages)."""

    fallback: Fallback
    ports: dict[int, tuple[int, int]]
    labels: dict[tuple[int, int], str]


class Collector:
    """The tap a component loop writes into (``component_log``, ``component_ended``), for
    the components of one run that share this event loop.

    ``on_parts(parts, final)`` receives what each drain took (only drains that took something,
    and the final one, which may be empty); it runs on the event loop, inside a step's loop
    when a log filled up. With ``portable`` (the default: a collector built from a spec is
    for another process), each step's error in the parts is replaced by a
    :class:`RecordedError` holding its rendered text and traceback, so the parts pickle and
    the log shows the error as if it had been recorded here; the payloads pickle already.
    """

    def __init__(self, spec: CollectorSpec, on_parts: Callable[[list[Drained], bool], None], *, portable: bool = True) -> None:
        self.spec = spec
        self.on_parts = on_parts
        self.portable = portable
        self._encode = encoder(spec.fallback)
        self._ports = spec.ports
        self._labels = spec.labels
        self._logs: list[StampLog] = []
        # Values encoded at send, by identity, with what they encoded to and how to tell cheaply
        # that they still do (codec ``recheck``): holds the objects (so their ids stay theirs),
        # at most RECENT_VALUES of them and about RECENT_BYTES.
        self._recent: OrderedDict[int, tuple[Any, Encoded, Any]] = OrderedDict()
        self._recent_bytes = 0
        self._pending_bytes = 0  # encoded at send since the last drain
        self._snapshot: Callable[[int, StampLog, Any, int], Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = True

    # --- the tap ---------------------------------------------------------------------------
    def component_log(self, component: int, offset_ns: int) -> StampLog:
        n_outputs, n_inputs = self._ports.get(component, (0, 0))
        if self._snapshot is None:
            self._snapshot = self._snapshotter()
        log = StampLog(component, offset_ns, n_outputs=n_outputs, n_inputs=n_inputs, plain=IMMUTABLE_PAYLOADS, on_full=self._full)
        log.snapshot = partial(self._snapshot, component, log)
        self._logs.append(log)
        return log

    def component_ended(self, log: StampLog) -> None:
        pass  # the next drain reads log.finished

    # --- drains ----------------------------------------------------------------------------
    def start(self) -> None:
        """Drain every ``FLUSH_S`` seconds on the running event loop (none running: only on
        a full log, ``FLUSH_BYTES`` and :meth:`flush`)."""
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # driven without an event loop (a test)
            self._loop = None
            return
        self._timer = self._loop.call_later(FLUSH_S, self._tick)

    def flush(self, *, final: bool = False) -> None:
        """Drain every log now and hand the parts to ``on_parts``. ``final``: the last drain
        (the timer stops; ``on_parts`` is called even with no parts)."""
        if final:
            self._running = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        parts = [log.drain() for log in self._logs]
        parts = [p for p in parts if len(p.ends) or p.finished or any(p.outputs) or any(p.sources) or len(p.late)]
        self._pending_bytes = 0
        if self.portable:
            for part in parts:
                if part.errors:
                    part.errors = [(index, RecordedError(*error_text(error))) for index, error in part.errors]
        if parts or final:
            self.on_parts(parts, final)

    def _tick(self) -> None:
        self.flush()
        if self._loop is not None and self._running:
            self._timer = self._loop.call_later(FLUSH_S, self._tick)

    def _full(self, log: StampLog) -> None:
        # A step loop that never yields to the event loop (the timer cannot run) would grow the
        # buffers without bound: flush from inside the loop instead.
        self.flush()

    # --- payloads encoded at send ----------------------------------------------------------
    def _port_label(self, port: tuple[int, int]) -> str:
        return self._labels.get(port, f"component {port[0]} output {port[1]}")

    def _snapshotter(self) -> Callable[[int, StampLog, Any, int], Any]:
        """``snapshot(component, log, value, port)``, made once per collector and bound per
        component with ``functools.partial`` (one small object each: a closure per component
        made a 10,000-component run slower, its many objects walked by every GC pass; bench
        chain-10000 on µs 2.2 -> 3.9). It encodes now a sent value that could still change (the
        step's own list, say), and hands out the same ``Encoded`` again while the same object
        is sent with the same encoding (a pass-through stage), so the writer stores it once.
        Whether it still encodes the same is told without encoding it again where the codec
        can tell exactly (``recheck``: an array's bytes compared in place with the encoding, a
        list or dict without bytes-like items packed without searching it for them).
        bench/before_after.py --only array-100k,dict-20 (7 runs each, a loaded machine): µs per
        component-step 90 -> 74 with 100 KiB arrays. A dict of scalars is told unchanged by
        its version tag, read here without a call (``codec.dict_version``): 2.07 -> 1.75 µs
        per component-step with 20-key dicts. Its state lives in locals: it runs once per
        send of a mutable value.

        A value that cannot be encoded fails the step that sent it (its record keeps the step,
        marked failed with this error) and so the run."""
        encode = self._encode
        recheck, unchanged = encode.recheck, encode.unchanged
        version = dict_version()  # None: no DictVersion check is ever made
        version_at: Any = version.at if version is not None else None
        version_offset = version.offset if version is not None else 0
        recent = self._recent
        recent_get, move_to_end, popitem = recent.get, recent.move_to_end, recent.popitem

        def snapshot(component: int, log: StampLog, value: Any, port: int) -> Any:
            key = id(value)
            seen = recent_get(key)
            if seen is not None and seen[0] is value:
                check = seen[2]
                if type(check) is DictVersion:  # unchanged(), inlined: a dict of scalars
                    same = version_at(key + version_offset).value == check.tag
                else:
                    same = check is not None and unchanged(value, seen[1].blob, check)
                if same:
                    move_to_end(key)  # sent on unchanged (a pass-through stage): stored once
                    return seen[1]
            try:
                blob = encode(value)
            except (TypeError, ValueError, OverflowError) as problem:
                raise self._unrecordable(value, problem, (component, port), log) from problem
            if seen is not None:
                if seen[0] is value and seen[1].blob == blob:
                    move_to_end(key)  # sent on unchanged, found by encoding it again
                    return seen[1]
                del recent[key]
                self._recent_bytes -= len(seen[1].blob)
            kept = recent[key] = (value, Encoded(blob), recheck(value, blob))
            size = len(blob)
            self._recent_bytes += size
            if len(recent) > RECENT_VALUES or self._recent_bytes > RECENT_BYTES:
                while len(recent) > RECENT_VALUES or (self._recent_bytes > RECENT_BYTES and len(recent) > 1):
                    self._recent_bytes -= len(popitem(last=False)[1][1].blob)
            # Large payloads go to the log early: memory held for them stays bounded by bytes.
            self._pending_bytes += size
            if self._pending_bytes >= FLUSH_BYTES:
                self.flush()
            return kept[1]

        return snapshot

    def _unrecordable(self, value: Any, problem: BaseException, port: tuple[int, int], log: StampLog) -> BaseException:
        from .payloads import PayloadError
        from .writer import PAYLOAD_ADVICE

        kind = type(value)
        what = str(problem)
        if not what.startswith("cannot record"):  # the codec names the innermost culprit
            what = f"cannot record payload of type {kind.__module__}.{kind.__qualname__} ({problem})"
        step = log.first_step + len(log.ends) - 1  # the step just recorded is the sender
        error = PayloadError(self._port_label(port), 0, what, PAYLOAD_ADVICE).at_step(step)
        log.errors.append((step, error))
        return error
