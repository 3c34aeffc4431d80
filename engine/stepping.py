"""The component loop: one long-lived coroutine per component that gathers inputs, steps, and
sends outputs. This is the engine's hot path.

There are two loops with the same semantics: ``run_plain`` carries bare payloads and has no
recording code; ``run_stamped`` carries envelopes and reports to a tap. They are written out
twice on purpose: a shared loop with ``if tap`` tests and envelope wrapping on every message
costs the unrecorded run what only the recorded run needs (bench/chain.py measures both).

No task, lock, future or TaskGroup is created per step or per message; a future is created
only when a channel is empty (receive) or full (send), which bounded buffers amortise over
many items.
"""

from __future__ import annotations

import time
from collections import deque
from itertools import count
from typing import Any

from .channel import END, Inbox
from .component import Component
from .errors import OutputNotSetError
from .tap import StampLog, call_log, finish_call_log

__all__ = ["InputFeed", "OutputFeed", "run_plain", "run_stamped"]

# An input: (port name, initial values still to feed, its inbox or None when unconnected).
InputFeed = tuple[str, deque[Any], Inbox | None]
# An output: (port name, [(target inbox, channel id)]).
OutputFeed = tuple[str, list[tuple[Inbox, int]]]


class StepCounter:
    """How many steps a component has begun; read by the process for errors and summaries."""

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps = 0


def missing_output_error(component: Component, index: int, missing: list[str], before: set[str]) -> OutputNotSetError:
    declared = set(component.io.inputs) | set(component.io.outputs)
    strays = sorted(
        k for k in component.__dict__ if k not in before and not k.startswith("_") and k not in declared
    )
    cls = type(component)
    where = f"component {component.name!r} ({cls.__module__}.{cls.__qualname__})"
    names = ", ".join(repr(m) for m in missing)
    noun = "output" if len(missing) == 1 else "outputs"
    message = f"{where}: step {index} ended without setting {noun} {names}"
    if strays:
        message += f" (it set {', '.join(repr(s) for s in strays)}, which is not an output)"
    message += f"; set self.{missing[0]} in step() (or in init() to send a starting value)"
    return OutputNotSetError(message)


async def run_plain(
    component: Component, inputs: list[InputFeed], outputs: list[OutputFeed], counter: StepCounter
) -> None:
    state = component.__dict__
    io = component.io
    step = component.step
    # Until every output has been set once, check after each step; outputs keep their value,
    # so once all are set the check can never fail again.
    unset = [name for name, _ in outputs if name not in state]
    before = set(state) if unset else set()
    targets = [(name, [inbox for inbox, _ in links]) for name, links in outputs]
    index = 0
    while True:
        for name, initial, inbox in inputs:
            if initial:
                state[name] = initial.popleft()
                continue
            if inbox is None:
                return
            buf = inbox.buf
            if buf and buf[0] is not END:
                state[name] = buf.popleft()
                if inbox._putters:
                    inbox.wake_putter()
                continue
            item = await inbox.receive()
            if item is END:
                return
            state[name] = item
        counter.steps = index + 1
        await step()
        if io.closed:
            return
        if unset:
            unset = [name for name in unset if name not in state]
            if unset:
                raise missing_output_error(component, index, unset, before)
        for name, inboxes in targets:
            value = state[name]
            for inbox in inboxes:
                if not inbox.send_nowait(value):
                    await inbox.send(value)
        index += 1


async def run_stamped(
    component: Component,
    component_id: int,
    inputs: list[InputFeed],
    outputs: list[OutputFeed],
    counter: StepCounter,
    tap: Any,
    offset_ns: int,
) -> None:
    """As ``run_plain``, with envelopes ``(payload, channel, seq, sender_step, send_ns)``,
    writing every consumed message and every step into the tap's ``StampLog``.

    Clock reads are the costly part (about 0.1 µs each on the bench machine): a step reads
    the clock once, at its end, when neither its inputs nor its sends had to wait. The end of
    one step is then the start of the next one's wait for inputs, and a step's start is the
    last moment it waited (or that same instant, with ``blocked = 0``, if nothing waited).
    """
    make_log = getattr(tap, "component_log", None)
    log = make_log(component_id, offset_ns) if make_log is not None else call_log(tap, component_id, offset_ns)
    try:
        await _stamped_loop(component, inputs, outputs, counter, log, offset_ns)
    finally:
        finish_call_log(log)


async def _stamped_loop(
    component: Component,
    inputs: list[InputFeed],
    outputs: list[OutputFeed],
    counter: StepCounter,
    log: StampLog,
    offset_ns: int,
) -> None:
    clock = time.perf_counter_ns
    record = log.messages.append
    record_envelope = log.messages.extend
    record_step = log.steps.extend
    steps_recorded = log.steps
    limit = log.limit
    plain = log.plain
    snapshot = log.snapshot
    state = component.__dict__
    io = component.io
    step = component.step
    unset = [name for name, _ in outputs if name not in state]
    before = set(state) if unset else set()
    # Per link a C-level counter: cheaper than indexing and bumping a list of ints.
    stamped = [(name, [(inbox, channel, count().__next__) for inbox, channel in links]) for name, links in outputs]
    index = 0
    now = clock()
    while True:
        wait_start = now
        for name, initial, inbox in inputs:
            if initial:
                state[name] = initial.popleft()
                continue
            if inbox is None:
                return
            buf = inbox.buf
            if buf and buf[0] is not END:
                # It was already waiting when this step came looking for it.
                envelope = buf.popleft()
                if inbox._putters:
                    inbox.wake_putter()
            else:
                envelope = await inbox.receive()
                if envelope is END:
                    return
                now = clock()
            payload = envelope[0]
            state[name] = payload
            if type(payload) not in plain:
                envelope = snapshot(envelope)
            record_envelope(envelope)
            record(now)
            record(index)
        start = now
        counter.steps = index + 1
        try:
            await step()
        except BaseException as error:
            record_step((index, wait_start, start, clock()))
            log.errors.append((index, error))
            log.full()
            raise
        now = clock()
        record_step((index, wait_start, start, now))
        if len(steps_recorded) >= limit:
            log.full()
        if io.closed:
            return
        if unset:
            unset = [name for name in unset if name not in state]
            if unset:
                raise missing_output_error(component, index, unset, before)
        send_ns = now + offset_ns
        for name, links in stamped:
            value = state[name]
            for inbox, channel, next_seq in links:
                envelope = (value, channel, next_seq(), index, send_ns)
                if not inbox.send_nowait(envelope):
                    await inbox.send(envelope)
                    now = clock()
        index += 1
