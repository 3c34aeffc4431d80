"""Components for replay tests (a module of their own, so class paths are stable).

``Scale.factor`` and ``Boom.when`` are module-level knobs a test turns to make a replay
diverge from its recording, as a code change would."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from tapeflow import IO, AsyncioConnector, Component, ConnectorSpec


def wire(source: str, target: str) -> AsyncioConnector:
    return AsyncioConnector(spec=ConnectorSpec(source=source, target=target))


class Source(Component):
    io = IO(outputs=["x"])

    def __init__(self, values: Iterable[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._values = list(values)

    async def init(self) -> None:
        self._it = iter(self._values)

    async def step(self) -> None:
        try:
            self.x = next(self._it)
        except StopIteration:
            await self.io.close()


class Scale(Component):
    """y = x * factor; ``stamp`` is a clock reading, meant to differ."""

    factor = 2.0
    io = IO(inputs=["x"], outputs=["y", "stamp"])

    async def step(self) -> None:
        self.y = self.x * Scale.factor
        self.stamp = time.perf_counter_ns()


class Add(Component):
    """A loop: total = last total + x (``initial_values={"total_in": [0]}``)."""

    io = IO(inputs=["x", "total_in"], outputs=["total"])

    async def step(self) -> None:
        self.total = self.total_in + self.x


class Pass(Component):
    io = IO(inputs=["x"], outputs=["y"])

    async def step(self) -> None:
        self.y = self.x


class Boom(Component):
    """Fails with ZeroDivisionError when it receives ``when``."""

    when: Any = 3
    io = IO(inputs=["x"], outputs=["y"])

    async def step(self) -> None:
        if self.x == Boom.when:
            self.y = 1 / 0
        self.y = self.x


class Collect(Component):
    io = IO(inputs=["x"])

    async def step(self) -> None:
        pass


class Writer(Component):
    """Writes its inputs to a file in the working folder: what a replay must keep away from the user's files."""

    io = IO(inputs=["x"])

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._path = path

    async def step(self) -> None:
        with open(self._path, "a") as out:
            out.write(f"{self.x}\n")


class Positional(Component):
    io = IO(inputs=["x"], outputs=["y"])

    def __init__(self, offset: int, /, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._offset = offset

    async def step(self) -> None:
        self.y = self.x + self._offset + self.parameters.get("bump", 0)


class Tee(Component):
    """y = x, and ``scaled`` = x * factor on an output no connector takes (recorded on a
    channel of its own since log schema 5)."""

    factor = 10
    io = IO(inputs=["x"], outputs=["y", "scaled"])

    async def step(self) -> None:
        self.y = self.x
        self.scaled = self.x * Tee.factor


class Nap(Component):
    """Sleeps 2 ms a step (blocking the thread): wall time that is not CPU time."""

    io = IO(inputs=["x"], outputs=["y"])

    async def step(self) -> None:
        time.sleep(0.002)
        self.y = self.x
