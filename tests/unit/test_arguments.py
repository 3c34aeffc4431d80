"""A component's YAML args are checked against its constructor's signature and hints before
it is called; every problem is reported at once, at the value at fault (messages are API)."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

from tapeflow import ConfigError
from tapeflow.engine.config import check_model

FIXTURES = Path(__file__).parents[1] / "fixtures" / "config"


def write_model(folder: Path, components: str) -> Path:
    for module in ("cfg_parts.py", "cfg_typed.py"):
        shutil.copy(FIXTURES / module, folder / module)
    path = folder / "model.yaml"
    entries = textwrap.indent(textwrap.dedent(components).strip("\n"), "      ")
    path.write_text(f"tapeflow:\n  process:\n    args:\n      components:\n{entries}\n")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        check_model(path)
    prefix = f"{path}:"
    assert all(line.startswith(prefix) for line in caught.value.lines), caught.value.lines
    return [line[len(prefix) :] for line in caught.value.lines]


def test_quoted_number_for_an_int_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = write_model(tmp_path, "- {type: cfg_parts.Iterator, args: {name: src, iters: \"10\"}}")
    expected = (
        f"{path}:5:61: component 'src': argument 'iters' (int) is str '10'; write 10 without quotes "
        "(YAML values are not converted)"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(expected)}$"):
        check_model(path)


def test_every_kind_of_problem_at_once(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        - type: cfg_typed.Source
          args:
            name: src
            count: ten
            rate: "2.5"
            label: 7
            enabled: "true"
            mode: medium
            size: [1, "2"]
            fields: "a,b"
            limit: -1
            options: {a: 1, b: x}
            parameters: [1]
            cuont: 3
        - type: cfg_typed.Loose
          args: {name: loose}
        - type: cfg_typed.Loose
          args: {name: 5, gain: 1}
        """,
    )
    assert errors_of(path) == [
        "8:18: component 'src': argument 'count' (int) is str 'ten'; input should be a valid integer",
        "9:17: component 'src': argument 'rate' (float) is str '2.5'; write 2.5 without quotes (YAML values are not converted)",
        "10:18: component 'src': argument 'label' (str) is int 7; input should be a valid string",
        "11:20: component 'src': argument 'enabled' (bool) is str 'true'; write true without quotes (YAML values are not converted)",
        "12:17: component 'src': argument 'mode' (Literal['fast', 'slow']) is str 'medium'; input should be 'fast' or 'slow'",
        "13:21: component 'src': argument 'size' (tuple[float, float]) item [1] is str '2'; write 2 without quotes "
        "(YAML values are not converted)",
        "14:19: component 'src': argument 'fields' (Sequence[str]) is str 'a,b'; input should be a list",
        "15:18: component 'src': argument 'limit' (int) is int -1; input should be greater than or equal to 0",
        "16:30: component 'src': argument 'options' (dict[str, int] | None) item ['b'] is str 'x'; "
        "input should be a valid integer",
        "17:23: component 'src': argument 'parameters' (Mapping[str, Any] | None) is a list; input should be a mapping",
        "18:11: component 'src': unexpected argument 'cuont' for cfg_typed.Source; did you mean 'count'? arguments are: "
        "'count', 'rate', 'label', 'enabled', 'mode', 'speed', 'size', 'fields', 'path', 'limit', 'options', 'price', "
        "'thing', 'anything', 'untyped', 'name', 'initial_values', 'parameters', 'resources'",
        "20:15: component 'loose': missing required argument 'gain' for cfg_typed.Loose; add 'gain: ...' under args",
        "22:22: components[2]: argument 'name' (str) is int 5; input should be a valid string",
    ]


def test_values_yaml_cannot_write_otherwise_are_accepted(tmp_path: Path) -> None:
    # An int for a float, a string for a Path or an enum (by value), a list for a tuple.
    path = write_model(
        tmp_path,
        """
        - type: cfg_typed.Source
          args: {name: src, count: 3, rate: 2, speed: slow, size: [1, 2.5], path: out.csv, fields: [a, b],
                 options: {a: 1}, limit: 0, initial_values: {}}
        """,
    )
    source = check_model(path).components["src"]
    assert source.count == 3  # type: ignore[attr-defined]
    assert source.init_args["path"] == "out.csv"  # checked, never converted


def test_hints_that_cannot_be_checked_are_skipped(tmp_path: Path) -> None:
    # price: a name imported only under TYPE_CHECKING; thing: a class pydantic cannot check;
    # anything: Any; untyped: no hint at all.
    path = write_model(
        tmp_path,
        """
        - type: cfg_typed.Source
          args: {name: src, count: 1, price: "12.50", thing: whatever, anything: [1, {b: 2}], untyped: 3}
        """,
    )
    assert list(check_model(path).components) == ["src"]


def test_plain_kwargs_reach_the_base_arguments(tmp_path: Path) -> None:
    # Loose takes **kwargs: Any, so the base Component's arguments and hints apply.
    path = write_model(
        tmp_path,
        """
        - type: cfg_typed.Loose
          args: {name: a, gain: 1.5, initial_values: {a: [1]}, parameters: {k: 1}, resources: {cpu: 1}}
        - type: cfg_typed.Loose
          args: {name: b, gain: 1, parameters: 3, colour: red}
        """,
    )
    assert errors_of(path) == [
        "8:46: component 'b': argument 'parameters' (Mapping[str, Any] | None) is int 3; input should be a mapping",
        "8:49: component 'b': unexpected argument 'colour' for cfg_typed.Loose; arguments are: 'gain', 'name', "
        "'initial_values', 'parameters', 'resources'",
    ]


@pytest.mark.parametrize(
    "value, message",
    [
        ('"10"', "initial_values for input 'a' is str '10', not a list of values; write [10] (or ['10'] for one string)"),
        ("abc", "initial_values for input 'a' is str 'abc', not a list of values; write ['abc'] for one value"),
        ("5", "initial_values for input 'a' is int 5, not a list of values; write [5] for one value"),
        ("{k: 1}", "initial_values for input 'a' is a mapping, not a list of values; write [{'k': 1}] for one value"),
        ("null", "initial_values for input 'a' is None, not a list of values; leave the input out, or give a list of values"),
    ],
)
def test_initial_values_must_be_lists(tmp_path: Path, value: str, message: str) -> None:
    path = write_model(tmp_path, f"- {{type: cfg_parts.Scaler, args: {{name: s, initial_values: {{a: {value}}}}}}}")
    assert errors_of(path) == [f"5:70: component 's': {message}"]


def test_initial_values_must_be_a_mapping(tmp_path: Path) -> None:
    path = write_model(tmp_path, "- {type: cfg_parts.Scaler, args: {name: s, initial_values: [1, 2]}}")
    assert errors_of(path) == [
        "5:66: component 's': initial_values is a list, not a mapping of input name to a list of values; "
        "write e.g. {'a': [1]}"
    ]
