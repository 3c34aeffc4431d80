"""tapeflow.engine.ray_cluster: importing Ray, starting or joining it, and refusing components
that fit on no node. The placement check is pure; the rest runs on the session's real Ray."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tapeflow import NotAvailableError, ProcessError, Resource
from tapeflow.engine.ray_cluster import check_placement, cluster_nodes, ensure_ray, import_ray

GiB = 2**30
LAPTOP = {"CPU": 8.0, "GPU": 0.0, "memory": 16 * GiB, "object_store_memory": 4 * GiB, "node:10.0.0.1": 1.0}
GPU_BOX = {"CPU": 2.0, "GPU": 1.0, "memory": 8 * GiB, "custom_hardware": 2.0}


def test_import_ray_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    with pytest.raises(NotAvailableError, match=r"^RayProcess needs Ray, which is not installed: pip install 'tapeflow\[ray\]'$"):
        import_ray()


def test_components_that_fit_somewhere_pass() -> None:
    check_placement(
        [
            ("small", Resource().to_ray_options()),
            ("big-cpu", Resource(cpu=8, memory="16Gi").to_ray_options()),
            ("gpu", Resource(cpu="500m", gpu=1, resources={"custom_hardware": 2}).to_ray_options()),
            ("half-gpu", Resource(gpu="500m").to_ray_options()),
        ],
        [LAPTOP, GPU_BOX],
    )
    check_placement([], [])


def test_a_gpu_component_on_a_cluster_without_gpus_is_refused() -> None:
    with pytest.raises(ProcessError) as caught:
        check_placement([("gpu-model", Resource(gpu=1).to_ray_options())], [LAPTOP])
    assert str(caught.value) == (
        "component 'gpu-model' asks for cpu=0.001, gpu=1, but no node of the Ray cluster has gpu=1 "
        "(nodes have at most: cpu=8, gpu=0, memory=16 GiB); lower its resources, or run it on a "
        "Ray cluster with a node that has them"
    )


def test_every_component_that_cannot_be_placed_is_named_at_once() -> None:
    requests = [
        ("fits", Resource(cpu=2).to_ray_options()),
        ("huge", Resource(cpu=16, memory="64Gi").to_ray_options()),
        ("special", Resource(resources={"tpu_slice": 1}).to_ray_options()),
        # A GPU and 4 CPUs: each exists on some node, but not both on one.
        ("together", Resource(cpu=4, gpu=1).to_ray_options()),
    ]
    with pytest.raises(ProcessError) as caught:
        check_placement(requests, [LAPTOP, GPU_BOX])
    assert str(caught.value).splitlines() == [
        "component 'huge' asks for cpu=16, memory=64 GiB, but no node of the Ray cluster has cpu=16, memory=64 GiB "
        "(nodes have at most: cpu=8, gpu=1, memory=16 GiB); lower its resources, or run it on a Ray cluster "
        "with a node that has them",
        "component 'special' asks for cpu=0.001, tpu_slice=1, but no node of the Ray cluster has tpu_slice=1 "
        "(nodes have at most: cpu=8, gpu=1, memory=16 GiB, tpu_slice=0); lower its resources, or run it on a "
        "Ray cluster with a node that has them",
        "component 'together' asks for cpu=4, gpu=1, but no node of the Ray cluster has all of that at once "
        "(nodes have at most: cpu=8, gpu=1, memory=16 GiB); lower its resources, or run it on a Ray cluster "
        "with a node that has them",
    ]


def test_memory_is_shown_in_binary_units() -> None:
    with pytest.raises(ProcessError, match=r"asks for cpu=0\.001, memory=1\.5 GiB, .* at most: cpu=1, gpu=0, memory=512 MiB\)"):
        check_placement([("m", Resource(memory="1536Mi").to_ray_options())], [{"CPU": 1.0, "memory": 512 * 2**20}])


def test_no_alive_node() -> None:
    with pytest.raises(
        ProcessError,
        match=r"^Ray cluster: no node is alive, so components 'a', 'b' cannot be placed; "
        r"start a node \(ray start\), or point RAY_ADDRESS at a running cluster$",
    ):
        check_placement([("a", {"num_cpus": 1}), ("b", {"num_cpus": 1})], [])
    with pytest.raises(ProcessError, match=r"^Ray cluster: no node is alive, so component 'a' cannot be placed; "):
        check_placement([("a", {"num_cpus": 1})], [])


# --- on the session's real Ray ---


def test_the_real_cluster_refuses_more_gpus_than_it_has(ray_session: Any) -> None:
    nodes = cluster_nodes()
    assert nodes and all(node["CPU"] >= 1 for node in nodes)
    gpus = max(node.get("GPU", 0.0) for node in nodes) + 1  # one more than any node has, GPU box or not
    with pytest.raises(
        ProcessError,
        match=rf"^component 'gpu-model' asks for cpu=0\.001, gpu={gpus:g}, but no node of the Ray cluster has "
        rf"gpu={gpus:g} \(nodes have at most: cpu=\d+, gpu={gpus - 1:g}, memory=[\d.]+ [KMGT]iB\); lower its "
        r"resources, or run it on a Ray cluster with a node that has them$",
    ):
        check_placement([("gpu-model", Resource(gpu=gpus).to_ray_options())], nodes)


def test_local_ray_listens_on_loopback_only(ray_session: Any) -> None:
    """Every TCP port this process and the Ray processes it started listen on is on 127.0.0.1:
    GCS, raylet, the agents, idle workers and a component's actor (started here, with the
    options Resource gives, so that it has its own server too)."""

    class Probe:
        def pid(self) -> int:
            return os.getpid()

    probe = ray_session.remote(Probe).options(**Resource(cpu="10m", memory="1Mi").to_ray_options()).remote()
    actor_pid = ray_session.get(probe.pid.remote(), timeout=30)
    listening = _listening_sockets(os.getpid())
    ray_session.kill(probe)

    gcs_port = int(ray_session.get_runtime_context().gcs_address.rsplit(":", 1)[1])
    assert any(port == gcs_port for _, _, _, port in listening), listening
    assert actor_pid in {pid for _, pid, _, _ in listening}, listening
    assert [row for row in listening if not _is_loopback(row[2])] == []


def test_ray_address_joins_the_running_cluster(ray_session: Any) -> None:
    ensure_ray()  # already up: used as it is
    node_id = ray_session.get_runtime_context().get_node_id()
    joined = subprocess.run(
        [
            sys.executable,
            "-c",
            "import ray\n"
            "from tapeflow.engine.ray_cluster import ensure_ray\n"
            "ensure_ray()\n"
            "print(ray.get_runtime_context().get_node_id())\n",
        ],
        env={**os.environ, "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address},
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert joined.returncode == 0, joined.stderr
    assert joined.stdout.split() == [node_id]
    assert " INFO " not in joined.stderr, joined.stderr  # quiet: no banner, no connection chatter


def _listening_sockets(root: int) -> list[tuple[str, int, str, int]]:
    """``(command, pid, address, port)`` of every listening TCP socket that ``root`` or one of
    its descendants holds, read from /proc (what ``ss -ltnp`` shows, limited to that tree:
    other Ray clusters on the machine are not this test's business)."""
    if not Path("/proc/net/tcp").exists():
        pytest.skip("reads listening sockets from /proc, which only Linux has")
    by_inode: dict[int, tuple[str, int]] = {}
    for family, table in ((socket.AF_INET, "/proc/net/tcp"), (socket.AF_INET6, "/proc/net/tcp6")):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            address, port = fields[1].split(":")
            # The kernel prints each 32-bit word of the address in host (little-endian) order.
            raw = b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8))
            by_inode[int(fields[9])] = (socket.inet_ntop(family, raw), int(port, 16))
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue  # ended meanwhile
            children.setdefault(parent, []).append(int(entry.name))
    rows, todo = [], [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            command = Path(f"/proc/{pid}/comm").read_text().strip()
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue  # ended meanwhile
        for fd in fds:
            try:
                match = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
            except OSError:
                continue  # closed meanwhile
            if match and int(match.group(1)) in by_inode:
                rows.append((command, pid, *by_inode[int(match.group(1))]))
    return rows


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8 and ::1, and 127.x written as IPv6 (``::ffff:127.0.0.1``: what a dual-stack
    gRPC server bound to 127.0.0.1 shows in /proc/net/tcp6)."""
    address = ipaddress.ip_address(host)
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)
