"""`tapeflow run`'s recording switches, as a user meets them: the CLI in an empty folder with
none of tapeflow's environment variables set, then a look at what the folder holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MODEL = """
tapeflow:
  process:
    args:
      components:
      - {type: parts.Count, args: {name: src, n: 3}}
      - {type: tapeflow.engine.library.FileWriter, args: {name: out, path: out.csv, field_names: [x]}}
      connectors:
      - {source: src.x, target: out.x}
"""

PARTS = '''
from tapeflow import IO, Component


class Count(Component):
    io = IO(outputs=["x"])

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        self.n, self.x = n, 0

    async def step(self):
        if self.x == self.n:
            await self.io.close()
        self.x += 1
'''


def tapeflow_run(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    (folder / "model.yaml").write_text(MODEL)
    (folder / "parts.py").write_text(PARTS)
    clean = {k: v for k, v in os.environ.items() if k not in ("TAPEFLOW_LOG", "TAPEFLOW_RECORD")}
    return subprocess.run(
        [sys.executable, "-m", "tapeflow.cli", "run", "model.yaml", *args],
        cwd=folder, env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "__pycache__")


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--no-record"], {}), ([], {"TAPEFLOW_RECORD": "0"}), (["--no-record"], {"TAPEFLOW_RECORD": "1"})],
    ids=["--no-record", "TAPEFLOW_RECORD=0", "--no-record beats TAPEFLOW_RECORD=1"],
)
def test_each_switch_alone_writes_no_log(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    result = tapeflow_run(tmp_path, *args, **env)
    assert result.returncode == 0, result.stderr
    assert files(tmp_path) == ["model.yaml", "out.csv", "parts.py"]
    assert "recorded as run" not in result.stdout


def test_by_default_the_log_is_tapeflow_duckdb_here(tmp_path: Path) -> None:
    result = tapeflow_run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert files(tmp_path) == ["model.yaml", "out.csv", "parts.py", "tapeflow.duckdb"]
    assert "recorded as run r" in result.stdout and " in tapeflow.duckdb (tapeflow runs; " in result.stdout


def test_an_explicit_record_wins_over_the_environment(tmp_path: Path) -> None:
    result = tapeflow_run(tmp_path, "--record", "--log", "runs/here.duckdb", TAPEFLOW_RECORD="0")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs" / "here.duckdb").is_file()
    assert "tapeflow.duckdb" not in files(tmp_path)


def test_tilde_in_tapeflow_log_is_home_for_writer_and_reader(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    result = tapeflow_run(work, HOME=str(home), TAPEFLOW_LOG="~/x.duckdb")
    assert result.returncode == 0, result.stderr
    assert (home / "x.duckdb").is_file() and not (work / "~").exists()
    clean = {k: v for k, v in os.environ.items() if k not in ("TAPEFLOW_LOG", "TAPEFLOW_RECORD")}
    runs = subprocess.run(
        [sys.executable, "-m", "tapeflow.cli", "runs"], cwd=work, env={**clean, "HOME": str(home), "TAPEFLOW_LOG": "~/x.duckdb"},
        capture_output=True, text=True, timeout=60,
    )
    assert runs.returncode == 0, runs.stderr
    assert "completed" in runs.stdout


@pytest.mark.parametrize(
    ("log", "first_line"),
    [
        ("/dev/null", "/dev/null: not a regular file (a character device); pass --log with a file path such as ./tapeflow.duckdb"),
        (":memory:", ":memory:: an in-memory log keeps nothing; pass --log with a file path, or --no-record to run unrecorded"),
        ("sub", "sub: is a folder; pass --log with a file inside it, such as sub/tapeflow.duckdb"),
        ("garbage.duckdb", "garbage.duckdb: not a DuckDB file (it starts with 'not a log at all'); pass --log with a tapeflow log or a new file name"),
    ],
)
def test_a_log_that_cannot_be_written_stops_the_run_before_any_init(tmp_path: Path, log: str, first_line: str) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "garbage.duckdb").write_text("not a log at all\n")
    result = tapeflow_run(tmp_path, "--log", log)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [first_line]
    assert not (tmp_path / "out.csv").exists()  # the FileWriter's init() never ran
