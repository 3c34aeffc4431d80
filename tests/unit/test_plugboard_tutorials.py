"""Plugboard's tutorials on tapeflow: hello world; branching, loop and parameters (complex
processes); components (FileReader and FileWriter). Their models written as Plugboard's docs
write them, with tapeflow's imports (``plugboard_models``), and their YAML in the forms
Plugboard's docs show (a hand-written file, and the ``{entity, descriptor}`` form of its
parameters example). Each run writes what the tutorial says it writes.

The random source is seeded here so the outputs can be checked exactly: each output line is
the tutorial's formula applied to the matching input line."""

from __future__ import annotations

import csv
import random
import textwrap
from pathlib import Path

import pytest
from plugboard_models import A, B, Describe, Offset, Random, Save, Scale, ScaleFromParameter, Sum

from tapeflow import AsyncioConnector, ConnectorSpec, IOStreamClosedError, LocalProcess
from tapeflow.engine.config import load_process
from tapeflow.engine.library import FileReader, FileWriter


def connect(source: str, target: str) -> AsyncioConnector:
    return AsyncioConnector(spec=ConnectorSpec(source=source, target=target))


def numbers(path: Path) -> list[float]:
    return [float(line) for line in path.read_text().splitlines()]


def write_yaml(folder: Path, text: str) -> Path:
    path = folder / "model.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


# --- hello world ----------------------------------------------------------------------------------


async def test_hello_world_in_python(tmp_path: Path) -> None:
    process = LocalProcess(
        components=[A(name="a", iters=5), B(name="b", path=str(tmp_path / "b.txt"))],
        connectors=[AsyncioConnector(spec=ConnectorSpec(source="a.out_1", target="b.in_1"))],
    )
    async with process:
        await process.run()
    assert (tmp_path / "b.txt").read_text() == "0\n2\n4\n6\n8\n"


async def test_hello_world_as_its_yaml_file(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, f"""
        plugboard:
          process:
            args:
              components:
              - type: plugboard_models.A
                args:
                  name: "a"
                  iters: 10
              - type: plugboard_models.B
                args:
                  name: "b"
                  path: "{tmp_path / 'b.txt'}"
              connectors:
              - source: "a.out_1"
                target: "b.in_1"
    """)
    process = load_process(path)
    async with process:
        await process.run()
    assert (tmp_path / "b.txt").read_text() == "".join(f"{2 * i}\n" for i in range(10))


async def test_hello_world_stepped_by_hand(tmp_path: Path) -> None:
    process = LocalProcess(
        components=[A(name="a", iters=3), B(name="b", path=str(tmp_path / "b.txt"))],
        connectors=[connect("a.out_1", "b.in_1")],
    )
    steps = 0
    async with process:
        while True:
            try:
                await process.step()
            except IOStreamClosedError:
                break
            steps += 1
    assert steps == 3
    assert (tmp_path / "b.txt").read_text() == "0\n2\n4\n"


# --- complex processes ----------------------------------------------------------------------------


async def test_branching(tmp_path: Path) -> None:
    process = LocalProcess(
        components=[
            Random(name="random", iters=5, low=0, high=10, seed=1),
            Offset(name="offset", offset=10),
            Scale(name="scale", scale=2),
            Sum(name="sum"),
            Save(name="save-input", path=str(tmp_path / "input.txt")),
            Save(name="save-output", path=str(tmp_path / "output.txt")),
        ],
        connectors=[
            connect("random.x", "save-input.value_to_save"),
            connect("random.x", "offset.a"),
            connect("random.x", "scale.a"),
            connect("offset.x", "sum.a"),
            connect("scale.x", "sum.b"),
            connect("sum.x", "save-output.value_to_save"),
        ],
    )
    async with process:
        await process.run()
    inputs = numbers(tmp_path / "input.txt")
    assert len(inputs) == 5 and all(0 <= x <= 10 for x in inputs)
    assert numbers(tmp_path / "output.txt") == [(x + 10) + (x * 2) for x in inputs]


async def test_loop(tmp_path: Path) -> None:
    process = LocalProcess(
        components=[
            Random(name="random", iters=5, low=0, high=10, seed=2),
            Sum(name="sum"),
            Scale(name="scale", initial_values={"a": [0]}, scale=0.5),
            Save(name="save-output", path=str(tmp_path / "cumulative-sum.txt")),
        ],
        connectors=[
            connect("random.x", "sum.a"),
            connect("sum.x", "scale.a"),
            connect("scale.x", "sum.b"),
            connect("sum.x", "save-output.value_to_save"),
        ],
    )
    async with process:
        await process.run()
    rng, expected, total = random.Random(2), [], 0.0
    for _ in range(5):
        total = rng.uniform(0, 10) + total * 0.5
        expected.append(total)
    assert numbers(tmp_path / "cumulative-sum.txt") == expected


def parameters_model(tmp_path: Path) -> LocalProcess:
    return LocalProcess(
        components=[
            Random(name="random", iters=5, low=0, high=10, seed=3),
            ScaleFromParameter(name="scale_a"),
            ScaleFromParameter(name="scale_b", parameters={"scale": 2.0}),
            Sum(name="sum"),
            Save(name="save-input", path=str(tmp_path / "input.txt")),
            Save(name="save-output", path=str(tmp_path / "output.txt")),
        ],
        connectors=[
            connect("random.x", "save-input.value_to_save"),
            connect("random.x", "scale_a.a"),
            connect("random.x", "scale_b.a"),
            connect("scale_a.x", "sum.a"),
            connect("scale_b.x", "sum.b"),
            connect("sum.x", "save-output.value_to_save"),
        ],
        parameters={"scale": 0.5},
    )


def check_parameters_outputs(tmp_path: Path) -> None:
    inputs = numbers(tmp_path / "input.txt")
    assert len(inputs) == 5
    assert numbers(tmp_path / "output.txt") == [x * 0.5 + x * 2.0 for x in inputs]


async def test_parameters(tmp_path: Path) -> None:
    process = parameters_model(tmp_path)
    async with process:
        await process.run()
    check_parameters_outputs(tmp_path)


async def test_parameters_as_its_yaml_file(tmp_path: Path) -> None:
    # The parameters tutorial's file is in the form Plugboard's dump writes.
    ends = [("random", "x", "save-input", "value_to_save"), ("random", "x", "scale_a", "a"), ("random", "x", "scale_b", "a"),
            ("scale_a", "x", "sum", "a"), ("scale_b", "x", "sum", "b"), ("sum", "x", "save-output", "value_to_save")]
    connectors = "".join(
        f"      - source:\n          entity: {s}\n          descriptor: {sp}\n"
        f"        target:\n          entity: {t}\n          descriptor: {tp}\n        mode: pipeline\n"
        for s, sp, t, tp in ends
    )
    text = f"""\
plugboard:
  process:
    args:
      components:
      - type: plugboard_models.Random
        args:
          name: random
          iters: 5
          low: 0
          high: 10
          seed: 3
      - type: plugboard_models.ScaleFromParameter
        args:
          name: scale_a
      - type: plugboard_models.ScaleFromParameter
        args:
          name: scale_b
          parameters:
            scale: 2.0
      - type: plugboard_models.Sum
        args:
          name: sum
      - type: plugboard_models.Save
        args:
          name: save-input
          path: {tmp_path / 'input.txt'}
      - type: plugboard_models.Save
        args:
          name: save-output
          path: {tmp_path / 'output.txt'}
      connectors:
{connectors}      parameters:
        scale: 0.5
    type: plugboard.process.LocalProcess
"""
    path = tmp_path / "parameters.yaml"
    path.write_text(text)
    process = load_process(path)
    async with process:
        await process.run()
    check_parameters_outputs(tmp_path)
    first = numbers(tmp_path / "output.txt")
    # The same model built in Python gives the same file.
    process = parameters_model(tmp_path)
    async with process:
        await process.run()
    assert numbers(tmp_path / "output.txt") == first


async def test_a_dumped_tutorial_runs_as_the_original(tmp_path: Path) -> None:
    process = parameters_model(tmp_path)
    process.dump(tmp_path / "dumped.yaml")
    loaded = load_process(tmp_path / "dumped.yaml")
    async with loaded:
        await loaded.run()
    check_parameters_outputs(tmp_path)


# --- components: FileReader and FileWriter --------------------------------------------------------


@pytest.mark.parametrize("how", ["python", "yaml"])
async def test_file_reader_and_writer(tmp_path: Path, how: str) -> None:
    (tmp_path / "input.csv").write_text("city,temperature\nLondon,12.5\nOslo,-3\n")
    out = tmp_path / "output.csv"
    if how == "python":
        process = LocalProcess(
            components=[
                FileReader(name="load-text", path=str(tmp_path / "input.csv"), field_names=["city", "temperature"]),
                Describe(name="describe"),
                FileWriter(name="save-results", path=str(out), field_names=["city", "text"]),
            ],
            connectors=[connect("load-text.city", "describe.city"), connect("load-text.temperature", "describe.temperature"),
                        connect("load-text.city", "save-results.city"), connect("describe.text", "save-results.text")],
        )
    else:
        process = load_process(write_yaml(tmp_path, f"""
            plugboard:
              process:
                args:
                  components:
                  - type: plugboard.library.FileReader
                    args: {{name: load-text, path: "{tmp_path / 'input.csv'}", field_names: [city, temperature]}}
                  - type: plugboard_models.Describe
                    args: {{name: describe}}
                  - type: plugboard.library.FileWriter
                    args: {{name: save-results, path: "{out}", field_names: [city, text]}}
                  connectors:
                  - {{source: load-text.city, target: describe.city}}
                  - {{source: load-text.temperature, target: describe.temperature}}
                  - {{source: load-text.city, target: save-results.city}}
                  - {{source: describe.text, target: save-results.text}}
        """))
    async with process:
        await process.run()
    with open(out, newline="") as f:
        assert list(csv.DictReader(f)) == [{"city": "London", "text": "London: 12.5 C"}, {"city": "Oslo", "text": "Oslo: -3 C"}]
