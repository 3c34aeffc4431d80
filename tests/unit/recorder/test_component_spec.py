"""A component's constructor arguments, parameters and initial values are recorded exactly
(``components.spec``) and read back with ``RecordedRun.component_spec``; the JSON columns
beside them take anything without raising."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from recorded_models import Collect, wire
from tapeflow import IO, Component, LocalProcess
from tapeflow.recorder import LogError, Recorder, RecordingError, open_log
from tapeflow.recorder.codec import Unrecorded

ADVICE = "pass msgpack-able values, record with Recorder(fallback='pickle') or fallback='repr', or run unrecorded (tap=None, --no-record)"


class Built(Component):
    """Takes positional and keyword arguments of its own and sends nothing but its close."""

    io = IO(inputs=["back"], outputs=["x"])

    def __init__(self, scale: Any, table: dict[Any, Any], /, *, tags: set[str], when: dt.datetime, weights: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    async def step(self) -> None:
        await self.io.close()


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same type all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(type(x) is type(y) for x, y in zip(a, b)) and all(same(a[k], b[k]) for k in a)
    if type(a).__module__ == "numpy":
        np = pytest.importorskip("numpy")
        return bool(a.dtype == b.dtype and np.array_equal(a, b))
    return bool(a == b)


async def record(path: Path, component: Component, **kwargs: Any) -> str:
    recorder = Recorder(path, **kwargs)
    async with LocalProcess([component, Collect(name="sink")], [wire(f"{component.name}.x", "sink.x")], tap=recorder) as process:
        await process.run()
    return recorder.run_id


def build(weights: Any = None) -> tuple[Built, list[Any], dict[str, Any]]:
    args: list[Any] = [2.5, {(1, 2): "tuple key", 3: [b"\x00", (None,)], frozenset({"f"}): 1 + 2j}]
    kwargs: dict[str, Any] = {
        "tags": {"a", "b"},
        "when": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "weights": weights,
        "name": "src",
        "initial_values": {"back": (1, 2)},
        "parameters": {"rate": 0.5, "window": dt.timedelta(seconds=3)},
    }
    return Built(*args, **kwargs), args, kwargs


async def test_spec_reads_back_exactly_what_was_passed(tmp_path: Path) -> None:
    component, args, kwargs = build()
    assert component.init_positional == tuple(args)
    assert component.init_args == kwargs
    run_id = await record(tmp_path / "log.duckdb", component)
    with open_log(tmp_path / "log.duckdb") as log:
        spec = log.run(run_id).component_spec("src")
    expected = {
        "args": args,
        "kwargs": kwargs,
        "parameters": {"rate": 0.5, "window": dt.timedelta(seconds=3)},
        "initial_values": {"back": [1, 2]},  # as the component holds them: a list per input
    }
    assert same(spec, expected), spec


async def test_spec_keeps_a_numpy_array_argument(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    weights = np.array([[1.5, 2.0], [0.0, -1.0]], dtype=np.float32)
    component, _, _ = build(weights)
    run_id = await record(tmp_path / "log.duckdb", component)
    with open_log(tmp_path / "log.duckdb") as log:
        back = log.run(run_id).component_spec("src")["kwargs"]["weights"]
    assert same(back, weights)


async def test_a_resource_argument_is_recorded_as_the_dict_it_equals(tmp_path: Path) -> None:
    """``resources=Resource(...)``, as the tutorial passes it: recorded as its dict form,
    which rebuilds an equal Resource (what a replay passes back to the constructor)."""
    from tapeflow import Resource

    class Closes(Component):
        io = IO(outputs=["x"])

        async def step(self) -> None:
            await self.io.close()

    given = Resource(cpu="500m", gpu=1, memory="512Mi", resources={"custom_hardware": 2})
    run_id = await record(tmp_path / "log.duckdb", Closes(name="src", resources=given))
    with open_log(tmp_path / "log.duckdb") as log:
        stored = log.run(run_id).component_spec("src")["kwargs"]["resources"]
    assert stored == {"cpu": 0.5, "gpu": 1.0, "memory": 536870912, "resources": {"custom_hardware": 2.0}}
    assert Resource.coerce(stored) == given


async def test_json_columns_take_what_json_cannot_hold(tmp_path: Path) -> None:
    component, _, _ = build()
    run_id = await record(tmp_path / "log.duckdb", component)
    with open_log(tmp_path / "log.duckdb") as log:
        row = log.query("SELECT args, initial_values, parameters FROM components WHERE run_id = $1 AND name = 'src'", [run_id]).fetchall()[0]
    args, initial_values, parameters = (json.loads(text) for text in row)
    assert args["tags"] in ("{'a', 'b'}", "{'b', 'a'}")  # a set: its repr
    assert args["initial_values"] == {"back": [1, 2]}
    assert args["when"] == repr(dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    assert initial_values == {"back": [1, 2]}
    assert parameters == {"rate": 0.5, "window": "datetime.timedelta(seconds=3)"}


def test_json_never_raises() -> None:
    from tapeflow.recorder.runrows import as_json

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    loop: list[Any] = [1]
    loop.append(loop)
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert json.loads(as_json({(1, 2): "a", 3: {None: "b"}})) == {"(1, 2)": "a", "3": {"None": "b"}}
    assert json.loads(as_json({"s": "\udc80", "\ud800": 1})) == {"s": "'\\udc80'", "'\\ud800'": 1}
    assert json.loads(as_json(loop)) == [1, "[1, [...]]"]
    assert json.loads(as_json(Broken())).startswith(f"<{__name__}.test_json_never_raises.<locals>.Broken object; repr() raised RuntimeError>")
    assert isinstance(json.loads(as_json(deep)), str)
    assert as_json({"b": 2, "a": [1.5, None, True, "ü"]}) == '{"a": [1.5, null, true, "ü"], "b": 2}'


async def test_an_argument_the_codec_cannot_carry_names_the_component_and_the_argument(tmp_path: Path) -> None:
    component, _, _ = build(weights=lambda x: x)
    expected = f"component 'src' ({Built.__module__}.Built): cannot record constructor argument 'weights' (builtins.function); {ADVICE}"
    with pytest.raises(RecordingError, match=f"^{re.escape(expected)}$"):
        await record(tmp_path / "log.duckdb", component)
    # The run is in the log, failed before its first step, with the same line.
    with open_log(tmp_path / "log.duckdb") as log:
        [(status, error, steps)] = log.query("SELECT status, error, steps FROM run_summary").fetchall()
    assert (status, error, steps) == ("failed", expected, 0)


async def test_a_positional_argument_and_a_parameter_are_named_too(tmp_path: Path) -> None:
    component = Built(memoryview(b"m"), {}, tags=set(), when=dt.datetime(2024, 1, 1), name="src", initial_values={"back": [0]})
    with pytest.raises(RecordingError, match=re.escape(
        f"component 'src' ({Built.__module__}.Built): cannot record positional constructor argument 0 (builtins.memoryview: "
        "a view of another object's memory, which the log cannot keep: send bytes(view) or the object it views); pass msgpack-able"
    )):
        await record(tmp_path / "log.duckdb", component)
    component = Built(1.0, {}, tags=set(), when=dt.datetime(2024, 1, 1), name="src", initial_values={"back": [0]})
    process = LocalProcess([component, Collect(name="sink")], [wire("src.x", "sink.x")], parameters={"p": object()},
                           tap=Recorder(tmp_path / "log2.duckdb"))  # a process parameter, merged into the component's
    with pytest.raises(RecordingError, match=re.escape(f"component 'src' ({Built.__module__}.Built): cannot record parameter 'p' (builtins.object); {ADVICE}")):
        async with process:
            await process.run()


async def test_a_fallback_records_what_the_codec_cannot_carry(tmp_path: Path) -> None:
    component, _, _ = build(weights=object())
    run_id = await record(tmp_path / "log.duckdb", component, fallback="repr")
    with open_log(tmp_path / "log.duckdb") as log:
        weights = log.run(run_id).component_spec("src")["kwargs"]["weights"]
    assert type(weights) is Unrecorded and weights.text.startswith("<object object at 0x")


async def test_an_unknown_component_lists_the_known_ones(tmp_path: Path) -> None:
    component, _, _ = build()
    run_id = await record(tmp_path / "log.duckdb", component)
    with open_log(tmp_path / "log.duckdb") as log:
        with pytest.raises(LogError, match=rf"^run '{run_id}': no component 'snk'; did you mean 'sink'\? components are: 'src', 'sink'$"):
            log.run(run_id).component_spec("snk")


async def test_a_run_recorded_without_a_spec_says_so(tmp_path: Path) -> None:
    import duckdb

    component, _, _ = build()
    run_id = await record(tmp_path / "log.duckdb", component)
    con = duckdb.connect(str(tmp_path / "log.duckdb"))
    con.execute("UPDATE components SET spec = NULL")  # as a run recorded before log schema 3 left it
    con.close()
    with open_log(tmp_path / "log.duckdb") as log:
        with pytest.raises(LogError, match=rf"^run '{run_id}': component 'src' has no spec \(recorded before log schema 3\); "
                                           "its args, parameters and initial_values columns hold them as JSON$"):
            log.run(run_id).component_spec("src")
