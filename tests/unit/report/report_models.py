"""Components and recorded runs for the report tests (a module, so class paths are stable)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tapeflow import IO, AsyncioConnector, Component, ConnectorSpec, LocalProcess
from tapeflow.recorder import Recorder


def wire(source: str, target: str) -> AsyncioConnector:
    return AsyncioConnector(spec=ConnectorSpec(source=source, target=target))


class Source(Component):
    io = IO(outputs=["x"])

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._n = n
        self._i = 0

    async def step(self) -> None:
        if self._i >= self._n:
            await self.io.close()
            return
        self.x = self._i
        self._i += 1


class Double(Component):
    io = IO(inputs=["x"], outputs=["y"])

    async def step(self) -> None:
        self.y = 2 * self.x


class Add(Component):
    io = IO(inputs=["a", "b"], outputs=["y"])

    async def step(self) -> None:
        self.y = self.a + self.b


class Sink(Component):
    io = IO(inputs=["x"], outputs=[])

    async def step(self) -> None:
        pass


def record_diamond(log: Path, n: int = 50) -> str:
    """src -> (left, right) -> add -> sink, recorded into ``log``; the run id."""
    process = LocalProcess(
        components=[Source(name="src", n=n), Double(name="left"), Double(name="right"), Add(name="add"), Sink(name="sink")],
        connectors=[wire("src.x", "left.x"), wire("src.x", "right.x"), wire("left.y", "add.a"), wire("right.y", "add.b"), wire("add.y", "sink.x")],
        tap=Recorder(log),
    )

    async def main() -> None:
        async with process:
            await process.run()

    asyncio.run(main())
    return str(process.run_id)
