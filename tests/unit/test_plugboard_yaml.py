"""YAML as Plugboard writes it: the form of its ``Process.dump()`` (connector ends as
``{entity, descriptor}``, ``mode``, ``state``, ``constraints``, ``tune``) loads and runs,
what tapeflow cannot honour is refused in one located line, and a decorated function is a
component ``type``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tapeflow import ConfigError, LocalProcess
from tapeflow.engine.config import load_process

# What Plugboard 0.9's LocalProcess.dump() wrote for hello world's A and B (with a resource
# and an initial value), types renamed to this folder's plugboard_models.
DUMPED = """
plugboard:
  process:
    args:
      components:
      - type: plugboard_models.A
        args:
          name: a
          initial_values: {}
          parameters: {}
          constraints: {}
          resources:
            cpu: 0.5
            gpu: 0.0
            memory: 1048576
            resources: {}
          iters: 3
      - type: plugboard_models.B
        args:
          name: b
          initial_values:
            in_1:
            - 7
          parameters:
            k: 1
          constraints: {}
          resources: null
          path: b.txt
      connectors:
      - source:
          entity: a
          descriptor: out_1
        target:
          entity: b
          descriptor: in_1
        mode: pipeline
      name: null
      parameters:
        scale: 2
      state:
        type: plugboard.state.DictStateBackend
        args:
          job_id: null
          metadata: {}
    type: plugboard.process.LocalProcess
    connector_builder:
      type: plugboard.connector.AsyncioConnector
      args:
        parameters: {}
  tune: null
"""


def write(folder: Path, text: str) -> Path:
    path = folder / "model.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_process(path)
    return [line[len(f"{path}:"):] for line in caught.value.lines]


async def test_the_yaml_plugboard_dumps_loads_and_runs(tmp_path: Path) -> None:
    path = write(tmp_path, DUMPED.replace("b.txt", str(tmp_path / "b.txt")))
    process = load_process(path)
    assert isinstance(process, LocalProcess)
    assert process.name == "model" and process.parameters == {"scale": 2}
    assert [(c.spec.source, c.spec.target) for c in process.connectors] == [("a.out_1", "b.in_1")]
    a, b = process.components["a"], process.components["b"]
    assert (a.resources.cpu, a.resources.memory) == (0.5, 1048576)
    assert b.initial_values == {"in_1": [7]} and b.own_parameters == {"k": 1}
    process.tap = None
    await process.run()
    assert (tmp_path / "b.txt").read_text() == "14\n0\n2\n4\n"


def test_a_pubsub_connector_is_refused_as_an_event_connector(tmp_path: Path) -> None:
    path = write(tmp_path, DUMPED.replace("mode: pipeline", "mode: pubsub"))
    assert errors_of(path) == [
        "35:15: connector 'a.out_1 -> b.in_1': mode 'pubsub' is Plugboard's mode for events, which tapeflow does not "
        "run; use 'pipeline' (or leave mode out)",
    ]


def test_constraints_other_than_empty_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, DUMPED.replace("constraints: {}", "constraints: {x: {ge: 0}}", 1))
    assert errors_of(path) == [
        "10:11: component 'a': constraints are for Plugboard's tuner, which tapeflow does not have; remove them",
    ]


def test_connector_builder_parameters_other_than_empty_are_refused(tmp_path: Path) -> None:
    text = DUMPED.replace("      args:\n        parameters: {}", "      args:\n        parameters: {maxsize: 4}")
    assert errors_of(write(tmp_path, text)) == [
        "48:21: process.connector_builder: parameters are not taken by tapeflow's connectors; remove them",
    ]


def test_a_connector_end_must_name_entity_and_descriptor(tmp_path: Path) -> None:
    text = DUMPED.replace("          entity: a\n          descriptor: out_1\n", "          entity: a\n          port: out_1\n")
    assert errors_of(write(tmp_path, text)) == [
        "30:11: plugboard.process.args.connectors[0].source: got a mapping; write it as 'component.port' or as "
        "{entity: component, descriptor: port}",
    ]


def test_a_component_of_ones_own_that_takes_constraints_gets_them(tmp_path: Path) -> None:
    path = write(tmp_path, """
        plugboard:
          process:
            args:
              components:
              - type: plugboard_models.TakesConstraints
                args: {name: t, constraints: {limit: 3}}
    """)
    assert load_process(path).components["t"].given == {"limit": 3}  # type: ignore[attr-defined]


async def test_a_decorated_function_is_a_component_type(tmp_path: Path) -> None:
    path = write(tmp_path, """
        plugboard:
          process:
            args:
              components:
              - type: tapeflow.engine.library.ListReader
                args: {name: src, field_names: [x], rows: [1, 2]}
              - type: plugboard_models.double
                args: {name: twice}
              - type: plugboard_models.Collect
                args: {name: sink}
              connectors:
              - {source: src.x, target: twice.a}
              - {source: {entity: twice, descriptor: b}, target: {entity: sink, descriptor: value}, mode: pipeline}
    """)
    process = load_process(path)
    process.tap = None
    await process.run()
    assert process.components["sink"].seen == [2, 4]  # type: ignore[attr-defined]


def test_a_component_that_skips_super_init_is_one_located_line(tmp_path: Path) -> None:
    (tmp_path / "forgetful.py").write_text(textwrap.dedent("""
        from tapeflow import IO, Component

        class Forgetful(Component):
            io = IO(outputs=["x"])

            def __init__(self, **kwargs):
                pass
    """))
    path = write(tmp_path, """
        tapeflow:
          process:
            args:
              components:
              - type: forgetful.Forgetful
                args: {name: f}
    """)
    assert errors_of(path) == [
        "5:9: component class 'Forgetful' (forgetful.Forgetful) was built without Component.__init__; "
        "call super().__init__(**kwargs) in Forgetful.__init__",
    ]


def test_plugboards_long_component_path_names_the_base_class(tmp_path: Path) -> None:
    path = write(tmp_path, """
        plugboard:
          process:
            args:
              components:
              - type: plugboard.component.component.Component
                args: {name: c}
    """)
    assert list(load_process(path).components) == ["c"]
