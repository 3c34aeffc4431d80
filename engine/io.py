"""A component's declared ports (``IO(inputs=[...], outputs=[...])``) and its close switch."""

from __future__ import annotations

import keyword
from collections.abc import Iterable

from .errors import IOStreamClosedError

__all__ = ["IO"]


class IO:
    """The inputs and outputs a component declares, and the switch that ends it.

    Declared once on the class (``io = IO(inputs=["x"], outputs=["y"])``); every component
    instance gets its own copy, so ``await self.io.close()`` ends that instance only. A
    subclass that declares its own ``io`` adds its ports to its base's (as Plugboard).

    ``closed`` tells the engine to end the component after its current step: ``close()``
    sets it, and so does a process whose every receiver of the component's values is gone.
    ``finished`` is true once the component closed itself. A component no process has run
    (stepped by hand, in a test or a notebook) that closes again, in the step after the one
    that closed it, raises ``IOStreamClosedError``, as Plugboard does.
    """

    __slots__ = ("inputs", "outputs", "closed", "owner", "_finished", "_driven")

    def __init__(self, inputs: Iterable[str] = (), outputs: Iterable[str] = ()) -> None:
        self.inputs: tuple[str, ...] = _names(inputs, "inputs")
        self.outputs: tuple[str, ...] = _names(outputs, "outputs")
        both = sorted(set(self.inputs) & set(self.outputs))
        if both:
            raise ValueError(
                f"IO: port {both[0]!r} is declared as both input and output; give them distinct names"
            )
        self.closed = False
        # Who the ports belong to, for messages: "component 'a' (mymodule.A)"; set by Component.
        self.owner = ""
        self._finished = False
        self._driven = False  # a process runs the component: it never steps a closed one

    def copy(self) -> IO:
        return IO(self.inputs, self.outputs)

    @property
    def finished(self) -> bool:
        """Whether the component closed itself (``close()``) in this run."""
        return self._finished

    def reopen(self) -> None:
        """Open again for a new run: a process does this when it starts one. From then on a
        process drives the component, which it never steps once closed, so closing it twice
        (in ``init()`` and a step, in a step and ``destroy()``) is left alone."""
        self.closed = False
        self._finished = False
        self._driven = True

    async def close(self) -> None:
        """End this component: the current step sends nothing, its outputs close after it.

        Async to match the component API users know; closing itself never blocks. Closing
        again a component that no process runs raises ``IOStreamClosedError``: it is being
        stepped by hand after the end of its data.
        """
        if self._finished and not self._driven:
            where = self.owner or "component"
            raise IOStreamClosedError(
                f"{where}: stepped after it closed (its data ended in an earlier step); "
                "stop stepping it (catch IOStreamClosedError to end a loop that steps it by hand)"
            )
        self._finished = True
        self.closed = True

    def __repr__(self) -> str:
        return f"IO(inputs={list(self.inputs)!r}, outputs={list(self.outputs)!r})"


def merged(bases: Iterable[IO], own: IO) -> IO:
    """The ports of ``bases`` (in order) followed by ``own``'s new ones, each port once: what a
    subclass that declares ``io`` gets. Raises ``ValueError`` when a port would be both an
    input and an output."""
    inputs: dict[str, None] = {}
    outputs: dict[str, None] = {}
    for io in (*bases, own):
        inputs.update(dict.fromkeys(io.inputs))
        outputs.update(dict.fromkeys(io.outputs))
    return IO(inputs, outputs)


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
