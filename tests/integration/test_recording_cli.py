"""``tapeflow runs`` and ``tapeflow query`` (registered on a bare Typer app, as cli.py does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tapeflow import IO, AsyncioConnector, Component, ConnectorSpec, LocalProcess
from tapeflow.logcmd import register
from tapeflow.recording import tap_for
from tapeflow.recorder import open_log

app = typer.Typer()


class Source(Component):
    io = IO(outputs=["x"])

    async def init(self) -> None:
        self.left = [1, 2, 3]

    async def step(self) -> None:
        if not self.left:
            await self.io.close()
            return
        self.x = self.left.pop(0)


class Collect(Component):
    io = IO(inputs=["x"])


@app.callback()
def _root() -> None:
    pass


register(app)
runner = CliRunner()


@pytest.fixture
async def recorded(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "log.duckdb"
    recorder = tap_for(record=True, log=path, command=["tapeflow", "run", "model.yaml"])
    process = LocalProcess([Source(name="src"), Collect(name="sink")],
                           [AsyncioConnector(ConnectorSpec(source="src.x", target="sink.x"))], name="tiny", tap=recorder)
    async with process:
        await process.run()
    return path, recorder.run_id


def test_runs_lists_the_run(recorded: tuple[Path, str]) -> None:
    path, run_id = recorded
    result = runner.invoke(app, ["runs", "--log", str(path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if run_id in line)
    assert line.split()[:3] == [run_id, "tiny", "completed"]
    assert line.split()[-2:] == ["7", "3"]  # steps, messages
    with open_log(path) as log:
        assert log.run(run_id).info["command"] == "tapeflow run model.yaml"


def test_query_prints_csv_and_json(recorded: tuple[Path, str]) -> None:
    path, run_id = recorded
    sql = "SELECT component, steps FROM component_time ORDER BY component"
    result = runner.invoke(app, ["query", sql, "--log", str(path), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["component,steps", "sink,3", "src,4"]
    result = runner.invoke(app, ["query", "SELECT seq, payload FROM messages ORDER BY seq LIMIT 1", "--log", str(path), "-f", "json"])
    # Blobs print as hex; an int column is stored in msgpack's 9-byte int64 form (see writer.py).
    assert json.loads(result.output) == [{"seq": 0, "payload": "0xd30000000000000001"}]
    result = runner.invoke(app, ["query", "SELECT count(*) AS n FROM steps", "--log", str(path)])
    assert result.exit_code == 0 and "7" in result.output


def test_user_errors_are_one_line_and_exit_2(recorded: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = recorded
    result = runner.invoke(app, ["query", "SELECT * FROM nope", "--log", str(path)])
    assert result.exit_code == 2
    assert result.output.strip().startswith("query: Catalog Error: Table with name nope does not exist")
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["runs", "--log", str(tmp_path / "missing.duckdb")])
    assert result.exit_code == 2
    assert "missing.duckdb: no log here; record a run first (tapeflow run MODEL), or pass --log PATH" in result.output
    result = runner.invoke(app, ["query", "SELECT 1", "--log", str(path), "--format", "xml"])
    assert result.exit_code == 2 and "--format: unknown format 'xml'; choose table, csv or json" in result.output


async def test_runs_prints_a_model_name_as_written(tmp_path: Path) -> None:
    path = tmp_path / "log.duckdb"
    for name in ("[/]", "[red]x[/]"):
        process = LocalProcess([Source(name="src"), Collect(name="sink")],
                               [AsyncioConnector(ConnectorSpec(source="src.x", target="sink.x"))], name=name, tap=tap_for(record=True, log=path, command=["t"]))
        async with process:
            await process.run()
    result = runner.invoke(app, ["runs", "--log", str(path)])
    assert result.exit_code == 0, result.output
    assert sorted(line.split()[1] for line in result.output.splitlines()[2:]) == ["[/]", "[red]x[/]"]
