"""A value that cannot be recorded, late in a run, as a user meets it from the CLI: the run
stops at that step with one line naming the channel and the step (exit 2), every earlier row
is in the log, the run reads failed, and the advice it gives (--no-record) works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PARTS = '''
from tapeflow import IO, Component


class Texts(Component):
    io = IO(outputs=["x"])

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.i = 0

    async def step(self):
        if self.i == 1000:
            await self.io.close()
            return
        self.x = "\\udc80" if self.i == 500 else f"v{self.i}"  # a lone surrogate: no UTF-8 for it
        self.i += 1


class Keep(Component):
    io = IO(inputs=["x"])

    async def step(self):
        pass
'''

MODEL = """
tapeflow:
  process:
    args:
      components:
      - {type: parts.Texts, args: {name: src}}
      - {type: parts.Keep, args: {name: sink}}
      connectors:
      - {source: src.x, target: sink.x}
"""


def tapeflow(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TAPEFLOW_LOG", "TAPEFLOW_RECORD")}
    return subprocess.run([sys.executable, "-m", "tapeflow.cli", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=60)


def test_a_late_unrecordable_value_stops_the_run_at_its_step_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "parts.py").write_text(PARTS)
    (tmp_path / "model.yaml").write_text(MODEL)
    result = tapeflow(tmp_path, "run", "model.yaml")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0].startswith(
        "channel 'src.x -> sink.x', step 500: cannot record payload of type builtins.str "
        "('utf-8' codec can't encode character '\\udc80' in position 0: surrogates not allowed); send msgpack-able values"
    )
    assert result.stderr.splitlines()[0].endswith("or run unrecorded (--no-record, TAPEFLOW_RECORD=0, or tap=None)")
    query = tapeflow(
        tmp_path, "query", "--format", "json",
        "SELECT r.status, (SELECT count(*) FROM steps s WHERE s.run_id = r.id AND s.component = 'src') AS src_steps,"
        " (SELECT count(*) FROM messages m WHERE m.run_id = r.id) AS messages FROM runs r",
    )
    assert query.returncode == 0, query.stderr
    assert json.loads(query.stdout) == [{"status": "failed", "src_steps": 501, "messages": 500}]
    # The advice works: unrecorded, the same model runs to its end and writes no log.
    (tmp_path / "tapeflow.duckdb").unlink()
    again = tapeflow(tmp_path, "run", "model.yaml", "--no-record")
    assert again.returncode == 0, again.stderr
    assert not (tmp_path / "tapeflow.duckdb").exists()
