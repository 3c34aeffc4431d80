"""Each value is stored once however many messages carried it, and the record is always what
was sent: a value changed in place between sends is a new value."""

from __future__ import annotations

import copy
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


@pytest.mark.parametrize("kind", ["dict", "ndarray"])
async def test_a_value_sent_on_many_drains_later_is_still_stored_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """A drain after every value encoded at send: the last stages send each value on many
    batches after the source did, past the writer's window of recently sent objects; the
    encoded value carries the id it was stored under."""
    from tapeflow.recorder import collector

    monkeypatch.setattr(collector, "FLUSH_BYTES", 1)
    values = payload_values(50, kind)
    stages = [Pass(name=f"p{i}") for i in range(5)]
    components = [Source(name="src", values=values), *stages, Collect(name="sink")]
    connectors = [wire("src.x", "p0.x"), *(wire(f"p{i}.y", f"p{i + 1}.x") for i in range(4)), wire("p4.y", "sink.x")]
    run_id = await record(tmp_path / "log.duckdb", components, connectors)
    assert counts(tmp_path / "log.duckdb", run_id) == (50, 50 * 6)
    with open_log(tmp_path / "log.duckdb") as log:
        got = log.run(run_id).payloads("p4.y -> sink.x")
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


class Mutate(Component):
    """Sends one object on every step, changed in place by the step's change first, and keeps a
    copy of what each step sent. A change: None (sent unchanged), ``["set", key, value]``,
    ``["move", key]`` (to the end of a dict) or ``["attr", name, value]``."""

    io = IO(outputs=["x"])

    def __init__(self, value: Any, changes: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value, self.changes = value, list(changes)
        self.as_sent: list[Any] = []

    async def step(self) -> None:
        if not self.changes:
            await self.io.close()
            return
        change = self.changes.pop(0)
        if change is not None:
            op, key, *new = change
            if op == "set":
                self.value[key] = new[0]
            elif op == "move":
                self.value[key] = self.value.pop(key)
            else:
                setattr(self.value, key, tuple(new[0]) if isinstance(new[0], list) else new[0])
        self.x = self.value
        self.as_sent.append(copy.deepcopy(self.value))


class Forward(Component):
    """A pass-through stage that keeps a copy of what each step sent: the object it forwards
    may have been changed in place upstream meanwhile, and is sent on as it is then."""

    io = IO(inputs=["x"], outputs=["y"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.as_sent: list[Any] = []

    async def step(self) -> None:
        self.y = self.x
        self.as_sent.append(copy.deepcopy(self.x))


def exactly(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down, the same dict order and signed zeros."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(exactly(x, y) for x, y in zip(a.values(), b.values()))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(exactly(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return str(a) == str(b)
    if type(a).__module__ == "numpy":
        return bool(a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes())
    return bool(a == b)


async def test_values_sent_on_and_changed_in_place_are_recorded_exactly_as_sent(tmp_path: Path) -> None:
    """Pass-through stages send each value on; the source changes its one dict in place, into
    values equal to what it was but encoded otherwise (1 -> 1.0 -> True, 0.0 -> -0.0, another
    key order): every message records what it carried."""
    path = tmp_path / "log.duckdb"
    changes = [None, None, ["set", "a", 1.0], ["set", "a", True], None, ["set", "z", -0.0], ["move", "a"], None]
    source = Mutate({"a": 1, "z": 0.0, "s": "x" * 40}, changes, name="src")
    stages = [Forward(name=f"p{i}") for i in range(3)]
    connectors = [wire("src.x", "p0.x"), wire("p0.y", "p1.x"), wire("p1.y", "p2.x"), wire("p2.y", "sink.x")]
    run_id = await record(path, [source, *stages, Collect(name="sink")], connectors)
    with open_log(path) as log:
        run = log.run(run_id)
        for label, sender in (("src.x -> p0.x", source), ("p0.y -> p1.x", stages[0]), ("p2.y -> sink.x", stages[2])):
            got = run.payloads(label)
            assert len(got) == 8 and all(exactly(a, b) for a, b in zip(got, sender.as_sent, strict=True)), label


async def test_an_array_sent_on_and_changed_in_place_is_recorded_exactly_as_sent(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    path = tmp_path / "log.duckdb"
    changes = [None, None, ["set", 3, 7.0], None, ["set", 0, -0.0], ["attr", "shape", [4, 25]], ["attr", "dtype", "<i8"], None]
    array = np.arange(100.0)
    array[0] = 0.0
    source = Mutate(array, changes, name="src")
    stages = [Forward(name="p0"), Forward(name="p1")]
    connectors = [wire("src.x", "p0.x"), wire("p0.y", "p1.x"), wire("p1.y", "sink.x")]
    run_id = await record(path, [source, *stages, Collect(name="sink")], connectors)
    stored, _ = counts(path, run_id)
    # 8 sends of one object by each of 3 senders, each distinct state stored once
    distinct = {(a.dtype.str, a.shape, a.tobytes()) for sender in (source, *stages) for a in sender.as_sent}
    assert len(distinct) >= 5 and stored == len(distinct)
    with open_log(path) as log:
        run = log.run(run_id)
        for label, sender in (("src.x -> p0.x", source), ("p1.y -> sink.x", stages[1])):
            got = run.payloads(label)
            assert len(got) == 8 and all(exactly(a, b) for a, b in zip(got, sender.as_sent, strict=True)), label


async def test_payloads_fill_segments_of_bounded_size_read_back_as_one_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small limits stand in for MiB: a drain every 20 kB of payloads, each its own write, and
    # segments of 50 kB; 40 arrays of 8 kB make several writes and several segments.
    np = pytest.importorskip("numpy")
    from tapeflow.recorder import collector, writer

    monkeypatch.setattr(collector, "FLUSH_BYTES", 20_000)
    monkeypatch.setattr(writer, "GATHER_BYTES", 20_000)
    monkeypatch.setattr(writer, "SEGMENT_BYTES", 50_000)
    values = [np.full(1000, float(i)) for i in range(40)]
    run_id = await record(tmp_path / "log.duckdb", [Source(name="src", values=values), Pass(name="p"), Collect(name="sink")],
                          [wire("src.x", "p.x"), wire("p.y", "sink.x")])
    with open_log(tmp_path / "log.duckdb") as log:
        segments = log.query(
            "SELECT s.name, s.first_id, s.last_id, s.bytes, (SELECT count(*) FROM payloads p WHERE p.run = s.run AND p.id BETWEEN s.first_id AND s.last_id)"
            " FROM payload_segments s JOIN runs r ON r.key = s.run WHERE r.id = $1 ORDER BY s.first_id", [run_id]
        ).fetchall()
        assert len(segments) >= 3
        # A segment takes writes until the next would pass SEGMENT_BYTES (one write alone may).
        assert all(size <= 50_000 or size < 2 * 20_000 + 8_200 for _, _, _, size, _ in segments)
        assert sum(rows for *_, rows in segments) == 40
        assert [s[0] for s in segments] == [f"payload_segment_{segments[0][0].split('_')[2]}_{n}" for n in range(len(segments))]
        for label in ("src.x -> p.x", "p.y -> sink.x"):
            back = log.run(run_id).payloads(label)
            assert [float(a[0]) for a in back] == [float(i) for i in range(40)]
            assert all(np.array_equal(a, v) for a, v in zip(back, values))
    assert counts(tmp_path / "log.duckdb", run_id) == (40, 80)


async def test_a_log_of_schema_4_is_migrated_and_its_payloads_still_read(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute((Path(__file__).parents[2] / "fixtures" / "log_schema_4.sql").read_text())
    con.execute("INSERT INTO runs (id, status, started_ns, pid) VALUES ('rold', 'completed', 1, 1)")
    con.execute(
        "INSERT INTO components (run_id, id, name, class_path, inputs, outputs) VALUES"
        " ('rold', 0, 'src', 'm.S', [], ['x']), ('rold', 1, 'sink', 'm.K', ['x'], [])"
    )
    con.execute("INSERT INTO channels VALUES ('rold', 0, 'src', 'x', 'sink', 'x', 'asyncio')")
    big = b"\xc4\x28" + b"o" * 40  # msgpack bin 8 of 40 bytes: too large to stay inline
    con.execute("INSERT INTO message_log VALUES (1, 0, 0, 0, 10, 11, 12, NULL, 7), (1, 0, 1, 1, 20, 21, 22, '\\x01'::BLOB, NULL)")
    con.execute("INSERT INTO payloads VALUES (1, 7, ?)", [big])
    # The steps those times came from: src ended steps 0 and 1 at 10 and 20; sink waited from
    # 11 and 21 and started at 12 and 22.
    con.execute("INSERT INTO step_log VALUES (1, 0, 0, 5, 10, 0), (1, 0, 1, 10, 20, 0), (1, 1, 0, 12, 15, 1), (1, 1, 1, 22, 25, 1)")
    con.close()
    run_id = await record(path, [Source(name="src", values=[b"n" * 50]), Collect(name="sink")], [wire("src.x", "sink.x")])
    with open_log(path) as log:
        assert log.query("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [("5",)]
        assert log.run("rold").payloads() == [b"o" * 40, 1]
        # Times stored before schema 5 are derived from the steps since: the same values.
        assert log.query("SELECT seq, send_ns, receive_ns, consume_ns FROM messages WHERE run_id = 'rold' ORDER BY seq").fetchall() == [
            (0, 10, 11, 12), (1, 20, 21, 22)
        ]
        assert log.run(run_id).payloads() == [b"n" * 50]
        assert log.query("SELECT name, first_id, last_id, bytes FROM payload_segments WHERE run = 1").fetchall() == [
            ("payload_segment_legacy", 7, 7, 42)
        ]


async def test_values_set_on_an_output_with_no_connector_are_recorded_on_a_channel_of_their_own(tmp_path: Path) -> None:
    from recorded_models import Doubler

    run_id = await record(tmp_path / "log.duckdb", [Source(name="src", values=[1, 2, 3]), Doubler(name="d"), Collect(name="sink")],
                          [wire("src.x", "d.x"), wire("d.y", "sink.x")])
    with open_log(tmp_path / "log.duckdb") as log:
        run = log.run(run_id)
        assert run.payloads("d.twice") == [{"n": 2, "pad": "p" * 40}, {"n": 4, "pad": "p" * 40}, {"n": 6, "pad": "p" * 40}]
        assert run.payloads("d.y -> sink.x") == [1, 2, 3]
        assert log.query(
            "SELECT c.kind, c.target_component, count(*), count(m.receiver_step), min(m.sender_step), max(m.sender_step)"
            " FROM messages m JOIN channels c ON c.run_id = m.run_id AND c.id = m.channel"
            " WHERE m.run_id = $1 AND c.source_port = 'twice' GROUP BY ALL", [run_id]
        ).fetchall() == [("unconnected", None, 3, 0, 0, 2)]
        assert log.query("SELECT label FROM channel_latency WHERE run_id = $1 ORDER BY channel", [run_id]).fetchall() == [
            ("src.x -> d.x",), ("d.y -> sink.x",), ("d.twice",)
        ]
