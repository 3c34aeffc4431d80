"""RayProcess on a real local Ray: the same outputs as LocalProcess on every connector, the
same error shapes, a dead actor ends the run, and one log for the whole run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from ray_models import Add, Count, Double, FailAt, HangAt, Keep

from tapeflow import (
    AsyncioConnector,
    ComponentError,
    Connector,
    ConnectorSpec,
    LocalProcess,
    NotAvailableError,
    ProcessError,
    RayConnector,
    RayProcess,
    ZMQConnector,
)
from tapeflow.recorder import Recorder

pytestmark = pytest.mark.usefixtures("ray_session")

CONNECTORS = {"ray": RayConnector, "zmq": ZMQConnector}


def model(tmp: Path, kind: type[Connector], n: int = 300) -> tuple[list[Any], list[Connector]]:
    """Fan-out, fan-in, two inputs and a source that ends: the semantics that can go wrong
    between processes."""
    components = [
        Count(name="count", n=n),
        Count(name="other", n=n // 3),
        Double(name="double"),
        Add(name="add"),
        Keep(name="sums", path=str(tmp / "sums.json")),
        Keep(name="merged", path=str(tmp / "merged.json")),
    ]
    wires = [
        ("count.x", "double.x"),
        ("count.x", "add.a"),
        ("double.y", "add.b"),
        ("add.y", "sums.x"),
        ("double.y", "merged.x"),
        ("other.x", "merged.x"),
    ]
    return components, [kind(spec=ConnectorSpec(source=s, target=t)) for s, t in wires]


def kept(path: Path) -> list[Any]:
    seen: list[Any] = json.loads(path.read_text())["seen"]
    return seen


@pytest.mark.parametrize("connector", sorted(CONNECTORS))
async def test_same_outputs_as_local_process(tmp_path: Path, connector: str) -> None:
    (tmp_path / "local").mkdir()
    (tmp_path / "ray").mkdir()
    local = LocalProcess(*model(tmp_path / "local", AsyncioConnector), tap=None)
    await local.run()
    remote = RayProcess(*model(tmp_path / "ray", CONNECTORS[connector]), tap=None)
    await remote.run()

    assert kept(tmp_path / "ray" / "sums.json") == kept(tmp_path / "local" / "sums.json") == [3 * i for i in range(300)]
    # Fan-in interleaves by arrival: the same values, each sender's in its own order.
    merged = kept(tmp_path / "ray" / "merged.json")
    assert sorted(merged) == sorted(kept(tmp_path / "local" / "merged.json"))
    assert [v for v in merged if v % 2] == [i for i in range(100) if i % 2]
    assert remote.step_counts == local.step_counts
    assert remote.progress() == remote.step_counts  # what the CLI's live progress line reads
    # Every component ran in an actor of its own, none in this process.
    pids = {json.loads((tmp_path / "ray" / f).read_text())["pid"] for f in ("sums.json", "merged.json")}
    assert len(pids) == 2 and os.getpid() not in pids


async def test_a_source_stops_when_its_receivers_are_gone(tmp_path: Path) -> None:
    process = RayProcess(
        [Count(name="forever", n=None), Keep(name="first", path=str(tmp_path / "first.json"), most=25)],
        [RayConnector(spec=ConnectorSpec(source="forever.x", target="first.x"))],
        tap=None,
    )
    await process.run()
    assert kept(tmp_path / "first.json") == list(range(25))


def test_an_asyncio_connector_is_refused_before_anything_starts() -> None:
    with pytest.raises(ProcessError) as raised:
        RayProcess(
            [Count(name="a", n=3), Double(name="b")],
            [AsyncioConnector(spec=ConnectorSpec(source="a.x", target="b.x"))],
            tap=None,
        )
    assert str(raised.value) == (
        "process 'RayProcess': RayProcess runs each component in its own actor, and AsyncioConnector "
        "cannot cross between actors ('a.x -> b.x'); use RayConnector or ZMQConnector, or run the model "
        "on LocalProcess"
    )


async def test_a_failing_step_fails_the_run_as_it_does_locally(tmp_path: Path) -> None:
    log = tmp_path / "log.duckdb"
    process = RayProcess(
        [Count(name="count", n=100), FailAt(name="picky", at=7), Keep(name="keep", path=str(tmp_path / "k.json"))],
        [
            RayConnector(spec=ConnectorSpec(source="count.x", target="picky.x")),
            RayConnector(spec=ConnectorSpec(source="picky.y", target="keep.x")),
        ],
        tap=Recorder(log),
    )
    with pytest.raises(ComponentError) as raised:
        await process.run()
    assert str(raised.value) == (
        "component 'picky' (ray_models.FailAt) failed in step 7: ValueError: value 7 is not welcome here"
    )
    assert isinstance(raised.value.__cause__, ValueError)
    notes = "\n".join(getattr(raised.value, "__notes__", []))
    assert "in the Ray actor of 'picky'" in notes and "ray_models.py" in notes
    with duckdb.connect(str(log), read_only=True) as con:
        status, error = con.execute("SELECT status, error FROM runs").fetchone()  # type: ignore[misc]
        failed = con.execute("SELECT step, error FROM steps WHERE status = 'failed'").fetchall()
        sent = con.execute("SELECT count(*) FROM messages WHERE channel = 1").fetchone()
    assert status == "failed" and error == str(raised.value)
    assert failed == [(7, "ValueError: value 7 is not welcome here")]
    assert sent == (7,)


async def test_an_actor_that_dies_ends_the_run_naming_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pid"
    os.mkfifo(fifo)
    process = RayProcess(
        [Count(name="count", n=1000), HangAt(name="doomed", at=3, pid_file=str(fifo)), Keep(name="keep", path=str(tmp_path / "k.json"))],
        [
            RayConnector(spec=ConnectorSpec(source="count.x", target="doomed.x")),
            RayConnector(spec=ConnectorSpec(source="doomed.y", target="keep.x")),
        ],
        tap=None,
    )
    running = asyncio.ensure_future(process.run())
    # The component says its pid through the FIFO when it blocks (a handshake, not a timer).
    pid = int(await asyncio.to_thread(fifo.read_text))
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ComponentError, match=r"component 'doomed' \(ray_models.HangAt\): its Ray actor died"):
        await asyncio.wait_for(running, 30)


async def test_zmq_connector_without_pyzmq_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "zmq", None)  # what an install without the extra looks like
    process = RayProcess(*model(tmp_path, ZMQConnector), tap=None)
    with pytest.raises(NotAvailableError) as raised:
        await process.run()
    assert str(raised.value) == "ZMQConnector needs pyzmq, which is not installed: pip install 'tapeflow[zmq]'"


async def test_a_ray_runs_log_replays_like_a_local_ones(tmp_path: Path) -> None:
    """The log of a run across actors means what a local run's means: every component
    replays equal to what it did in its actor."""
    from tapeflow.replay import replay

    log = tmp_path / "log.duckdb"
    process = RayProcess(*model(tmp_path, ZMQConnector, n=60), tap=Recorder(log))
    await process.run()
    assert process.run_id is not None
    result = replay(process.run_id, log=log)
    assert result.ok, result.report()
    equal = [line for line in result.report().splitlines() if f" equal to run {process.run_id!r} " in line]
    assert len(equal) == len(process.components), result.report()


async def test_every_step_is_in_the_log_however_the_last_pull_falls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver pulls the actors' records while the run goes on; the run's end must not
    cancel a pull whose parts the actors have already handed over. Pulling without pause
    makes the end fall inside a pull every time."""
    from tapeflow.engine import ray_process

    monkeypatch.setattr(ray_process, "PULL_S", 0.0)
    log = tmp_path / "log.duckdb"
    for _ in range(3):
        process = RayProcess(*model(tmp_path, ZMQConnector, n=200), tap=Recorder(log))
        await process.run()
        con = duckdb.connect(str(log), read_only=True)
        try:
            recorded = dict(con.execute("SELECT component, count(*) FROM steps WHERE run_id = ? GROUP BY ALL", [process.run_id]).fetchall())
        finally:
            con.close()
        assert recorded == process.step_counts
