"""Which runs still marked ``running`` a reader marks ``crashed`` (recorder/log.py ``_stale``).

A pid names a process only inside its PID namespace: readers in another namespace (another
container on the same host name) go by the heartbeat alone."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from tapeflow.recorder import open_log
from tapeflow.recorder import log as log_module
from tapeflow.recorder.runrows import pid_namespace
from tapeflow.recorder.schema import create

# Above the largest pid_max Linux allows (2**22): never a live process.
DEAD_PID = 2**22 + 7
LIVE_PID = os.getpid()
OTHER_NS = "pid:[1]"


def fresh() -> int:
    return time.time_ns()


def stale() -> int:
    return time.time_ns() - int((log_module.STALE_S + 5) * 1e9)


def status_after_reading(path: Path, host: str, pid: int, pid_ns: str | None, heartbeat_ns: int) -> str:
    con = duckdb.connect(str(path))
    try:
        create(con, str(path))
        con.execute(
            "INSERT INTO runs (id, status, started_ns, heartbeat_ns, host, pid, pid_ns) VALUES ('rtest', 'running', ?, ?, ?, ?, ?)",
            [heartbeat_ns - 1000, heartbeat_ns, host, pid, pid_ns],
        )
    finally:
        con.close()
    with open_log(path) as log:  # opening is what marks
        return log.run("rtest").status


@pytest.mark.skipif(pid_namespace() is None, reason="needs Linux PID namespaces (/proc/self/ns/pid)")
@pytest.mark.parametrize(
    ("case", "pid", "pid_ns", "heartbeat", "expected"),
    [
        ("other namespace, dead pid, fresh heartbeat", DEAD_PID, OTHER_NS, fresh, "running"),
        ("other namespace, stale heartbeat", DEAD_PID, OTHER_NS, stale, "crashed"),
        ("other namespace, a pid alive here, stale heartbeat", LIVE_PID, OTHER_NS, stale, "crashed"),
        ("same namespace, dead pid, fresh heartbeat", DEAD_PID, "same", fresh, "crashed"),
        ("same namespace, live pid, fresh heartbeat", LIVE_PID, "same", fresh, "running"),
        ("same namespace, live pid, stale heartbeat (a writer kept from the file)", LIVE_PID, "same", stale, "running"),
        ("namespace not recorded (schema 2), dead pid, fresh heartbeat", DEAD_PID, None, fresh, "running"),
        ("namespace not recorded (schema 2), stale heartbeat", DEAD_PID, None, stale, "crashed"),
    ],
)
def test_a_run_on_this_host(tmp_path: Path, case: str, pid: int, pid_ns: str | None, heartbeat: Callable[[], int], expected: str) -> None:
    ns = pid_namespace() if pid_ns == "same" else pid_ns
    assert status_after_reading(tmp_path / "log.duckdb", socket.gethostname(), pid, ns, heartbeat()) == expected, case


@pytest.mark.parametrize(("heartbeat", "expected"), [(fresh, "running"), (stale, "crashed")])
def test_a_run_on_another_host_goes_by_its_heartbeat(tmp_path: Path, heartbeat: Callable[[], int], expected: str) -> None:
    status = status_after_reading(tmp_path / "log.duckdb", "elsewhere.invalid", LIVE_PID, pid_namespace(), heartbeat())
    assert status == expected


def test_a_crashed_run_says_which_process_ended(tmp_path: Path) -> None:
    path = tmp_path / "log.duckdb"
    assert status_after_reading(path, "elsewhere.invalid", DEAD_PID, OTHER_NS, stale()) == "crashed"
    with open_log(path) as log:
        assert log.run("rtest").info["error"] == (
            f"the recording process (pid {DEAD_PID} on elsewhere.invalid) ended without closing the run; rows flushed before then are kept"
        )


def test_the_staleness_threshold_is_ten_heartbeats() -> None:
    from tapeflow.recorder.writer import HEARTBEAT_S

    assert log_module.STALE_S == 10 * HEARTBEAT_S


async def test_a_live_run_marked_crashed_by_mistake_is_taken_back_by_its_heartbeat(tmp_path: Path) -> None:
    import asyncio

    import duckdb

    from tapeflow import IO, Component, LocalProcess
    from tapeflow.recorder import Recorder, open_log

    path = tmp_path / "log.duckdb"
    marked = asyncio.Event()

    class Waits(Component):
        io = IO(outputs=["x"])

        async def step(self) -> None:
            await marked.wait()
            await self.io.close()

    recorder = Recorder(path)
    process = LocalProcess([Waits(name="w")], tap=recorder)
    async with process:
        task = asyncio.create_task(process.run())
        await asyncio.sleep(0)  # the run is started; nothing is written until its heartbeat
        con = duckdb.connect(str(path))
        con.execute("UPDATE runs SET status = 'crashed', error = 'a reader guessed wrong' WHERE id = ?", [recorder.run_id])
        con.close()
        recorder._writer._guard(recorder._writer._beat)  # one heartbeat, as the writer thread sends
        with open_log(path) as log:
            info = log.run(recorder.run_id).info
            assert (info["status"], info["error"]) == ("running", None)
        marked.set()
        await task
    with open_log(path) as log:
        assert log.run(recorder.run_id).status == "completed"
