"""YAML model files → processes, with every problem in the file reported at once.

A model file reads (``plugboard:`` is accepted for ``tapeflow:`` so Plugboard models run,
and so is the form Plugboard's ``Process.dump()`` writes: connector ends as
``{entity: a, descriptor: x}``, ``mode: pipeline``, a ``state`` backend and ``tune: null``,
which a run leaves unused)::

    tapeflow:
      process:
        type: tapeflow.LocalProcess                       # optional
        connector_builder: {type: tapeflow.AsyncioConnector}  # optional
        args:
          name: my-model                                  # optional
          components: [{type: mymodule.MyComponent, args: {name: a, ...}}]
          connectors: [{source: a.x, target: b.y}]
          parameters: {...}                               # optional

``type`` is a dotted import path, searched first in the model file's folder. Every error is
a ``ConfigError`` whose lines start ``file:line:col:`` at the YAML node at fault. The file is
read under limits on aliases and nesting (``yamldoc``), and each component's ``args`` are
checked against its constructor's signature and type hints before it is called
(``arguments``).

pydantic and PyYAML are imported on first use, so ``import tapeflow`` stays light.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .arguments import ArgumentCheck
from .component import Component
from .connector import Connector, ConnectorSpec, parse_port_ref
from .errors import ConfigError, ModelError, TapeflowError
from .process import Process
from .wiring import close_match, quote_list
from .modelfile import (
    DEFAULT_CONNECTOR,
    DEFAULT_PROCESS,
    ComponentEntry,
    ConnectorEntry,
    ModelSpec,
    validate_section,
)
from .yamldoc import YamlSource, YamlSyntaxError, gc_paused, parse_yaml

__all__ = ["check_model", "load_process"]

_ROOT_KEYS = ("tapeflow", "plugboard")

# Plugboard's import paths (and tapeflow's short names) → where tapeflow keeps the class.
_ALIASES: dict[str, str] = {
    "tapeflow.LocalProcess": "tapeflow.engine.process.LocalProcess",
    "tapeflow.Process": "tapeflow.engine.process.Process",
    "tapeflow.AsyncioConnector": "tapeflow.engine.connector.AsyncioConnector",
    "tapeflow.Component": "tapeflow.engine.component.Component",
    "tapeflow.FileReader": "tapeflow.engine.library.FileReader",
    "tapeflow.FileWriter": "tapeflow.engine.library.FileWriter",
    "plugboard.process.LocalProcess": "tapeflow.engine.process.LocalProcess",
    "plugboard.process.local_process.LocalProcess": "tapeflow.engine.process.LocalProcess",
    "plugboard.connector.AsyncioConnector": "tapeflow.engine.connector.AsyncioConnector",
    "plugboard.connector.asyncio_connector.AsyncioConnector": "tapeflow.engine.connector.AsyncioConnector",
    "plugboard.component.Component": "tapeflow.engine.component.Component",
    "plugboard.component.component.Component": "tapeflow.engine.component.Component",
    "plugboard.library.FileReader": "tapeflow.engine.library.FileReader",
    "plugboard.library.FileWriter": "tapeflow.engine.library.FileWriter",
    "plugboard.library.file_io.FileReader": "tapeflow.engine.library.FileReader",
    "plugboard.library.file_io.FileWriter": "tapeflow.engine.library.FileWriter",
    "tapeflow.RayProcess": "tapeflow.engine.ray_process.RayProcess",
    "tapeflow.RayConnector": "tapeflow.engine.connector.RayConnector",
    "tapeflow.ZMQConnector": "tapeflow.engine.connector.ZMQConnector",
    "plugboard.process.RayProcess": "tapeflow.engine.ray_process.RayProcess",
    "plugboard.process.ray_process.RayProcess": "tapeflow.engine.ray_process.RayProcess",
    "plugboard.connector.RayConnector": "tapeflow.engine.connector.RayConnector",
    "plugboard.connector.ray_connector.RayConnector": "tapeflow.engine.connector.RayConnector",
    "plugboard.connector.ZMQConnector": "tapeflow.engine.connector.ZMQConnector",
    "plugboard.connector.zmq_connector.ZMQConnector": "tapeflow.engine.connector.ZMQConnector",
}

# Types that tapeflow will have but does not yet: these get a plain "not available" line
# instead of an import error. Checked only after resolution fails, so that once a module
# exports one of them it simply starts to work.
_NOT_BUILT: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class _Slot:
    """What a ``type:`` is for: how to name it in a message, and what it must subclass."""

    prefix: str
    noun: str
    base: type
    base_name: str
    default: str


_PROCESS_SLOT = _Slot("", "process type", Process, "tapeflow.Process", DEFAULT_PROCESS)
_CONNECTOR_SLOT = _Slot("", "connector_builder type", Connector, "tapeflow.Connector", DEFAULT_CONNECTOR)


# Without a prefix: a component's problem is looked up once per type and prefixed with the
# label of each entry that names it.
_COMPONENT_SLOT = _Slot("", "type", Component, "tapeflow.Component", "")


@dataclass(slots=True)
class _Report:
    """Collects located problem lines; the loader raises them together, top to bottom."""

    source: YamlSource
    found: list[tuple[int, int, int, str]] = field(default_factory=list)

    def add(self, path: Sequence[str | int], message: str, *, key: bool = False) -> None:
        line, column = self.source.position(path, key=key)
        self.add_at(line, column, message)

    def add_at(self, line: int, column: int, message: str) -> None:
        # The running count keeps problems found at one node in the order they were found.
        self.found.append((line, column, len(self.found), message))

    def raise_if_any(self) -> None:
        if self.found:
            name = self.source.filename
            raise ConfigError([f"{name}:{line}:{col}: {text}" for line, col, _, text in sorted(self.found)])


# ``tapeflow run --process NAME --connector NAME``: the short names and the types they mean.
PROCESS_CHOICES: dict[str, str] = {"local": "tapeflow.LocalProcess", "ray": "tapeflow.RayProcess"}
CONNECTOR_CHOICES: dict[str, str] = {
    "asyncio": "tapeflow.AsyncioConnector",
    "ray": "tapeflow.RayConnector",
    "zmq": "tapeflow.ZMQConnector",
}
# The connector a model gets when it is moved to Ray without naming one: ZeroMQ, the fastest
# channel between actors, on one machine or across a cluster.
_RAY_DEFAULT_CONNECTOR = "tapeflow.ZMQConnector"
_IN_PROCESS_ONLY = {DEFAULT_CONNECTOR, "tapeflow.AsyncioConnector", "plugboard.connector.AsyncioConnector",
                    "plugboard.connector.asyncio_connector.AsyncioConnector"}


def load_process(
    path: str | os.PathLike[str], *, process: str | None = None, connector: str | None = None
) -> Process:
    """Build the process a model file describes, without running anything.

    ``process`` (``"local"``, ``"ray"``) and ``connector`` (``"asyncio"``, ``"ray"``,
    ``"zmq"``) override the file's ``process.type`` and ``connector_builder.type``. Moved to
    Ray without a connector named, a model whose connectors are in-process gets ZeroMQ.

    Raises ``ConfigError`` listing every problem in the file. The returned process's
    ``config`` is the model as plain data, so a recorder can store it as written.
    """
    for given, choices, flag in ((process, PROCESS_CHOICES, "--process"), (connector, CONNECTOR_CHOICES, "--connector")):
        if given is not None and given not in choices:
            raise ConfigError([f"{flag} {given!r} is not a choice; use one of {', '.join(choices)}"])
    with gc_paused():
        source = _read(path)
        # Copied before any constructor runs, so that one that changes its args in place
        # leaves the model as written.
        config = _copy_plain(source.data, {})
        built = _build(source, Path(path), process, connector)
        built.config = config
        # The node tree is garbage now. Dropped here, reference counting frees it; kept until
        # the collector is back on, the collector's first pass would walk all of it once more
        # (0.13 s of the 10,000-component chain's check).
        del source
    return built


def check_model(path: str | os.PathLike[str]) -> Process:
    """Validate a model file as a whole; return the process it builds (not initialised).

    Building has no side effects in tapeflow (components open files in ``init()``), so this
    is the check a ``validate`` command needs.
    """
    return load_process(path)


def _copy_plain(value: Any, memo: dict[int, Any]) -> Any:
    """A copy of YAML data. Only lists and mappings are copied (the scalars YAML makes are
    immutable), and each once, as aliases share them: ``copy.deepcopy`` does the same at
    twice the cost."""
    if type(value) is dict:
        done = memo.get(id(value))
        if done is None:
            done = memo[id(value)] = {}
            for key, item in value.items():
                done[key] = _copy_plain(item, memo)
        return done
    if type(value) is list:
        done = memo.get(id(value))
        if done is None:
            done = memo[id(value)] = []
            done.extend(_copy_plain(item, memo) for item in value)
        return done
    if isinstance(value, (dict, list, set)):
        return copy.deepcopy(value, memo)
    return value


def _read(path: str | os.PathLike[str]) -> YamlSource:
    name = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{name}: no such file; check the path"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{name}: cannot read the file ({error}); check the path and encoding"]) from None
    try:
        return parse_yaml(text, name)
    except YamlSyntaxError as error:
        raise ConfigError(error.lines) from None


def _build(source: YamlSource, path: Path, process_choice: str | None = None, connector_choice: str | None = None) -> Process:
    report = _Report(source)
    for line, column, message in source.duplicate_keys:
        report.add_at(line, column, message)
    section = _root_section(source, report)
    if section is None:
        report.raise_if_any()
    assert section is not None
    rootkey, body = section
    spec = validate_section(body, rootkey, report.add)
    _check_plugboard_extras(spec, rootkey, report)
    if process_choice is not None:
        spec.process_type = PROCESS_CHOICES[process_choice]
        if connector_choice is None and process_choice == "ray" and spec.connector_type in _IN_PROCESS_ONLY:
            spec.connector_type = _RAY_DEFAULT_CONNECTOR
    if connector_choice is not None:
        spec.connector_type = CONNECTOR_CHOICES[connector_choice]

    at_args: tuple[str | int, ...] = (rootkey, "process", "args")
    with _model_folder_first(path.resolve().parent):
        process_cls = connector_cls = None
        if spec.process_type is not None:
            process_cls = _resolve(spec.process_type, _PROCESS_SLOT, report, (rootkey, "process", "type"))
        if spec.connector_type is not None:
            connector_cls = _resolve(
                spec.connector_type, _CONNECTOR_SLOT, report, (rootkey, "process", "connector_builder", "type")
            )
        components = _build_components(spec.components, report, at_args)
    if components is None or process_cls is None or connector_cls is None or report.found:
        declared = {entry.args.get("name") for entry in spec.components if entry is not None}
        _check_connector_forms(spec.connectors, declared, report, at_args)
        report.raise_if_any()
    assert components is not None and process_cls is not None and connector_cls is not None

    connectors: list[Connector] = []
    for entry in spec.connectors:
        try:
            connector = connector_cls(spec=ConnectorSpec(source=entry.source, target=entry.target), **spec.connector_args)
            connectors.append(connector)
        except Exception as error:
            report.add(
                (*at_args, "connectors", entry.index),
                f"connector '{entry.source} -> {entry.target}': {connector_cls.__name__} raised {_describe(error)}; "
                "check the connector_builder",
            )
    report.raise_if_any()

    try:
        process = process_cls(
            components=components, connectors=connectors, name=spec.name or path.stem, parameters=spec.parameters
        )
    except ModelError as error:
        for problem in error.problems:
            report.add((*at_args, *problem.path), problem.message)
    except TapeflowError as error:
        report.add((rootkey, "process"), " ".join(str(error).split("\n")))
    except Exception as error:
        report.add((rootkey, "process"), f"{process_cls.__name__}(...) raised {_describe(error)}; check the process args")
    report.raise_if_any()
    assert isinstance(process, Process)
    return process


def _check_plugboard_extras(spec: ModelSpec, rootkey: str, report: _Report) -> None:
    """What Plugboard's dumped YAML holds beyond tapeflow's form: a connector ``mode``
    (``pipeline`` is the only one for ports) and connector_builder ``parameters`` (always
    written, empty)."""
    at_args: tuple[str | int, ...] = (rootkey, "process", "args")
    for entry in spec.connectors:
        if entry.mode in (None, "pipeline"):
            continue
        label = f"connector '{entry.source} -> {entry.target}'"
        if entry.mode == "pubsub":
            why = "is Plugboard's mode for events, which tapeflow does not run"
        else:
            why = "is not a connector mode"
        report.add((*at_args, "connectors", entry.index, "mode"), f"{label}: mode {entry.mode!r} {why}; use 'pipeline' (or leave mode out)")
    if "parameters" in spec.connector_args:
        parameters = spec.connector_args.pop("parameters")
        if parameters:
            report.add(
                (rootkey, "process", "connector_builder", "args", "parameters"),
                "process.connector_builder: parameters are not taken by tapeflow's connectors; remove them",
            )


def _root_section(source: YamlSource, report: _Report) -> tuple[str, Any] | None:
    data = source.data
    expected = "expected a 'tapeflow:' (or 'plugboard:') root key"
    if not isinstance(data, Mapping):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        report.add((), f"{expected}; found {found}")
        return None
    present = [k for k in _ROOT_KEYS if k in data]
    if not present:
        keys = quote_list([str(k) for k in data]) if data else "no keys"
        report.add((), f"{expected}; found {keys}")
        return None
    if len(present) > 1:
        report.add(("plugboard",), "both 'tapeflow:' and 'plugboard:' root keys are given; keep one", key=True)
        return None
    rootkey = present[0]
    for other in data:
        if other != rootkey:
            report.add((str(other),), f"unknown root key {str(other)!r}; only {rootkey!r} is read", key=True)
    return rootkey, data[rootkey]


@contextmanager
def _model_folder_first(folder: Path) -> Iterator[None]:
    """Put the model's folder first on ``sys.path`` while its types are imported, so that
    ``type: hello_ray.Sleep`` finds ``hello_ray.py`` beside the model wherever it is run from.
    Imported modules stay in ``sys.modules``, as any import does."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        try:
            sys.path.remove(entry)
        except ValueError:  # the model's own code took it out; nothing to undo
            pass


def _resolve(text: str, slot: _Slot, report: _Report, where: Sequence[str | int]) -> type | None:
    """Import the class a ``type:`` names; on failure add one line and return ``None``."""
    found, problem = _lookup(text, slot)
    if found is None:
        report.add(where, problem)
    return found


def _lookup(text: str, slot: _Slot) -> tuple[type | None, str]:
    """The class a ``type:`` names, or ``None`` and the problem."""
    target = _ALIASES.get(text, text)
    found, problem = _import_class(target, text, slot)
    if found is None:
        feature = _NOT_BUILT.get(target)
        if feature is not None:
            use = f"; use {slot.default!r}" if slot.default else ""
            problem = (
                f"{slot.prefix}{slot.noun} {text!r} is not available in this tapeflow version "
                f"({feature} support is not built yet){use}"
            )
        return None, problem
    if not issubclass(found, slot.base):
        return None, f"{slot.prefix}{slot.noun} {text!r} is not a subclass of {slot.base_name}; name a {slot.base_name.rsplit('.', 1)[1]} class"
    return found, ""


def _import_class(target: str, written: str, slot: _Slot) -> tuple[type | None, str]:
    head = f"{slot.prefix}{slot.noun} {written!r}"
    module_name, dot, attr = target.rpartition(".")
    if not dot or not module_name or not attr:
        return None, f"{slot.prefix}unknown {slot.noun} {written!r}; write a dotted import path such as 'mymodule.MyClass'"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and (module_name == error.name or module_name.startswith(error.name + ".")):
            return None, f"{head}: cannot import module {module_name!r} ({error}); check the path (the model's folder is searched first)"
        return None, f"{head}: module {module_name!r} failed to import: {_describe(error)}; install what it needs"
    except ImportError as error:
        return None, f"{head}: module {module_name!r} failed to import: {_describe(error)}; fix the module's imports"
    except Exception as error:
        return None, f"{head}: module {module_name!r} raised on import: {_describe(error)}; fix the module"
    found = getattr(module, attr, None)
    # A function made a component by @component names the component class it made.
    made = getattr(found, "component_class", None)
    if not isinstance(found, type) and isinstance(made, type):
        return made, ""
    if isinstance(found, type):
        return found, ""
    if found is not None:
        return None, f"{head} is not a class but a {type(found).__name__}; name a {slot.base_name.rsplit('.', 1)[1]} class"
    classes = sorted(n for n, v in vars(module).items() if isinstance(v, type) and not n.startswith("_"))
    # Suggest the way the user wrote it: a Plugboard path gets a Plugboard-style suggestion.
    prefix = written.rpartition(".")[0] if written != target else module_name
    hint = close_match(attr, classes)
    if hint is not None:
        advice = f"did you mean {prefix + '.' + hint!r}?"
    elif classes and len(classes) <= 8:
        advice = f"module {module_name!r} has classes: {quote_list(classes)}"
    else:
        advice = f"module {module_name!r} has no class {attr!r}"
    return None, f"{slot.prefix}unknown {slot.noun} {written!r}; {advice}"


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _build_components(
    entries: Sequence[ComponentEntry | None], report: _Report, at: tuple[str | int, ...]
) -> list[Component] | None:
    built: list[Component] = []
    ok = True
    arguments = ArgumentCheck()
    resolved: dict[str, tuple[type | None, str]] = {}
    for i, entry in enumerate(entries):
        if entry is None:
            ok = False
            continue
        component = _build_component(i, entry, report, at, arguments, resolved)
        if component is None:
            ok = False
        else:
            built.append(component)
    return built if ok else None


def _build_component(
    i: int,
    entry: ComponentEntry,
    report: _Report,
    at: tuple[str | int, ...],
    arguments: ArgumentCheck,
    resolved: dict[str, tuple[type | None, str]],
) -> Component | None:
    name = entry.args.get("name")
    label = f"component {name!r}" if isinstance(name, str) and name else f"components[{i}]"
    # Each type is looked up once: importing (or failing to import) it again would say the
    # same, and a failed import searches all of sys.path again.
    if entry.type not in resolved:
        resolved[entry.type] = _lookup(entry.type, _COMPONENT_SLOT)
    cls, problem = resolved[entry.type]
    if cls is None:
        report.add((*at, "components", i, "type"), f"{label}: {problem}")
        return None
    here: tuple[str | int, ...] = (*at, "components", i, "args")
    if "constraints" in entry.args and not _takes(cls, "constraints"):
        # Plugboard's dump writes every component's constraints (for its tuner), mostly empty.
        if entry.args["constraints"]:
            report.add(
                (*here, "constraints"),
                f"{label}: constraints are for Plugboard's tuner, which tapeflow does not have; remove them",
                key=True,
            )
            return None
        entry.args.pop("constraints")
    if not arguments.check(cls, entry.type, entry.args, label, report.add, here):
        return None
    try:
        component = cls(**entry.args)
    except TapeflowError as error:
        report.add(here, f"{label}: {str(error).replace(chr(10), '; ')}")
        return None
    except Exception as error:
        report.add(here, f"{label}: {entry.type}(...) raised {_describe(error)}; check its args")
        return None
    assert isinstance(component, Component)
    return component


def _takes(cls: type, parameter: str) -> bool:
    """Whether some constructor along ``cls``'s MRO names ``parameter`` (not ``**kwargs``)."""
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None or klass is object:
            continue
        try:
            found = inspect.signature(init).parameters.get(parameter)
        except (TypeError, ValueError):
            continue
        if found is not None and found.kind not in (found.VAR_KEYWORD, found.VAR_POSITIONAL):
            return True
    return False


def _check_connector_forms(
    entries: Sequence[ConnectorEntry], declared: set[Any], report: _Report, at: tuple[str | int, ...]
) -> None:
    """When components failed there is no process to check the wiring; still report the
    connector problems visible in the file alone: malformed ends and unknown component names."""
    names = sorted(n for n in declared if isinstance(n, str))
    for entry in entries:
        i = entry.index
        label = f"{entry.source} -> {entry.target}"
        for end, text in (("source", entry.source), ("target", entry.target)):
            ref = parse_port_ref(text)
            if ref is None:
                report.add((*at, "connectors", i, end), f"connector {label!r}: {end} {text!r} is not 'component.port'; write it as e.g. 'producer.x'")
            elif ref.component not in declared:
                hint = close_match(ref.component, names)
                advice = f"did you mean {hint!r}?" if hint else f"components are: {quote_list(names)}"
                report.add((*at, "connectors", i, end), f"connector {label!r}: no component named {ref.component!r}; {advice}")
