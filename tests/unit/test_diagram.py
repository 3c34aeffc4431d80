"""Mermaid diagrams: the seed's shape exactly, and ids that Mermaid can always parse."""

from __future__ import annotations

import re
from tapeflow import IO, AsyncioConnector, Component, ConnectorSpec, LocalProcess
from tapeflow.engine.diagram import mermaid

SEED_DIAGRAM = """\
flowchart LR
    input@{ shape: rounded, label: Iterator<br>**input** } --> slow-sleep@{ shape: rounded, label: Sleep<br>**slow-sleep** }
    input@{ shape: rounded, label: Iterator<br>**input** } --> very-slow-sleep@{ shape: rounded, label: Sleep<br>**very-slow-sleep** }
    slow-sleep@{ shape: rounded, label: Sleep<br>**slow-sleep** } --> timestamper@{ shape: rounded, label: Timestamper<br>**timestamper** }
    timestamper@{ shape: rounded, label: Timestamper<br>**timestamper** } --> save-results@{ shape: rounded, label: FileWriter<br>**save-results** }
    very-slow-sleep@{ shape: rounded, label: Sleep<br>**very-slow-sleep** } --> timestamper@{ shape: rounded, label: Timestamper<br>**timestamper** }
"""


class Iterator(Component):
    io = IO(outputs=["x"])


class Sleep(Component):
    io = IO(inputs=["x"], outputs=["y"])


class Timestamper(Component):
    io = IO(inputs=["x", "y"], outputs=["timestamp"])


class FileWriter(Component):
    io = IO(inputs=["timestamp"])


class Lonely(Component):
    pass


def connect(source: str, target: str) -> AsyncioConnector:
    return AsyncioConnector(spec=ConnectorSpec(source=source, target=target))


def test_seed_diagram_exactly() -> None:
    process = LocalProcess(
        components=[
            Iterator(name="input"),
            Sleep(name="slow-sleep"),
            Sleep(name="very-slow-sleep"),
            Timestamper(name="timestamper"),
            FileWriter(name="save-results"),
        ],
        connectors=[
            connect("input.x", "slow-sleep.x"),
            connect("input.x", "very-slow-sleep.x"),
            connect("slow-sleep.y", "timestamper.x"),
            connect("very-slow-sleep.y", "timestamper.y"),
            connect("timestamper.timestamp", "save-results.timestamp"),
        ],
    )
    assert mermaid(process) == SEED_DIAGRAM


def test_isolated_components_are_drawn() -> None:
    process = LocalProcess(components=[Lonely(name="alone"), Iterator(name="src")])
    assert mermaid(process) == (
        "flowchart LR\n"
        "    alone@{ shape: rounded, label: Lonely<br>**alone** }\n"
        "    src@{ shape: rounded, label: Iterator<br>**src** }\n"
    )


def test_unsafe_names_get_safe_unique_ids_and_quoted_labels() -> None:
    names = ["a b", "a.b", "end", 'say "hi" {x}', "-lead"]
    process = LocalProcess(components=[Lonely(name=n) for n in names])
    lines = mermaid(process).splitlines()[1:]
    ids = [line.strip().split("@{", 1)[0] for line in lines]
    assert len(set(ids)) == len(names)
    for node_id in ids:
        assert re.fullmatch(r"n_[A-Za-z0-9_-]+", node_id), node_id
        assert node_id.lower() != "end"
    assert '"Lonely<br>**say #quot;hi#quot; #123;x#125;**"' in lines[3]
    assert lines[0].endswith("label: Lonely<br>**a b** }")  # spaces need no quotes


def test_safe_names_are_kept_as_written() -> None:
    process = LocalProcess(components=[Lonely(name="step_2-b")])
    assert mermaid(process).splitlines()[1].startswith("    step_2-b@{ ")

