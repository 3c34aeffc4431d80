"""Per-step CPU time: read around each step, or around a block of quick steps whose thread
never left its CPU (then each step's CPU time is its wall time), switching between the two
as the steps go (replayer._CpuClock). Driven here with scripted clocks."""

from __future__ import annotations

import math
import struct
from array import array
from pathlib import Path
from types import SimpleNamespace

import msgpack
import pyarrow as pa
import pytest

import replay_models as m
from test_replay import record
from tapeflow.replay import StepTimes, replay
from tapeflow.replay import replayer
from tapeflow.replay.recording import decode_output, fixed_values


class Clocks:
    """Scripted ``time``: what the clock reads next is set by the test."""

    def __init__(self) -> None:
        self.wall = 0
        self.cpu = 0

    def perf_counter_ns(self) -> int:
        return self.wall

    def thread_time_ns(self) -> int:
        return self.cpu


@pytest.fixture
def clocks(monkeypatch: pytest.MonkeyPatch) -> Clocks:
    found = Clocks()
    monkeypatch.setattr(replayer, "time", SimpleNamespace(perf_counter_ns=found.perf_counter_ns, thread_time_ns=found.thread_time_ns))
    return found


def block(clock: replayer._CpuClock, clocks: Clocks, times: StepTimes, walls: list[int], off_cpu: int = 0) -> bool:
    """One block of steps taking ``walls`` ns each, the thread ``off_cpu`` ns away from its CPU."""
    per_step = clock.start(len(times.wall_ns))
    times.wall_ns.extend(walls)
    if per_step:
        times.cpu_ns.extend(w // 2 for w in walls)  # what the per-step readings would say
    clocks.wall += sum(walls) + off_cpu
    clocks.cpu += sum(walls)
    clock.stop(len(times.wall_ns))
    return per_step


def test_quick_steps_on_the_cpu_are_read_per_block(clocks: Clocks) -> None:
    times = StepTimes()
    clock = replayer._CpuClock(times, 0, 0, per_block=True)
    assert block(clock, clocks, times, [100, 300, 200])  # the first block: per step
    assert not block(clock, clocks, times, [150, 250, 400])  # quick and on the CPU: per block
    assert times.cpu_ns.tolist() == [50, 150, 100, 150, 250, 400]  # each step's CPU time its wall time
    # Another process takes the core for 5 µs in the next block: taken off the longest steps.
    assert not block(clock, clocks, times, [200, 5_300, 300], off_cpu=5_000)
    assert times.cpu_ns.tolist()[6:] == [200, 300, 300]
    assert block(clock, clocks, times, [100, 100, 100])  # read per step again after that
    assert len(times.cpu_ns) == len(times.wall_ns) == 12


def test_slow_steps_and_debugging_are_read_per_step(clocks: Clocks) -> None:
    times = StepTimes()
    clock = replayer._CpuClock(times, 0, 0, per_block=True)
    assert all(block(clock, clocks, times, [30_000, 40_000]) for _ in range(3))  # 20 µs or more: per step
    debugging = replayer._CpuClock(StepTimes(), 0, 0, per_block=False)
    assert all(block(debugging, clocks, debugging.times, [100, 100]) for _ in range(3))


def test_take_off_never_goes_below_the_median() -> None:
    cpus = array("q", [100, 9_000, 120, 3_000, 110])
    replayer._take_off(cpus, 0, 5, 20_000)
    assert cpus.tolist() == [100, 120, 120, 120, 110]  # the rest was spent between steps


def test_a_step_that_sleeps_takes_little_cpu_time(tmp_path: Path) -> None:
    log = tmp_path / "log.duckdb"
    run_id = record(log, [m.Source(name="src", values=[1, 2, 3]), m.Nap(name="nap"), m.Collect(name="sink")], [("src.x", "nap.x"), ("nap.y", "sink.x")])
    times = replay(run_id, log=log, components=["nap"]).components[0].times
    # Each step sleeps 2 ms (the behaviour under test: time off the CPU); its CPU time is a sliver of that.
    assert min(times.wall_ns) >= 2_000_000
    assert max(times.cpu_ns) < 1_000_000


def test_fixed_width_payloads_decode_in_bulk_as_unpackb_does() -> None:
    ints = [0, -1, 2**63 - 1, -(2**63), 42]
    floats = [0.0, -0.0, 1.5, math.inf, 1e-300]
    for values, marker, code in ((ints, b"\xd3", ">q"), (floats, b"\xcb", ">d")):
        cells = pa.array([marker + struct.pack(code, v) for v in values], pa.binary())
        found = fixed_values(cells)
        assert found == [decode_output(c) for c in cells.to_pylist()] == values
        assert [type(v) for v in found] == [type(v) for v in values]
        assert fixed_values(cells.slice(1, 3)) == values[1:4]
    nan = fixed_values(pa.array([b"\xcb" + struct.pack(">d", math.nan)], pa.binary()))
    assert nan is not None and math.isnan(nan[0])
    # Anything else is left to be decoded one by one.
    mixed = pa.array([b"\xd3" + bytes(8), b"\xcb" + bytes(8)], pa.binary())
    short = pa.array([msgpack.packb(1), msgpack.packb(2)], pa.binary())
    assert fixed_values(mixed) is None and fixed_values(short) is None
    assert fixed_values(pa.array([b"\xd3" + bytes(8), None], pa.binary())) is None
