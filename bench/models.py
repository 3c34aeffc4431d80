"""Source / Pass / Sink for the chain benchmark: the peer's pb_models.py definitions, imported
from tapeflow instead of Plugboard (bench/peer/pb_models.py is the Plugboard copy)."""

import typing as _t

from tapeflow import IO, Component, ComponentArgsDict


class Source(Component):
    """Emits 0..iters-1 on output `x`, then closes its IO."""

    io = IO(outputs=["x"])

    def __init__(self, iters: int, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._iters = iters

    async def init(self) -> None:
        self._seq = iter(range(self._iters))

    async def step(self) -> None:
        try:
            self.x = next(self._seq)
        except StopIteration:
            await self.io.close()


class Pass(Component):
    """Pass-through: y = x."""

    io = IO(inputs=["x"], outputs=["y"])

    async def step(self) -> None:
        self.y = self.x


class Sink(Component):
    """Counts received values and keeps the last one."""

    io = IO(inputs=["x"])
    exports = ["count", "last"]

    def __init__(self, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self.count = 0
        self.last: _t.Any = None

    async def step(self) -> None:
        self.count += 1
        self.last = self.x
