"""The Recorder: the tap that writes a run into the DuckDB log.

It owns one :class:`~tapeflow.recorder.collector.Collector` for the components that run on
this event loop (the hot path: appends to each component's ``StampLog``, payloads that could
still change encoded at once) and the writer, off the event loop, that every drained part
goes to: the local collector's (every ``FLUSH_S`` seconds, from a timer, and when a log
fills up) and, through :meth:`Recorder.accept`, the parts collectors in other processes
drained and shipped here.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..engine.errors import TapeflowError
from ..engine.tap import Drained, RunInfo, StampLog
from .codec import Fallback, encoder
from .collector import FLUSH_BYTES, FLUSH_S, RECENT_BYTES, RECENT_VALUES, Collector, CollectorSpec, Encoded, RecordedError
from .collector import error_text as _error_text
from .errors import RecordingError
from .runrows import as_json, component_spec, insert_model, pid_namespace, versions

__all__ = [
    "FLUSH_BYTES", "FLUSH_S", "RECENT_BYTES", "RECENT_VALUES", "CollectorSpec", "Encoded", "RecordedError", "Recorder",
    "default_log_path", "new_run_id", "resolve_log_path",
]

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


def _import_for_matching() -> None:
    import pyarrow  # noqa: F401
    import pyarrow.compute  # noqa: F401

    from . import matching  # noqa: F401


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
        self._collector: Collector | None = None  # the components on this event loop
        self._warm = False  # what the first drain needs is imported
        self._writer: Any = None
        self._host = ""
        # Where each component ran, by id, until the writer takes them.
        self._placements: dict[int, tuple[str | None, str, int, int | None]] = {}
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
        self._host = socket.gethostname()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        where = display(self.path)
        by_name = {c.name: c for c in run.components}
        for channel in sorted(run.channels, key=lambda c: c.id, reverse=True):
            sender = by_name[channel.source_component]
            self._labels[(sender.id, sender.outputs.index(channel.source_port))] = channel.label
        self._ports.update((c.id, (len(c.outputs), len(c.inputs))) for c in run.components)
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
                    self._host, os.getpid(), pid_namespace(), " ".join(self.command), str(self.path.resolve()),
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
        if self._collector is None:
            self._collector = self._local_collector()
        self._collector.start()

    def component_log(self, component: int, offset_ns: int) -> StampLog:
        """The log of a component that runs on this event loop (so in this process)."""
        if self._collector is None:
            self._collector = self._local_collector()
        if not self._warm:
            # Before this event loop's first step, a cost of the start: converting the first
            # drain needs pyarrow, and importing it then (0.11-0.18 s, holding the GIL) paused
            # every component in the middle of the run, which the record showed as every
            # step's wait for its inputs (dict-20 of bench/recording.py, read from its log as
            # bench/pauses.py does: a 180 ms pause in a 707 ms run). Components that run elsewhere never come here:
            # their driver imports it on a thread while their actors start (collector_spec).
            self._warm = True
            _import_for_matching()
        log = self._collector.component_log(component, offset_ns)
        self.placed(component, self._host or socket.gethostname(), os.getpid(), None, 0)
        return log

    def component_ended(self, log: StampLog) -> None:
        pass  # the next drain reads log.finished

    def run_ended(self, status: str, error: BaseException | None) -> None:
        if self._writer is None or self.status != "running":
            return
        from .writer import Ending

        try:
            if self._collector is not None:
                self._collector.flush(final=True)
            else:
                self._write_parts([], True)
        finally:
            # A value that could not be encoded fails the run, even one found at the end (the
            # writer's thread encodes the last batch: wait for it).
            self._writer.wait_converted()
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

    # --- components that run elsewhere ------------------------------------------------------
    def collector_spec(self) -> CollectorSpec:
        """What a process that runs some of this run's components needs to build their
        :class:`Collector` (picklable); its parts come back through :meth:`accept`."""
        if self._writer is None:
            raise RecordingError(
                f"run {self.run_id!r}: collector_spec() before the run started; call it after run_started()"
            )
        # Parts will come from elsewhere while this process mostly waits (its actors start
        # for a second or more): import what matching them needs now, off the event loop,
        # rather than at the first accept, in the middle of the run (0.1-0.15 s on 2 cores).
        threading.Thread(target=_import_for_matching, name="tapeflow-warm-imports", daemon=True).start()
        return CollectorSpec(self.fallback, dict(self._ports), dict(self._labels))

    def accept(self, parts: list[Drained]) -> None:
        """Parts a collector in another process drained (unpickled here), in the order that
        collector drained them, between ``run_started`` and ``run_ended``; call on the event
        loop's thread. They go to the same writer as this process's own; a receiver's part
        may come before the part of the sender whose values it consumed."""
        if self._writer is None or self.status != "running":
            when = "before the run started" if self._writer is None else f"after the run ended ({self.status})"
            raise RecordingError(
                f"run {self.run_id!r}: recorded parts arrived {when}; hand them to accept() between run_started() and run_ended()"
            )
        if parts:
            self._write_parts(parts, False, ordered=False)

    def placed(
        self, component_id: int, host: str, pid: int, node_id: str | None = None, clock_offset_ns: int | None = None
    ) -> None:
        """Where component ``component_id`` runs: ``host``, ``pid``, the cluster node's id
        (``None``: not on a cluster) and that node's wall clock minus this process's in ns
        (``None``: not measured). A component that runs on this event loop is placed by
        :meth:`component_log`; placing one again replaces its row."""
        self._placements[component_id] = (node_id, host, pid, clock_offset_ns)  # the next parts take it

    # --- drained parts ---------------------------------------------------------------------
    def _local_collector(self) -> Collector:
        # portable=False: the parts stay in this process, errors are rendered by the writer.
        return Collector(CollectorSpec(self.fallback, self._ports, self._labels), self._write_parts, portable=False)

    def _write_parts(self, parts: list[Drained], final: bool, *, ordered: bool = True) -> None:
        from .writer import Batch

        if self._placements:
            self._writer.place(self._placements)
            self._placements = {}
        self._writer.put(Batch(parts=parts, final=final, ordered=ordered))
        unrecorded = self._writer.unrecordable
        if unrecorded is not None and self._stop_sent is None and not final:
            self._stop_sent = unrecorded
            if self._stop is not None:
                self._stop(unrecorded)
