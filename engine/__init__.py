"""tapeflow's engine: components, channels, processes and the tap a recorder plugs into.

Knows nothing of DuckDB, Ray or ZeroMQ at import time.
"""

from .component import Component, ComponentArgsDict, Status
from .connector import AsyncioConnector, Connector, ConnectorSpec, RayConnector, ZMQConnector
from .decorator import component
from .errors import (
    ComponentError,
    ConfigError,
    ExportError,
    Interrupted,
    IOStreamClosedError,
    ModelError,
    NotAvailableError,
    NotInitialisedError,
    OutputNotSetError,
    ProcessError,
    ResourceError,
    TapeflowError,
    UserError,
    ValidationError,
)
from .io import IO
from .process import LocalProcess, Process
from .ray_process import RayProcess
from .resources import Resource

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
]
