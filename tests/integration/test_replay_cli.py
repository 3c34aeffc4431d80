"""``tapeflow replay`` end to end, as a user runs it: record an example with ``tapeflow run``,
replay it, change the code, see the first divergence; every user error is one line, exit 2."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"


def tapeflow(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tapeflow.cli", *args], capture_output=True, text=True, timeout=50, input=stdin)


def record(model: Path) -> str:
    ran = tapeflow("run", str(model))
    found = re.search(r"recorded as run (r\w+)", ran.stdout)
    assert found, ran.stdout + ran.stderr
    return found.group(1)


@pytest.fixture
def savings(tmp_path: Path) -> tuple[Path, str]:
    """The savings loop copied into a folder of its own, recorded there."""
    folder = tmp_path / "loop"
    shutil.copytree(EXAMPLES / "loop", folder)
    return folder, record(folder / "savings.yaml")


def test_every_component_of_the_savings_loop_replays_equal(savings: tuple[Path, str]) -> None:
    _, run_id = savings
    Path("savings.csv").unlink()  # what the run wrote here
    result = tapeflow("replay", run_id)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(rf"replaying run {run_id} of tapeflow\.duckdb in scratch folder \S+tapeflow-replay-\w+", lines[0])
    assert lines[1:4] == [
        f"component 'calendar' (savings.Calendar): equal to run '{run_id}' (25 steps, 48 output values compared)",
        f"component 'account' (savings.Account): equal to run '{run_id}' (24 steps, 24 output values compared)",
        f"component 'save' (tapeflow.engine.library.file_io.FileWriter): equal to run '{run_id}' (24 steps, 0 output values compared)",
    ]
    assert "recorded/alone" in result.stdout
    # The FileWriter wrote its savings.csv in the scratch folder, not here.
    assert lines[-1].startswith("the components left files in ") and lines[-1].endswith(": savings.csv")
    assert sorted(p.name for p in Path.cwd().iterdir()) == ["tapeflow.duckdb"]


def test_the_tutorial_model_replays_equal_but_for_its_clock(tmp_path: Path) -> None:
    run_id = record(EXAMPLES / "tutorial" / "model.yaml")
    result = tapeflow("replay", run_id, "--ignore", "timestamp", "--format", "json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["ok"] and [c["outcome"] for c in found["components"]] == ["equal"] * 5
    sleep = next(c for c in found["components"] if c["component"] == "very-slow-sleep")
    assert sleep["timing"]["wall_ns"]["p50"] > 90_000_000  # it sleeps 0.1 s a step, alone too


def test_a_changed_interest_formula_shows_the_first_divergence(savings: tuple[Path, str]) -> None:
    folder, run_id = savings
    code = folder / "savings.py"
    code.write_text(code.read_text().replace("self.balance_in * (1 + self._rate) + self.deposit", "(self.balance_in + self.deposit) * (1 + self._rate)"))
    result = tapeflow("replay", run_id, "--component", "account")
    assert result.returncode == 1
    assert result.stdout.splitlines()[1:3] == [
        f"component 'account' (savings.Account): diverges from run '{run_id}' at step 0, output 'balance': recorded 1110.0, replayed 1111.0",
        "  inputs at step 0: deposit=100.0, balance_in=1000.0",
    ]
    as_json = json.loads(tapeflow("replay", run_id, "-c", "account", "--format", "json").stdout)
    assert as_json["components"][0]["divergence"] == {
        "step": 0, "kind": "value", "port": "balance", "recorded": "1110.0", "replayed": "1111.0", "path": None,
        "recorded_error": None, "replayed_error": None, "inputs": {"deposit": "100.0", "balance_in": "1000.0"},
    }


MODEL = """
from tapeflow import IO, Component

class Count(Component):
    io = IO(outputs=["x"])
    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n, self.i = n, 0
    async def step(self):
        if self.i == self.n:
            await self.io.close()
            return
        self.x = self.i
        self.i += 1

class Sink(Component):
    io = IO(inputs=["y"])

class Invert(Component):
    io = IO(inputs=["x"], outputs=["y"])
    async def step(self):
        self.y = 1 / (self.x - 3)
"""

YAML = """
tapeflow:
  process:
    args:
      components:
      - {type: parts.Count, args: {name: count, n: 6}}
      - {type: parts.Invert, args: {name: invert}}
      - {type: parts.Sink, args: {name: sink}}
      connectors:
      - {source: count.x, target: invert.x}
      - {source: invert.y, target: sink.y}
"""


@pytest.fixture
def crashing(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "parts.py").write_text(MODEL)
    (tmp_path / "model.yaml").write_text(YAML)
    ran = tapeflow("run", str(tmp_path / "model.yaml"))
    assert ran.returncode == 1
    found = re.search(r"recorded as run (r\w+)", ran.stdout + ran.stderr)
    assert found
    return tmp_path, found.group(1)


def test_a_recorded_crash_is_reproduced_from_the_log_alone(crashing: tuple[Path, str]) -> None:
    _, run_id = crashing
    result = tapeflow("replay", run_id, "-c", "invert")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == (
        f"component 'invert' (parts.Invert): reproduces the failure of run '{run_id}' at step 3: "
        "ZeroDivisionError: division by zero (4 steps, 3 output values compared)"
    )


def test_pdb_at_step_k_has_the_inputs_set(savings: tuple[Path, str]) -> None:
    _, run_id = savings
    result = tapeflow("replay", run_id, "-c", "account", "--step", "2", "--pdb", stdin="p self.balance_in, self.deposit\nc\n")
    assert result.returncode == 0, result.stderr
    assert "(Pdb) (1221.1, 100.0)" in result.stdout


def test_until_stops_after_step_k(savings: tuple[Path, str]) -> None:
    _, run_id = savings
    result = tapeflow("replay", run_id, "-c", "account", "--until", "4")
    assert result.returncode == 0
    assert result.stdout.splitlines()[1] == (
        f"component 'account' (savings.Account): equal to run '{run_id}' up to step 4, where --until stopped it (5 steps, 5 output values compared of 24)"
    )


def one_line(result: subprocess.CompletedProcess[str], started: bool = False) -> str:
    """The one line on stderr of a user error; ``started``: found once the replay had begun
    (stdout then has its first line, naming the scratch folder)."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stdout.splitlines()) == (1 if started else 0), result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_user_errors_are_one_line_each(savings: tuple[Path, str], tmp_path: Path) -> None:
    folder, run_id = savings
    assert one_line(tapeflow("replay", run_id, "--log", str(tmp_path / "none.duckdb"))).endswith(
        "none.duckdb: no log here; record a run first (tapeflow run MODEL), or pass --log PATH"
    )
    assert one_line(tapeflow("replay", "r0zzz")) == f"run 'r0zzz' not found in tapeflow.duckdb; recent runs: {run_id} (completed)"
    assert one_line(tapeflow("replay", run_id, "-c", "acount")) == (
        f"run '{run_id}': no component 'acount'; did you mean 'account'? components are: 'calendar', 'account', 'save'"
    )
    assert one_line(tapeflow("replay", run_id, "--tolerance", "tight")) == (
        "--tolerance: expected numbers REL or REL,ABS (such as 1e-9 or 1e-9,1e-12), got 'tight'; pass REL or REL,ABS, such as 1e-9 or 1e-9,1e-12"
    )
    assert one_line(tapeflow("replay", run_id, "--format", "xml")) == "--format: unknown format 'xml'; choose table or json"
    assert one_line(tapeflow("replay", run_id, "--step", "1")) == (
        f"--step: stops one component; pass --component NAME (run '{run_id}' has: 'calendar', 'account', 'save')"
    )
    code = folder / "savings.py"
    code.write_text(code.read_text().replace("def __init__(self, rate: float,", "def __init__(self, rate: float, fee: float,"))
    assert one_line(tapeflow("replay", run_id, "-c", "account")) == (
        f"component 'account' (savings.Account) of run '{run_id}': the constructor no longer takes the recorded arguments "
        "(missing a required argument: 'fee'); recorded: Account(name='account', rate=0.01, initial_values={'balance_in': [1000.0]}); "
        "replay with the code the run was recorded with, or record the run again"
    )
    code.rename(folder / "renamed.py")
    assert one_line(tapeflow("replay", run_id, "-c", "account")) == (
        f"component 'account' (savings.Account) of run '{run_id}': class 'savings.Account' no longer imports "
        "(ModuleNotFoundError: No module named 'savings'); run the replay from the model's folder, or pass --path with the folder of its module"
    )


def test_a_log_of_a_newer_schema_is_refused(savings: tuple[Path, str]) -> None:
    _, run_id = savings
    import duckdb

    con = duckdb.connect("tapeflow.duckdb")
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    assert one_line(tapeflow("replay", run_id)) == (
        "tapeflow.duckdb: written by a newer tapeflow (log schema 99, this tapeflow reads 5); upgrade tapeflow, or pass --log with another file"
    )


def test_payloads_recorded_as_text_are_refused(tmp_path: Path) -> None:
    script = tmp_path / "textonly.py"
    script.write_text(textwrap.dedent("""
        import asyncio
        from tapeflow import IO, AsyncioConnector, Component, ConnectorSpec, LocalProcess
        from tapeflow.recorder import Recorder

        class Send(Component):
            io = IO(outputs=["x"])
            async def step(self):
                if getattr(self, "x", None) is not None:
                    await self.io.close()
                    return
                self.x = object()

        class Take(Component):
            io = IO(inputs=["x"])

        if __name__ == "__main__":
            process = LocalProcess([Send(name="send"), Take(name="take")],
                                   [AsyncioConnector(spec=ConnectorSpec(source="send.x", target="take.x"))],
                                   tap=Recorder("tapeflow.duckdb", fallback="repr"))
            asyncio.run(process.run())
            print(process.run_id)
    """))
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=50)
    run_id = ran.stdout.strip()
    line = one_line(tapeflow("replay", run_id, "-c", "take"), started=True)
    assert re.fullmatch(
        rf"component 'take' \(__main__\.Take\) of run '{run_id}': input 'x' at step 0 was recorded as text only "
        r"\(Recorder\(fallback='repr'\)\): <object object at 0x\w+>; it cannot be fed to the component: "
        r"record the run again with msgpack-able values or Recorder\(fallback='pickle'\)",
        line,
    )
    # A script that runs a model when imported is never imported by a replay.
    script.write_text(script.read_text().replace('if __name__ == "__main__":', "if True:"))
    assert one_line(tapeflow("replay", run_id, "-c", "take")) == (
        f"component 'take' (__main__.Take) of run '{run_id}': class '__main__.Take' is in script {script}, which runs code when "
        "imported (line 17: if True:); put that code under if __name__ == \"__main__\":, or move the class into a module"
    )


def test_a_model_run_as_a_python_script_replays_equal() -> None:
    ran = subprocess.run([sys.executable, str(EXAMPLES / "loop" / "savings.py"), "out.csv"], capture_output=True, text=True, timeout=50)
    assert ran.returncode == 0, ran.stderr
    run_id = tapeflow("query", "SELECT id FROM runs", "--format", "csv").stdout.split()[-1]
    result = tapeflow("replay", run_id)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2] == f"component 'account' (__main__.Account): equal to run '{run_id}' (24 steps, 24 output values compared)"


def query(sql: str) -> list[list[str]]:
    out = tapeflow("query", sql, "--format", "csv")
    assert out.returncode == 0, out.stderr
    return [line.split(",") for line in out.stdout.splitlines()[1:]]


def test_record_writes_the_replay_as_one_run_of_its_own(savings: tuple[Path, str]) -> None:
    _, run_id = savings
    runs_before = query("SELECT id, status FROM runs ORDER BY id")
    assert tapeflow("replay", run_id, "-c", "account").returncode == 0
    assert query("SELECT id, status FROM runs ORDER BY id") == runs_before  # without --record: nothing written
    result = tapeflow("replay", run_id, "-c", "account", "--record")
    assert result.returncode == 0, result.stderr
    found = re.fullmatch(
        rf"recorded the replay as run (r\w+) \(process_kind 'replay', replay_of {run_id}\) in tapeflow\.duckdb", result.stdout.splitlines()[-1]
    )
    assert found, result.stdout
    replay_id = found.group(1)
    assert query("SELECT id, process_kind, replay_of, status FROM runs WHERE id <> " f"'{run_id}'") == [[replay_id, "replay", run_id, "completed"]]
    assert query(f"SELECT component, count(*), sum(blocked_ns) FROM steps WHERE run_id = '{replay_id}' GROUP BY ALL") == [["account", "24", "0"]]
    assert query(f"SELECT count(*) FROM steps WHERE run_id = '{run_id}' AND component = 'account'") == [["24"]]
    # The report reads it: its one component's steps alone, no channels.
    report = tapeflow("report", replay_id)
    assert report.returncode == 0, report.stderr
    assert report.stdout.splitlines()[0] == f"run {replay_id} in tapeflow.duckdb (replay, completed)"
    # And replaying the replay's run says what to replay instead.
    assert one_line(tapeflow("replay", replay_id)) == (
        f"run '{replay_id}' is a recorded replay of run '{run_id}': it holds step times, not inputs; replay run '{run_id}' instead"
    )


TEE = """
from tapeflow import IO, Component

class Count(Component):
    io = IO(outputs=["x"])
    async def step(self):
        self.i = getattr(self, "i", 0) + 1
        if self.i > 3:
            await self.io.close()
            return
        self.x = self.i

class Tee(Component):
    io = IO(inputs=["x"], outputs=["y", "total"])
    async def step(self):
        self.y = self.x
        self.total = getattr(self, "total", 0) + self.x

class Sink(Component):
    io = IO(inputs=["y"])
"""

TEE_YAML = """
tapeflow:
  process:
    args:
      components:
      - {type: tee.Count, args: {name: count}}
      - {type: tee.Tee, args: {name: tee}}
      - {type: tee.Sink, args: {name: sink}}
      connectors:
      - {source: count.x, target: tee.x}
      - {source: tee.y, target: sink.y}
"""


def test_an_output_with_no_connector_is_compared(tmp_path: Path) -> None:
    (tmp_path / "tee.py").write_text(TEE)
    (tmp_path / "model.yaml").write_text(TEE_YAML)
    run_id = record(tmp_path / "model.yaml")
    assert tapeflow("replay", run_id, "-c", "tee").stdout.splitlines()[1] == (
        f"component 'tee' (tee.Tee): equal to run '{run_id}' (3 steps, 6 output values compared)"
    )
    (tmp_path / "tee.py").write_text(TEE.replace("getattr(self, \"total\", 0) + self.x", "getattr(self, \"total\", 0) + 2 * self.x"))
    result = tapeflow("replay", run_id, "-c", "tee")
    assert result.returncode == 1
    assert result.stdout.splitlines()[1] == f"component 'tee' (tee.Tee): diverges from run '{run_id}' at step 0, output 'total': recorded 1, replayed 2"
