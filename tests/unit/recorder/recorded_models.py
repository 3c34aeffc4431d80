"""Tiny components for recorder tests (a module, so class paths are stable)."""

from __future__ import annotations

from typing import Any

from tapeflow import IO, AsyncioConnector, Component, ConnectorSpec


def wire(source: str, target: str) -> AsyncioConnector:
    return AsyncioConnector(spec=ConnectorSpec(source=source, target=target))


class Source(Component):
    io = IO(outputs=["x"])

    def __init__(self, values: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._values = list(values)

    async def init(self) -> None:
        self._it = iter(self._values)

    async def step(self) -> None:
        try:
            self.x = next(self._it)
        except StopIteration:
            await self.io.close()


class Pass(Component):
    io = IO(inputs=["x"], outputs=["y"])

    async def step(self) -> None:
        self.y = self.x


class Collect(Component):
    io = IO(inputs=["x"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: list[Any] = []

    async def step(self) -> None:
        self.seen.append(self.x)


class Doubler(Component):
    """One output wired, one (``twice``) often left unconnected."""

    io = IO(inputs=["x"], outputs=["y", "twice"])

    async def step(self) -> None:
        self.y = self.x
        self.twice = {"n": self.x * 2, "pad": "p" * 40}
