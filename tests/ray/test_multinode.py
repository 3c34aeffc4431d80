"""Across the nodes of a Ray cluster, on this one machine: Ray's own multi-node test cluster
(``ray.cluster_utils.Cluster``, two nodes) in a fresh interpreter (``multinode_run.py``), since
this test session's Ray is already running in this process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


def cluster_run(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE / "multinode_run.py"), *args], capture_output=True, text=True, timeout=150, cwd=HERE
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.timeout(180)
def test_channels_and_the_log_across_two_nodes() -> None:
    result = cluster_run()
    head, worker = result["nodes"]["head"], result["nodes"]["worker"]
    for connector in ("ray", "zmq"):
        run = result[connector]
        assert run["status"] == "completed"
        assert run["kept"] == [2 * i for i in range(200)]
        assert run["messages"] == [[0, 200], [1, 200]]
        # Where each component ran is in the log: pinned by custom resources to either node.
        nodes = {name: node for name, node, _host in run["placements"]}
        assert nodes == {"count": head, "double": worker, "keep": head}, connector


@pytest.mark.timeout(180)
def test_a_node_that_dies_ends_the_run_naming_its_component() -> None:
    run = cluster_run("fault")["ray"]
    assert run["status"] == "failed"
    assert run["error"].startswith("component 'double' (ray_models.HangAt): its Ray actor died (host ")
    # Every message up to the failure is kept: the source sent at least the 41 values the
    # doomed component took before it blocked.
    assert run["messages"][0][0] == 0 and run["messages"][0][1] >= 41
