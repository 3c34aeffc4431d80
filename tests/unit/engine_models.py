"""Tiny components for engine tests."""

from __future__ import annotations

import typing as _t

from tapeflow import IO, Component, ComponentArgsDict


class Source(Component):
    io = IO(outputs=["x"])

    def __init__(self, values: _t.Iterable[_t.Any], **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
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


class Scale(Component):
    io = IO(inputs=["a"], outputs=["y"])

    async def step(self) -> None:
        self.y = self.a * self.parameters.get("factor", 1)


class Collect(Component):
    io = IO(inputs=["x"])

    def __init__(self, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self.seen: list[_t.Any] = []
        self.destroyed = False

    async def step(self) -> None:
        self.seen.append(self.x)

    async def destroy(self) -> None:
        self.destroyed = True


class Pair(Component):
    io = IO(inputs=["a", "b"], outputs=["out"])

    async def step(self) -> None:
        self.out = (self.a, self.b)


class Add(Component):
    io = IO(inputs=["a", "b"], outputs=["y"])

    async def step(self) -> None:
        self.y = self.a + self.b


class Counter(Component):
    """Loop element: y = x + 1; closes after ``limit`` steps."""

    io = IO(inputs=["x"], outputs=["y"])

    def __init__(self, limit: int = 5, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self.limit = limit
        self.seen: list[int] = []

    async def step(self) -> None:
        self.seen.append(self.x)
        if len(self.seen) > self.limit:
            await self.io.close()
            return
        self.y = self.x + 1


class Boom(Component):
    io = IO(inputs=["x"], outputs=["y"])

    def __init__(self, at: int = 3, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self.at = at
        self.destroyed = False

    async def step(self) -> None:
        if self.x == self.at:
            raise RuntimeError(f"boom at {self.at}")
        self.y = self.x

    async def destroy(self) -> None:
        self.destroyed = True


class Typo(Component):
    """The seed tutorial's slip: sets ``out_1`` instead of its output ``x``."""

    io = IO(outputs=["x"])

    async def step(self) -> None:
        self.out_1 = 1


class EvenOnly(Component):
    io = IO(inputs=["x"], outputs=["y"])

    async def step(self) -> None:
        if self.x % 2 == 0:
            self.y = self.x


class Forever(Component):
    """A source that never closes by itself."""

    io = IO(outputs=["x"])

    def __init__(self, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self.i = 0

    async def step(self) -> None:
        self.i += 1
        self.x = self.i


class TakeTwo(Component):
    """Closes itself after two values: its upstream must then stop, not block forever."""

    io = IO(inputs=["x"])

    def __init__(self, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self.seen: list[int] = []

    async def step(self) -> None:
        self.seen.append(self.x)
        if len(self.seen) == 2:
            await self.io.close()
