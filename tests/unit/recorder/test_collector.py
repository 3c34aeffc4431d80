"""Parts drained by a collector in another process, shipped (pickled) to the driver's Recorder,
record what a local run records; where each component ran is in ``placements``."""

from __future__ import annotations

import os
import pickle
import socket
from pathlib import Path
from typing import Any

import pytest

from recorded_models import Collect, Pass, Source, wire
from shipping import Shipped
from tapeflow import IO, Component, LocalProcess
from tapeflow.engine.tap import Drained, StampLog
from tapeflow.recorder import Recorder, RecordingError, open_log
from tapeflow.recorder.collector import Collector, CollectorSpec, Encoded, RecordedError, error_text
from tapeflow.recorder.payloads import PayloadError

BAD = "\udc80"  # a lone surrogate: a str that UTF-8 (and so msgpack) cannot carry


def _local_error_class() -> type[Exception]:
    class Unshippable(Exception):
        """Defined in a function: pickle cannot find it by name, so it cannot pickle."""

    return Unshippable


Unshippable = _local_error_class()


class Boom(Component):
    io = IO(inputs=["x"], outputs=["y"])

    async def step(self) -> None:
        if self.x["k"] == [3]:
            raise Unshippable("three is too many")
        self.y = self.x


class Unrecordable(Component):
    """Sends [0], [1], …; at 5 a list the codec cannot carry (encoded at send: fails there)."""

    io = IO(outputs=["x"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.i = 0

    async def step(self) -> None:
        if self.i == 8:
            await self.io.close()
            return
        self.x = [self.i] if self.i != 5 else [1, BAD]
        self.i += 1


def boom_model() -> tuple[list[Component], list[Any]]:
    values = [{"k": [i]} for i in range(8)]  # dicts: encoded at send, shipped as Encoded
    return [Source(name="src", values=values), Boom(name="boom"), Collect(name="sink")], [wire("src.x", "boom.x"), wire("boom.y", "sink.x")]


def unrecordable_model() -> tuple[list[Component], list[Any]]:
    return [Unrecordable(name="src"), Pass(name="p"), Collect(name="sink")], [wire("src.x", "p.x"), wire("p.y", "sink.x")]


async def run_failing(components: list[Component], connectors: list[Any], tap: Any) -> None:
    with pytest.raises(Exception) as raised:
        async with LocalProcess(components, connectors, tap=tap) as process:
            await process.run()
    assert "three is too many" in str(raised.value) or "cannot record payload" in str(raised.value)


def rows(path: Path, run_id: str) -> tuple[list[Any], list[Any]]:
    with open_log(path) as log:
        messages = log.query(
            "SELECT channel, seq, sender_step, receiver_step, payload, payload_id IS NULL FROM messages WHERE run_id = $1 ORDER BY ALL",
            [run_id],
        ).fetchall()
        steps = log.query(
            "SELECT component, step, status, error, traceback FROM steps WHERE run_id = $1 ORDER BY component, step", [run_id]
        ).fetchall()
    return messages, steps


@pytest.mark.parametrize("model", [boom_model, unrecordable_model], ids=["unpicklable step error", "unrecordable payload"])
async def test_shipped_parts_record_what_a_local_run_records(tmp_path: Path, model: Any) -> None:
    local = Recorder(tmp_path / "local.duckdb")
    await run_failing(*model(), local)
    shipped = Shipped(tmp_path / "shipped.duckdb")
    await run_failing(*model(), shipped)
    assert shipped.shipped > 1

    local_messages, local_steps = rows(tmp_path / "local.duckdb", local.run_id)
    shipped_messages, shipped_steps = rows(tmp_path / "shipped.duckdb", shipped.run_id)
    assert shipped_messages == local_messages
    assert shipped_steps == local_steps
    failed = [s for s in shipped_steps if s[2] == "failed"]
    assert len(failed) == 1
    _, _, _, error, trace = failed[0]
    if model is boom_model:
        assert error == "Unshippable: three is too many"
        assert trace.rstrip().endswith("Unshippable: three is too many") and "in step" in trace
        with pytest.raises((pickle.PicklingError, AttributeError)):  # why the stand-in is needed
            pickle.dumps(Unshippable("three is too many"))
    else:
        assert error.startswith("PayloadError: channel 'src.x -> p.x', step 5: cannot record payload of type builtins.list")
    with open_log(tmp_path / "shipped.duckdb") as log:
        run = log.run(shipped.run_id)
        assert run.status == "failed"


async def test_shipped_parts_match_messages_across_fan_in_and_early_finishers(tmp_path: Path) -> None:
    """The fan-in/fan-out model of test_matching, drained every 3 steps and shipped part by
    part, each receiver's before its sender's: every message still finds its step."""
    from test_matching import check_messages, matching_model

    from conftest import spy_on_inputs

    components, connectors = matching_model()
    tap = Shipped(tmp_path / "log.duckdb", limit=3)
    process = LocalProcess(components, connectors, tap=tap)
    seen = spy_on_inputs(process)
    async with process:
        await process.run()
    assert tap.shipped > 20
    check_messages(tmp_path / "log.duckdb", tap.run_id, process, seen)


WHERE_EACH_RAN = """
SELECT c.name, p.host, p.pid, p.node_id, p.clock_offset_ns
FROM components c LEFT JOIN placements p ON p.run_id = c.run_id AND p.component = c.name
WHERE c.run_id = $1 ORDER BY c.id
"""


async def test_a_local_run_places_every_component_in_the_recording_process(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "log.duckdb")
    async with LocalProcess([Source(name="src", values=[1, 2]), Pass(name="p"), Collect(name="sink")],
                            [wire("src.x", "p.x"), wire("p.y", "sink.x")], tap=recorder) as process:
        await process.run()
    here = (socket.gethostname(), os.getpid(), None, 0)
    with open_log(tmp_path / "log.duckdb") as log:
        assert log.query(WHERE_EACH_RAN, [recorder.run_id]).fetchall() == [(name, *here) for name in ("src", "p", "sink")]


async def test_components_placed_elsewhere_keep_their_node_and_clock_offset(tmp_path: Path) -> None:
    components = [Source(name="src", values=[1, 2]), Pass(name="p"), Collect(name="sink")]

    class Replaced(Shipped):
        def run_started(self, run: Any) -> None:
            super().run_started(run)
            self.recorder.placed(1, "moved.example", 7, None, None)  # placed again: replaces

    tap = Replaced(tmp_path / "log.duckdb")
    async with LocalProcess(components, [wire("src.x", "p.x"), wire("p.y", "sink.x")], tap=tap) as process:
        await process.run()
    with open_log(tmp_path / "log.duckdb") as log:
        assert log.query(WHERE_EACH_RAN, [tap.run_id]).fetchall() == [
            ("src", "node0.example", 4000, "node-0", 0),
            ("p", "moved.example", 7, None, None),
            ("sink", "node2.example", 4002, "node-2", 2000),
        ]


async def test_parts_outside_the_run_are_refused(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "log.duckdb")
    with pytest.raises(RecordingError, match=r"^run 'r\w+': collector_spec\(\) before the run started; call it after run_started\(\)$"):
        recorder.collector_spec()
    with pytest.raises(RecordingError, match=r"^run 'r\w+': recorded parts arrived before the run started; hand them to accept\(\) between run_started\(\) and run_ended\(\)$"):
        recorder.accept([])
    async with LocalProcess([Source(name="src", values=[1]), Collect(name="sink")], [wire("src.x", "sink.x")], tap=recorder) as process:
        await process.run()
    with pytest.raises(RecordingError, match=r"^run 'r\w+': recorded parts arrived after the run ended \(completed\); hand them"):
        recorder.accept([])


def test_a_collector_spec_and_drained_parts_pickle() -> None:
    spec = CollectorSpec(None, {0: (1, 0), 1: (0, 1)}, {(0, 0): "a.y -> b.x"})
    assert pickle.loads(pickle.dumps(spec)) == spec
    shipped: list[tuple[list[Drained], bool]] = []
    collector = Collector(spec, lambda parts, final: shipped.append((pickle.loads(pickle.dumps(parts)), final)))
    log = collector.component_log(0, 123)
    assert isinstance(log, StampLog)
    log.ends.append(10)
    sent = [1, 2]
    log.outputs[0].append(log.snapshot(sent, 0))
    try:
        raise Unshippable("boom")
    except Unshippable as error:
        log.errors.append((0, error))
        text, trace = error_text(error)
    collector.flush(final=True)
    [(parts, final)] = shipped
    assert final
    [part] = parts
    assert (part.component, part.offset_ns, list(part.ends)) == (0, 123, [10])
    [encoded] = part.outputs[0]
    assert isinstance(encoded, Encoded) and encoded.blob == b"\x92\x01\x02"
    [(index, stand_in)] = part.errors
    assert index == 0 and isinstance(stand_in, RecordedError)
    assert error_text(stand_in) == (text, trace) and trace is not None and trace.rstrip().endswith("Unshippable: boom")


def test_an_unrecordable_value_fails_its_step_with_the_same_message_in_a_collector() -> None:
    spec = CollectorSpec(None, {0: (1, 0)}, {(0, 0): "src.x -> p.x"})
    collector = Collector(spec, lambda parts, final: None)
    log = collector.component_log(0, 0)
    log.ends.extend([1, 2, 3])
    with pytest.raises(PayloadError, match=r"^channel 'src.x -> p.x', step 2: cannot record payload of type builtins.list \('utf-8' codec can't encode character '\\udc80' in position \d+: surrogates not allowed\); send msgpack-able values"):
        log.snapshot([1, BAD], 0)
    # The error itself pickles, message and all (an actor reports it to the driver).
    error = log.errors[0][1]
    assert isinstance(error, PayloadError)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), str(again), again.label, again.problem) == (PayloadError, str(error), error.label, error.problem)


async def test_a_log_of_schema_3_is_migrated_and_its_runs_have_no_placements(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute((Path(__file__).parents[2] / "fixtures" / "log_schema_3.sql").read_text())
    con.execute("INSERT INTO runs (id, status, started_ns, pid) VALUES ('rold', 'completed', 1, 1)")
    con.execute(
        "INSERT INTO components (run_id, id, name, class_path, inputs, outputs) VALUES"
        " ('rold', 0, 'src', 'm.S', [], ['x']), ('rold', 1, 'sink', 'm.K', ['x'], [])"
    )
    con.execute("INSERT INTO channels VALUES ('rold', 0, 'src', 'x', 'sink', 'x', 'asyncio')")
    con.execute("INSERT INTO message_log VALUES (1, 0, 0, 0, 10, 11, 12, '\\x92\\x01\\x02'::BLOB, NULL)")
    con.close()
    recorder = Recorder(path)
    async with LocalProcess([Source(name="src", values=[5]), Collect(name="sink")], [wire("src.x", "sink.x")], tap=recorder) as process:
        await process.run()
    with open_log(path) as log:
        assert log.query("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [("5",)]
        assert log.run("rold").payloads() == [[1, 2]]
        assert log.query(WHERE_EACH_RAN, ["rold"]).fetchall() == [("src", None, None, None, None), ("sink", None, None, None, None)]
        assert [r[0] for r in log.query(WHERE_EACH_RAN, [recorder.run_id]).fetchall()] == ["src", "sink"]
        assert log.query("SELECT count(*) FROM placements WHERE run_id = $1 AND host IS NOT NULL", [recorder.run_id]).fetchall() == [(2,)]


def _two_component_run() -> Any:
    from tapeflow.engine.tap import ChannelInfo, ComponentInfo, RunInfo

    return RunInfo(
        "p", "ray", "ray",
        [ComponentInfo(0, "a", "m.A", {}, (), ("y",), {}, {}, {}), ComponentInfo(1, "b", "m.B", {}, ("x",), (), {}, {}, {})],
        [ChannelInfo(0, "a", "y", "b", "x", "ray")],
        {},
    )


def _matcher() -> Any:
    import pyarrow as pa

    from tapeflow.recorder.matching import Matcher

    return Matcher(_two_component_run(), lambda values, cid, port: pa.array([b"\x01"] * len(values), pa.binary()), error_text)


def test_a_message_waits_for_its_sender_s_part_and_its_late_send() -> None:
    from array import array

    matcher = _matcher()
    q = lambda *values: array("q", values)  # noqa: E731
    # 'b' (another process) shipped first: it consumed message 0 at its step 0.
    assert matcher.add([Drained(1, 0, q(50), q(0, 45, 45), [], [[]], [], False)], ordered=False).messages.num_rows == 0
    # 'a' recorded step 0 and its value, but its send was still waiting for room: not yet.
    assert matcher.add([Drained(0, 0, q(10), q(0, 0, 0), [[7]], [], [], False)], ordered=False).messages.num_rows == 0
    # 'a' began step 1: step 0's send went in at 40 (late), so message 0 was sent then.
    # (Its times are its steps' and this send_waits row: the messages view joins them.)
    tables = matcher.add([Drained(0, 1, q(60), q(), [[]], [], [], True, q(0, 0, 40))], ordered=False)
    assert tables.messages.select(["channel", "seq", "receiver_step"]).to_pylist() == [{"channel": 0, "seq": 0, "receiver_step": 0}]
    assert tables.send_waits.to_pylist() == [{"cid": 0, "step": 0, "channel": 0, "entered": 40}]


def test_a_shipped_record_that_does_not_add_up_is_refused_at_the_end() -> None:
    from array import array

    matcher = _matcher()
    q = lambda *values: array("q", values)  # noqa: E731
    matcher.add([Drained(1, 0, q(15, 25, 35), q(), [], [[]], [], True)], ordered=False)  # 'b' consumed 3
    matcher.add([Drained(0, 0, q(10, 20), q(), [[1, 2]], [], [], True)], ordered=False)  # 'a' sent 2 and ended
    with pytest.raises(RecordingError, match=r"^channel 'a.y -> b.x': the record does not add up: the receiver consumed 3 messages but the sender recorded 2 steps and 2 sent values; this is a tapeflow bug"):
        matcher.add([], final=True)


def test_a_collector_needs_neither_duckdb_nor_pyarrow() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from tapeflow.recorder.collector import Collector, CollectorSpec;"
        "c = Collector(CollectorSpec(None, {0: (1, 0)}, {}), lambda parts, final: None);"
        "log = c.component_log(0, 0); log.ends.append(1); log.outputs[0].append(log.snapshot([1], 0)); c.flush(final=True);"
        "print(sorted(m for m in ('duckdb', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_part_that_skips_steps_is_refused_not_matched_to_the_wrong_steps() -> None:
    from array import array

    matcher = _matcher()
    q = lambda *values: array("q", values)  # noqa: E731
    matcher.add([Drained(0, 0, q(10, 20), q(), [[1, 2]], [], [], False)], ordered=False)  # 'a' steps 0-1
    with pytest.raises(RecordingError, match=r"^component 'a': the record does not add up: its part from step 5 came when step 2 was next \(steps 2-4 missing\); this is a tapeflow bug"):
        matcher.add([Drained(0, 5, q(60), q(), [[6]], [], [], False)], ordered=False)
