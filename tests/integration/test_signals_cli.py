"""SIGINT and SIGTERM end a `tapeflow run` cleanly, as a user sends them: a real signal to a
real child process, with the model, its outputs and its log in an empty folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from handshake import READY_FD, ready_pipe, wait_ready, wait_stderr_line

PARTS = '''
import os, time
from pathlib import Path
from tapeflow import IO, Component


def ready():
    """Tell the test the moment has come (tests/integration/handshake.py)."""
    os.write(int(os.environ["TAPEFLOW_TEST_READY_FD"]), b"ready\\n")


class Ticker(Component):
    """Counts up forever, blocking the loop 1 ms per step (the kind of step under test, not
    a wait); says it is ready at step 100, so rows are being written."""
    io = IO(outputs=["n"])

    def __init__(self, marker: str, block_s: float = 0.001, **kwargs):
        super().__init__(**kwargs)
        self.marker, self.block_s, self.n = Path(marker), block_s, -1

    async def step(self):
        if self.n == 100:
            ready()
        time.sleep(self.block_s)
        self.n += 1


class Blocker(Component):
    """Its first step blocks the event loop for a long time (a long computation: the sleep
    is the behaviour under test); it says so just before."""
    io = IO(outputs=["n"])

    def __init__(self, marker: str, block_s: float, **kwargs):
        super().__init__(**kwargs)
        self.marker, self.block_s, self.n = Path(marker), block_s, 0

    async def step(self):
        ready()
        time.sleep(self.block_s)
        self.n += 1

    async def destroy(self):
        (self.marker.parent / "destroyed").write_text(str(os.getpid()))
'''

MODEL = """
tapeflow:
  process:
    args:
      components:
      - {{type: parts.{kind}, args: {{name: src, marker: "{marker}", block_s: {block_s}}}}}
      - {{type: tapeflow.engine.library.FileWriter, args: {{name: out, path: out.csv, field_names: [n]}}}}
      connectors:
      - {{source: src.n, target: out.n}}
"""


def user_env() -> dict[str, str]:
    """The environment of a user who set none of tapeflow's variables: the log is ./tapeflow.duckdb."""
    return {k: v for k, v in os.environ.items() if k not in ("TAPEFLOW_LOG", "TAPEFLOW_RECORD")}


def start(folder: Path, kind: str, block_s: float) -> tuple[subprocess.Popen[str], int]:
    """The run as a child process, and the pipe end its model says "ready" on."""
    (folder / "parts.py").write_text(PARTS)
    (folder / "model.yaml").write_text(MODEL.format(kind=kind, marker=folder / "marker", block_s=block_s))
    read_fd, write_fd = ready_pipe()
    child = subprocess.Popen(
        [sys.executable, "-m", "tapeflow.cli", "run", "model.yaml"],
        cwd=folder, env={**user_env(), READY_FD: str(write_fd)}, pass_fds=(write_fd,),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell may have started the tests with SIGINT ignored; a user's terminal does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    os.close(write_fd)
    return child, read_fd


def finish(child: subprocess.Popen[str], read_fd: int) -> tuple[str, str]:
    try:
        return child.communicate(timeout=20)
    finally:
        os.close(read_fd)
        if child.poll() is None:
            child.kill()
            child.wait()


def recorded(folder: Path) -> tuple[str, str, dict[str, int]]:
    out = subprocess.run(
        [sys.executable, "-m", "tapeflow.cli", "query", "--format", "json",
         "SELECT r.status, r.error, (SELECT count(*) FROM steps s WHERE s.run_id = r.id AND s.component = 'out') AS out_steps FROM runs r"],
        cwd=folder, env=user_env(), capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    [row] = json.loads(out.stdout)
    return row["status"], row["error"], row


def test_sigterm_ends_the_run_like_ctrl_c_and_exits_143(tmp_path: Path) -> None:
    child, ready = start(tmp_path, "Ticker", 0.001)
    wait_ready(ready, child)
    child.send_signal(signal.SIGTERM)
    stdout, stderr = finish(child, ready)
    assert child.returncode == 143, stderr
    assert stderr == (
        "SIGTERM: stopping after the steps in progress (SIGTERM again to force)\n"
        "interrupted by SIGTERM; every component's destroy() ran\n"
    )
    assert "recorded as run r" in stdout
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert rows[0] == "n" and len(rows) > 100  # the writer's destroy() flushed its rows
    status, error, row = recorded(tmp_path)
    assert (status, error) == ("failed", "interrupted by SIGTERM; the run stopped after the steps in progress")
    assert row["out_steps"] == len(rows) - 1  # every row written is a step in the log


def test_first_ctrl_c_stops_at_the_end_of_a_blocking_step(tmp_path: Path) -> None:
    child, ready = start(tmp_path, "Blocker", 1.0)
    wait_ready(ready, child)
    child.send_signal(signal.SIGINT)
    stdout, stderr = finish(child, ready)
    assert child.returncode == 130, stderr
    assert stderr == (
        "SIGINT: stopping after the steps in progress (SIGINT again to force)\n"
        "interrupted by SIGINT; every component's destroy() ran\n"
    )
    assert (tmp_path / "destroyed").read_text() == str(child.pid)
    assert (tmp_path / "out.csv").read_text() == "n\n1\n"  # the blocking step ended, its value was written
    assert recorded(tmp_path)[:2] == ("failed", "interrupted by SIGINT; the run stopped after the steps in progress")


def test_second_ctrl_c_forces_without_warnings(tmp_path: Path) -> None:
    child, ready = start(tmp_path, "Blocker", 120.0)
    wait_ready(ready, child)
    child.send_signal(signal.SIGINT)
    first = wait_stderr_line(child, "SIGINT: stopping after the steps in progress (SIGINT again to force)")
    child.send_signal(signal.SIGINT)  # the first was taken: this one forces
    stdout, stderr = finish(child, ready)
    assert child.returncode == 130, stderr
    assert first + stderr == (
        "SIGINT: stopping after the steps in progress (SIGINT again to force)\n"
        "interrupted by SIGINT; every component's destroy() ran\n"
    )
    assert (tmp_path / "destroyed").read_text() == str(child.pid)
    assert recorded(tmp_path)[0] == "failed"
