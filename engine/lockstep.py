"""``Process.step()``: every component takes at most one step, values moving between them in
the same call, as Plugboard's ``Process.step()`` does. For tests and notebooks: a model
stepped by hand, with its state to look at between two calls.

Not the engine's loop (``stepping``): nothing here runs concurrently, and the values wait in
plain unbounded queues, one per input, in the process's own task. The semantics are the
loop's: a component steps when every input has a value (its next initial value first); it
finishes when an input has no value left and nobody left to send one, or when it closes
itself; a component whose every receiver has finished finishes too. Steps taken here are
not stamped into the event log.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .component import Component, Status, set_status
from .stepping import missing_output_error
from .wiring import Edge

__all__ = ["Lockstep"]

Port = tuple[str, str]
# Wraps what a component's step raised into the error the process raises (or returns it).
WrapError = Callable[[Component, int, Exception], Exception]


class Lockstep:
    """The state of a process between two ``step()`` calls: the values waiting at each
    input, who can still send to it, and which components have finished."""

    def __init__(self, components: Mapping[str, Component], edges: Sequence[Edge]) -> None:
        self.components = components
        self.names = list(components)
        self.queues: dict[Port, deque[Any]] = {}
        self.initial: dict[Port, deque[Any]] = {}
        for name, component in components.items():
            for port in component.io.inputs:
                self.queues[(name, port)] = deque()
                self.initial[(name, port)] = deque(component.initial_values.get(port, ()))
        self.senders: dict[Port, Counter[str]] = {key: Counter() for key in self.queues}
        self.links: dict[str, list[tuple[str, Port]]] = {name: [] for name in components}
        self.upstream: dict[str, set[str]] = {name: set() for name in components}
        for edge in edges:
            key = (edge.target.component, edge.target.port)
            self.senders[key][edge.source.component] += 1
            self.links[edge.source.component].append((edge.source.port, key))
            self.upstream[edge.target.component].add(edge.source.component)
        self.steps: dict[str, int] = {name: 0 for name in components}
        self.unset: dict[str, list[str]] = {
            name: [port for port in c.io.outputs if port not in c.__dict__] for name, c in components.items()
        }
        self.before: dict[str, set[str]] = {name: set(c.__dict__) for name, c in components.items()}
        self.finished: set[str] = set()

    @property
    def done(self) -> bool:
        """Whether every component has finished."""
        return len(self.finished) == len(self.names)

    async def step(self, wrap: WrapError) -> list[str]:
        """One step of every component that can take one; the names of those that took a
        step and sent its values (a step that closed its component sends nothing)."""
        sent: list[str] = []
        tried: set[str] = set()
        progress = True
        while progress:
            progress = False
            for name in self.names:
                if name in self.finished or name in tried:
                    continue
                readiness = self._readiness(name)
                if readiness == "ready":
                    tried.add(name)
                    progress = True
                    if await self._step_one(name, wrap):
                        sent.append(name)
                elif readiness == "exhausted":
                    self._finish(name)
                    progress = True
        return sent

    def waiting(self) -> list[str]:
        """Components neither finished nor able to step: what a stuck model waits on."""
        return [n for n in self.names if n not in self.finished and self._readiness(n) == "waiting"]

    def _readiness(self, name: str) -> str:
        ready = True
        for port in self.components[name].io.inputs:
            key = (name, port)
            if self.initial[key] or self.queues[key]:
                continue
            if not self.senders[key]:
                return "exhausted"
            ready = False
        return "ready" if ready else "waiting"

    async def _step_one(self, name: str, wrap: WrapError) -> bool:
        component = self.components[name]
        state = component.__dict__
        for port in component.io.inputs:
            key = (name, port)
            state[port] = self.initial[key].popleft() if self.initial[key] else self.queues[key].popleft()
        index = self.steps[name]
        self.steps[name] = index + 1
        set_status(component, Status.RUNNING)
        try:
            await component.step()
        except Exception as error:
            set_status(component, Status.FAILED)
            wrapped = wrap(component, index, error)
            if wrapped is error:
                raise
            raise wrapped from error
        if component.io.closed:
            self._finish(name)
            return False
        unset = self.unset[name]
        if unset:
            unset = self.unset[name] = [port for port in unset if port not in state]
            if unset:
                set_status(component, Status.FAILED)
                raise missing_output_error(component, index, unset, self.before[name])
        for port, key in self.links[name]:
            self.queues[key].append(state[port])
        set_status(component, Status.WAITING)
        return True

    def _finish(self, name: str) -> None:
        if name in self.finished:
            return
        self.finished.add(name)
        set_status(self.components[name], Status.COMPLETED)
        for _, key in self.links[name]:
            self.senders[key].pop(name, None)
        # An upstream component whose every receiver has finished can reach nobody.
        for upstream in self.upstream[name]:
            receivers = {key[0] for _, key in self.links[upstream]}
            if upstream not in self.finished and receivers <= self.finished:
                self._finish(upstream)
