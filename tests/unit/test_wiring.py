"""Every mis-wired model is refused before it runs, with every problem listed at once."""

from __future__ import annotations

import re

import pytest
from conftest import wire
from engine_models import Add, Collect, Pass, Scale, Source

from tapeflow import LocalProcess, ModelError


def problems(components: list[object], connectors: list[object]) -> list[str]:
    with pytest.raises(ModelError) as info:
        LocalProcess(components=components, connectors=connectors)  # type: ignore[arg-type]
    return [p.message for p in info.value.problems]


def test_unknown_input_port_lists_valid_ones() -> None:
    assert problems([Source(name="src", values=[]), Scale(name="scale")], [wire("src.x", "scale.inp")]) == [
        "connector 'src.x -> scale.inp': component 'scale' has no input 'inp'; inputs are: 'a'",
        "component 'scale': input 'a' has no connector and no initial value; connect an output to 'scale.a' or give it initial_values",
    ]


def test_unknown_output_port_and_unknown_component_with_close_match() -> None:
    assert problems([Source(name="src", values=[]), Scale(name="scale")], [wire("src.out", "scale.a"), wire("scal.y", "scale.a")]) == [
        "connector 'src.out -> scale.a': component 'src' has no output 'out'; outputs are: 'x'",
        "connector 'scal.y -> scale.a': no component named 'scal'; did you mean 'scale'?",
        "component 'scale': input 'a' has no connector and no initial value; connect an output to 'scale.a' or give it initial_values",
    ]


def test_port_reference_must_name_component_and_port() -> None:
    assert problems([Source(name="src", values=[]), Collect(name="sink")], [wire("src", "sink.x")])[0] == (
        "connector 'src -> sink.x': source 'src' is not 'component.port'; write it as e.g. 'producer.x'"
    )


def test_duplicate_component_name() -> None:
    msgs = problems([Source(name="scale", values=[]), Pass(name="p", initial_values={"x": [1]}), Scale(name="scale", initial_values={"a": [1]})], [])
    assert msgs == ["duplicate component name 'scale' (components[0] and components[2]); names must be unique"]


def test_input_with_no_connector_and_no_initial_value() -> None:
    assert problems([Collect(name="sink")], []) == [
        "component 'sink': input 'x' has no connector and no initial value; connect an output to 'sink.x' or give it initial_values"
    ]


def test_cycle_without_initial_value_names_the_path_and_the_fix() -> None:
    msgs = problems(
        [Source(name="src", values=[1]), Add(name="sum"), Scale(name="scale")],
        [wire("src.x", "sum.a"), wire("sum.y", "scale.a"), wire("scale.y", "sum.b")],
    )
    assert msgs == ["cycle with no initial value: scale.y -> sum.b -> scale.a; give 'sum.b' an initial value"]


def test_cycle_with_an_initial_value_is_accepted() -> None:
    LocalProcess(
        components=[Source(name="src", values=[1]), Add(name="sum", initial_values={"b": [0]}), Scale(name="scale")],
        connectors=[wire("src.x", "sum.a"), wire("sum.y", "scale.a"), wire("scale.y", "sum.b")],
    )


def test_self_loop_without_initial_value() -> None:
    assert problems([Pass(name="p")], [wire("p.y", "p.x")]) == [
        "cycle with no initial value: p.y -> p.x; give 'p.x' an initial value"
    ]


def test_initial_values_for_unknown_input() -> None:
    assert problems([Source(name="src", values=[]), Scale(name="scale", initial_values={"q": [1]})], [wire("src.x", "scale.a")]) == [
        "component 'scale': initial_values names unknown input 'q'; inputs are: 'a'"
    ]


def test_connector_given_twice() -> None:
    assert problems([Source(name="src", values=[]), Collect(name="sink")], [wire("src.x", "sink.x"), wire("src.x", "sink.x")]) == [
        "connector 'src.x -> sink.x' is given twice (connectors[0] and connectors[1]); remove one"
    ]


def test_problems_carry_paths_for_yaml_positions() -> None:
    with pytest.raises(ModelError) as info:
        LocalProcess(components=[Source(name="src", values=[]), Scale(name="scale")], connectors=[wire("src.x", "scale.inp")])
    assert [p.path for p in info.value.problems] == [("connectors", 0, "target"), ("components", 1)]


def test_long_chain_is_checked_without_recursion_limits() -> None:
    n = 3000
    comps: list[object] = [Source(name="src", values=[])] + [Pass(name=f"p{i}") for i in range(n)]
    conns = [wire("src.x", "p0.x")] + [wire(f"p{i}.y", f"p{i + 1}.x") for i in range(n - 1)]
    LocalProcess(components=comps, connectors=conns)  # type: ignore[arg-type]


def test_initial_values_given_as_a_string_are_refused() -> None:
    # list("10") would feed '1' and then '0': the values as given are checked, not the list.
    with pytest.raises(
        ModelError,
        match=re.escape(
            "component 'p': initial_values for input 'x' is str '10', not a list of values; "
            "write [10] (or ['10'] for one string)"
        ),
    ):
        LocalProcess(components=[Pass(name="p", initial_values={"x": "10"})], connectors=[])


def test_initial_values_that_are_not_lists_are_all_reported_with_paths() -> None:
    with pytest.raises(ModelError) as info:
        LocalProcess(
            components=[
                Pass(name="p", initial_values={"x": "abc"}),
                Add(name="sum", initial_values={"a": b"ab", "b": {"k": 1}}),
            ],
            connectors=[],
        )
    assert [(p.message, p.path) for p in info.value.problems] == [
        (
            "component 'p': initial_values for input 'x' is str 'abc', not a list of values; write ['abc'] for one value",
            ("components", 0, "args", "initial_values", "x"),
        ),
        (
            "component 'sum': initial_values for input 'a' is bytes b'ab', not a list of values; write [b'ab'] for one value",
            ("components", 1, "args", "initial_values", "a"),
        ),
        (
            "component 'sum': initial_values for input 'b' is a mapping, not a list of values; write [{'k': 1}] for one value",
            ("components", 1, "args", "initial_values", "b"),
        ),
    ]


def test_initial_values_may_be_any_iterable_of_values() -> None:
    process = LocalProcess(
        components=[Pass(name="p", initial_values={"x": (1, 2)}), Add(name="sum", initial_values={"a": range(2), "b": [0]})],
        connectors=[wire("p.y", "p.x")],
    )
    assert process.components["sum"].initial_values == {"a": [0, 1], "b": [0]}


def test_initial_values_that_are_not_iterable_are_reported_not_crashed_on() -> None:
    with pytest.raises(ModelError) as info:
        LocalProcess(components=[Pass(name="p", initial_values={"x": 5}), Collect(name="c", initial_values=7)], connectors=[])  # type: ignore[arg-type]
    assert [p.message for p in info.value.problems][:2] == [
        "component 'p': initial_values for input 'x' is int 5, not a list of values; write [5] for one value",
        "component 'c': initial_values is int 7, not a mapping of input name to a list of values; write e.g. {'x': [1]}",
    ]
