"""Plugboard's process API on tapeflow: ``status`` with Plugboard's values, ``step()``,
``run()`` without ``init()``, a cancelled run, and ``export()`` / ``dump(path)``.

Written from Plugboard's documented behaviour; where tapeflow keeps a difference on purpose
the test pins tapeflow's side and says so (docs/plugboard.md lists them)."""

from __future__ import annotations

import asyncio
import typing as _t
from pathlib import Path

import pytest
import yaml
from plugboard_models import A, Collect, Offset, Scale, Sum, WithExtra, double

from conftest import ListTap, wire
from tapeflow import (
    IO,
    AsyncioConnector,
    Component,
    ComponentArgsDict,
    ComponentError,
    ConnectorSpec,
    ExportError,
    Interrupted,
    IOStreamClosedError,
    LocalProcess,
    NotAvailableError,
    NotInitialisedError,
    ProcessError,
    RayProcess,
    Status,
    ZMQConnector,
)
from tapeflow.engine.config import load_process
from tapeflow.engine.library import ListReader


def chain(values: list[int], tap: _t.Any = None) -> LocalProcess:
    """src -> double -> sink: each value reaches the sink doubled."""
    return LocalProcess(
        components=[ListReader(name="src", field_names=["x"], rows=values), double.component(name="d"), Collect(name="sink")],
        connectors=[wire("src.x", "d.a"), wire("d.b", "sink.value")],
        tap=tap,
    )


def statuses(process: LocalProcess) -> dict[str, str]:
    return {name: str(c.status) for name, c in process.components.items()}


# --- status ---------------------------------------------------------------------------------------


async def test_status_follows_the_run_with_plugboards_values() -> None:
    process = chain([1, 2])
    assert process.status is Status.CREATED and set(statuses(process).values()) == {"created"}
    await process.init()
    assert process.status == "init" and set(statuses(process).values()) == {"init"}
    await process.run()
    assert process.status == Status.COMPLETED and set(statuses(process).values()) == {"completed"}
    await process.destroy()
    assert process.status.is_terminal


class Boom(Component):
    io = IO(inputs=["a"], outputs=["x"])

    async def step(self) -> None:
        if self.a == 2:
            raise RuntimeError("boom at 2")
        self.x = self.a


async def test_a_failed_run_marks_the_failing_component_failed_and_the_others_stopped() -> None:
    process = LocalProcess(
        components=[ListReader(name="src", field_names=["x"], rows=[1, 2, 3]), Boom(name="boom"), Collect(name="sink")],
        connectors=[wire("src.x", "boom.a"), wire("boom.x", "sink.value")], tap=None,
    )
    with pytest.raises(ComponentError, match=r"^component 'boom' .* failed in step 1: RuntimeError: boom at 2$"):
        await process.run()
    assert process.status == "failed"
    assert statuses(process) == {"src": "stopped", "boom": "failed", "sink": "stopped"}


class Forever(Component):
    io = IO(outputs=["x"])

    async def step(self) -> None:
        self.x = 1
        await asyncio.sleep(0)


async def test_a_cancelled_run_is_stopped_and_the_cancellation_goes_on() -> None:
    # Plugboard's run() returns after a cancel; tapeflow's lets the CancelledError through
    # (asyncio.timeout and task groups rely on it), with the same status.
    process = LocalProcess(components=[Forever(name="src"), Collect(name="sink")], connectors=[wire("src.x", "sink.value")], tap=None)
    task = asyncio.create_task(process.run())
    while not process.progress() or process.progress()["sink"] < 10:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert process.status == "stopped"
    assert set(statuses(process).values()) == {"stopped"}


async def test_an_interrupted_run_is_stopped_while_its_record_says_failed() -> None:
    tap = ListTap()
    process = LocalProcess(components=[Forever(name="src"), Collect(name="sink")], connectors=[wire("src.x", "sink.value")], tap=tap)
    task = asyncio.create_task(process.run())
    while not process.progress() or process.progress()["sink"] < 10:
        await asyncio.sleep(0)
    process.interrupt(Interrupted("SIGINT", 130))
    with pytest.raises(Interrupted):
        await task
    assert process.status == "stopped"
    assert tap.ended is not None and tap.ended[0] == "failed"  # the event log keeps its own words


# --- run() without init() -------------------------------------------------------------------------


class Tracked(Collect):
    def __init__(self, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self.phases: list[str] = []

    async def init(self) -> None:
        await super().init()
        self.phases.append("init")

    async def destroy(self) -> None:
        self.phases.append("destroy")


async def test_run_without_init_runs_the_whole_life_cycle() -> None:
    # Plugboard refuses run() before init() (NotInitialisedError); tapeflow runs init(), the
    # run and destroy() itself, on purpose: `await process.run()` alone is a whole run.
    sink = Tracked(name="sink")
    process = LocalProcess(components=[ListReader(name="src", field_names=["x"], rows=[1, 2]), sink],
                           connectors=[wire("src.x", "sink.value")], tap=None)
    await process.run()
    assert sink.seen == [1, 2] and sink.phases == ["init", "destroy"]
    assert process.status == "completed"


# --- step() ---------------------------------------------------------------------------------------


async def test_step_before_init_is_refused() -> None:
    process = chain([1])
    with pytest.raises(NotInitialisedError, match=r"^process 'LocalProcess': step\(\) before init\(\); call await "
                                                  r"process\.init\(\) first \(or step inside async with process:\)$"):
        await process.step()


async def test_step_after_a_whole_run_asks_for_a_new_one() -> None:
    process = chain([1])
    async with process:
        await process.run()
        with pytest.raises(ProcessError, match=r"^process 'LocalProcess': the run ended \(completed\); destroy\(\) and "
                                               r"init\(\) again to step it$"):
            await process.step()


async def test_each_step_moves_one_value_through_the_whole_chain() -> None:
    process = chain([1, 2, 3])
    seen = []
    async with process:
        while True:
            try:
                await process.step()
            except IOStreamClosedError as error:
                assert str(error) == "process 'LocalProcess': every component has finished; the run is completed"
                break
            assert process.status == "waiting"
            assert statuses(process) == {"src": "waiting", "d": "waiting", "sink": "waiting"}
            seen.append(list(process.components["sink"].seen))  # type: ignore[attr-defined]
        assert seen == [[2], [2, 4], [2, 4, 6]]
        assert process.status == "completed" and set(statuses(process).values()) == {"completed"}
        with pytest.raises(IOStreamClosedError):
            await process.step()
    with pytest.raises(NotInitialisedError):
        await process.step()


async def test_a_loop_steps_from_its_initial_value() -> None:
    # sum.x -> scale.a -> sum.b, started by scale's initial value 0: s = x + 0.5 * s_before.
    sink = Collect(name="sink")
    process = LocalProcess(
        components=[ListReader(name="src", field_names=["x"], rows=[1.0, 2.0, 3.0]), Sum(name="sum"),
                    Scale(name="scale", scale=0.5, initial_values={"a": [0]}), sink],
        connectors=[wire("src.x", "sum.a"), wire("sum.x", "scale.a"), wire("scale.x", "sum.b"), wire("sum.x", "sink.value")],
        tap=None,
    )
    await process.init()
    for expected in ([1.0], [1.0, 2.5], [1.0, 2.5, 4.25]):
        await process.step()
        assert sink.seen == expected
    with pytest.raises(IOStreamClosedError):
        while True:
            await process.step()
    assert sink.seen == [1.0, 2.5, 4.25]
    await process.destroy()


async def test_stepping_gives_what_run_gives_for_a_branching_model() -> None:
    def build() -> LocalProcess:
        return LocalProcess(
            components=[ListReader(name="src", field_names=["x"], rows=[1, 2, 3, 4]), Offset(name="offset", offset=10),
                        Scale(name="scale", scale=3), Sum(name="sum"), Collect(name="sink")],
            connectors=[wire("src.x", "offset.a"), wire("src.x", "scale.a"), wire("offset.x", "sum.a"),
                        wire("scale.x", "sum.b"), wire("sum.x", "sink.value")],
            tap=None,
        )

    ran = build()
    await ran.run()
    stepped = build()
    async with stepped:
        with pytest.raises(IOStreamClosedError):
            for _ in range(10):
                await stepped.step()
    assert stepped.components["sink"].seen == ran.components["sink"].seen == [14, 18, 22, 26]  # type: ignore[attr-defined]


async def test_a_step_that_raises_fails_the_run() -> None:
    process = LocalProcess(
        components=[ListReader(name="src", field_names=["x"], rows=[1, 2, 3]), Boom(name="boom"), Collect(name="sink")],
        connectors=[wire("src.x", "boom.a"), wire("boom.x", "sink.value")], tap=ListTap(),
    )
    await process.init()
    await process.step()
    with pytest.raises(ComponentError, match=r"^component 'boom' .* failed in step 1: RuntimeError: boom at 2$"):
        await process.step()
    assert process.status == "failed" and process.components["boom"].status == "failed"
    assert process.tap.ended is not None and process.tap.ended[0] == "failed"  # type: ignore[union-attr]
    with pytest.raises(ProcessError, match=r"^process 'LocalProcess': the run ended \(failed\); destroy\(\) and init\(\) again"):
        await process.step()
    await process.destroy()


async def test_run_cannot_take_over_a_stepped_run() -> None:
    process = chain([1, 2, 3])
    async with process:
        await process.step()
        with pytest.raises(ProcessError, match=r"^process 'LocalProcess': run\(\) after step\(\) in the same run; step\(\) "
                                               r"on to the end, or destroy\(\) and init\(\) again before run\(\)$"):
            await process.run()
    await process.init()  # a new run: run() is fine again
    await process.run()
    assert process.components["sink"].seen == [2, 4, 6]  # type: ignore[attr-defined]
    await process.destroy()


async def test_a_stepped_run_is_recorded_with_its_outcome() -> None:
    tap = ListTap()
    process = chain([1], tap=tap)
    async with process:
        with pytest.raises(IOStreamClosedError):
            for _ in range(5):
                await process.step()
    assert tap.run is not None and tap.ended == ("completed", None)


def test_step_is_for_local_processes() -> None:
    process = RayProcess(components=[A(name="a", iters=1), Collect(name="sink")],
                         connectors=[ZMQConnector(spec=ConnectorSpec(source="a.out_1", target="sink.value"))], tap=None)
    with pytest.raises(NotAvailableError, match=r"^process 'RayProcess': step\(\) is not available on RayProcess"):
        asyncio.run(process.step())


# --- export() and dump() --------------------------------------------------------------------------


def branching(tmp_path: Path) -> LocalProcess:
    return LocalProcess(
        name="branching",
        components=[ListReader(name="src", field_names=["x"], rows=[1, 2, 3]), Offset(name="offset", offset=10),
                    Scale(name="scale", scale=3, initial_values={"a": [0]}), WithExtra(name="both", resources={"cpu": 2}),
                    Collect(name="sink", parameters={"k": "v"})],
        connectors=[wire("src.x", "offset.a"), wire("src.x", "scale.a"), wire("offset.x", "both.a"),
                    wire("scale.x", "both.b"), wire("both.x", "sink.value")],
        parameters={"scale": 0.5},
        tap=None,
    )


def test_export_is_the_process_section_of_a_model(tmp_path: Path) -> None:
    exported = branching(tmp_path).export()
    assert exported["type"] == "tapeflow.LocalProcess"
    assert exported["connector_builder"] == {"type": "tapeflow.AsyncioConnector"}
    args = exported["args"]
    assert args["name"] == "branching" and args["parameters"] == {"scale": 0.5}
    assert args["connectors"][0] == {"source": "src.x", "target": "offset.a"}
    assert args["components"][2] == {"type": "plugboard_models.Scale",
                                      "args": {"name": "scale", "scale": 3, "initial_values": {"a": [0]}}}


async def test_a_dumped_process_loads_back_and_runs_alike(tmp_path: Path) -> None:
    original = branching(tmp_path)
    await original.run()
    path = tmp_path / "out" / "model.yaml"
    original.dump(path)
    text = path.read_text()
    assert text.startswith("# Written by tapeflow's Process.dump(); run it with: tapeflow run model.yaml\ntapeflow:\n")
    loaded = load_process(path)
    assert isinstance(loaded, LocalProcess) and loaded.name == "branching" and loaded.parameters == {"scale": 0.5}
    assert loaded.components["both"].resources == original.components["both"].resources
    assert loaded.components["sink"].own_parameters == {"k": "v"}
    loaded.tap = None
    await loaded.run()
    assert loaded.components["sink"].seen == original.components["sink"].seen == [11 + 0, 12 + 3, 13 + 6]  # type: ignore[attr-defined]
    assert loaded.export() == original.export()


def test_dump_writes_paths_as_strings_and_tuples_as_lists(tmp_path: Path) -> None:
    process = LocalProcess(components=[ListReader(name="src", field_names=("x",), rows=[(1, 2)]), Collect(name="sink")],
                           connectors=[wire("src.x", "sink.value")])
    process.components["src"].__dict__["_tapeflow_args"]["where"] = tmp_path / "a.csv"
    process.dump(tmp_path / "m.yml")
    args = yaml.safe_load((tmp_path / "m.yml").read_text())["tapeflow"]["process"]["args"]["components"][0]["args"]
    assert args == {"name": "src", "field_names": ["x"], "rows": [[1, 2]], "where": str(tmp_path / "a.csv")}


def test_dump_names_an_argument_a_yaml_file_cannot_hold(tmp_path: Path) -> None:
    process = LocalProcess(components=[ListReader(name="src", field_names=["x"], rows=[{"x": len}]), Collect(name="sink")],
                           connectors=[wire("src.x", "sink.value")])
    with pytest.raises(ExportError, match=r"^component 'src' \(tapeflow\.engine\.library\.memory_io\.ListReader\): argument "
                                          r"'rows'\[0\]\['x'\] is a builtin_function_or_method \(<built-in function len>\), "
                                          r"which a YAML model cannot hold; pass plain data"):
        process.dump(tmp_path / "m.yaml")
    assert not (tmp_path / "m.yaml").exists()


def test_dump_wants_a_yaml_file_name(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"^process 'LocalProcess': cannot dump to '.*model\.json': a model file's name "
                                          r"ends in \.yaml or \.yml; use a name such as 'model\.yaml'$"):
        chain([1]).dump(tmp_path / "model.json")


def test_dump_refuses_connectors_of_several_types(tmp_path: Path) -> None:
    process = LocalProcess(components=[A(name="a", iters=1), Collect(name="s1"), Collect(name="s2")],
                           connectors=[wire("a.out_1", "s1.value"), ZMQConnector(spec=ConnectorSpec(source="a.out_1", target="s2.value"))])
    with pytest.raises(ExportError, match=r"^process 'LocalProcess': its connectors are of 2 types \(tapeflow\.AsyncioConnector, "
                                          r"tapeflow\.ZMQConnector\), and a model file names one connector_builder"):
        process.dump(tmp_path / "m.yaml")


def test_a_ray_process_dumps_as_one(tmp_path: Path) -> None:
    process = RayProcess(components=[A(name="a", iters=1), Collect(name="sink")],
                         connectors=[ZMQConnector(spec=ConnectorSpec(source="a.out_1", target="sink.value"))], tap=None)
    process.dump(tmp_path / "ray.yaml")
    section = yaml.safe_load((tmp_path / "ray.yaml").read_text())["tapeflow"]["process"]
    assert (section["type"], section["connector_builder"]["type"]) == ("tapeflow.RayProcess", "tapeflow.ZMQConnector")
    assert isinstance(load_process(tmp_path / "ray.yaml"), RayProcess)


def test_asyncio_connector_spec_is_plugboards() -> None:
    connector = AsyncioConnector(spec=ConnectorSpec(source="a.out_1", target="b.in_1"))
    assert (connector.spec.source, connector.spec.target) == ("a.out_1", "b.in_1")
