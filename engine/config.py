"""YAML model files → processes, with every problem in the file reported at once.

A model file reads (``plugboard:`` is accepted for ``tapeflow:`` so Plugboard models run)::

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
a ``ConfigError`` whose lines start ``file:line:col:`` at the YAML node at fault.

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

from .component import Component
from .connector import Connector, ConnectorSpec, parse_port_ref
from .errors import ConfigError, ModelError, ResourceError, TapeflowError
from .process import Process
from .resources import Resource, parse_quantity
from .wiring import close_match, quote_list
from .modelfile import (
    DEFAULT_CONNECTOR,
    DEFAULT_PROCESS,
    ComponentEntry,
    ConnectorEntry,
    YamlSource,
    YamlSyntaxError,
    parse_yaml,
    validate_section,
)

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
    "plugboard.library.FileReader": "tapeflow.engine.library.FileReader",
    "plugboard.library.FileWriter": "tapeflow.engine.library.FileWriter",
    "plugboard.library.file_io.FileReader": "tapeflow.engine.library.FileReader",
    "plugboard.library.file_io.FileWriter": "tapeflow.engine.library.FileWriter",
    "plugboard.process.RayProcess": "tapeflow.RayProcess",
    "plugboard.process.ray_process.RayProcess": "tapeflow.RayProcess",
    "plugboard.connector.RayConnector": "tapeflow.RayConnector",
    "plugboard.connector.ray_connector.RayConnector": "tapeflow.RayConnector",
    "plugboard.connector.ZMQConnector": "tapeflow.ZMQConnector",
    "plugboard.connector.zmq_connector.ZMQConnector": "tapeflow.ZMQConnector",
}

# Types that tapeflow will have but does not yet: these get a plain "not available" line
# instead of an import error. Checked only after resolution fails, so that once a module
# exports one of them it simply starts to work.
_NOT_BUILT: dict[str, str] = {
    "tapeflow.RayProcess": "Ray",
    "tapeflow.RayConnector": "Ray",
    "tapeflow.ZMQConnector": "ZeroMQ",
}


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


def _component_slot(label: str) -> _Slot:
    return _Slot(f"{label}: ", "type", Component, "tapeflow.Component", "")


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


def load_process(path: str | os.PathLike[str]) -> Process:
    """Build the process a model file describes, without running anything.

    Raises ``ConfigError`` listing every problem in the file. The returned process's
    ``config`` is the model as plain data, so a recorder can store it as written.
    """
    source = _read(path)
    process = _build(source, Path(path))
    process.config = copy.deepcopy(source.data)
    return process


def check_model(path: str | os.PathLike[str]) -> Process:
    """Validate a model file as a whole; return the process it builds (not initialised).

    Building has no side effects in tapeflow (components open files in ``init()``), so this
    is the check a ``validate`` command needs.
    """
    return load_process(path)


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
        raise ConfigError([error.line]) from None


def _build(source: YamlSource, path: Path) -> Process:
    report = _Report(source)
    for line, column, message in source.duplicate_keys:
        report.add_at(line, column, message)
    section = _root_section(source, report)
    if section is None:
        report.raise_if_any()
    assert section is not None
    rootkey, body = section
    spec = validate_section(body, rootkey, report.add)

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
        report.add(where, problem)
        return None
    if not issubclass(found, slot.base):
        report.add(where, f"{slot.prefix}{slot.noun} {text!r} is not a subclass of {slot.base_name}; name a {slot.base_name.rsplit('.', 1)[1]} class")
        return None
    return found


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
    for i, entry in enumerate(entries):
        if entry is None:
            ok = False
            continue
        component = _build_component(i, entry, report, at)
        if component is None:
            ok = False
        else:
            built.append(component)
    return built if ok else None


def _build_component(i: int, entry: ComponentEntry, report: _Report, at: tuple[str | int, ...]) -> Component | None:
    name = entry.args.get("name")
    label = f"component {name!r}" if isinstance(name, str) and name else f"components[{i}]"
    cls = _resolve(entry.type, _component_slot(label), report, (*at, "components", i, "type"))
    if cls is None:
        return None
    here: tuple[str | int, ...] = (*at, "components", i, "args")
    if not _arguments_fit(cls, entry, label, report, here):
        return None
    if "resources" in entry.args and not _resources_fit(cls, entry.args["resources"], label, report, (*here, "resources")):
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


def _arguments_fit(cls: type, entry: ComponentEntry, label: str, report: _Report, here: tuple[str | int, ...]) -> bool:
    """Check the YAML args against the constructor's signature before calling it.

    Plugboard components take ``**kwargs`` and hand them to ``super().__init__``, so the
    accepted names are gathered along the MRO for as long as each ``__init__`` passes extra
    keywords on. Required arguments are those of the class's own constructor (a base's may
    be filled in by the subclass) plus ``name``, which every component needs.
    """
    accepted: list[str] = []
    required: list[str] = []
    open_ended = True
    first = True
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        try:
            signature = inspect.signature(vars(klass)["__init__"])
        except (TypeError, ValueError):  # a builtin or C constructor: nothing to check against
            return True
        params = list(signature.parameters.values())[1:]
        open_ended = False
        for param in params:
            if param.kind is param.VAR_KEYWORD:
                open_ended = True
            elif param.kind is not param.VAR_POSITIONAL and param.name not in accepted:
                accepted.append(param.name)
                if first and param.default is param.empty:
                    required.append(param.name)
        first = False
        if not open_ended:
            break
    if issubclass(cls, Component) and "name" not in required:
        required.append("name")

    ok = True
    if not open_ended:
        for arg in entry.args:
            if arg not in accepted:
                hint = close_match(arg, accepted)
                advice = f"did you mean {hint!r}? " if hint else ""
                report.add((*here, arg), f"{label}: unexpected argument {arg!r} for {entry.type}; {advice}arguments are: {quote_list(accepted)}", key=True)
                ok = False
    for arg in required:
        if arg not in entry.args:
            report.add(here, f"{label}: missing required argument {arg!r} for {entry.type}; add '{arg}: ...' under args")
            ok = False
    return ok


def _resources_fit(cls: type, value: Any, label: str, report: _Report, here: tuple[str | int, ...]) -> bool:
    """Parse resources up front so that a bad quantity points at its own line."""
    base = getattr(cls, "resources", None)
    try:
        Resource.coerce(value, base=base if isinstance(base, Resource) else None)
        return True
    except ResourceError as error:
        where, at_key = _bad_resource_path(value, here)
        report.add(where, f"{label}: {error}", key=at_key)
        return False


def _bad_resource_path(value: Any, here: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], bool]:
    """Where the first bad entry of a resources mapping is, and whether to point at its key
    (an unknown field) rather than its value (a bad quantity)."""
    if not isinstance(value, Mapping):
        return here, False
    for key, item in value.items():
        if key not in ("cpu", "gpu", "memory", "resources"):
            return (*here, str(key)), True
        if key == "resources" and isinstance(item, Mapping):
            for name, quantity in item.items():
                if not _parses(quantity):
                    return (*here, "resources", str(name)), False
        elif key != "resources" and not _parses(item):
            return (*here, str(key)), False
    return here, False


def _parses(quantity: Any) -> bool:
    try:
        parse_quantity(quantity)
    except ResourceError:
        return False
    return True


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
