"""The tutorial's Ray examples run as shipped: the seed model on RayProcess from Python and
from its YAML through the CLI, and the resources example refused where no node has a GPU."""

from __future__ import annotations

import csv
import datetime
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tapeflow import ProcessError, RayConnector
from tapeflow.engine.config import load_process

TUTORIAL = Path(__file__).resolve().parents[2] / "examples" / "tutorial"
TAPEFLOW = Path(sys.executable).with_name("tapeflow")

# What the placement check says about the tutorial's GPUTask on a machine without a GPU.
GPU_REFUSED = r"^component 'gpu-task' asks for cpu=0\.5, gpu=1{extra}, but no node of the Ray cluster has gpu=1{extra} \(nodes have at most: cpu=\d+, gpu=0, memory=[^)]*\); lower its resources, or run it on a Ray cluster with a node that has them$"


def load(name: str) -> ModuleType:
    """An example module by file, as a script would run it (it puts its folder on sys.path)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", TUTORIAL / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timestamps(path: Path) -> list[datetime.datetime]:
    with open(path, newline="") as f:
        return [datetime.datetime.fromisoformat(row["timestamp"]) for row in csv.DictReader(f)]


def no_gpu(ray: Any) -> None:
    if ray.cluster_resources().get("GPU", 0):
        pytest.skip("this Ray cluster has a GPU: the resources example would run, not be refused")


async def test_seed_model_on_ray_writes_one_timestamp_per_iteration(ray_session: Any, tmp_path: Path) -> None:
    model = load("ray_model")
    out = tmp_path / "ray.csv"
    process = model.build(out, tap=None)
    assert {c.kind for c in process.connectors} == {RayConnector.kind}
    async with process:
        await process.run()
    stamps = timestamps(out)
    assert len(stamps) == 20 and stamps == sorted(stamps)
    assert process.step_counts == {"input": 21, "slow-sleep": 20, "very-slow-sleep": 20, "timestamper": 20, "save-results": 20}


def test_seed_yaml_runs_on_ray_through_the_cli_from_another_folder(tmp_path: Path) -> None:
    # An empty working folder: the workers must import hello_ray from the model's folder. The
    # CLI starts its own local Ray (a few seconds), whatever the test session runs.
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "TAPEFLOW_LOG", "TAPEFLOW_RECORD")}
    done = subprocess.run(
        [str(TAPEFLOW), "run", str(TUTORIAL / "seed.yaml"), "--no-record"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ray.csv"]
    stamps = timestamps(tmp_path / "ray.csv")
    assert len(stamps) == 20 and stamps == sorted(stamps)


async def test_resources_example_is_refused_without_a_gpu(ray_session: Any) -> None:
    no_gpu(ray_session)
    # Recorded, as a user runs it: the refusal is in the log as a failed run.
    process = load("resources").build()
    with pytest.raises(ProcessError, match=GPU_REFUSED.format(extra="")):
        async with process:
            await process.run()
    assert process.status == "failed" and process.run_id is not None


async def test_resources_yaml_is_refused_without_a_gpu(ray_session: Any) -> None:
    no_gpu(ray_session)
    process = load_process(TUTORIAL / "resources.yaml")
    process.tap = None
    assert process.name == "resource-example-process"
    assert process.components["cpu-task"].resources.to_ray_options()["memory"] == 512 * 2**20
    with pytest.raises(ProcessError, match=GPU_REFUSED.format(extra=", custom_hardware=2")):
        async with process:
            await process.run()
