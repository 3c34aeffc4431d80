"""Each value is stored once however many messages carried it, and the record is always what
was sent: a value changed in place between sends is a new value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recorded_models import Collect, Pass, Source, wire
from tapeflow import IO, Component, LocalProcess
from tapeflow.recorder import Recorder, open_log


async def record(path: Path, components: list[Component], connectors: list[Any]) -> str:
    recorder = Recorder(path)
    await LocalProcess(components, connectors, tap=recorder).run()
    return recorder.run_id


def counts(path: Path, run_id: str) -> tuple[int, int]:
    with open_log(path) as log:
        [(stored, messages)] = log.query(
            "SELECT (SELECT count(*) FROM payloads p JOIN runs r ON r.key = p.run WHERE r.id = $1),"
            " (SELECT count(*) FROM messages WHERE run_id = $1)", [run_id]
        ).fetchall()
    return stored, messages


def payload_values(n: int, kind: str) -> list[Any]:
    if kind == "bytes":
        return [i.to_bytes(4, "big") * 256 for i in range(n)]
    if kind == "dict":
        return [{f"k{j}": (i, f"v{j}" * 3) for j in range(20)} for i in range(n)]
    np = pytest.importorskip("numpy")
    return [np.full(1000, float(i)) for i in range(n)]


@pytest.mark.parametrize("kind", ["bytes", "dict", "ndarray"])
async def test_a_value_through_pass_through_stages_and_fan_out_is_stored_once(tmp_path: Path, kind: str) -> None:
    values = payload_values(50, kind)
    stages = [Pass(name=f"p{i}") for i in range(5)]
    components = [Source(name="src", values=values), *stages, Collect(name="sink"), Collect(name="tap")]
    connectors = [wire("src.x", "p0.x"), *(wire(f"p{i}.y", f"p{i + 1}.x") for i in range(4)), wire("p4.y", "sink.x"), wire("p2.y", "tap.x")]
    run_id = await record(tmp_path / "log.duckdb", components, connectors)
    assert counts(tmp_path / "log.duckdb", run_id) == (50, 50 * 7)
    with open_log(tmp_path / "log.duckdb") as log:
        run = log.run(run_id)
        for label in ("src.x -> p0.x", "p4.y -> sink.x", "p2.y -> tap.x"):
            got = run.payloads(label)
            if kind == "ndarray":
                assert all((a == b).all() and a.dtype == b.dtype for a, b in zip(got, values, strict=True))
            else:
                assert got == values


class Grower(Component):
    """Sends the same list object every step, appending to it in place in between."""

    io = IO(outputs=["x"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.x: list[int] = []

    async def step(self) -> None:
        if len(self.x) == 5:
            await self.io.close()
            return
        self.x.append(len(self.x))


class Stamp(Component):
    """Mutates what it received before sending it on (what components must not do): the
    record must still say what each message carried when it was sent."""

    io = IO(inputs=["x"], outputs=["y"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.as_sent: list[list[Any]] = []  # copies of what each step sent, as it sent it

    async def step(self) -> None:
        self.x.append("stamped")
        self.y = self.x
        self.as_sent.append(list(self.y))


class Repeat(Component):
    """Sends one unchanged list object on every step."""

    io = IO(outputs=["x"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.x = [1, 2, 3, "a" * 40]
        self.n = 0

    async def step(self) -> None:
        self.n += 1
        if self.n > 4:
            await self.io.close()


async def test_a_value_changed_in_place_between_sends_is_a_new_value(tmp_path: Path) -> None:
    path = tmp_path / "log.duckdb"
    stamp = Stamp(name="s")
    run_id = await record(path, [Grower(name="g"), stamp, Collect(name="sink")], [wire("g.x", "s.x"), wire("s.y", "sink.x")])
    with open_log(path) as log:
        run = log.run(run_id)
        assert run.payloads("g.x -> s.x") == [list(range(k)) for k in range(1, 6)]
        # The same list object, changed in place by both components between sends.
        assert run.payloads("s.y -> sink.x") == stamp.as_sent
        assert len({tuple(v) for v in stamp.as_sent}) == 5


async def test_one_object_sent_unchanged_again_and_again_is_stored_once(tmp_path: Path) -> None:
    path = tmp_path / "log.duckdb"
    run_id = await record(path, [Repeat(name="r"), Collect(name="sink")], [wire("r.x", "sink.x")])
    assert counts(path, run_id) == (1, 4)
    with open_log(path) as log:
        assert log.run(run_id).payloads() == [[1, 2, 3, "a" * 40]] * 4
