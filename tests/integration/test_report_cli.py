"""``tapeflow report``, ``trace`` and ``calibrate`` end to end, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest



def tapeflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tapeflow.cli", *args], capture_output=True, text=True, timeout=50, env=env)


def test_report_prints_the_tables_the_path_and_the_verdicts(recorded_diamond: tuple[Path, str, dict[str, str]]) -> None:
    _, run_id, env = recorded_diamond
    done = tapeflow("report", run_id, "--cpus", "2", env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for text in ("components", "channels", "src.x -> left.x", "makespan", "work T1", "span T∞", "critical path",
                 "predicted on RayProcess", "does not pay off", "messaging would dominate", "one-off: starting Ray",
                 "note: using built-in message and start costs"):
        assert text in out
    assert not any(line != line.rstrip() for line in out.splitlines())


def test_report_json(recorded_diamond: tuple[Path, str, dict[str, str]]) -> None:
    _, run_id, env = recorded_diamond
    done = tapeflow("report", run_id, "--format", "json", "--cpus", "1", "--cpus", "4", "--connector", "zmq", "--what-if", "add=2", env=env)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert {"makespan_s", "work_s", "span_s", "critical_path", "predictions"} <= set(found)
    assert [(p["cpus"], p["connector"]) for p in found["predictions"]] == [(1, "zmq"), (4, "zmq")]
    assert {"cpus", "connector", "makespan_s", "speedup", "verdict"} <= set(found["predictions"][0])
    assert found["what_if"] == {"add": 2.0}


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["report", "nope"], "run 'nope' not found in "),
        (["report", "RUN", "--what-if", "ad=2"], "--what-if: run 'RUN' has no component 'ad'; did you mean 'add'?"),
        (["report", "RUN", "--format", "xml"], "--format: unknown format 'xml'; choose table or json"),
        (["trace", "RUN", "--steps", "9:3"], "--steps '9:3': expected A:B with 0 <= A < B"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(recorded_diamond: tuple[Path, str, dict[str, str]], args: list[str], line: str) -> None:
    _, run_id, env = recorded_diamond
    done = tapeflow(*[run_id if a == "RUN" else a for a in args], env=env)
    assert done.returncode == 2
    assert done.stderr.startswith(line.replace("RUN", run_id)), done.stderr
    assert "Traceback" not in done.stderr


def test_trace_writes_a_chrome_trace(recorded_diamond: tuple[Path, str, dict[str, str]], tmp_path: Path) -> None:
    _, run_id, env = recorded_diamond
    out = tmp_path / "t.json"
    done = tapeflow("trace", run_id, "-o", str(out), "--limit", "40", env=env)
    assert done.returncode == 0, done.stderr
    assert "left out 111 steps" in done.stdout
    assert json.loads(out.read_text())["otherData"]["steps"] == 40


@pytest.mark.usefixtures("ray_session")
def test_calibrate_measures_on_ray_and_the_report_uses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tapeflow.replay.calibrate import load, measure, store

    monkeypatch.setenv("TAPEFLOW_CALIBRATION", str(tmp_path / "calibration.json"))
    found = measure(messages=300, rounds=20, spin_steps=3)
    assert set(found.connectors) == {"ray", "zmq"}
    cpus = os.cpu_count() or 1
    for cost in found.connectors.values():
        assert cost.message_s > 0 and cost.latency_s >= 0 and cost.step_s >= 0
        assert cost.first_s >= 0 and 0 <= cost.overhead_cores <= cpus
        # The engine's work inside a tiny step's window, which its replay alone lacks: some, and
        # less than a whole recorded tiny step (0.5-0.7 µs here; 10 µs leaves room for a slow CI).
        assert 0 < cost.window_s < 10e-6
    assert found.actor_start_s > 0
    assert found.notes and found.notes[0].startswith("Ray was already running")
    store(found)
    again = load()
    assert again.measured and again.connectors == found.connectors
