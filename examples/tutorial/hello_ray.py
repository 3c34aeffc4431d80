"""The components of Plugboard's "Running in parallel" tutorial, written against tapeflow.

Only the imports differ from the tutorial, plus one fix in ``Iterator.step`` (see there).
``model.py`` and ``model.yaml`` wire Iterator, Sleep and Timestamper into the tutorial's model;
``CPUIntensiveTask``, ``GPUTask`` and ``DataProducer`` are the resources section's components.
"""

import datetime
import time
import typing as _t

from tapeflow import IO, Component, ComponentArgsDict, Resource


class Iterator(Component):
    """Creates a sequence of numbers."""

    io = IO(outputs=["x"])

    def __init__(self, iters: int, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._iters = iters

    async def init(self) -> None:
        self._seq = iter(range(self._iters))

    async def step(self) -> None:
        try:
            # The tutorial sets `self.out_1` here, which is not an output: Plugboard then sends
            # None on `x` every step. tapeflow refuses a step that never sets a declared output
            # (and names the stray `out_1`), so the typo is fixed to the declared output `x`.
            self.x = next(self._seq)
        except StopIteration:
            await self.io.close()


class Sleep(Component):
    """Passes through input to output after a delay."""

    io = IO(inputs=["x"], outputs=["y"])

    def __init__(self, sleep_seconds: float, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._duration = sleep_seconds

    async def step(self) -> None:
        # time.sleep, not asyncio.sleep: blocking on purpose, to stand in for computation.
        time.sleep(self._duration)
        self.y = self.x


class Timestamper(Component):
    """Emits the current time when all inputs are ready."""

    io = IO(inputs=["x", "y"], outputs=["timestamp"])

    async def step(self) -> None:
        self.timestamp = datetime.datetime.now().isoformat()


class CPUIntensiveTask(Component):
    """Component that requires more CPU resources.

    Resource requirements are declared as a class attribute.
    """

    io = IO(inputs=["x"], outputs=["y"])
    resources = Resource(cpu=2.0)

    async def step(self) -> None:
        """Execute CPU-intensive computation."""
        result = sum(i**2 for i in range(int(self.x * 10000)))
        self.y = result


class GPUTask(Component):
    """Component that requires a GPU (on Ray; a LocalProcess ignores resources)."""

    io = IO(inputs=["data"], outputs=["result"])
    resources = Resource(cpu="500m", gpu=1)

    async def step(self) -> None:
        # Stands in for GPU work: the tutorial's point is the resource request, not the maths.
        self.result = self.data * 2


class DataProducer(Component):
    """Produces ``iters`` numbers on ``output``, then closes."""

    io = IO(outputs=["output"])

    def __init__(self, iters: int, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._iters = iters

    async def init(self) -> None:
        self._seq = iter(range(self._iters))

    async def step(self) -> None:
        try:
            self.output = next(self._seq)
        except StopIteration:
            await self.io.close()
