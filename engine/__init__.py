"""tapeflow's engine: components, channels, processes and the tap a recorder plugs into.

Knows nothing of DuckDB, Ray or ZeroMQ at import time.
"""

from .component import Component, ComponentArgsDict
from .connector import AsyncioConnector, Connector, ConnectorSpec
from .errors import (
    ComponentError,
    ConfigError,
    ModelError,
    NotAvailableError,
    OutputNotSetError,
    ResourceError,
    TapeflowError,
    UserError,
)
from .io import IO
from .process import LocalProcess, Process
from .resources import Resource

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
]
