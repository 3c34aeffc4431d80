"""A component's declared ports (``IO(inputs=[...], outputs=[...])``) and its close switch."""

from __future__ import annotations

import keyword
from collections.abc import Iterable

__all__ = ["IO"]


class IO:
    """The inputs and outputs a component declares, and the switch that ends it.

    Declared once on the class (``io = IO(inputs=["x"], outputs=["y"])``); every component
    instance gets its own copy, so ``await self.io.close()`` ends that instance only.
    """

    __slots__ = ("inputs", "outputs", "closed")

    def __init__(self, inputs: Iterable[str] = (), outputs: Iterable[str] = ()) -> None:
        self.inputs: tuple[str, ...] = _names(inputs, "inputs")
        self.outputs: tuple[str, ...] = _names(outputs, "outputs")
        both = sorted(set(self.inputs) & set(self.outputs))
        if both:
            raise ValueError(
                f"IO: port {both[0]!r} is declared as both input and output; give them distinct names"
            )
        self.closed = False

    def copy(self) -> IO:
        return IO(self.inputs, self.outputs)

    async def close(self) -> None:
        """End this component: the current step sends nothing, its outputs close after it.

        Async to match the component API users know; closing itself never blocks.
        """
        self.closed = True

    def __repr__(self) -> str:
        return f"IO(inputs={list(self.inputs)!r}, outputs={list(self.outputs)!r})"


def _names(values: Iterable[str], kind: str) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError(f"IO: {kind} must be a list of port names, not the string {values!r}")
    names = tuple(values)
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(
                f"IO: {kind} port {name!r} is not a valid name; use a Python identifier such as 'x'"
            )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"IO: {kind} port {name!r} is declared twice; declare each port once")
        seen.add(name)
    return names
