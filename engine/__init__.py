"""tapeflow's engine: components, channels, processes and the tap a recorder plugs into.

Knows nothing of DuckDB, Ray or ZeroMQ at import time.
"""

from .component import Component, ComponentArgsDict
from .connector import AsyncioConnector, Connector, ConnectorSpec, RayConnector, ZMQConnector
from .errors import (
    ComponentError,
    ConfigError,
    Interrupted,
    ModelError,
    NotAvailableError,
    OutputNotSetError,
    ProcessError,
    ResourceError,
    TapeflowError,
    UserError,
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
    "Interrupted",
    "Connector",
    "ConnectorSpec",
    "LocalProcess",
    "ModelError",
    "NotAvailableError",
    "OutputNotSetError",
    "ProcessError",
    "Process",
    "RayConnector",
    "RayProcess",
    "Resource",
    "ResourceError",
    "TapeflowError",
    "UserError",
    "ZMQConnector",
]
