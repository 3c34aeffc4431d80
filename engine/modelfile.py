"""The structure of a model section checked with pydantic, every problem reported through a
``Report`` that locates it in the YAML document (``engine/yamldoc.py``).

Imports pydantic when first used, never at ``import tapeflow`` time.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .wiring import quote_list

__all__ = [
    "DEFAULT_CONNECTOR",
    "DEFAULT_PROCESS",
    "ComponentEntry",
    "ConnectorEntry",
    "ModelSpec",
    "Report",
    "validate_section",
]

DEFAULT_PROCESS = "tapeflow.LocalProcess"
DEFAULT_CONNECTOR = "tapeflow.AsyncioConnector"


class Report(Protocol):
    """Where structure problems go: ``path`` in the document, the message, and whether the
    problem is best shown at the mapping key rather than at its value."""

    def __call__(self, path: Sequence[str | int], message: str, *, key: bool = False) -> None: ...



@dataclass(slots=True)
class ComponentEntry:
    type: str
    args: dict[str, Any]


@dataclass(slots=True)
class ConnectorEntry:
    index: int  # position in the file's list, kept because invalid entries are left out
    source: str
    target: str
    mode: str | None = None  # Plugboard writes "pipeline"; tapeflow has no other


@dataclass(slots=True)
class ModelSpec:
    """What could be read of a model section. ``valid`` is false when pydantic found a problem;
    the fields then hold whatever parts were still usable (``None`` for a type that was not a
    string, ``None`` in place of a bad component entry), so the loader can go on checking
    the rest and report every problem at once."""

    valid: bool
    process_type: str | None
    connector_type: str | None
    connector_args: dict[str, Any]
    name: str | None
    parameters: dict[str, Any]
    components: list[ComponentEntry | None]
    connectors: list[ConnectorEntry]


def validate_section(body: Any, rootkey: str, report: Report) -> ModelSpec:
    """Check the structure with pydantic: the section as a whole, then each component and
    connector entry on its own, so one bad entry does not hide what is wrong with the others."""
    from pydantic import ValidationError

    section_model, component_model, connector_model, whole_model = _schema()
    # One pydantic call for a section that is right, which most are: 20,000 calls, one per
    # entry, cost 50 ms more on the 10,000-component chain. Only a section with a problem is
    # checked again piece by piece, for messages that name each entry.
    try:
        whole = whole_model.model_validate(body)
    except ValidationError:
        pass
    else:
        return _spec_of(whole)
    valid = True
    try:
        section_model.model_validate(body)
    except ValidationError as error:
        _report_structure(error, section_model, (rootkey,), report)
        valid = False
    args = _dig(body, "process", "args")
    raw_components = _dig(args, "components")
    raw_connectors = _dig(args, "connectors")
    at: tuple[str | int, ...] = (rootkey, "process", "args")
    components: list[ComponentEntry | None] = []
    for i, item in enumerate(raw_components if isinstance(raw_components, list) else []):
        try:
            checked = component_model.model_validate(item)
            components.append(ComponentEntry(checked.type, dict(checked.args or {})))
        except ValidationError as error:
            _report_structure(error, component_model, (*at, "components", i), report)
            components.append(None)
    connectors: list[ConnectorEntry] = []
    for i, item in enumerate(raw_connectors if isinstance(raw_connectors, list) else []):
        try:
            checked = connector_model.model_validate(item)
            connectors.append(_connector_entry(i, checked))
        except ValidationError as error:
            _report_structure(error, connector_model, (*at, "connectors", i), report)
    builder = _dig(body, "process", "connector_builder")
    builder_args = _dig(builder, "args")
    name = _dig(args, "name")
    parameters = _dig(args, "parameters")
    return ModelSpec(
        valid=valid,
        process_type=_type_or_default(_dig(body, "process", "type"), DEFAULT_PROCESS),
        connector_type=_type_or_default(_dig(builder, "type") if builder is not None else None, DEFAULT_CONNECTOR),
        connector_args=dict(builder_args) if isinstance(builder_args, Mapping) else {},
        name=name if isinstance(name, str) else None,
        parameters=dict(parameters) if isinstance(parameters, Mapping) else {},
        components=components,
        connectors=connectors,
    )


def _spec_of(whole: Any) -> ModelSpec:
    process = whole.process
    builder = process.connector_builder
    args = process.args
    return ModelSpec(
        valid=True,
        process_type=process.type,
        connector_type=builder.type if builder is not None else DEFAULT_CONNECTOR,
        connector_args=dict(builder.args or {}) if builder is not None else {},
        name=args.name,
        parameters=dict(args.parameters or {}),
        components=[ComponentEntry(item.type, dict(item.args or {})) for item in args.components],
        connectors=[_connector_entry(i, item) for i, item in enumerate(args.connectors)],
    )


def _connector_entry(index: int, item: Any) -> ConnectorEntry:
    return ConnectorEntry(index, item.source, item.target, item.mode)


def _end(value: Any) -> Any:
    """A connector end as ``"component.port"``: written so, or as Plugboard dumps it,
    ``{entity: component, descriptor: port}`` (then joined here)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and set(value) == {"entity", "descriptor"}:
        entity, descriptor = value["entity"], value["descriptor"]
        if isinstance(entity, str) and isinstance(descriptor, str):
            return f"{entity}.{descriptor}"
    raise ValueError("write it as 'component.port' or as {entity: component, descriptor: port}")


def _type_or_default(value: Any, default: str) -> str | None:
    if value is None:
        return default
    return value if isinstance(value, str) else None


@functools.cache
def _schema() -> tuple[Any, Any, Any, Any]:
    """The pydantic models of a model file, built on first use so pydantic loads only then."""
    from pydantic import BaseModel, BeforeValidator, ConfigDict

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")

    class TypeRef(Strict):
        type: str
        args: dict[str, Any] | None = None

    class ProcessArgs(Strict):
        name: str | None = None
        components: list[Any]
        connectors: list[Any] = []
        parameters: dict[str, Any] | None = None
        # Plugboard's state backend, which Process.dump() writes: read and left unused
        # (tapeflow's event log records every run instead).
        state: TypeRef | None = None

    class ProcessSection(Strict):
        type: str = DEFAULT_PROCESS
        connector_builder: TypeRef | None = None
        args: ProcessArgs

    class Section(Strict):
        process: ProcessSection
        # Plugboard's optimisation section (Process.dump() writes ``tune: null``): a run
        # ignores it, as ``plugboard process run`` does.
        tune: Any = None

    class ComponentItem(Strict):
        type: str
        args: dict[str, Any] | None = None

    End = typing.Annotated[str, BeforeValidator(_end)]

    class ConnectorItem(Strict):
        source: End
        target: End
        mode: str | None = None

    # The same document with its entries typed: what a section that is right validates as.
    class WholeArgs(ProcessArgs):
        components: list[ComponentItem]  # type: ignore[assignment]
        connectors: list[ConnectorItem] = []  # type: ignore[assignment]

    class WholeProcess(ProcessSection):
        args: WholeArgs

    class Whole(Strict):
        process: WholeProcess
        tune: Any = None

    return Section, ComponentItem, ConnectorItem, Whole


def _report_structure(error: Any, model: Any, at: tuple[str | int, ...], report: Report) -> None:
    for item in error.errors():
        loc: tuple[str | int, ...] = tuple(item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            parent = _dotted((*at, *loc[:-1]))
            keys = quote_list(_fields_at(model, loc[:-1]))
            report((*at, *loc), f"{parent}: unknown key {loc[-1]!r}; keys are: {keys}", key=True)
        elif kind == "missing":
            report((*at, *loc[:-1]), f"{_dotted((*at, *loc[:-1]))}: missing required key {loc[-1]!r}; add it")
        else:
            message = str(item["msg"])
            if kind == "value_error":  # a validator of ours: its own words, without pydantic's prefix
                message = str(item.get("ctx", {}).get("error", message))
            wanted = message[:1].lower() + message[1:]
            report((*at, *loc), f"{_dotted((*at, *loc))}: got {_short(item.get('input'))}; {wanted}")


def _fields_at(model: Any, path: Sequence[str | int]) -> list[str]:
    """The keys the pydantic model accepts at ``path`` (for listing them after an unknown key)."""
    for step in path:
        field_info = model.model_fields.get(step) if isinstance(step, str) else None
        if field_info is None:
            return []
        candidates = [field_info.annotation, *typing.get_args(field_info.annotation)]
        nested = [c for c in candidates if isinstance(c, type) and hasattr(c, "model_fields")]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def _dotted(path: Sequence[str | int]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _short(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value
