"""The examples run through the ``tapeflow`` command, from another folder, as a user runs them."""

from __future__ import annotations

import csv
import datetime
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def tapeflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tapeflow.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


@pytest.mark.parametrize("model", ["tutorial/model.yaml", "tutorial/seed.yaml"])
def test_tutorial_model_runs_and_writes_one_timestamp_per_iteration(tmp_path: Path, model: str) -> None:
    result = tapeflow("run", str(EXAMPLES / model), "--no-record", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "save-results: wrote 20 rows to ray.csv" in result.stdout
    with open(tmp_path / "ray.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    stamps = [datetime.datetime.fromisoformat(r["timestamp"]) for r in rows]
    assert len(stamps) == 20 and stamps == sorted(stamps)


def test_loop_model_runs_and_compounds(tmp_path: Path) -> None:
    result = tapeflow("run", str(EXAMPLES / "loop" / "savings.yaml"), "--no-record", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "savings.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    balance = 1000.0
    for month, row in enumerate(rows, start=1):
        balance = balance * 1.01 + 100.0
        assert int(row["month"]) == month
        assert float(row["balance"]) == pytest.approx(balance)
    assert len(rows) == 24


@pytest.mark.parametrize("model", ["tutorial/model.yaml", "tutorial/seed.yaml", "loop/savings.yaml"])
def test_examples_validate_and_draw(tmp_path: Path, model: str) -> None:
    assert tapeflow("validate", str(EXAMPLES / model), cwd=tmp_path).returncode == 0
    diagram = tapeflow("diagram", str(EXAMPLES / model), cwd=tmp_path)
    assert diagram.returncode == 0 and diagram.stdout.startswith("flowchart LR\n")
    assert list(tmp_path.iterdir()) == []  # neither command touched an output file
