"""tapeflow: an event-sourced dataflow engine with recorded replay.

``from tapeflow import Component, IO, LocalProcess, …`` is the whole public API for models.
"""

from importlib.metadata import PackageNotFoundError, version

from .engine.tap import set_default_tap_factory as _set_default_tap_factory

from .engine import (
    IO,
    AsyncioConnector,
    Component,
    ComponentArgsDict,
    ComponentError,
    ConfigError,
    ExportError,
    Interrupted,
    IOStreamClosedError,
    Connector,
    ConnectorSpec,
    LocalProcess,
    ModelError,
    NotAvailableError,
    NotInitialisedError,
    OutputNotSetError,
    ProcessError,
    Process,
    RayConnector,
    RayProcess,
    Resource,
    ResourceError,
    Status,
    TapeflowError,
    UserError,
    ValidationError,
    ZMQConnector,
    component,
)

def _record_by_default(process: Process) -> object:
    """Every run is recorded unless ``TAPEFLOW_RECORD`` says no (or the process got ``tap=None``)."""
    from .recording import tap_for

    return tap_for(process)


_set_default_tap_factory(_record_by_default)  # type: ignore[arg-type]

try:
    __version__ = version("tapeflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "IO",
    "AsyncioConnector",
    "Component",
    "ComponentArgsDict",
    "ComponentError",
    "ConfigError",
    "ExportError",
    "Interrupted",
    "IOStreamClosedError",
    "Connector",
    "ConnectorSpec",
    "LocalProcess",
    "ModelError",
    "NotAvailableError",
    "NotInitialisedError",
    "OutputNotSetError",
    "ProcessError",
    "Process",
    "RayConnector",
    "RayProcess",
    "Resource",
    "ResourceError",
    "Status",
    "TapeflowError",
    "UserError",
    "ValidationError",
    "ZMQConnector",
    "component",
    "__version__",
]
