"""The writer's policy: what goes into which write, and what it asks of the event loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recorded_models import Collect, Pass, Source, wire
from tapeflow import LocalProcess
from tapeflow.recorder import Recorder, open_log
from tapeflow.recorder import writer as writer_module


def count_writes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every connection the writer opens (one per write), with the settings it asked for."""
    opened: list[dict[str, Any]] = []
    real = writer_module.connect

    def connect(path: str, **kwargs: Any) -> Any:
        opened.append(kwargs)
        return real(path, **kwargs)

    monkeypatch.setattr(writer_module, "connect", connect)
    return opened


async def record(path: Path, n: int) -> Recorder:
    recorder = Recorder(path)
    components = [Source(name="src", values=list(range(n))), Pass(name="p"), Collect(name="sink")]
    await LocalProcess(components, [wire("src.x", "p.x"), wire("p.y", "sink.x")], tap=recorder).run()
    return recorder


async def test_the_last_rows_and_the_run_s_ending_go_into_one_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The close waits for one write, not a write of the last rows and then one of the ending,
    even when the last rows are due at once (GATHER_S 0)."""
    monkeypatch.setattr(writer_module, "GATHER_S", 0.0)
    opened = count_writes(monkeypatch)
    recorder = await record(tmp_path / "log.duckdb", 5)
    assert len(opened) == 1
    assert opened[0]["settings"] == {"write_buffer_row_group_count": 1} and opened[0]["threads"] == 1
    with open_log(tmp_path / "log.duckdb") as log:
        run = log.run(recorder.run_id)
        assert run.status == "completed"
        assert log.query("SELECT count(*) FROM messages WHERE run_id = $1", [recorder.run_id]).fetchall() == [(10,)]


async def test_drained_batches_are_converted_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Turning a drained batch into Arrow tables takes tens of milliseconds for a large one:
    done on the event loop, it paused every component, and the record showed the pause."""
    import threading

    from tapeflow.recorder import collector

    monkeypatch.setattr(collector, "FLUSH_S", 0.001)  # many drains
    converted_on: list[str] = []
    real_tables = writer_module.Writer._tables

    def tables(self: Any, batch: Any) -> Any:
        converted_on.append(threading.current_thread().name)
        return real_tables(self, batch)

    monkeypatch.setattr(writer_module.Writer, "_tables", tables)
    recorder = await record(tmp_path / "log.duckdb", 5_000)
    assert converted_on and set(converted_on) == {f"tapeflow-converter-{recorder.run_id}"}
    with open_log(tmp_path / "log.duckdb") as log:
        assert log.query("SELECT count(*) FROM messages WHERE run_id = $1", [recorder.run_id]).fetchall() == [(10_000,)]


async def test_a_writer_behind_keeps_the_log_open_across_writes_and_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the next batch is already queued, the writer keeps its connection for the next
    write (checkpointing each one) instead of closing and opening the file again; every row
    lands, and the file is free once the run has ended."""
    import queue

    from tapeflow.recorder import collector

    monkeypatch.setattr(collector, "FLUSH_S", 0.001)  # many drains, each a batch
    monkeypatch.setattr(writer_module, "WRITE_ROWS", 1)  # every batch a write of its own
    monkeypatch.setattr(writer_module, "HOLD_S", 60.0)
    monkeypatch.setattr(queue.Queue, "empty", lambda self: False)  # always behind
    opened = count_writes(monkeypatch)
    writes: list[int] = []
    real_write = writer_module.Writer._write

    def write(self: Any, con: Any, tables: Any, ending: Any) -> None:
        writes.append(id(con))
        real_write(self, con, tables, ending)

    monkeypatch.setattr(writer_module.Writer, "_write", write)
    recorder = await record(tmp_path / "log.duckdb", 20_000)
    monkeypatch.undo()
    assert len(writes) >= 3, writes
    assert len(opened) == 1 and len(set(writes)) == 1
    with open_log(tmp_path / "log.duckdb") as log:
        run = log.run(recorder.run_id)
        assert run.status == "completed"
        assert log.query("SELECT count(*) FROM messages WHERE run_id = $1", [recorder.run_id]).fetchall() == [(40_000,)]
        assert log.query("SELECT count(*) FROM steps WHERE run_id = $1", [recorder.run_id]).fetchall() == [(60_001,)]
