"""Messages are derived from steps and sent values: check them against what really happened,
across fan-out, fan-in, initial values, early finishers and many drains."""

from __future__ import annotations

import typing as _t
from pathlib import Path
from typing import Any

from conftest import spy_on_inputs
from recorded_models import Collect, Pass, Source, wire
from tapeflow import IO, Component, ComponentArgsDict, LocalProcess
from tapeflow.engine.tap import StampLog
from tapeflow.recorder import Recorder, open_log


class Add(Component):
    io = IO(inputs=["a", "b"], outputs=["y"])

    async def step(self) -> None:
        self.y = self.a + self.b


class TakeThree(Component):
    io = IO(inputs=["x"])

    def __init__(self, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self.seen: list[Any] = []

    async def step(self) -> None:
        self.seen.append(self.x)
        if len(self.seen) == 3:
            await self.io.close()


class TinyLogs(Recorder):
    """Drains every few steps, so message ends fall into different batches."""

    def component_log(self, component: int, offset_ns: int) -> StampLog:
        log = super().component_log(component, offset_ns)
        log.limit = 3
        return log


def matching_model() -> tuple[list[Component], list[Any]]:
    """Fan-in, fan-out, initial values and an early finisher."""
    components: list[Component] = [
        Source(name="a", values=list(range(40))),
        Source(name="b", values=list(range(100, 125))),
        Pass(name="p"),
        Add(name="add", initial_values={"b": [1000, 2000]}),
        Collect(name="sink"),
        TakeThree(name="take"),
    ]
    connectors = [
        wire("a.x", "p.x"),
        wire("b.x", "p.x"),  # fan-in: p.x merges a and b
        wire("p.y", "add.a"),
        wire("a.x", "add.b"),  # fan-out of a; add.b starts with two initial values
        wire("add.y", "sink.x"),
        wire("add.y", "take.x"),  # take finishes after 3: later values to it are never consumed
    ]
    return components, connectors


async def test_derived_messages_match_what_each_step_received(tmp_path: Path) -> None:
    process = LocalProcess(*matching_model(), tap=TinyLogs(tmp_path / "log.duckdb"))
    seen = spy_on_inputs(process)
    async with process:
        await process.run()
    recorder = process.tap
    assert isinstance(recorder, TinyLogs)
    check_messages(tmp_path / "log.duckdb", recorder.run_id, process, seen)


def check_messages(path: Path, run_id: str, process: Any, seen: dict[tuple[str, int], dict[str, Any]]) -> None:
    """The recorded messages of a run of :func:`matching_model` against what each step saw."""
    with open_log(path) as log:
        run = log.run(run_id)
        targets = dict(run.channels.select("id, target_component || '.' || target_port").fetchall())
        rows = run.messages.select("channel, seq, sender_step, receiver_step, send_ns, receive_ns, consume_ns").fetchall()
        values = {(c, s): v for c, s, v in run.iter_messages()}
        starts = {(c, s): (st, en) for c, s, st, en in run.steps.select("component, step, start_ns, end_ns").fetchall()}
    assert len(values) == len(rows)
    unconsumed = 0
    for channel, seq, sender_step, receiver_step, send_ns, receive_ns, consume_ns in rows:
        assert sender_step == seq
        component, port = targets[channel].split(".")
        if receiver_step is None:
            unconsumed += 1
            assert receive_ns is None and consume_ns is None
            continue
        assert seen[(component, receiver_step)][port] == values[(channel, seq)]
        assert consume_ns == starts[(component, receiver_step)][0]
        assert send_ns <= receive_ns <= consume_ns
    # Every value a step took from a channel is one consumed message, exactly once.
    consumed = sum(
        1 for (name, index), inputs in seen.items() for port in inputs
        if index >= len(process.components[name].initial_values.get(port, ()))
    )
    assert len(rows) - unconsumed == consumed
    # take consumed 3 of add's values; the rest add sent it are recorded, never consumed.
    take_channel = next(c for c, t in targets.items() if t == "take.x")
    take_rows = [r for r in rows if r[0] == take_channel]
    assert sorted(r[3] for r in take_rows if r[3] is not None) == [0, 1, 2]
    assert sum(1 for r in take_rows if r[3] is None) == len(take_rows) - 3 > 0
    # fan-in: p's steps saw every value of a and b, and each was recorded on its own channel.
    # (p stops early once add, its only receiver, has finished; what it did take is exact.)
    fan_in = {c for c, t in targets.items() if t == "p.x"}
    p_rows = [r for r in rows if r[0] in fan_in and r[3] is not None]
    assert sorted(values[(r[0], r[1])] for r in p_rows) == sorted(v["x"] for (n, _), v in seen.items() if n == "p")
