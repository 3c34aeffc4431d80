"""Components written the way Plugboard's documentation writes them (``*args, **kwargs``
handed to ``super().__init__``, ``self.io.close()`` at the end of the data, parameters read
from ``self.parameters``), with tapeflow's imports: the models of its tutorials (hello world;
branching, loop and parameters; components), a decorated function, and an inherited IO.
YAML models in the tests name them as ``plugboard_models.X`` (this folder is on sys.path).
"""

from __future__ import annotations

import random
import typing as _t

from tapeflow import IO, Component, ComponentArgsDict, component


# --- hello world: A counts up to iters, B writes twice each value to a file -------------------
class A(Component):
    io = IO(outputs=["out_1"])

    def __init__(self, iters: int, *args: _t.Any, **kwargs: _t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._iters = iters

    async def init(self) -> None:
        self._seq = iter(range(self._iters))

    async def step(self) -> None:
        try:
            self.out_1 = next(self._seq)
        except StopIteration:
            await self.io.close()


class B(Component):
    io = IO(inputs=["in_1"])

    def __init__(self, path: str, *args: _t.Any, **kwargs: _t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._path = path

    async def init(self) -> None:
        self._f = open(self._path, "w")

    async def step(self) -> None:
        self._f.write(f"{2 * self.in_1}\n")

    async def destroy(self) -> None:
        self._f.close()


# --- complex processes: Random -> Offset / Scale -> Sum -> Save --------------------------------
class Random(Component):
    """``iters`` numbers drawn uniformly from [low, high] (seeded, so that tests can repeat)."""

    io = IO(outputs=["x"])

    def __init__(self, iters: int, low: float = 0, high: float = 10, seed: int = 0, *args: _t.Any, **kwargs: _t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._iters = 0
        self._max_iters = iters
        self._low, self._high = low, high
        self._rng = random.Random(seed)

    async def step(self) -> None:
        if self._iters < self._max_iters:
            self.x = self._rng.uniform(self._low, self._high)
            self._iters += 1
            return
        await self.io.close()


class Offset(Component):
    io = IO(inputs=["a"], outputs=["x"])

    def __init__(self, offset: float = 0, *args: _t.Any, **kwargs: _t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._offset = offset

    async def step(self) -> None:
        self.x = self.a + self._offset


class Scale(Component):
    io = IO(inputs=["a"], outputs=["x"])

    def __init__(self, scale: float = 1, *args: _t.Any, **kwargs: _t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._scale = scale

    async def step(self) -> None:
        self.x = self.a * self._scale


class ScaleFromParameter(Component):
    io = IO(inputs=["a"], outputs=["x"])

    async def step(self) -> None:
        self.x = self.a * self.parameters["scale"]


class Sum(Component):
    io = IO(inputs=["a", "b"], outputs=["x"])

    async def step(self) -> None:
        self.x = self.a + self.b


class Save(Component):
    io = IO(inputs=["value_to_save"])

    def __init__(self, path: str, *args: _t.Any, **kwargs: _t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._path = path

    async def init(self) -> None:
        self._f = open(self._path, "w")

    async def step(self) -> None:
        self._f.write(f"{self.value_to_save}\n")

    async def destroy(self) -> None:
        self._f.close()


# --- components: FileReader -> Describe -> FileWriter ------------------------------------------
class Describe(Component):
    """Turns a city and a temperature into one line of text."""

    io = IO(inputs=["city", "temperature"], outputs=["text"])

    async def step(self) -> None:
        self.text = f"{self.city}: {self.temperature} C"


# --- a function as a component ----------------------------------------------------------------
@component(inputs=["a"], outputs=["b"])
def double(a: float) -> dict[str, float]:
    """Twice its input."""
    return {"b": 2 * a}


@component(inputs=["a", "b"], outputs=["total", "product"])
async def combine(a: float, b: float) -> dict[str, float]:
    return {"total": a + b, "product": a * b}


# --- IO inheritance ---------------------------------------------------------------------------
class Base(Component):
    io = IO(inputs=["a"], outputs=["x"])

    async def step(self) -> None:
        self.x = self.a


class WithExtra(Base):
    """Adds an input and an output to its base's: a + b -> x (as the base), a * b -> y."""

    io = IO(inputs=["b"], outputs=["y"])

    async def step(self) -> None:
        self.x = self.a + self.b
        self.y = self.a * self.b


class Grandchild(WithExtra):
    io = IO(inputs=["c"])

    async def step(self) -> None:
        self.x = self.a + self.b + self.c
        self.y = self.a * self.b * self.c


class Collect(Component):
    """Keeps every value it receives (exported, as a Plugboard model would declare it)."""

    io = IO(inputs=["value"])
    exports = ["seen"]

    def __init__(self, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self.seen: list[_t.Any] = []

    async def init(self) -> None:
        self.seen = []

    async def step(self) -> None:
        self.seen.append(self.value)


class TakesConstraints(Component):
    """A component of the user's own that takes an argument named ``constraints``."""

    io = IO(outputs=["x"])

    def __init__(self, constraints: dict[str, _t.Any], **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self.given = constraints

    async def step(self) -> None:
        await self.io.close()
