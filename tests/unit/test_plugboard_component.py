"""Plugboard's component API on tapeflow: inherited IO, the ``@component`` decorator,
``Component.export()``, the errors Plugboard users catch, and components stepped by hand.

Written from Plugboard's documented behaviour (its tutorials and API docs), with tapeflow's
imports; where tapeflow keeps a difference on purpose, the test says so."""

from __future__ import annotations

import typing as _t
from pathlib import Path

import pytest
from plugboard_models import A, Base, Collect, Grandchild, WithExtra, combine, double

from conftest import wire
from tapeflow import (
    IO,
    Component,
    ComponentArgsDict,
    ComponentError,
    ConfigError,
    LocalProcess,
    ModelError,
    NotInitialisedError,
    IOStreamClosedError,
    OutputNotSetError,
    ProcessError,
    Resource,
    TapeflowError,
    UserError,
    ValidationError,
    component,
)
from tapeflow.engine.library import FileReader, ListReader, ListWriter


async def run(*components: Component, connectors: list[str]) -> LocalProcess:
    pairs = [c.split(" -> ") for c in connectors]
    process = LocalProcess(components=list(components), connectors=[wire(s, t) for s, t in pairs], tap=None)
    async with process:
        await process.run()
    return process


# --- IO inheritance -----------------------------------------------------------------------------


def test_a_subclass_adds_its_ports_to_its_bases() -> None:
    assert (WithExtra.io.inputs, WithExtra.io.outputs) == (("a", "b"), ("x", "y"))
    assert (Grandchild.io.inputs, Grandchild.io.outputs) == (("a", "b", "c"), ("x", "y"))
    assert (Base.io.inputs, Base.io.outputs) == (("a",), ("x",))  # the base is left as it was
    component = WithExtra(name="w")
    assert (component.io.inputs, component.io.outputs) == (("a", "b"), ("x", "y"))


def test_a_subclass_without_io_keeps_its_bases_ports() -> None:
    class Quiet(WithExtra):
        pass

    assert (Quiet.io.inputs, Quiet.io.outputs) == (("a", "b"), ("x", "y"))


def test_a_port_declared_again_by_a_subclass_is_one_port() -> None:
    class Again(Base):
        io = IO(inputs=["a", "z"], outputs=["x"])

    assert (Again.io.inputs, Again.io.outputs) == (("a", "z"), ("x",))


def test_a_subclass_cannot_turn_an_inherited_input_into_an_output() -> None:
    with pytest.raises(ValueError, match=r"^Flipped: port 'a' is declared as both input and output; give them distinct "
                                         r"names \(with the ports it inherits\)$"):
        class Flipped(Base):
            io = IO(outputs=["a"])


async def test_inherited_ports_are_wired_and_run() -> None:
    sink_x, sink_y = Collect(name="sx"), Collect(name="sy")
    await run(
        ListReader(name="src", field_names=["a", "b"], rows=[{"a": 1, "b": 2}, {"a": 3, "b": 4}]),
        WithExtra(name="w"), sink_x, sink_y,
        connectors=["src.a -> w.a", "src.b -> w.b", "w.x -> sx.value", "w.y -> sy.value"],
    )
    assert (sink_x.seen, sink_y.seen) == ([3, 7], [2, 12])


def test_exports_are_inherited_too() -> None:
    class MoreExports(Collect):
        exports = ["count"]

    assert MoreExports.exports == ["seen", "count"]


@pytest.mark.parametrize("port", ["status", "export", "name", "step"])
def test_ports_that_would_hide_the_components_own_attributes_are_refused(port: str) -> None:
    with pytest.raises(ValueError, match=rf"^Clash: port name '{port}' is reserved by Component; rename the port$"):
        type("Clash", (Component,), {"io": IO(outputs=[port])})


# --- @component ---------------------------------------------------------------------------------


async def test_a_decorated_function_is_still_the_function() -> None:
    assert double(a=2) == {"b": 4}
    assert double(3) == {"b": 6}
    assert double.__name__ == "double" and double.__doc__ == "Twice its input."
    assert await combine(a=2, b=3) == {"total": 5, "product": 6}


async def test_a_sync_function_steps_as_a_component() -> None:
    sink = Collect(name="sink")
    made = double.component(name="twice")
    assert isinstance(made, Component) and made.name == "twice"
    assert (made.io.inputs, made.io.outputs) == (("a",), ("b",))
    await run(ListReader(name="src", field_names=["x"], rows=[1, 2, 3]), made, sink,
              connectors=["src.x -> twice.a", "twice.b -> sink.value"])
    assert sink.seen == [2, 4, 6]


async def test_an_async_function_with_two_inputs_and_outputs_steps_as_a_component() -> None:
    total, product = Collect(name="total"), Collect(name="product")
    await run(
        ListReader(name="src", field_names=["x", "y"], rows=[{"x": 1, "y": 2}, {"x": 3, "y": 4}]),
        combine.component(name="both"), total, product,
        connectors=["src.x -> both.a", "src.y -> both.b", "both.total -> total.value", "both.product -> product.value"],
    )
    assert (total.seen, product.seen) == ([3, 7], [2, 12])


def test_a_component_made_from_a_function_is_named_after_it_unless_named() -> None:
    assert double.component().name == "double"
    assert double.create_component(name="d2").name == "d2"  # Plugboard 0.8's name for it
    made = double.component(name="d", parameters={"k": 1}, initial_values={"a": [5]})
    assert made.own_parameters == {"k": 1} and made.initial_values == {"a": [5]}
    assert made.class_path == "plugboard_models.double"
    assert made.export() == {"type": "plugboard_models.double",
                             "args": {"name": "d", "parameters": {"k": 1}, "initial_values": {"a": [5]}}}


async def test_a_function_that_returns_no_mapping_is_refused_by_name() -> None:
    @component(inputs=["a"], outputs=["b"])
    def broken(a: int) -> int:
        return a

    with pytest.raises(ComponentError, match=r"^component 'broken' \(.*broken\) failed in step 0: TypeError: component "
                                             r"'broken' \(.*broken\): .*broken\(\) returned a int, not a mapping of outputs; "
                                             r"return e\.g\. \{'b': \.\.\.\}$"):
        await run(ListReader(name="src", field_names=["x"], rows=[1]), broken.component(), Collect(name="sink"),
                  connectors=["src.x -> broken.a", "broken.b -> sink.value"])


async def test_a_function_that_returns_a_misspelt_output_is_told_which() -> None:
    @component(inputs=["a"], outputs=["b"])
    def typo(a: int) -> dict[str, int]:
        return {"bb": a}

    with pytest.raises(OutputNotSetError, match=r"step 0 ended without setting output 'b' \(it set 'bb', which is not an output\)"):
        await run(ListReader(name="src", field_names=["x"], rows=[1]), typo.component(), Collect(name="sink"),
                  connectors=["src.x -> typo.a", "typo.b -> sink.value"])


async def test_a_function_cannot_overwrite_the_components_own_attributes() -> None:
    @component(inputs=["a"], outputs=["b"])
    def renamer(a: int) -> dict[str, int]:
        return {"b": a, "name": "other"}

    with pytest.raises(ComponentError, match=r"renamer\(\) returned the key 'name', which cannot be an output; outputs are: 'b'$"):
        await run(ListReader(name="src", field_names=["x"], rows=[1]), renamer.component(), Collect(name="sink"),
                  connectors=["src.x -> renamer.a", "renamer.b -> sink.value"])


def test_a_decorator_with_a_reserved_port_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^f: port name 'name' is reserved by Component; rename the port$"):
        @component(outputs=["name"])
        def f() -> dict[str, str]:
            return {}


# --- Component.export() -------------------------------------------------------------------------


class Configured(Component):
    io = IO(outputs=["x"])

    def __init__(self, path: str | Path, rate: float = 1.0, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        # What the inner call passes is not what was asked for: export keeps the outermost call.
        super().__init__(**{**kwargs, "parameters": {"inner": True}})
        self.path = path


def test_export_holds_the_class_path_and_the_outermost_arguments() -> None:
    made = Configured("in.csv", name="c", resources={"cpu": "500m"})
    assert made.export() == {
        "type": f"{__name__}.Configured",
        "args": {"name": "c", "path": "in.csv", "resources": {"cpu": "500m"}},
    }


def test_export_writes_a_resource_as_its_mapping() -> None:
    made = A(name="a", iters=3, resources=Resource(cpu=2, memory="1Ki"))
    assert made.export() == {
        "type": "plugboard_models.A",
        "args": {"name": "a", "iters": 3, "resources": {"cpu": 2.0, "gpu": 0.0, "memory": 1024, "resources": {}}},
    }


def test_export_refuses_positional_arguments_it_cannot_name() -> None:
    from tapeflow import ExportError

    class Many(Component):
        def __init__(self, first: int, *more: int, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
            super().__init__(**kwargs)

    assert Many(1, name="m").export()["args"] == {"name": "m", "first": 1}
    made = Many(1, 2, name="a")
    with pytest.raises(ExportError, match=r"^component 'a' \(.*Many\): 1 positional argument\(s\) have no "
                                          r"parameter name \(they went to \*args\), and a YAML model passes arguments by "
                                          r"name; pass them by keyword$"):
        made.export()


# --- errors users catch -------------------------------------------------------------------------


def test_plugboards_error_names_sit_in_tapeflows_tree() -> None:
    assert issubclass(ModelError, ValidationError) and issubclass(ConfigError, ValidationError)
    assert issubclass(ValidationError, UserError)
    assert issubclass(NotInitialisedError, ProcessError)
    assert issubclass(IOStreamClosedError, TapeflowError)


def test_except_validation_error_catches_a_miswired_model() -> None:
    with pytest.raises(ValidationError, match=r"component 'w' has no input 'q'"):
        LocalProcess(components=[A(name="a", iters=1), WithExtra(name="w")], connectors=[wire("a.out_1", "w.q")])


class Forgetful(Component):
    io = IO(outputs=["x"])

    def __init__(self, iters: int, **kwargs: _t.Any) -> None:
        self._iters = iters  # no super().__init__(**kwargs)


def test_a_component_that_skips_super_init_gets_one_line_naming_its_class() -> None:
    with pytest.raises(ValidationError) as caught:
        LocalProcess(components=[Forgetful(name="f", iters=2), Collect(name="sink")], connectors=[])
    assert str(caught.value) == (
        f"component class 'Forgetful' ({__name__}.Forgetful) was built without Component.__init__; "
        "call super().__init__(**kwargs) in Forgetful.__init__"
    )


# --- stepped by hand ----------------------------------------------------------------------------


async def test_a_source_stepped_past_its_end_raises_a_closed_error() -> None:
    source = A(name="a", iters=2)
    await source.init()
    seen = []
    while True:
        try:
            await source.step()
        except IOStreamClosedError as error:
            assert str(error) == (
                "component 'a' (plugboard_models.A): stepped after it closed (its data ended in an earlier step); "
                "stop stepping it (catch IOStreamClosedError to end a loop that steps it by hand)"
            )
            break
        if not source.io.closed:
            seen.append(source.out_1)
    assert seen == [0, 1]


async def test_a_file_reader_stepped_past_its_last_row_raises_a_closed_error(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("x\n1\n2\n")
    reader = FileReader(name="load", path=path, field_names=["x"])
    await reader.init()
    rows = []
    with pytest.raises(IOStreamClosedError, match=r"^component 'load' \(FileReader\): stepped past the last row of "
                                                  r"'.*in\.csv' \(2 rows read\); stop stepping it"):
        for _ in range(10):
            await reader.step()
            if not reader.io.closed:
                rows.append(reader.x)
    assert rows == [1, 2]
    await reader.destroy()


async def test_a_list_reader_stepped_past_its_rows_raises_a_closed_error() -> None:
    reader = ListReader(name="src", field_names=["x"], rows=[1])
    await reader.init()
    await reader.step()
    await reader.step()  # the step that finds no row closes the reader
    with pytest.raises(IOStreamClosedError, match=r"^component 'src' \(tapeflow\.engine\.library\.memory_io\.ListReader\): "
                                                  r"stepped after it closed"):
        await reader.step()


async def test_a_process_runs_its_closed_sources_again_on_its_next_run() -> None:
    sink = ListWriter(name="sink", field_names=["x"])
    process = LocalProcess(components=[A(name="a", iters=3), double.component(name="d"), sink],
                           connectors=[wire("a.out_1", "d.a"), wire("d.b", "sink.x")], tap=None)
    for _ in range(2):
        await process.run()
        assert sink.rows == [{"x": 0}, {"x": 2}, {"x": 4}]


class ClosesTwice(Component):
    """Closes in init() when it has nothing to send, and again in its step and destroy()."""

    io = IO(outputs=["x"])

    def __init__(self, values: list[int], **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._values = values

    async def init(self) -> None:
        self._it = iter(self._values)
        if not self._values:
            await self.io.close()

    async def step(self) -> None:
        try:
            self.x = next(self._it)
        except StopIteration:
            await self.io.close()

    async def destroy(self) -> None:
        await self.io.close()


@pytest.mark.parametrize("values", [[], [1, 2]])
async def test_closing_twice_is_fine_in_a_process(values: list[int]) -> None:
    sink = Collect(name="sink")
    process = await run(ClosesTwice(name="src", values=values), sink, connectors=["src.x -> sink.value"])
    assert sink.seen == values and process.status == "completed"


def test_a_file_column_named_like_a_component_attribute_is_refused(tmp_path: Path) -> None:
    from tapeflow.engine.library import FileFormatError

    with pytest.raises(FileFormatError, match=r"field 'status' clashes with an attribute of FileReader; rename the column"):
        FileReader(name="load", path=tmp_path / "in.csv", field_names=["status"])


def test_a_components_status_is_its_processs_to_set() -> None:
    made = Collect(name="c")
    assert made.status == "created"
    with pytest.raises(AttributeError):
        made.status = "busy"  # type: ignore[misc]  # read-only, as in Plugboard
