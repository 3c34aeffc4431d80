"""Connectors: which output feeds which input, and over what kind of channel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["AsyncioConnector", "Connector", "ConnectorSpec", "PortRef", "RayConnector", "ZMQConnector"]


@dataclass(frozen=True, slots=True)
class PortRef:
    component: str
    port: str

    def __str__(self) -> str:
        return f"{self.component}.{self.port}"


def parse_port_ref(text: Any) -> PortRef | None:
    """``"slow-sleep.y"`` → ``PortRef("slow-sleep", "y")``; ``None`` when malformed.

    Split on the last dot: component names may hold dashes and dots, port names are identifiers.
    """
    if not isinstance(text, str):
        return None
    component, dot, port = text.rpartition(".")
    if not dot or not component or not port.isidentifier():
        return None
    return PortRef(component, port)


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """``ConnectorSpec(source="a.x", target="b.y")``: output ``x`` of ``a`` feeds input ``y`` of ``b``.

    Strings are kept as given; the process checks their form with the rest of the wiring so
    that every problem is reported at once.
    """

    source: str
    target: str

    @property
    def label(self) -> str:
        return f"{self.source} -> {self.target}"


class Connector:
    """A connection between two ports; subclasses choose the channel that carries it."""

    kind: ClassVar[str] = "abstract"

    def __init__(self, spec: ConnectorSpec | None = None, *, source: str | None = None, target: str | None = None) -> None:
        if spec is None:
            if source is None or target is None:
                raise TypeError(f"{type(self).__name__} needs spec=ConnectorSpec(source=..., target=...)")
            spec = ConnectorSpec(source=source, target=target)
        elif isinstance(spec, dict):
            spec = ConnectorSpec(**spec)
        self.spec = spec

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.label!r})"


class AsyncioConnector(Connector):
    """An in-process channel on the event loop: the fastest choice when one process suffices."""

    kind = "asyncio"


class RayConnector(Connector):
    """A channel between Ray actors over Ray actor calls, batched: works across the nodes of
    a Ray cluster (``RayProcess``)."""

    kind = "ray"


class ZMQConnector(Connector):
    """A channel between processes over ZeroMQ sockets, batched: the fast path between Ray
    actors, on one machine or across the nodes of a cluster (``RayProcess``)."""

    kind = "zmq"
