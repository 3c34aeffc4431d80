"""SIGINT and SIGTERM end a `tapeflow run` cleanly, as a user sends them: a real signal to a
real child process, with the model, its outputs and its log in an empty folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PARTS = '''
import os, time
from pathlib import Path
from tapeflow import IO, Component


class Ticker(Component):
    """Counts up forever, blocking the loop 1 ms per step; notes step 100 in a file."""
    io = IO(outputs=["n"])

    def __init__(self, marker: str, block_s: float = 0.001, **kwargs):
        super().__init__(**kwargs)
        self.marker, self.block_s, self.n = Path(marker), block_s, -1

    async def step(self):
        if self.n == 100:
            self.marker.write_text("ready")
        time.sleep(self.block_s)
        self.n += 1


class Blocker(Component):
    """Its first step blocks the event loop for a long time (a long computation)."""
    io = IO(outputs=["n"])

    def __init__(self, marker: str, block_s: float, **kwargs):
        super().__init__(**kwargs)
        self.marker, self.block_s, self.n = Path(marker), block_s, 0

    async def step(self):
        self.marker.write_text("blocking")
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


def start(folder: Path, kind: str, block_s: float) -> subprocess.Popen[str]:
    (folder / "parts.py").write_text(PARTS)
    (folder / "model.yaml").write_text(MODEL.format(kind=kind, marker=folder / "marker", block_s=block_s))
    env = user_env()
    return subprocess.Popen(
        [sys.executable, "-m", "tapeflow.cli", "run", "model.yaml"],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell may have started the tests with SIGINT ignored; a user's terminal does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(path: Path, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while not path.exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)  # polling a file the model writes, with a deadline


def finish(child: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return child.communicate(timeout=20)
    finally:
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
    child = start(tmp_path, "Ticker", 0.001)
    wait_for(tmp_path / "marker", child)
    child.send_signal(signal.SIGTERM)
    stdout, stderr = finish(child)
    assert child.returncode == 143, stderr
    assert stderr == "interrupted by SIGTERM; every component's destroy() ran\n"
    assert "recorded as run r" in stdout
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert rows[0] == "n" and len(rows) > 100  # the writer's destroy() flushed its rows
    status, error, row = recorded(tmp_path)
    assert (status, error) == ("failed", "interrupted by SIGTERM; the run stopped after the steps in progress")
    assert row["out_steps"] == len(rows) - 1  # every row written is a step in the log


def test_first_ctrl_c_stops_at_the_end_of_a_blocking_step(tmp_path: Path) -> None:
    child = start(tmp_path, "Blocker", 1.0)
    wait_for(tmp_path / "marker", child)
    child.send_signal(signal.SIGINT)
    stdout, stderr = finish(child)
    assert child.returncode == 130, stderr
    assert stderr == "interrupted by SIGINT; every component's destroy() ran\n"
    assert (tmp_path / "destroyed").read_text() == str(child.pid)
    assert (tmp_path / "out.csv").read_text() == "n\n1\n"  # the blocking step ended, its value was written
    assert recorded(tmp_path)[:2] == ("failed", "interrupted by SIGINT; the run stopped after the steps in progress")


def test_second_ctrl_c_forces_without_warnings(tmp_path: Path) -> None:
    child = start(tmp_path, "Blocker", 120.0)
    wait_for(tmp_path / "marker", child)
    child.send_signal(signal.SIGINT)
    started = time.monotonic()
    while time.monotonic() - started < 0.2 and child.poll() is None:
        time.sleep(0.01)  # give the first signal time to be handled before the second
    child.send_signal(signal.SIGINT)
    stdout, stderr = finish(child)
    assert child.returncode == 130, stderr
    assert stderr == "interrupted by SIGINT; every component's destroy() ran\n"
    assert (tmp_path / "destroyed").read_text() == str(child.pid)
    assert recorded(tmp_path)[0] == "failed"
