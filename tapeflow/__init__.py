"""tapeflow: an event-sourced dataflow engine with recorded replay.

``from tapeflow import Component, IO, LocalProcess, …`` is the whole public API for models.
"""

from importlib.metadata import PackageNotFoundError, version

from .engine import (
    IO,
    AsyncioConnector,
    Component,
    ComponentArgsDict,
    ComponentError,
    ConfigError,
    Connector,
    ConnectorSpec,
    LocalProcess,
    ModelError,
    NotAvailableError,
    OutputNotSetError,
    Process,
    Resource,
    ResourceError,
    TapeflowError,
    UserError,
)

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
    "Connector",
    "ConnectorSpec",
    "LocalProcess",
    "ModelError",
    "NotAvailableError",
    "OutputNotSetError",
    "Process",
    "Resource",
    "ResourceError",
    "TapeflowError",
    "UserError",
    "__version__",
]
