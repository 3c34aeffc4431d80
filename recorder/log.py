"""Reading the log: runs, one run's tables as DuckDB relations, SQL, decoded payloads.

A reader opens the file read-only, waiting a few seconds if a writer is flushing (a writer
holds the file for one flush at a time). Runs still marked ``running`` whose process is gone
are marked ``crashed`` (see :func:`_stale`).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import schema
from .codec import decode
from .connection import busy_holder, check_blocks, check_log_path, connect, damaged, display, is_damage
from .errors import LogError
from .recorder import resolve_log_path
from .runrows import pid_namespace

__all__ = ["Log", "RecordedRun", "open_log"]

WAIT_S = 5.0
# A running run's writer thread stamps heartbeat_ns every HEARTBEAT_S (writer.py, 2 s), even
# while the event loop is blocked: ten missed beats and it is taken for gone.
STALE_S = 20.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(rows: list[tuple[Any, ...]]) -> list[str]:
    """The ids of the ``(id, host, pid, pid_ns, heartbeat_ns)`` runs whose process is gone.

    A pid means a process only inside its PID namespace: a reader on the same host and in the
    same namespace asks the pid (dead: crashed at once, which is how a SIGKILLed run reads as
    crashed; alive: running, however old its heartbeat, since a live writer may be kept from
    beating by another program holding the file). Anyone else (another host, another
    namespace such as another container, a run of schema 2 that did not record its namespace)
    goes by the heartbeat: none for ``STALE_S`` and the run is gone.
    """
    host = socket.gethostname()
    namespace = pid_namespace()
    now = time.time_ns()
    dead = []
    for run_id, run_host, pid, pid_ns, heartbeat in rows:
        # Where there are no PID namespaces (not Linux), the host alone says whose pid it is.
        same_ns = pid_ns == namespace and (pid_ns is not None or sys.platform != "linux")
        if run_host == host and same_ns and pid is not None:
            if not _alive(pid):
                dead.append(run_id)
        elif heartbeat is None or now - heartbeat > STALE_S * 1e9:
            dead.append(run_id)
    return dead


def _open(path: Path, *, read_only: bool) -> Any:
    import duckdb

    try:
        return connect(str(path), read_only=read_only, wait_s=WAIT_S)
    except duckdb.Error as error:  # connect raises others' refusals as LogError itself
        holder = busy_holder(error) or "another process"
        raise LogError(
            f"{display(path)}: the log is held by {holder} for more than {WAIT_S:.0f}s "
            "(a run's writer holds it only while flushing, so this is another program keeping it open, "
            "such as a duckdb shell); close that connection and try again"
        ) from error


def open_log(path: str | os.PathLike[str] | None = None) -> Log:
    """Open the log at ``path`` (default: ``$TAPEFLOW_LOG``, else ``./tapeflow.duckdb``) for reading."""
    return Log(resolve_log_path(path))


class Log:
    """A read-only view of a log file; close it (or use ``with``) to let writers in again."""

    def __init__(self, path: Path) -> None:
        import duckdb

        self.path = path
        self.where = display(path)
        check_log_path(path, writable=False)
        self.con = _open(path, read_only=True)
        try:
            check_blocks(self.con, path)
            schema.check_version(self.con, self.where, writable=False)
            self._mark_crashed()
        except duckdb.Error as error:  # opened, but its tables cannot be read
            self.con.close()
            raise damaged(self.where, error) from error
        except BaseException:
            self.con.close()
            raise

    def _mark_crashed(self) -> None:
        running = "SELECT id, host, pid, pid_ns, heartbeat_ns FROM runs WHERE status = 'running'"
        if not _stale(self.con.execute(running).fetchall()):
            return
        # A reader may write this one fix: the process that should have written it is gone.
        # Best effort: if another process holds the file, the runs read as running this time.
        self.con.close()
        try:
            con = _open(self.path, read_only=False)
        except LogError:
            con = None
        if con is not None:
            try:
                # Judged again with the file held: a heartbeat may have come in meanwhile.
                dead = _stale(con.execute(running).fetchall())
                if dead:
                    con.execute(
                        "UPDATE runs SET status = 'crashed', ended_ns = heartbeat_ns, "
                        "error = 'the recording process (pid ' || pid || ' on ' || host || ') ended without closing the run; "
                        "rows flushed before then are kept' WHERE status = 'running' AND list_contains(?, id)",
                        [dead],
                    )
            finally:
                con.close()
        self.con = _open(self.path, read_only=True)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, sql: str, params: Any = None) -> Any:
        """A DuckDB relation for ``sql``, one statement over the log's tables and views
        (``None`` for a statement with no result). Errors met fetching it: :meth:`read_error`."""
        import duckdb

        try:
            statements = len(self.con.extract_statements(sql))
            if statements == 1:
                return self.con.sql(sql, params=params)
        except duckdb.Error as error:
            raise self.read_error(error) from error
        if statements == 0:
            raise LogError('query: no SQL statement given; pass one, such as "SELECT * FROM run_summary"')
        raise LogError(f"query: {statements} statements given; pass one statement per query (run tapeflow query once for each)")

    def read_error(self, error: BaseException) -> LogError:
        """A DuckDB error met reading this log, as one line: the file is damaged, or the query
        is wrong (``query: …``, with the tables and views there are)."""
        if is_damage(error):
            return damaged(self.where, error)
        return LogError(f"query: {str(error).splitlines()[0]}; tables: runs, components, channels, messages, steps; "
                        f"views: {', '.join(schema.VIEW_NAMES)}")

    def runs(self, limit: int | None = None) -> Any:
        """``run_summary`` rows, newest first, as a DuckDB relation."""
        sql = "SELECT * FROM run_summary ORDER BY started_ns DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.con.sql(sql)

    def run(self, run_id: str) -> RecordedRun:
        """The run with id ``run_id``, or with an id that ``run_id`` is a unique prefix of."""
        matches = [r[0] for r in self.con.execute("SELECT id FROM runs WHERE starts_with(id, ?) ORDER BY id", [run_id]).fetchall()]
        if run_id in matches:
            return RecordedRun(self, run_id)
        if len(matches) == 1:
            return RecordedRun(self, matches[0])
        if matches:
            raise LogError(f"run {run_id!r}: ambiguous in {self.where}; it starts {len(matches)} runs: {', '.join(matches[:8])}; type more of the id")
        recent = self.con.execute("SELECT id, status FROM runs ORDER BY started_ns DESC LIMIT 5").fetchall()
        listing = ", ".join(f"{i} ({s})" for i, s in recent) if recent else "none (the log is empty)"
        raise LogError(f"run {run_id!r} not found in {self.where}; recent runs: {listing}")


class RecordedRun:
    """One recorded run; its tables are DuckDB relations (``.df()``, ``.arrow()``, ``.fetchall()``)."""

    def __init__(self, log: Log, run_id: str) -> None:
        self.log = log
        self.id = run_id
        cur = log.con.execute("SELECT * FROM runs WHERE id = ?", [run_id])
        cols = [d[0] for d in cur.description]
        row = cur.fetchall()[0]
        self.info: dict[str, Any] = dict(zip(cols, row))

    @property
    def status(self) -> str:
        return str(self.info["status"])

    def _table(self, name: str, order: str) -> Any:
        # The id was read from the log, so quoting it into SQL is safe.
        return self.log.con.sql(f"SELECT * EXCLUDE (run_id) FROM {name} WHERE run_id = '{self.id}' ORDER BY {order}")

    @property
    def components(self) -> Any:
        return self._table("components", "id")

    @property
    def channels(self) -> Any:
        return self._table("channels", "id")

    @property
    def messages(self) -> Any:
        return self._table("messages", "channel, seq")

    @property
    def steps(self) -> Any:
        return self._table("steps", "component, step")

    def channel_id(self, channel: int | str) -> int:
        """A channel's id from its id or its label ``'a.y -> b.x'``."""
        rows = self.log.con.execute(
            "SELECT id, source_component || '.' || source_port || coalesce(' -> ' || target_component || '.' || target_port, '') "
            "FROM channels WHERE run_id = ? ORDER BY id", [self.id]
        ).fetchall()
        for cid, label in rows:
            if channel == cid or channel == label:
                return int(cid)
        labels = ", ".join(repr(label) for _, label in rows) or "none"
        raise LogError(f"run {self.id!r}: no channel {channel!r}; channels are: {labels}")

    def component_spec(self, name: str) -> dict[str, Any]:
        """How component ``name`` was built, exactly as it was passed (``components.spec``):
        ``{"args": [...], "kwargs": {...}, "parameters": {...}, "initial_values": {...}}``."""
        rows = self.log.con.execute("SELECT name, spec FROM components WHERE run_id = ? ORDER BY id", [self.id]).fetchall()
        for found, blob in rows:
            if found != name:
                continue
            if blob is None:
                raise LogError(
                    f"run {self.id!r}: component {name!r} has no spec (recorded before log schema 3); "
                    "its args, parameters and initial_values columns hold them as JSON"
                )
            spec: dict[str, Any] = decode(blob)
            return spec
        import difflib

        names = [found for found, _ in rows]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        listing = ", ".join(repr(n) for n in names) or "none"
        raise LogError(f"run {self.id!r}: no component {name!r}; {hint}components are: {listing}")

    def payloads(self, channel: int | str | None = None) -> list[Any]:
        """Decoded payloads in (channel, seq) order, of one channel or all."""
        return [value for _, _, value in self.iter_messages(channel)]

    def iter_messages(self, channel: int | str | None = None) -> Iterator[tuple[int, int, Any]]:
        """``(channel, seq, payload)`` decoded, in (channel, seq) order."""
        sql = f"SELECT channel, seq, payload FROM messages WHERE run_id = '{self.id}'"
        if channel is not None:
            sql += f" AND channel = {self.channel_id(channel)}"
        cur = self.log.con.cursor().execute(sql + " ORDER BY channel, seq")
        while rows := cur.fetchmany(10_000):
            for ch, seq, blob in rows:
                yield ch, seq, decode(blob)
