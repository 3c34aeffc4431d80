from __future__ import annotations

import pytest
from engine_models import Source

from tapeflow import IO, Component


def test_io_is_per_instance() -> None:
    a, b = Source(name="a", values=[]), Source(name="b", values=[])
    assert a.io is not b.io and a.io is not Source.io
    assert a.io.outputs == ("x",)


def test_constructor_args_are_kept_for_the_recorder() -> None:
    s = Source(name="a", values=[1, 2], parameters={"k": 1})
    assert s.init_args == {"name": "a", "values": [1, 2], "parameters": {"k": 1}}
    assert s.class_path == "engine_models.Source"


def test_reserved_port_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^Bad: port name 'name' is reserved by Component; rename the port$"):

        class Bad(Component):
            io = IO(inputs=["name"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inputs": "x"}, r"^IO: inputs must be a list of port names, not the string 'x'$"),
        ({"inputs": ["x", "x"]}, r"^IO: inputs port 'x' is declared twice; declare each port once$"),
        ({"outputs": ["1y"]}, r"^IO: outputs port '1y' is not a valid name; use a Python identifier such as 'x'$"),
        ({"inputs": ["x"], "outputs": ["x"]}, r"^IO: port 'x' is declared as both input and output; give them distinct names$"),
    ],
)
def test_bad_io_declarations(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        IO(**kwargs)  # type: ignore[arg-type]


def test_name_is_required_and_non_empty() -> None:
    with pytest.raises(ValueError, match=r"^Source: name must be a non-empty string, got ''$"):
        Source(name="", values=[])
