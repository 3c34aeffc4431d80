"""Components for the Ray tests. They live in a module of their own, not in a test file, so
that Ray workers import them by name, as they import a user's component modules."""

from __future__ import annotations

import json
import os
import time
import typing as _t

from tapeflow import IO, Component, ComponentArgsDict


class Count(Component):
    """Sends 0, 1, … n-1; with ``n=None`` it never stops by itself."""

    io = IO(outputs=["x"])

    def __init__(self, n: int | None, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._n = n
        self._i = 0

    async def step(self) -> None:
        if self._n is not None and self._i >= self._n:
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


class FailAt(Component):
    """Passes values on and raises ValueError on value ``at``."""

    io = IO(inputs=["x"], outputs=["y"])

    def __init__(self, at: int, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._at = at

    async def step(self) -> None:
        if self.x == self._at:
            raise ValueError(f"value {self.x} is not welcome here")
        self.y = self.x


class HangAt(Component):
    """Passes values on; on value ``at`` it writes its pid to ``pid_file`` and blocks."""

    io = IO(inputs=["x"], outputs=["y"])

    def __init__(self, at: int, pid_file: str, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._at = at
        self._pid_file = pid_file

    async def step(self) -> None:
        if self.x == self._at:
            with open(self._pid_file, "w") as f:  # a FIFO the test reads: a handshake
                f.write(str(os.getpid()))
            # The behaviour under test, not a wait: a step that never returns by itself (the
            # test kills its process or node once the handshake above says it is here).
            time.sleep(60)
        self.y = self.x


class Keep(Component):
    """Keeps what it receives (at most ``most``, then stops taking more) and writes it as
    JSON to ``path`` in ``destroy()``: what the driver reads back after an actor run."""

    io = IO(inputs=["x"])

    def __init__(self, path: str, most: int | None = None, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._path = path
        self._most = most
        self._seen: list[_t.Any] = []

    async def step(self) -> None:
        self._seen.append(self.x)
        if self._most is not None and len(self._seen) >= self._most:
            await self.io.close()

    async def destroy(self) -> None:
        with open(self._path, "w") as f:
            json.dump({"seen": self._seen, "pid": os.getpid()}, f)
