"""Backpressure in the log: a send that waits for room is recorded as time blocked on the
output, and its message's send time is when it entered the channel."""

from __future__ import annotations

import time
from array import array
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from recorded_models import Collect, wire
from tapeflow import IO, Component, LocalProcess
from tapeflow.engine.tap import ChannelInfo, ComponentInfo, Drained, RunInfo
from tapeflow.recorder import Recorder, RecordingError, open_log
from tapeflow.recorder.matching import Matcher

N = 40
SLOW_S = 0.002


class Numbers(Component):
    io = IO(outputs=["x"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.x = -1

    async def step(self) -> None:
        if self.x == N - 1:
            await self.io.close()
            return
        self.x += 1


class Slow(Component):
    io = IO(inputs=["x"])

    async def step(self) -> None:
        time.sleep(SLOW_S)  # a consumer that holds the loop: the source outruns it


async def test_a_source_feeding_a_slow_and_an_idle_consumer(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "log.duckdb")
    process = LocalProcess(
        [Numbers(name="src"), Slow(name="slow"), Collect(name="idle")],
        [wire("src.x", "slow.x"), wire("src.x", "idle.x")],
        tap=recorder, capacity=2,
    )
    async with process:
        await process.run()
    with open_log(tmp_path / "log.duckdb") as log:
        q = lambda sql: log.query(sql, [recorder.run_id]).fetchall()  # noqa: E731
        [(busy, waiting, send_blocked, first, last)] = q(
            "SELECT busy_ns, waiting_ns, send_blocked_ns, first_start_ns, last_end_ns FROM component_time WHERE run_id = $1 AND component = 'src'"
        )
        # The source spends its run blocked on its full output to 'slow', and the log says so.
        assert send_blocked > 0.7 * (N - 4) * SLOW_S * 1e9
        assert busy + waiting + send_blocked <= last - first + 1
        # Every message was sent when it entered its channel: never before its step ended, never
        # after it was received; the idle consumer takes each at once.
        bad = q(
            """SELECT m.channel, m.seq FROM messages m JOIN steps s
                 ON s.run_id = m.run_id AND s.component = 'src' AND s.step = m.sender_step
               WHERE m.run_id = $1 AND (m.send_ns < s.end_ns OR m.send_ns > s.end_ns + s.send_blocked_ns
                     OR m.receive_ns < m.send_ns OR m.consume_ns < m.receive_ns)"""
        )
        assert bad == []
        waited = q("SELECT count(*) FROM steps WHERE run_id = $1 AND component = 'src' AND send_blocked_ns > 0")[0][0]
        assert waited >= N - 5
        [(idle_p50,)] = q(
            "SELECT quantile_cont(receive_ns - send_ns, 0.5) FROM messages m JOIN channels c ON c.run_id = m.run_id AND c.id = m.channel "
            "WHERE m.run_id = $1 AND c.target_component = 'idle'"
        )
        assert idle_p50 < SLOW_S * 1e9 / 2  # it did not "take a slow step to wake up"


def test_a_record_that_does_not_add_up_is_refused_not_shifted() -> None:
    run = RunInfo(
        "p", "local", "asyncio",
        [ComponentInfo(0, "a", "m.A", {}, (), ("y",), {}, {}, {}), ComponentInfo(1, "b", "m.B", {}, ("x",), (), {}, {}, {})],
        [ChannelInfo(0, "a", "y", "b", "x", "asyncio")],
        {},
    )
    matcher = Matcher(run, lambda values, cid, port: pa.array([b"\x01"] * len(values), pa.binary()), lambda e: (str(e), None))
    # 'a' recorded 2 steps and 2 values; 'b' claims to have consumed 3 messages.
    sender = Drained(0, 0, array("q", [10, 20]), array("q"), [[1, 2]], [], [], False)
    receiver = Drained(1, 0, array("q", [15, 25, 35]), array("q"), [], [[]], [], False)
    with pytest.raises(RecordingError, match=r"^channel 'a.y -> b.x': the record does not add up: the receiver consumed 3 messages but the sender recorded 2 steps and 2 sent values; this is a tapeflow bug"):
        matcher.add([sender, receiver])


async def test_each_component_s_times_use_its_own_clock_offset(tmp_path: Path) -> None:
    """Components of one run may live in processes with their own clocks: every batch carries
    its offset, and each time in the log is turned into wall time with the offset of the
    component that read it (a message's send with its sender's, its consume with its
    receiver's). Here the sink's process is said to run one second ahead."""

    class SinkAhead(Recorder):
        def component_log(self, component: int, offset_ns: int) -> StampLog:
            log = super().component_log(component, offset_ns)
            if component == 1:
                log.offset_ns += 1_000_000_000
            return log

    recorder = SinkAhead(tmp_path / "log.duckdb")
    await LocalProcess([Numbers(name="src"), Collect(name="sink")], [wire("src.x", "sink.x")], tap=recorder).run()
    with open_log(tmp_path / "log.duckdb") as log:
        [(src_start, sink_start)] = log.query(
            "SELECT min(start_ns) FILTER (WHERE component = 'src'), min(start_ns) FILTER (WHERE component = 'sink')"
            " FROM steps WHERE run_id = $1", [recorder.run_id]
        ).fetchall()
        assert 0.9e9 < sink_start - src_start < 1.1e9
        gaps = log.query("SELECT consume_ns - send_ns, receive_ns - send_ns FROM messages WHERE run_id = $1", [recorder.run_id]).fetchall()
        assert len(gaps) == N
        assert all(0.9e9 < consumed < 1.1e9 and 0.9e9 < received < 1.1e9 for consumed, received in gaps)
