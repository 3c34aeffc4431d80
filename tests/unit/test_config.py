"""YAML models: building processes, and every error message (messages are API)."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tapeflow import ConfigError, LocalProcess
from tapeflow.engine.config import check_model, load_process

FIXTURES = Path(__file__).parents[1] / "fixtures" / "config"


def write_model(folder: Path, text: str, name: str = "model.yaml") -> Path:
    """Write a model beside a copy of the fixture components, as a user's folder would be."""
    shutil.copy(FIXTURES / "cfg_parts.py", folder / "cfg_parts.py")
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_process(path)
    prefix = f"{path}:"
    assert all(line.startswith(prefix) for line in caught.value.lines), caught.value.lines
    return [line[len(prefix) :] for line in caught.value.lines]


PIPELINE = """
tapeflow:
  process:
    args:
      name: pipeline
      parameters: {gain: 3}
      components:
      - type: cfg_parts.Iterator
        args: {name: src, iters: 4}
      - type: cfg_parts.Scaler
        args: {name: scale, factor: 10}
      - type: cfg_parts.Collect
        args: {name: sink}
      connectors:
      - {source: src.x, target: scale.a}
      - {source: scale.out, target: sink.value}
"""


def test_seed_yaml_builds_and_runs() -> None:
    process = load_process(FIXTURES / "seed.yaml")
    assert isinstance(process, LocalProcess)
    assert list(process.components) == ["input", "slow-sleep", "very-slow-sleep", "timestamper", "save-results"]
    assert process.name == "seed"

    async def go() -> None:
        async with process:
            await process.run()

    asyncio.run(go())
    assert process.step_counts["save-results"] == 10


def test_defaults_parameters_and_config(tmp_path: Path) -> None:
    path = write_model(tmp_path, PIPELINE)
    process = load_process(path)
    assert type(process) is LocalProcess
    assert process.name == "pipeline"
    assert process.parameters == {"gain": 3}
    assert [c.kind for c in process.connectors] == ["asyncio", "asyncio"]
    assert process.config is not None
    assert process.config["tapeflow"]["process"]["args"]["name"] == "pipeline"

    async def go() -> None:
        async with process:
            await process.run()

    asyncio.run(go())
    assert process.components["sink"].seen == [0, 10, 20, 30]  # type: ignore[attr-defined]


def test_check_model_does_not_run_init(tmp_path: Path) -> None:
    process = check_model(write_model(tmp_path, PIPELINE))
    assert process.status == "created"
    assert not hasattr(process.components["sink"], "seen")


@pytest.mark.parametrize(
    "process_type, connector_type",
    [
        ("tapeflow.LocalProcess", "tapeflow.AsyncioConnector"),
        ("plugboard.process.LocalProcess", "plugboard.connector.AsyncioConnector"),
        ("tapeflow.engine.process.LocalProcess", "tapeflow.engine.connector.AsyncioConnector"),
    ],
)
def test_type_aliases(tmp_path: Path, process_type: str, connector_type: str) -> None:
    text = PIPELINE.replace(
        "  process:\n", f"  process:\n    type: {process_type}\n    connector_builder: {{type: {connector_type}}}\n"
    )
    assert type(load_process(write_model(tmp_path, text))) is LocalProcess


@pytest.mark.parametrize(
    "written", ["plugboard.library.file_io.FileWriter", "plugboard.library.FileWriter", "tapeflow.FileWriter"]
)
def test_plugboard_library_paths(tmp_path: Path, written: str) -> None:
    library = pytest.importorskip("tapeflow.engine.library")
    text = PIPELINE.replace(
        "type: cfg_parts.Collect\n        args: {name: sink}",
        f"type: {written}\n        args: {{name: sink, path: out.csv, field_names: [value]}}",
    )
    process = load_process(write_model(tmp_path, text))
    assert type(process.components["sink"]) is library.FileWriter
    assert not (tmp_path / "out.csv").exists()


def test_model_folder_comes_first_on_sys_path(tmp_path: Path) -> None:
    # A module beside the model wins over one of the same name elsewhere, and sys.path is restored.
    before = list(sys.path)
    (tmp_path / "cfg_local_only.py").write_text(
        "from tapeflow import Component\nclass Here(Component):\n    pass\n"
    )
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              components:
              - {type: cfg_local_only.Here, args: {name: here}}
        """,
    )
    assert list(load_process(path).components) == ["here"]
    assert sys.path == before


def test_malformed_yaml(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              components:
              - {type: cfg_parts.Scaler, args: {name: x: 1}}
        """,
    )
    assert errors_of(path) == ["5:48: invalid YAML: expected ',' or '}', but got ':'"]


def test_malformed_yaml_pinned_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The exact line of STYLE.md: a relative path is reported as the user wrote it.
    monkeypatch.chdir(tmp_path)
    Path("model.yaml").write_text("# one\n# two\n# three\n# four\nk: {a: b: c}\n")
    with pytest.raises(ConfigError) as caught:
        load_process("model.yaml")
    assert str(caught.value) == "model.yaml:5:9: invalid YAML: expected ',' or '}', but got ':'"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=re.escape(f"{path}: no such file; check the path")):
        load_process(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("foo: 1\n", "1:1: expected a 'tapeflow:' (or 'plugboard:') root key; found 'foo'"),
        ("", "1:1: expected a 'tapeflow:' (or 'plugboard:') root key; found an empty file"),
        ("- 1\n", "1:1: expected a 'tapeflow:' (or 'plugboard:') root key; found a list"),
    ],
)
def test_missing_root(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(text)
    assert errors_of(path) == [message]


def test_every_problem_at_once(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            type: plugboard.process.RayProcess
            connector_builder: {type: plugboard.connector.ZMQConnector}
            args:
              components:
              - type: cfg_parts.Scalar
                args: {name: scale}
              - type: cfg_parts.Scaler
                args: {name: s2, factr: 3}
              - type: cfg_parts.helper
                args: {name: h}
              - type: cfg_parts.NotAComponent
                args: {name: n}
              - type: cfg_parts.Heavy
                args: {name: hv, resources: {cpu: 1, memory: lots}}
              - type: cfg_parts.Picky
                args: {name: p}
              - type: cfg_parts.Picky
                args: {name: p2, level: -1}
              - {type: cfg_parts.Sleep, args: {sleep_seconds: 1}}
              - {args: {name: typeless}}
              connectors:
              - {source: scale, target: s2.a}
              - {source: zzz.out, target: s2.a}
              - {source: s2.out, target: hv.x, mode: fast}
            extra: 1
        """,
    )
    assert errors_of(path) == [
        "7:15: component 'scale': unknown type 'cfg_parts.Scalar'; did you mean 'cfg_parts.Scaler'?",
        "10:26: component 's2': unexpected argument 'factr' for cfg_parts.Scaler; did you mean 'factor'? "
        "arguments are: 'factor', 'name', 'initial_values', 'parameters', 'resources'",
        "11:15: component 'h': type 'cfg_parts.helper' is not a class but a function; name a Component class",
        "13:15: component 'n': type 'cfg_parts.NotAComponent' is not a subclass of tapeflow.Component; "
        "name a Component class",
        "16:54: component 'hv': bad resource quantity 'lots' for memory; use a non-negative number or a "
        "Kubernetes quantity such as '500m', '512Mi', '2Gi'",
        "18:15: component 'p': missing required argument 'level' for cfg_parts.Picky; add 'level: ...' under args",
        "20:15: component 'p2': cfg_parts.Picky(...) raised ValueError: level must be >= 0, got -1; check its args",
        "21:39: components[7]: missing required argument 'name' for cfg_parts.Sleep; add 'name: ...' under args",
        "22:9: tapeflow.process.args.components[8]: missing required key 'type'; add it",
        "24:18: connector 'scale -> s2.a': source 'scale' is not 'component.port'; write it as e.g. 'producer.x'",
        "25:18: connector 'zzz.out -> s2.a': no component named 'zzz'; components are: 'h', 'hv', 'n', 'p', "
        "'p2', 's2', 'scale'",
        "26:46: connector 's2.out -> hv.x': mode 'fast' is not a connector mode; use 'pipeline' (or leave mode out)",
        "27:5: tapeflow.process: unknown key 'extra'; keys are: 'type', 'connector_builder', 'args'",
    ]


def test_ray_short_and_plugboard_names_load(tmp_path: Path) -> None:
    from tapeflow import RayProcess, ZMQConnector
    from tapeflow.engine.config import load_process

    for process_type, connector_type in [
        ("tapeflow.RayProcess", "tapeflow.RayConnector"),
        ("plugboard.process.RayProcess", "plugboard.connector.ZMQConnector"),
    ]:
        text = PIPELINE.replace(
            "  process:\n", f"  process:\n    type: {process_type}\n    connector_builder: {{type: {connector_type}}}\n"
        )
        process = load_process(write_model(tmp_path, text))
        assert isinstance(process, RayProcess)
        assert {c.kind for c in process.connectors} == {connector_type.rpartition(".")[2][:-9].lower()}
    process = load_process(write_model(tmp_path, PIPELINE), process="ray")
    assert isinstance(process, RayProcess) and all(isinstance(c, ZMQConnector) for c in process.connectors)


def test_an_asyncio_connector_on_ray_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    text = PIPELINE.replace("  process:\n", "  process:\n    type: plugboard.process.RayProcess\n")
    assert errors_of(write_model(tmp_path, text)) == [
        "3:5: process 'pipeline': RayProcess runs each component in its own actor, and AsyncioConnector cannot "
        "cross between actors ('src.x -> scale.a'; 'scale.out -> sink.value'); use RayConnector or ZMQConnector, "
        "or run the model on LocalProcess"
    ]


def test_a_process_choice_that_is_not_one(tmp_path: Path) -> None:
    from tapeflow.engine.config import load_process

    with pytest.raises(ConfigError) as raised:
        load_process(write_model(tmp_path, PIPELINE), process="dask")
    assert str(raised.value) == "--process 'dask' is not a choice; use one of local, ray"


def test_wrong_kind_for_process_and_connector_slots(tmp_path: Path) -> None:
    text = PIPELINE.replace(
        "  process:\n", "  process:\n    type: cfg_parts.Scaler\n    connector_builder: {type: tapeflow.LocalProcess}\n"
    )
    assert errors_of(write_model(tmp_path, text)) == [
        "3:11: process type 'cfg_parts.Scaler' is not a subclass of tapeflow.Process; name a Process class",
        "4:31: connector_builder type 'tapeflow.LocalProcess' is not a subclass of tapeflow.Connector; "
        "name a Connector class",
    ]


def test_module_that_does_not_import(tmp_path: Path) -> None:
    (tmp_path / "cfg_needs_missing.py").write_text("import cfg_no_such_dependency\n")
    (tmp_path / "cfg_raises.py").write_text("VALUE = 1 / 0\n")
    (tmp_path / "cfg_syntax.py").write_text("def broken(:\n")
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              components:
              - {type: cfg_needs_missing.A, args: {name: a}}
              - {type: cfg_raises.B, args: {name: b}}
              - {type: cfg_nowhere.C, args: {name: c}}
              - {type: cfg_syntax.D, args: {name: d}}
              - {type: Bare, args: {name: e}}
        """,
    )
    lines = errors_of(path)
    assert lines[:4] == [
        "5:16: component 'a': type 'cfg_needs_missing.A': module 'cfg_needs_missing' failed to import: "
        "ModuleNotFoundError: No module named 'cfg_no_such_dependency'; install what it needs",
        "6:16: component 'b': type 'cfg_raises.B': module 'cfg_raises' raised on import: "
        "ZeroDivisionError: division by zero; fix the module",
        "7:16: component 'c': type 'cfg_nowhere.C': cannot import module 'cfg_nowhere' "
        "(No module named 'cfg_nowhere'); check the path (the model's folder is searched first)",
        "8:16: component 'd': type 'cfg_syntax.D': module 'cfg_syntax' raised on import: SyntaxError: "
        "invalid syntax (cfg_syntax.py, line 1); fix the module",
    ]
    assert lines[4] == "9:16: component 'e': unknown type 'Bare'; write a dotted import path such as 'mymodule.MyClass'"
    assert "Traceback" not in "\n".join(lines)


def test_unknown_type_without_close_match_lists_classes(tmp_path: Path) -> None:
    (tmp_path / "cfg_small.py").write_text(
        "from tapeflow import Component\nclass Alpha(Component):\n    pass\nclass Beta(Component):\n    pass\n"
    )
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              components:
              - {type: cfg_small.Gizmo, args: {name: z}}
        """,
    )
    assert errors_of(path) == [
        "5:16: component 'z': unknown type 'cfg_small.Gizmo'; module 'cfg_small' has classes: 'Alpha', 'Beta', "
        "'Component'"
    ]


def test_resource_problems_point_at_the_quantity(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              components:
              - type: cfg_parts.Heavy
                args:
                  name: a
                  resources:
                    cpu: "500m"
                    resources: {custom_hardware: -2}
              - type: cfg_parts.Heavy
                args:
                  name: b
                  resources: {disk: 1}
        """,
    )
    assert errors_of(path) == [
        "10:42: component 'a': bad resource quantity -2 for resources.custom_hardware; use a non-negative "
        "number or a Kubernetes quantity such as '500m', '512Mi', '2Gi'",
        "14:23: component 'b': unknown resource field 'disk'; fields are: 'cpu', 'gpu', 'memory', 'resources'",
    ]


def test_resources_in_yaml_extend_the_class_declaration(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              components:
              - {type: cfg_parts.Iterator, args: {name: src, iters: 1}}
              - {type: cfg_parts.Heavy, args: {name: h, resources: {memory: 512Mi}}}
              - {type: cfg_parts.Collect, args: {name: sink}}
              connectors:
              - {source: src.x, target: h.x}
              - {source: h.y, target: sink.value}
        """,
    )
    resources = load_process(path).components["h"].resources
    assert (resources.cpu, resources.memory) == (2.0, 512 * 2**20)


def test_wiring_problems_are_located(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              components:
              - {type: cfg_parts.Iterator, args: {name: src, iters: 3}}
              - {type: cfg_parts.Scaler, args: {name: scale, initial_values: {b: [1]}}}
              - {type: cfg_parts.Scaler, args: {name: scale}}
              - {type: cfg_parts.Collect, args: {name: sink}}
              connectors:
              - {source: src.x, target: scale.inp}
              - {source: src.y, target: sink.value}
              - {source: scale.out, target: sinks.value}
        """,
    )
    assert errors_of(path) == [
        "6:9: component 'scale': input 'a' has no connector and no initial value; connect an output to "
        "'scale.a' or give it initial_values",
        "6:74: component 'scale': initial_values names unknown input 'b'; inputs are: 'a'",
        "7:47: duplicate component name 'scale' (components[1] and components[2]); names must be unique",
        "8:9: component 'sink': input 'value' has no connector and no initial value; connect an output to "
        "'sink.value' or give it initial_values",
        "10:33: connector 'src.x -> scale.inp': component 'scale' has no input 'inp'; inputs are: 'a'",
        "11:18: connector 'src.y -> sink.value': component 'src' has no output 'y'; outputs are: 'x'",
        "12:37: connector 'scale.out -> sinks.value': no component named 'sinks'; did you mean 'sink'?",
    ]


def test_cycle_without_initial_value(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              components:
              - {type: cfg_parts.Scaler, args: {name: one}}
              - {type: cfg_parts.Scaler, args: {name: two}}
              connectors:
              - {source: one.out, target: two.a}
              - {source: two.out, target: one.a}
        """,
    )
    assert errors_of(path) == [
        "8:9: cycle with no initial value: one.out -> two.a -> one.a; give 'two.a' an initial value"
    ]


def test_structure_errors_from_pydantic(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        plugboard:
          process:
            type: 3
            args:
              name: [x]
              components: {a: 1}
              connectors:
              - {source: a.x}
        """,
    )
    assert errors_of(path) == [
        "3:11: plugboard.process.type: got 3; input should be a valid string",
        "5:13: plugboard.process.args.name: got a list; input should be a valid string",
        "6:19: plugboard.process.args.components: got a mapping; input should be a valid list",
        "8:9: plugboard.process.args.connectors[0]: missing required key 'target'; add it",
    ]


def test_duplicate_keys_are_reported(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              components:
              - {type: cfg_parts.Iterator, args: {name: src, iters: 3, iters: 4}}
        """,
    )
    assert errors_of(path)[0] == "5:64: duplicate key 'iters' (first at line 5); keep only one"


def test_import_stays_light() -> None:
    # pydantic, PyYAML, typer and rich load only when a model file is read or the CLI runs.
    code = "import sys, tapeflow; print(sorted(m for m in ('pydantic', 'yaml', 'typer', 'rich') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_config_is_the_model_as_written_even_if_a_constructor_changes_its_args(tmp_path: Path) -> None:
    (tmp_path / "cfg_greedy.py").write_text(
        "from tapeflow import IO, Component\n"
        "class Greedy(Component):\n"
        "    io = IO(outputs=['x'])\n"
        "    def __init__(self, items: list[int], **kwargs: object) -> None:\n"
        "        super().__init__(**kwargs)  # type: ignore[arg-type]\n"
        "        items.append(99)\n"
    )
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              components:
              - {type: cfg_greedy.Greedy, args: {name: g, items: [1, 2]}}
        """,
    )
    process = load_process(path)
    assert process.config is not None
    assert process.config["tapeflow"]["process"]["args"]["components"][0]["args"]["items"] == [1, 2]


def test_bad_argument_values_are_reported_with_the_other_problems(tmp_path: Path) -> None:
    # Type problems join the file's other problems, in file order, before any constructor runs.
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              components:
              - {type: cfg_parts.Iterator, args: {name: src, iters: "4"}}
              - {type: cfg_parts.Scalar, args: {name: scale}}
              - {type: cfg_parts.Scaler, args: {name: s2, factor: x2, initial_values: {a: "1"}}}
        """,
    )
    assert errors_of(path) == [
        "5:61: component 'src': argument 'iters' (int) is str '4'; write 4 without quotes (YAML values are not converted)",
        "6:16: component 'scale': unknown type 'cfg_parts.Scalar'; did you mean 'cfg_parts.Scaler'?",
        "7:59: component 's2': argument 'factor' (float) is str 'x2'; input should be a valid number",
        "7:83: component 's2': initial_values for input 'a' is str '1', not a list of values; "
        "write [1] (or ['1'] for one string)",
    ]
