"""Ctrl-C on `tapeflow run --process ray`: the actors stop after their steps in progress,
every destroy() runs, the log says so, and the CLI exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

PARTS = '''
import os, time
from pathlib import Path
from tapeflow import IO, Component


class Ticker(Component):
    """Counts up forever, 1 ms of blocking work per step; at step 50 it writes its pid into
    the FIFO the test reads (a handshake: an actor does not inherit the test's pipes)."""
    io = IO(outputs=["n"])

    def __init__(self, fifo: str, **kwargs):
        super().__init__(**kwargs)
        self.fifo, self.n = fifo, -1

    async def step(self):
        if self.n == 50:
            with open(self.fifo, "w") as f:
                f.write(str(os.getpid()))
        time.sleep(0.001)  # the step's work (it blocks its loop), not a wait: the test waits on the FIFO
        self.n += 1
'''

MODEL = """
tapeflow:
  process:
    args:
      components:
      - {{type: parts.Ticker, args: {{name: src, fifo: "{fifo}"}}}}
      - {{type: tapeflow.engine.library.FileWriter, args: {{name: out, path: out.csv, field_names: [n]}}}}
      connectors:
      - {{source: src.n, target: out.n}}
"""


@pytest.mark.timeout(120)
def test_ctrl_c_stops_the_actors_and_exits_130(tmp_path: Path) -> None:
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    (tmp_path / "parts.py").write_text(PARTS)
    (tmp_path / "model.yaml").write_text(MODEL.format(fifo=fifo))
    env = {k: v for k, v in os.environ.items() if k not in ("TAPEFLOW_LOG", "TAPEFLOW_RECORD", "RAY_ADDRESS")}
    child = subprocess.Popen(
        [sys.executable, "-m", "tapeflow.cli", "run", "model.yaml", "--process", "ray"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        int(fifo.read_text())  # blocks until the actor has taken 50 steps (it writes its pid)
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, err
    assert "interrupted by SIGINT; every component's destroy() ran" in err
    # The FileWriter's destroy() ran in its actor: its rows are on disk, as many as the log has.
    rows = (tmp_path / "out.csv").read_text().splitlines()[1:]
    with duckdb.connect(str(tmp_path / "tapeflow.duckdb"), read_only=True) as con:
        status, error = con.execute("SELECT status, error FROM runs").fetchone()  # type: ignore[misc]
        steps = con.execute("SELECT count(*) FROM steps WHERE component = 'out' AND status = 'ok'").fetchone()
    assert (status, error) == ("failed", "interrupted by SIGINT; the run stopped after the steps in progress")
    assert steps == (len(rows),) and len(rows) >= 50
