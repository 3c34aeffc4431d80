"""Components and processes as YAML model data: ``Component.export()``, ``Process.export()``
and ``Process.dump(path)``, as Plugboard names them.

A component is exported as its class path and the arguments of the outermost constructor
call (kept by ``Component.__new__``, so subclasses need not forward them); a process as the
``process:`` section of a model file, which ``tapeflow run`` and ``load_process`` read back.
What a YAML file cannot hold (a function, an open file, connectors of several types) is an
``ExportError`` that names the component and the argument.

PyYAML is imported by ``dump`` only, so ``import tapeflow`` stays light.
"""

from __future__ import annotations

import enum
import inspect
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ExportError
from .resources import Resource

if TYPE_CHECKING:
    from .component import Component
    from .process import Process

__all__ = ["dump_process", "export_component", "export_process", "plain"]

# tapeflow's own classes are written under their short names, as a model file names them.
_SHORT_NAMES = {
    "tapeflow.engine.process.LocalProcess": "tapeflow.LocalProcess",
    "tapeflow.engine.ray_process.RayProcess": "tapeflow.RayProcess",
    "tapeflow.engine.connector.AsyncioConnector": "tapeflow.AsyncioConnector",
    "tapeflow.engine.connector.RayConnector": "tapeflow.RayConnector",
    "tapeflow.engine.connector.ZMQConnector": "tapeflow.ZMQConnector",
    "tapeflow.engine.library.file_io.FileReader": "tapeflow.FileReader",
    "tapeflow.engine.library.file_io.FileWriter": "tapeflow.FileWriter",
}

_HEADER = "# Written by tapeflow's Process.dump(); run it with: tapeflow run {name}\n"


def _type_path(cls: type) -> str:
    path = f"{cls.__module__}.{cls.__qualname__}"
    return _SHORT_NAMES.get(path, path)


def _where(component: Component) -> str:
    return f"component {component.name!r} ({component.class_path})"


def export_component(component: Component) -> dict[str, Any]:
    """``{"type": ..., "args": {...}}`` for one component (see ``Component.export``)."""
    given = component.init_args
    args: dict[str, Any] = {"name": given.pop("name")} if "name" in given else {}
    args.update(_positional_by_name(component))
    args.update(given)
    return {"type": _type_path(type(component)), "args": {k: _exported(v) for k, v in args.items()}}


def _positional_by_name(component: Component) -> dict[str, Any]:
    positional = component.init_positional
    if not positional:
        return {}
    try:
        parameters = list(inspect.signature(type(component).__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        parameters = []
    names: list[str] = []
    for parameter in parameters:
        if parameter.kind is parameter.POSITIONAL_OR_KEYWORD:
            names.append(parameter.name)
        elif parameter.kind is parameter.POSITIONAL_ONLY:
            raise ExportError(
                f"{_where(component)}: argument {parameter.name!r} is positional-only, and a YAML model passes "
                "arguments by name; make it a regular parameter to export the component"
            )
        else:
            break
    if len(positional) > len(names):
        raise ExportError(
            f"{_where(component)}: {len(positional) - len(names)} positional argument(s) have no parameter name "
            "(they went to *args), and a YAML model passes arguments by name; pass them by keyword"
        )
    return dict(zip(names, positional))


def _exported(value: Any) -> Any:
    """Plugboard's conversion of an argument: what can export itself does, a ``Resource``
    becomes its mapping; anything else is kept as it is (``plain`` checks it for YAML)."""
    if isinstance(value, Resource):
        return value.to_dict()
    export = getattr(value, "export", None)
    if callable(export) and not isinstance(value, type):
        return export()
    if isinstance(value, Mapping):
        return {k: _exported(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exported(v) for v in value]
    return value


def export_process(process: Process) -> dict[str, Any]:
    """The ``process:`` section of a model file for ``process``: its type, the type of its
    connectors, and its name, components, connectors and parameters."""
    section: dict[str, Any] = {"type": _type_path(type(process))}
    kinds = sorted({_type_path(type(c)) for c in process.connectors})
    if len(kinds) > 1:
        raise ExportError(
            f"process {process.name!r}: its connectors are of {len(kinds)} types ({', '.join(kinds)}), and a model "
            "file names one connector_builder; use one connector type to dump it"
        )
    if kinds:
        section["connector_builder"] = {"type": kinds[0]}
    section["args"] = {
        "name": process.name,
        "components": [c.export() for c in process.components.values()],
        "connectors": [{"source": c.spec.source, "target": c.spec.target} for c in process.connectors],
        "parameters": dict(process.parameters),
    }
    return section


def dump_process(process: Process, path: str | os.PathLike[str]) -> None:
    """Write ``process`` as a YAML model file at ``path`` (``.yaml`` or ``.yml``; its folder
    is created, an existing file replaced)."""
    target = Path(path)
    if target.suffix.lower() not in (".yaml", ".yml"):
        raise ExportError(
            f"process {process.name!r}: cannot dump to {str(target)!r}: a model file's name ends in .yaml or .yml; "
            "use a name such as 'model.yaml'"
        )
    section = export_process(process)
    names = list(process.components)
    for i, entry in enumerate(section["args"]["components"]):
        component = process.components[names[i]]
        entry["args"] = {
            key: plain(value, f"{_where(component)}: argument {key!r}") for key, value in entry["args"].items()
        }
    section["args"]["parameters"] = plain(section["args"]["parameters"], f"process {process.name!r}: parameters")
    import yaml

    text = yaml.safe_dump({"tapeflow": {"process": section}}, sort_keys=False, allow_unicode=True, default_flow_style=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(_HEADER.format(name=target.name) + text, encoding="utf-8")


def plain(value: Any, where: str, at: str = "") -> Any:
    """``value`` as data a YAML file holds (numbers, strings, booleans, ``None``, lists and
    mappings): paths become strings, tuples lists, enums and numpy scalars their values;
    anything else is an ``ExportError`` that says where it is."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value, where, at)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, os.PathLike):
        text = os.fspath(value)
        if isinstance(text, str):
            return text
    if isinstance(value, Resource):
        return value.to_dict()
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if key is not None and type(key) not in (bool, int, float, str):
                raise ExportError(
                    f"{where}{at} has the key {key!r} ({type(key).__name__}); a YAML model's mapping keys are "
                    "strings or numbers"
                )
            out[key] = plain(item, where, f"{at}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [plain(item, where, f"{at}[{i}]") for i, item in enumerate(value)]
    text = repr(value)
    shown = text if len(text) <= 40 else text[:37] + "..."
    raise ExportError(
        f"{where}{at} is a {type(value).__name__} ({shown}), which a YAML model cannot hold; "
        "pass plain data (numbers, strings, lists, mappings) and build the object in the component"
    )
