"""A replay written into the log as a run of its own (``tapeflow replay --record``), so that
the steps' times alone can be queried with SQL beside the recorded ones.

The replay's run has ``process_kind = 'replay'`` and ``replay_of`` = the replayed run's id; a
``components`` row per replayed component (copied from the replayed run's, renumbered from 0
in replay order), a ``placements`` row each (this process), and a ``step_log`` row per
replayed step. No channels and no messages: the replayed outputs were compared, not kept.

A replay times each step alone, not when it ran (``--repeat`` keeps each step's quickest of
several replays), so its steps are laid end to end from the moment the component's replay
began: ``end_ns - start_ns`` is the step's wall time alone and ``blocked_ns`` is 0 (nothing
waited for inputs), which is what ``steps``, ``component_time`` and ``slowest_steps`` read.
Everything is written in one transaction: a reader sees the whole replay run or none of it.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..recorder.connection import connect, display
from ..recorder.recorder import new_run_id
from ..recorder.runrows import as_json, pid_namespace, versions
from .result import ComponentReplay

__all__ = ["PROCESS_KIND", "ReplayRun"]

PROCESS_KIND = "replay"


class ReplayRun:
    """The run a replay of ``components`` (names, in replay order) of run ``replay_of`` in
    the log at ``path`` writes; :meth:`write` writes it once the replay ended."""

    def __init__(self, path: Path, replay_of: str, components: Sequence[str], command: Sequence[str]) -> None:
        self.path = path
        self.replay_of = replay_of
        self.components = list(components)
        self.command = " ".join(command)
        self.id = new_run_id()
        self.started_ns = time.time_ns()

    def write(self, replays: Sequence[ComponentReplay], error: BaseException | None = None) -> str:
        """Write the run (``completed``, or ``failed`` with ``error``'s line when the replay
        stopped on an unexpected error: then without steps) and return its id."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from ..recorder import schema

        ended_ns = time.time_ns()
        status = "completed" if error is None else "failed"
        error_text = None if error is None else _line(error)
        steps, failures = _step_rows(replays if error is None else [], self.components, self.started_ns, pa, pc)
        # Steps laid end to end can only end before the replay did (each is a part of it),
        # but the run's end should never read as before its last step's.
        last_end = pc.max(steps.column("end_ns")).as_py() if steps.num_rows else None
        ended_ns = max(ended_ns, last_end or 0)
        con = connect(str(self.path), read_only=False, wait_s=None, warn_after_s=5.0)
        try:
            schema.create(con, display(self.path))
            original = con.execute("SELECT process_name, parameters FROM runs WHERE id = ?", [self.replay_of]).fetchall()
            process_name, parameters = original[0] if original else (None, None)
            con.execute("BEGIN")
            (key,) = con.execute(
                "INSERT INTO runs (id, status, started_ns, ended_ns, heartbeat_ns, process_name, process_kind, channel_kind,"
                " config, parameters, versions, host, pid, pid_ns, command, log_path, error, replay_of)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING key",
                [
                    self.id, status, self.started_ns, ended_ns, ended_ns, process_name, PROCESS_KIND, parameters,
                    as_json(versions()), socket.gethostname(), os.getpid(), pid_namespace(), self.command,
                    str(self.path.resolve()), error_text, self.replay_of,
                ],
            ).fetchall()[0]
            # The replayed components' rows as the run recorded them (spec included), numbered
            # in replay order: step_log's component column refers to these ids.
            con.execute(
                "INSERT INTO components SELECT $run, o.new_id, c.name, c.class_path, c.args, c.inputs, c.outputs, c.resources,"
                " c.initial_values, c.parameters, c.spec"
                " FROM components c JOIN (SELECT unnest($names) AS name, unnest($ids) AS new_id) o ON o.name = c.name"
                " WHERE c.run_id = $of ORDER BY o.new_id",
                {"run": self.id, "of": self.replay_of, "names": self.components, "ids": list(range(len(self.components)))},
            )
            con.execute(
                "INSERT INTO placements SELECT $run, unnest($names), NULL, $host, $pid, 0",
                {"run": self.id, "names": self.components, "host": socket.gethostname(), "pid": os.getpid()},
            )
            if steps.num_rows:
                con.register("replay_steps", steps)
                con.execute("INSERT INTO step_log SELECT $key, component, step, start_ns, end_ns, 0 FROM replay_steps", {"key": key})
                con.unregister("replay_steps")
            for component, step, line, text in failures:
                con.execute("INSERT INTO step_failures VALUES (?, ?, ?, 'failed', ?, ?)", [key, component, step, line, text])
            con.execute("COMMIT")
        finally:
            con.close()
        return self.id


def _step_rows(replays: Sequence[ComponentReplay], names: list[str], started_ns: int, pa: Any, pc: Any) -> tuple[Any, list[tuple[int, int, str, str | None]]]:
    """The ``step_log`` rows (an Arrow table: component, step, start_ns, end_ns) and the
    failed steps (component, step, error line, traceback) of ``replays``."""
    tables = []
    failures: list[tuple[int, int, str, str | None]] = []
    start = started_ns
    for found in replays:
        cid = names.index(found.name)
        wall = found.times.wall_ns
        n = len(wall)
        if n:
            # The times array as an Arrow column without copying it value by value.
            durations = pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(wall)])
            ends = pc.add(pc.cumulative_sum(durations), start)
            tables.append(pa.table({
                "component": pc.fill_null(pa.nulls(n, pa.int32()), cid),
                "step": pa.array(range(n), pa.int64()),
                "start_ns": pc.subtract(ends, durations),
                "end_ns": ends,
            }))
            start = ends[-1].as_py()
        failure = _failure(found)
        if failure is not None:
            failures.append((cid, *failure))
    if not tables:
        empty = pa.array([], pa.int64())
        return pa.table({"component": pa.array([], pa.int32()), "step": empty, "start_ns": empty, "end_ns": empty}), failures
    return pa.concat_tables(tables), failures


def _failure(found: ComponentReplay) -> tuple[int, str, str | None] | None:
    """The replayed step that raised, as ``(step, error line, traceback)``: the reproduced
    failure, or the error a divergence raised."""
    divergence = found.divergence
    if found.outcome == "reproduced" and found.failure is not None:
        return found.steps - 1, found.failure, None
    if divergence is not None and divergence.error is not None and divergence.step is not None:
        error = divergence.error
        return divergence.step, _line(error), "".join(traceback.format_exception(error))
    return None


def _line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
