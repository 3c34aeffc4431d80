"""Run by test_multinode.py in a fresh interpreter: a two-node Ray cluster on this machine
(``ray.cluster_utils.Cluster``), a model whose components are pinned to either node by custom
resources, run on each connector and recorded; prints one JSON line of what came out.

With ``fault`` as argument, the node holding the middle component is removed mid-run.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

# Loopback only: the same switch tapeflow's own local Ray uses (see engine/ray_cluster.py).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

import duckdb  # noqa: E402
import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402
from ray_models import Count, Double, HangAt, Keep  # noqa: E402

from tapeflow import ComponentError, ConnectorSpec, RayConnector, RayProcess, ZMQConnector  # noqa: E402
from tapeflow.recorder import Recorder  # noqa: E402


def pinned(component, node):  # type: ignore[no-untyped-def]
    component.resources = component.resources.coerce({"resources": {node: 0.01}}, component.resources)
    return component


async def run(kind: type, folder: Path, fault: bool) -> dict[str, object]:
    log = folder / "log.duckdb"
    fifo = folder / "pid"
    middle = HangAt(name="double", at=40, pid_file=str(fifo)) if fault else Double(name="double")
    process = RayProcess(
        [pinned(Count(name="count", n=200), "head"), pinned(middle, "worker"), pinned(Keep(name="keep", path=str(folder / "keep.json")), "head")],
        [kind(spec=ConnectorSpec(source="count.x", target="double.x")), kind(spec=ConnectorSpec(source="double.y", target="keep.x"))],
        tap=Recorder(log),
    )
    error = None
    if fault:
        os.mkfifo(fifo)
        running = asyncio.ensure_future(process.run())
        await asyncio.to_thread(fifo.read_text)
        CLUSTER.remove_node(WORKER)
        try:
            await asyncio.wait_for(running, 60)
        except ComponentError as raised:
            error = str(raised)
    else:
        await process.run()
    with duckdb.connect(str(log), read_only=True) as con:
        placements = con.execute(
            "SELECT p.component, p.node_id, p.host FROM placements p JOIN components c ON c.run_id = p.run_id AND c.name = p.component ORDER BY c.id"
        ).fetchall()
        messages = con.execute("SELECT channel, count(*) FROM messages GROUP BY channel ORDER BY channel").fetchall()
        status = con.execute("SELECT status FROM runs").fetchone()
    kept = json.loads((folder / "keep.json").read_text())["seen"] if not fault else None
    return {"placements": placements, "messages": messages, "status": status[0] if status else None, "kept": kept, "error": error}


CLUSTER = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "resources": {"head": 1}, "include_dashboard": False})
WORKER = CLUSTER.add_node(num_cpus=2, resources={"worker": 1})


def main() -> None:
    ray.init(address=CLUSTER.address, logging_level="WARNING")
    fault = sys.argv[1:] == ["fault"]
    results = {}
    kinds = {"ray": RayConnector} if fault else {"ray": RayConnector, "zmq": ZMQConnector}
    for name, kind in kinds.items():
        with tempfile.TemporaryDirectory() as folder:
            results[name] = asyncio.run(run(kind, Path(folder), fault))
    results["nodes"] = {name: n["NodeID"] for n in ray.nodes() for name in ("head", "worker") if name in n["Resources"]}
    print(json.dumps(results))
    ray.shutdown()
    CLUSTER.shutdown()


if __name__ == "__main__":
    main()
