"""Recording across processes: a killed run, two runs at once, reading while a run is live."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tapeflow.recorder import LogError, open_log

MODEL = textwrap.dedent(
    """
    import asyncio, sys
    from tapeflow import IO, AsyncioConnector, Component, ConnectorSpec, LocalProcess
    from tapeflow.recorder import Recorder

    class Count(Component):
        io = IO(outputs=["x"])
        def __init__(self, limit, pause, **kwargs):
            super().__init__(**kwargs)
            self.limit, self.pause, self.n = limit, pause, 0
        async def step(self):
            if self.n == self.limit:
                await self.io.close()
                return
            self.x = {"n": self.n, "tag": "payload"}
            self.n += 1
            if self.pause:
                await asyncio.sleep(self.pause)

    class Pass(Component):
        io = IO(inputs=["x"], outputs=["y"])
        async def step(self):
            self.y = self.x

    class Sink(Component):
        io = IO(inputs=["x"])

    async def main(path, run_id, limit, pause):
        process = LocalProcess(
            [Count(name="src", limit=limit, pause=pause), Pass(name="p"), Sink(name="sink")],
            [AsyncioConnector(ConnectorSpec(source="src.x", target="p.x")),
             AsyncioConnector(ConnectorSpec(source="p.y", target="sink.x"))],
            tap=Recorder(path, run_id=run_id))
        async with process:
            await process.run()

    path, run_id, limit, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    asyncio.run(main(path, run_id, None if limit < 0 else limit, pause))
    """
)


def start(tmp_path: Path, run_id: str, limit: int, pause: float) -> subprocess.Popen[bytes]:
    script = tmp_path / "model.py"
    script.write_text(MODEL)
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "log.duckdb"), run_id, str(limit), str(pause)],
                            stderr=subprocess.PIPE)


def poll(check: Callable[[], Any], deadline_s: float = 20.0) -> Any:
    """``check()``'s first truthy result; a short back-off between tries, never a fixed sleep."""
    until = time.monotonic() + deadline_s
    pause = 0.01
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > until:
            raise AssertionError(f"still not true after {deadline_s}s: {check}")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def counts(path: Path, run_id: str) -> tuple[str, int, int] | None:
    if not path.exists():
        return None
    with open_log(path) as log:
        rows = log.query("SELECT status, steps, messages FROM run_summary WHERE id = $1", [run_id]).fetchall()
    return rows[0] if rows else None


@pytest.mark.timeout(60)
def test_a_killed_run_keeps_its_flushed_rows_and_reads_as_crashed(tmp_path: Path) -> None:
    path = tmp_path / "log.duckdb"
    child = start(tmp_path, "rkilled0001", -1, 0.001)
    try:
        # Readers get in while the run is live (the writer holds the file only per flush).
        first = poll(lambda: (c := counts(path, "rkilled0001")) and c[1] > 0 and c)
        later = poll(lambda: (c := counts(path, "rkilled0001")) and c[1] > first[1] and c)
        assert first[0] == later[0] == "running"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with open_log(path) as log:
        run = log.run("rkilled")
        assert run.status == "crashed"
        assert f"the recording process (pid {child.pid} on " in run.info["error"]
        steps = log.query("SELECT count(*) FROM steps WHERE run_id = 'rkilled0001'").fetchall()[0][0]
        assert steps >= later[1]
        payloads = run.payloads("src.x -> p.x")
        assert payloads[:2] == [{"n": 0, "tag": "payload"}, {"n": 1, "tag": "payload"}]
        assert [p["n"] for p in payloads] == list(range(len(payloads)))


@pytest.mark.timeout(60)
def test_two_runs_at_once_into_one_log_are_both_recorded_whole(tmp_path: Path) -> None:
    n = 20_000
    children = [start(tmp_path, f"rtwo{i}", n, 0.0) for i in range(2)]
    for child in children:
        _, err = child.communicate(timeout=50)
        assert child.returncode == 0, err.decode()
    with open_log(tmp_path / "log.duckdb") as log:
        for i in range(2):
            assert log.query("SELECT status, steps, messages FROM run_summary WHERE id = $1", [f"rtwo{i}"]).fetchall() == [
                ("completed", 3 * n + 1, 2 * n)
            ]
            seqs = log.query("SELECT count(DISTINCT (channel, seq)), min(seq), max(seq) FROM messages WHERE run_id = $1", [f"rtwo{i}"]).fetchall()
            assert seqs == [(2 * n, 0, n - 1)]


def test_a_log_held_open_elsewhere_is_reported_not_waited_on_forever(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    from tapeflow.recorder import log as log_module

    path = tmp_path / "log.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(path)!r}); print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        monkeypatch.setattr(log_module, "WAIT_S", 0.3)
        with pytest.raises(LogError, match=r"log.duckdb: the log is held by PID \d+ for more than 0s .*close that connection and try again"):
            open_log(path)
    finally:
        holder.kill()
        holder.wait()
    del duckdb
