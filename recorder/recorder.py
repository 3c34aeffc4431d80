"""The Recorder: the tap that writes a run into the DuckDB log.

Hot path (inside ``run_stamped``): appends to each component's ``StampLog``; payloads that
could still change (lists, dicts, arrays, …) are encoded at once, immutable ones later in the
writer. Every ``FLUSH_S`` seconds a timer on the event loop drains the logs into a batch for
the writer thread (the timer never runs in the middle of a step's synchronous code, so it
sees whole records); a log that fills up between timer ticks is drained by the loop itself.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ..engine.errors import TapeflowError
from ..engine.tap import IMMUTABLE_PAYLOADS, RunInfo, StampLog
from .codec import Fallback, encoder
from .errors import RecordingError
from .runrows import as_json, component_spec, insert_model, pid_namespace, versions

__all__ = ["FLUSH_S", "Recorder", "default_log_path", "new_run_id", "resolve_log_path"]

FLUSH_S = 0.2
# Payload bytes encoded at send after which the logs are drained at once, without waiting for
# the timer: what a run of large payloads holds in memory before it reaches the writer.
FLUSH_BYTES = 16 << 20
# How many values encoded at send are remembered to find them sent on unchanged. A value
# forwarded by a pass-through stage is found if fewer than this many other values were sent
# in between: a channel holds 64, so a few hundred covers a stage that keeps up.
RECENT_VALUES = 1024
RECENT_BYTES = 32 << 20
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_EPOCH_DS = 1_704_067_200 * 10  # 2024-01-01 in deciseconds: keeps ids short


def default_log_path() -> Path:
    """``$TAPEFLOW_LOG`` if set, else ``tapeflow.duckdb`` in the working directory."""
    return resolve_log_path(None)


def resolve_log_path(path: str | os.PathLike[str] | None) -> Path:
    """The log file a writer and a reader both mean by ``path`` (``None``: the default).

    ``~`` is expanded here, once, for every caller: DuckDB expands it itself when it opens a
    file, so a path left unexpanded would be written at ``$HOME/…`` and looked for at ``./~/…``.
    """
    if path is None:
        env = os.environ.get("TAPEFLOW_LOG")
        return Path(env).expanduser() if env else Path.cwd() / "tapeflow.duckdb"
    return Path(path).expanduser()


def _base36(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def new_run_id() -> str:
    """``r`` + 7 base-36 digits of deciseconds since 2024 + 3 random: sorts by start time
    (until 2270), short enough to type, and a unique prefix of it is enough to look it up."""
    return "r" + _base36(time.time_ns() // 100_000_000 - _EPOCH_DS, 7) + _base36(random.randrange(36**3), 3)


class Encoded:
    """A payload already encoded on the hot path (it could have been mutated later).

    A wrapper, not a ``bytes`` subclass: building one from the encoder's bytes copies
    nothing (a subclass would copy every byte, 10 MB for a 10 MB array). The same object is
    handed out again while the same value is sent unchanged, which is how the writer stores
    a value that travels through pass-through stages once (``matching``)."""

    __slots__ = ("blob",)

    def __init__(self, blob: bytes) -> None:
        self.blob = blob


def _error_text(error: BaseException) -> tuple[str, str | None]:
    """One line for the ``error`` column and the traceback; ``None`` traceback = cancelled."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled: the run stopped during this step", None
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text, "".join(traceback.format_exception(error))


def _run_error_text(error: BaseException) -> str:
    """The run's ``error`` column: the error's own line (it names component and phase)."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled: the run was stopped from outside"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted by SIGINT (KeyboardInterrupt)"
    if isinstance(error, TapeflowError):  # its message already says where and what
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    return _error_text(error)[0]


class Recorder:
    """Records a run into the DuckDB log at ``path`` (default: :func:`default_log_path`).

    Attach with ``LocalProcess(..., tap=Recorder())``. One recorder records one run; the
    process calls ``run_ended`` (also on failure or cancel), which writes every remaining row
    and closes the log. ``fallback`` chooses what happens to a payload the codec cannot
    carry: ``None`` (an error naming the channel), ``"pickle"`` or ``"repr"``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        run_id: str | None = None,
        command: list[str] | None = None,
        fallback: Fallback = None,
    ) -> None:
        self.path = resolve_log_path(path)
        self.run_id = run_id or new_run_id()
        self.command = list(command) if command is not None else list(sys.argv)
        self.fallback = fallback
        self.status = "created"
        self._encode = encoder(fallback)
        self._labels: dict[tuple[int, int], str] = {}
        self._ports: dict[int, tuple[int, int]] = {}
        self._logs: list[StampLog] = []
        # Values encoded at send, by identity, with what they encoded to: holds the objects
        # (so their ids stay theirs), at most RECENT_VALUES of them and about RECENT_BYTES.
        self._recent: OrderedDict[int, tuple[Any, Encoded]] = OrderedDict()
        self._recent_bytes = 0
        self._pending_bytes = 0  # encoded at send since the last drain
        self._snapshot: Callable[[int, StampLog, Any, int], Any] | None = None
        self._writer: Any = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: Any = None  # RunInfo.stop: fails the run from here
        self._stop_sent: BaseException | None = None

    # --- the tap ---------------------------------------------------------------------------
    def run_started(self, run: RunInfo) -> None:
        from . import schema
        from .connection import check_blocks, check_log_path, connect, display
        from .writer import Writer

        if self._writer is not None:
            raise RecordingError(f"run {self.run_id!r}: this Recorder already recorded a run; make a new Recorder per run")
        # Before anything is opened and before any component's init() runs: a log that
        # cannot be written stops the run with one line saying why (LogError, exit 2).
        check_log_path(self.path, writable=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        where = display(self.path)
        by_name = {c.name: c for c in run.components}
        for channel in sorted(run.channels, key=lambda c: c.id, reverse=True):
            sender = by_name[channel.source_component]
            self._labels[(sender.id, sender.outputs.index(channel.source_port))] = channel.label
        self._ports = {c.id: (len(c.outputs), len(c.inputs)) for c in run.components}
        self._stop = run.stop
        # Every component's constructor arguments, exactly, before the log is touched: one
        # that cannot be recorded still leaves the run in the log, failed before its start.
        specs: list[bytes | None] = []
        refused: RecordingError | None = None
        for c in run.components:
            try:
                specs.append(component_spec(c, self._encode))
            except RecordingError as error:
                refused = refused or error
                specs.append(None)
        started = time.time_ns()
        con = connect(str(self.path), read_only=False, wait_s=None, warn_after_s=5.0)
        try:
            check_blocks(con, self.path)  # a log cut exactly on a block boundary
            schema.create(con, where)
            con.execute("BEGIN")
            run_key = con.execute(
                "INSERT INTO runs (id, status, started_ns, heartbeat_ns, process_name, process_kind, channel_kind,"
                " config, parameters, versions, host, pid, pid_ns, command, log_path) VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING key",
                [
                    self.run_id, started, started, run.process_name, run.process_kind, run.channel_kind,
                    None if run.config is None else as_json(run.config), as_json(run.parameters), as_json(versions()),
                    socket.gethostname(), os.getpid(), pid_namespace(), " ".join(self.command), str(self.path.resolve()),
                ],
            ).fetchall()[0][0]
            insert_model(con, self.run_id, run, specs)
            if refused is not None:
                con.execute(
                    "UPDATE runs SET status = 'failed', ended_ns = ?, error = ? WHERE id = ?",
                    [time.time_ns(), _run_error_text(refused), self.run_id],
                )
            con.execute("COMMIT")
        finally:
            con.close()
        if refused is not None:
            self.status = "failed"
            raise refused
        self._writer = Writer(
            str(self.path), self.run_id, run_key, run, self._encode, Encoded, _error_text, self._encode.fast, self._labels
        )
        self.status = "running"
        try:
            self._loop = asyncio.get_running_loop()
            self._timer = self._loop.call_later(FLUSH_S, self._tick)
        except RuntimeError:  # driven without an event loop (a test, a remote worker)
            self._loop = None

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

    def run_ended(self, status: str, error: BaseException | None) -> None:
        if self._writer is None or self.status != "running":
            return
        from .writer import Ending

        if self._timer is not None:
            self._timer.cancel()
        try:
            self._flush(final=True)
        finally:
            # A value that could not be encoded fails the run, even one found at the end.
            unrecorded = self._writer.unrecordable
            found_late = error is None and unrecorded is not None
            if found_late:
                status, error = "failed", unrecorded
            final = "completed" if status == "completed" else "failed"
            text = None if error is None else _run_error_text(error)
            # Even if the last batch could not be built, the run gets its ending.
            self._writer.put(Ending(final, time.time_ns(), text))
            self._writer.close()
            self.status = final
        if found_late:  # the run itself had ended well: it is this failure that ends it
            raise error  # type: ignore[misc]
        failure = self._writer.failure
        if failure is not None:
            message = f"run {self.run_id!r}: recording into {self.path} failed: {type(failure).__name__}: {failure}"
            if error is None:
                raise RecordingError(message) from failure
            print(f"tapeflow: {message}", file=sys.stderr)

    def teardown_failed(self, error: BaseException) -> None:
        """A ``destroy()`` raised after the run's record was closed: the run failed after all."""
        if self._writer is None or self.status not in ("completed", "failed"):
            return
        from .connection import connect

        con = connect(str(self.path), read_only=False, wait_s=None, warn_after_s=5.0)
        try:
            con.execute(
                "UPDATE runs SET status = 'failed', error = CASE WHEN error IS NULL THEN ? ELSE error || '; ' || ? END WHERE id = ?",
                [_run_error_text(error), _run_error_text(error), self.run_id],
            )
        finally:
            con.close()
        self.status = "failed"

    # --- buffers ---------------------------------------------------------------------------
    def _port_label(self, port: tuple[int, int]) -> str:
        return self._labels.get(port, f"component {port[0]} output {port[1]}")

    def _snapshotter(self) -> Callable[[int, StampLog, Any, int], Any]:
        """``snapshot(component, log, value, port)``, made once per recorder and bound per
        component with ``functools.partial`` (one small object each: a closure per component
        made a 10,000-component run slower, its many objects walked by every GC pass; bench
        chain-10000 on µs 2.2 -> 3.9). It encodes now a sent value that could still change (the
        step's own list, say), and hands out the same ``Encoded`` again while the same object
        is sent with the same encoding (a pass-through stage), so the writer stores it once.
        Its state lives in locals: it runs once per send of a mutable value.

        A value that cannot be encoded fails the step that sent it (its record keeps the step,
        marked failed with this error) and so the run."""
        encode = self._encode
        recent = self._recent
        recent_get, move_to_end, popitem = recent.get, recent.move_to_end, recent.popitem

        def snapshot(component: int, log: StampLog, value: Any, port: int) -> Any:
            try:
                blob = encode(value)
            except (TypeError, ValueError, OverflowError) as problem:
                raise self._unrecordable(value, problem, (component, port), log) from problem
            key = id(value)
            seen = recent_get(key)
            if seen is not None:
                if seen[0] is value and seen[1].blob == blob:
                    move_to_end(key)  # sent on unchanged (a pass-through stage): stored once
                    return seen[1]
                del recent[key]
                self._recent_bytes -= len(seen[1].blob)
            kept = recent[key] = (value, Encoded(blob))
            size = len(blob)
            self._recent_bytes += size
            if len(recent) > RECENT_VALUES or self._recent_bytes > RECENT_BYTES:
                while len(recent) > RECENT_VALUES or (self._recent_bytes > RECENT_BYTES and len(recent) > 1):
                    self._recent_bytes -= len(popitem(last=False)[1][1].blob)
            # Large payloads go to the log early: memory held for them stays bounded by bytes.
            self._pending_bytes += size
            if self._pending_bytes >= FLUSH_BYTES:
                self._flush(final=False)
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

    def _tick(self) -> None:
        self._flush(final=False)
        if self._loop is not None and self.status == "running":
            self._timer = self._loop.call_later(FLUSH_S, self._tick)

    def _full(self, log: StampLog) -> None:
        # A step loop that never yields to the event loop (the timer cannot run) would grow the
        # buffers without bound: flush from inside the loop instead.
        self._flush(final=False)

    def _flush(self, *, final: bool) -> None:
        from .writer import Batch

        parts = [log.drain() for log in self._logs]
        batch = Batch(parts=[p for p in parts if len(p.ends) or p.finished or any(p.outputs) or any(p.sources) or len(p.late)], final=final)
        self._pending_bytes = 0
        if batch.parts or final:
            self._writer.put(batch)
        unrecorded = self._writer.unrecordable
        if unrecorded is not None and self._stop_sent is None and not final:
            self._stop_sent = unrecorded
            if self._stop is not None:
                self._stop(unrecorded)
