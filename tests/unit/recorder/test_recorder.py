"""The Recorder writes what a run really did; the Log reads it back."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest

from recorded_models import Collect, Pass, Source, wire
from tapeflow import IO, Component, ComponentError, LocalProcess, UserError
from tapeflow.recorder import LogError, Recorder, RecordingError, default_log_path, open_log


class Boom(Component):
    io = IO(inputs=["x"], outputs=["y"])

    async def step(self) -> None:
        if self.x == 3:
            raise RuntimeError("three is too many")
        self.y = self.x


class Mutator(Component):
    """Changes what it received, after its step began (a bug, but one the log must survive)."""

    io = IO(inputs=["x"])

    async def step(self) -> None:
        if isinstance(self.x, list):
            self.x.append("changed")
        else:
            self.x["k"].append("changed")


async def record(path: Path, components: list[Component], connectors: list[Any], **kwargs: Any) -> Recorder:
    recorder = Recorder(path, **kwargs)
    process = LocalProcess(components, connectors, tap=recorder)
    async with process:
        await process.run()
    return recorder


def chain(values: list[Any]) -> tuple[list[Component], list[Any]]:
    return [Source(name="src", values=values), Pass(name="p"), Collect(name="sink")], [wire("src.x", "p.x"), wire("p.y", "sink.x")]


PAYLOADS: list[Any] = [
    1, -(2**70), "two", {"three": [3, 3.0]}, dt.datetime(2024, 1, 2, 3, 4, 5, 6), (1, "tuple"), {1, 2},
    None, b"\x00", [{"nested": dt.date(2024, 2, 29)}],
]


async def test_payloads_read_back_equal_to_what_was_sent(tmp_path: Path) -> None:
    recorder = await record(tmp_path / "log.duckdb", *chain(PAYLOADS))
    with open_log(tmp_path / "log.duckdb") as log:
        run = log.run(recorder.run_id)
        assert run.status == "completed"
        for label in ("src.x -> p.x", "p.y -> sink.x"):
            back = run.payloads(label)
            assert back == PAYLOADS
            assert [type(v) for v in back] == [type(v) for v in PAYLOADS]
        rows = run.messages.fetchall()
        assert len(rows) == 2 * len(PAYLOADS)
        steps = run.steps.fetchall()
        assert len(steps) == 3 * len(PAYLOADS) + 1  # the source's closing step is a step too


async def test_numpy_payloads_round_trip(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    sent = [np.arange(6).reshape(2, 3), np.float32(2.5)]
    recorder = await record(tmp_path / "log.duckdb", *chain(sent))
    with open_log(tmp_path / "log.duckdb") as log:
        back = log.run(recorder.run_id).payloads("p.y -> sink.x")
    np.testing.assert_array_equal(back[0], sent[0])
    assert type(back[1]) is np.float32 and back[1] == sent[1]


async def test_a_mutable_payload_is_recorded_as_it_was_when_sent(tmp_path: Path) -> None:
    recorder = await record(tmp_path / "log.duckdb", [Source(name="src", values=[[0], [1], {"k": [2]}]), Mutator(name="m")], [wire("src.x", "m.x")])
    with open_log(tmp_path / "log.duckdb") as log:
        assert log.run(recorder.run_id).payloads() == [[0], [1], {"k": [2]}]


async def test_stamps_are_ordered_and_linked(tmp_path: Path) -> None:
    recorder = await record(tmp_path / "log.duckdb", *chain([10, 20, 30]))
    with open_log(tmp_path / "log.duckdb") as log:
        bad = log.query(
            "SELECT * FROM messages m JOIN channels c ON c.run_id = m.run_id AND c.id = m.channel "
            "JOIN steps s ON s.run_id = m.run_id AND s.component = c.target_component AND s.step = m.receiver_step "
            "WHERE m.run_id = $1 AND NOT (m.send_ns <= m.receive_ns AND m.receive_ns <= m.consume_ns AND m.consume_ns = s.start_ns)",
            [recorder.run_id],
        ).fetchall()
        assert bad == []
        rows = log.query("SELECT channel, seq, sender_step, receiver_step FROM messages WHERE run_id = $1 ORDER BY ALL", [recorder.run_id]).fetchall()
    assert rows == [(c, i, i, i) for c in (0, 1) for i in range(3)]


async def test_a_failed_run_keeps_its_rows_and_the_error(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "log.duckdb")
    process = LocalProcess([Source(name="src", values=[1, 2, 3, 4]), Boom(name="boom"), Collect(name="sink")],
                           [wire("src.x", "boom.x"), wire("boom.y", "sink.x")], tap=recorder)
    with pytest.raises(ComponentError, match="three is too many"):
        async with process:
            await process.run()
    with open_log(tmp_path / "log.duckdb") as log:
        run = log.run(recorder.run_id)
        assert run.status == "failed"
        assert "component 'boom' (test_recorder.Boom) failed in step 2: RuntimeError: three is too many" in run.info["error"]
        failed = log.query("SELECT component, step, status, error, traceback FROM steps WHERE run_id = $1 AND status <> 'ok'", [recorder.run_id]).fetchall()
        assert [(c, s, st, e) for c, s, st, e, _ in failed if st == "failed"] == [("boom", 2, "failed", "RuntimeError: three is too many")]
        assert "raise RuntimeError" in failed[0][4] if failed[0][2] == "failed" else True
        assert run.payloads("boom.y -> sink.x") == [1, 2]
        consumed = log.query("SELECT seq FROM messages WHERE run_id = $1 AND channel = 0 AND receiver_step IS NOT NULL ORDER BY seq", [recorder.run_id]).fetchall()
        assert consumed[:3] == [(0,), (1,), (2,)]


class Thing:
    pass


class SendsAThing(Component):
    """Sends a value the codec cannot carry, made in its step (not a constructor argument,
    which the run's record would refuse before the first step)."""

    io = IO(outputs=["x"])

    async def step(self) -> None:
        self.x = [Thing()]


async def test_an_unencodable_payload_names_the_channel(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match=r"^channel 'src.x -> p.x', step 0: cannot record payload of type test_recorder.Thing; send msgpack-able values"):
        await record(tmp_path / "log.duckdb", [SendsAThing(name="src"), Pass(name="p"), Collect(name="sink")], [wire("src.x", "p.x"), wire("p.y", "sink.x")])
    with open_log(tmp_path / "log.duckdb") as log:
        assert [r[2] for r in log.runs().fetchall()] == ["failed"]


async def test_the_pickle_fallback_records_what_msgpack_cannot(tmp_path: Path) -> None:
    recorder = await record(tmp_path / "log.duckdb", *chain([[Path("a")]]), fallback="pickle")
    with open_log(tmp_path / "log.duckdb") as log:
        assert log.run(recorder.run_id).payloads("p.y -> sink.x") == [[Path("a")]]


async def test_runs_are_listed_newest_first_and_found_by_prefix(tmp_path: Path) -> None:
    first = await record(tmp_path / "log.duckdb", *chain([1]), run_id="r0aaaaaaa01")
    second = await record(tmp_path / "log.duckdb", *chain([1, 2]), run_id="r0aaaaaab02")
    with open_log(tmp_path / "log.duckdb") as log:
        listed = log.runs().fetchall()
        assert [r[0] for r in listed] == [second.run_id, first.run_id]
        assert listed[0][6:8] == (7, 4)  # steps, messages
        assert log.run("r0aaaaaab").id == second.run_id
        with pytest.raises(LogError, match=r"^run 'r0aaaaaa': ambiguous in .*log.duckdb; it starts 2 runs: r0aaaaaaa01, r0aaaaaab02; type more of the id$"):
            log.run("r0aaaaaa")
        with pytest.raises(LogError, match=r"^run 'r42' not found in .*log.duckdb; recent runs: r0aaaaaab02 \(completed\), r0aaaaaaa01 \(completed\)$"):
            log.run("r42")
    assert issubclass(LogError, UserError)


async def test_schema_names_are_api(tmp_path: Path) -> None:
    await record(tmp_path / "log.duckdb", *chain([1]))
    with open_log(tmp_path / "log.duckdb") as log:
        def columns(table: str) -> list[str]:
            return [r[0] for r in log.query(f"DESCRIBE {table}").fetchall()]

        assert columns("runs")[:4] == ["id", "status", "started_ns", "ended_ns"]
        assert {"process_kind", "channel_kind", "process_name", "config", "versions", "host", "pid", "command", "error"} <= set(columns("runs"))
        assert columns("components") == ["run_id", "id", "name", "class_path", "args", "inputs", "outputs", "resources", "initial_values", "parameters", "spec"]
        assert columns("channels") == ["run_id", "id", "source_component", "source_port", "target_component", "target_port", "kind"]
        assert columns("messages") == ["run_id", "channel", "seq", "sender_step", "receiver_step", "send_ns", "receive_ns", "consume_ns", "payload", "payload_id"]
        assert columns("steps")[:9] == ["run_id", "component", "step", "start_ns", "end_ns", "blocked_ns", "send_blocked_ns", "status", "error"]
        assert columns("component_time")[:6] == ["run_id", "component", "steps", "busy_ns", "waiting_ns", "send_blocked_ns"]
        for view in ("run_summary", "component_time", "channel_latency", "throughput", "slowest_steps"):
            assert log.query(f"SELECT count(*) FROM {view}").fetchall()[0][0] >= 1


async def test_a_log_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    import duckdb

    await record(tmp_path / "log.duckdb", *chain([1]))
    con = duckdb.connect(str(tmp_path / "log.duckdb"))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(LogError, match=r"log.duckdb: written by a newer tapeflow \(log schema 99, this tapeflow reads 5\); upgrade tapeflow"):
        open_log(tmp_path / "log.duckdb")
    with pytest.raises(LogError, match="written by a newer tapeflow"):
        await record(tmp_path / "log.duckdb", *chain([1]))


async def test_a_log_of_an_older_schema_is_refused_with_what_to_do(tmp_path: Path) -> None:
    import duckdb

    await record(tmp_path / "log.duckdb", *chain([1]))
    con = duckdb.connect(str(tmp_path / "log.duckdb"))
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(LogError, match=r"log.duckdb: log schema 1 cannot be migrated to 5; pass --log with a new file"):
        open_log(tmp_path / "log.duckdb")
    with pytest.raises(LogError, match=r"log.duckdb: log schema 1 cannot be migrated to 5; pass --log with a new file"):
        await record(tmp_path / "log.duckdb", *chain([1]))


def test_a_missing_log_says_so(tmp_path: Path) -> None:
    with pytest.raises(LogError, match=r"nope.duckdb: no log here; record a run first"):
        open_log(tmp_path / "nope.duckdb")


def test_default_log_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TAPEFLOW_LOG", raising=False)
    assert default_log_path() == tmp_path / "tapeflow.duckdb"
    monkeypatch.setenv("TAPEFLOW_LOG", str(tmp_path / "elsewhere.duckdb"))
    assert default_log_path() == tmp_path / "elsewhere.duckdb"
    assert Recorder().path == tmp_path / "elsewhere.duckdb"


def test_run_ids_are_short_and_sort_by_time() -> None:
    from tapeflow.recorder.recorder import new_run_id

    ids = [new_run_id() for _ in range(50)]
    assert all(len(i) == 11 and i.startswith("r") and i.isalnum() for i in ids)
    assert len(set(ids)) > 45
    assert os.environ.get("TAPEFLOW_LOG") is None or True


async def test_a_log_of_schema_2_is_migrated_and_its_runs_still_read(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute((Path(__file__).parents[2] / "fixtures" / "log_schema_2.sql").read_text())
    con.execute("INSERT INTO runs (id, status, started_ns, pid) VALUES ('rold', 'completed', 1, 1)")
    con.execute("INSERT INTO components VALUES ('rold', 0, 'src', 'm.S', '{}', [], ['x'], '{}', '{}', '{}'), ('rold', 1, 'sink', 'm.K', '{}', ['x'], [], '{}', '{}', '{}')")
    con.execute("INSERT INTO channels VALUES ('rold', 0, 'src', 'x', 'sink', 'x', 'asyncio')")
    con.execute("INSERT INTO message_log VALUES (1, 0, 0, 0, 10, 11, 12, '\\x92\\x01\\x02'::BLOB)")
    con.close()
    recorder = await record(path, *chain([{"new": "x" * 40}]))
    with open_log(path) as log:
        assert log.run("rold").payloads() == [[1, 2]]
        assert log.run(recorder.run_id).payloads("p.y -> sink.x") == [{"new": "x" * 40}]
        assert log.query("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [("5",)]
