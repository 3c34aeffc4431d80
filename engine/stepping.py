"""The component loop: one long-lived coroutine per component that gathers inputs, steps, and
sends outputs. This is the engine's hot path.

There are two loops with the same semantics: ``run_plain`` has no recording code;
``run_stamped`` also writes every step's times and sent values into the tap's stamp log.
They are written out twice on purpose: a shared loop with ``if tap`` tests on every step
costs the unrecorded run what only the recorded run needs (bench/chain.py measures both).

No task, lock, future or TaskGroup is created per step or per message; a future is created
only when a channel is empty (receive) or full (send), which bounded buffers amortise over
many items.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from .channel import END, Inbox
from .component import Component
from .errors import OutputNotSetError
from .tap import StampLog

__all__ = ["InputFeed", "OutputFeed", "run_plain", "run_stamped"]

# A component that has run this long without waiting for anything gives the other components
# a turn (one pass of the event loop) after its current step. Steps that block the loop (the
# tutorial's time.sleep) then interleave as they would on Plugboard, where every step awaits:
# progress moves, timestamps written downstream mean something, and Ctrl-C lands between steps.
# Quick steps still run in batches between waits, which is what keeps the loop cheap
# (bench/chain.py); the check costs one clock read per step.
TURN_NS = 1_000_000

# An input: (port name, initial values still to feed, its inbox or None when unconnected).
InputFeed = tuple[str, deque[Any], Inbox | None]
# An output: (port name, [(target inbox, channel id)]).
OutputFeed = tuple[str, list[tuple[Inbox, int]]]


class StepCounter:
    """How many steps a component has begun; read by the process for errors and summaries.

    ``halted`` is set by the process when the run is interrupted (a signal): a component
    that has just yielded after a long step looks at it before starting another, so a step
    that blocked the loop is the last one even if the loop runs the component again before
    the process could cancel it. Quick steps never look: they reach their next wait (where
    cancellation lands) within ``TURN_NS``.
    """

    __slots__ = ("steps", "halted")

    def __init__(self) -> None:
        self.steps = 0
        self.halted = False


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
    clock = time.perf_counter_ns
    index = 0
    turn_start = clock()
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
            turn_start = clock()
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
                    turn_start = clock()
        if clock() - turn_start >= TURN_NS:
            await asyncio.sleep(0)
            if counter.halted:
                return
            turn_start = clock()
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
    """As ``run_plain``, writing every step's clock readings and sent values into the tap's
    ``StampLog`` (layout and the reasoning in ``tapeflow.engine.tap``).

    Values travel bare, as in the plain loop, except into an input fed by several connectors,
    where they travel as ``(value, channel)`` so the receiver can say which channel each came
    from. A step reads the clock once, at its end, when neither its inputs nor its sends had
    to wait: that end is the next step's start of waiting, and a step that found its inputs
    ready starts at that same instant (blocked 0); only the steps where that is not so are
    noted in ``log.moved``.
    """
    log: StampLog = tap.component_log(component_id, offset_ns)
    try:
        await _stamped_loop(component, inputs, outputs, counter, log)
    finally:
        log.finished = True
        tap.component_ended(log)


async def _stamped_loop(
    component: Component,
    inputs: list[InputFeed],
    outputs: list[OutputFeed],
    counter: StepCounter,
    log: StampLog,
) -> None:
    clock = time.perf_counter_ns
    record_end = log.ends.append
    record_moved = log.moved.extend
    steps_recorded = log.ends
    limit = log.limit
    plain = log.plain
    snapshot = log.snapshot
    state = component.__dict__
    io = component.io
    step = component.step
    unset = [name for name, _ in outputs if name not in state]
    before = set(state) if unset else set()
    # Per input: (name, initial values, inbox, where to note each value's channel or None).
    feeds = [
        (name, initial, inbox, log.sources[i].append if inbox is not None and inbox.fan_in else None)
        for i, (name, initial, inbox) in enumerate(inputs)
    ]
    # Per output: (name, where its sent values go in the log, its port index,
    # [(inbox, tag, channel id)]) with tag = the channel id when the target is fanned in
    # (None: send the bare value).
    sends = [
        (name, log.outputs[i].append, i, [(inbox, channel if inbox.fan_in else None, channel) for inbox, channel in links])
        for i, (name, links) in enumerate(outputs)
    ]
    record_late = log.late.extend
    index = 0
    now = turn_start = clock()
    moved = True  # the first step's wait did not begin at a previous step's end
    while True:
        wait_start = now
        for name, initial, inbox, note_source in feeds:
            if initial:
                state[name] = initial.popleft()
                continue
            if inbox is None:
                return
            buf = inbox.buf
            if buf and buf[0] is not END:
                item = buf.popleft()
                if inbox._putters:
                    inbox.wake_putter()
            else:
                item = await inbox.receive()
                if item is END:
                    return
                now = turn_start = clock()
                moved = True
            if note_source is None:
                state[name] = item
            else:
                state[name] = item[0]
                note_source(item[1])
        start = now
        counter.steps = index + 1
        try:
            await step()
        except BaseException as error:
            record_end(clock())
            record_moved((index, wait_start, start))
            log.errors.append((index, error))
            raise
        now = clock()
        record_end(now)
        if moved:
            record_moved((index, wait_start, start))
            moved = False
        if io.closed:
            return
        if unset:
            unset = [name for name in unset if name not in state]
            if unset:
                raise missing_output_error(component, index, unset, before)
        for name, keep, port, links in sends:
            value = state[name]
            keep(value if type(value) in plain else snapshot(value, port))
            for inbox, tag, channel in links:
                item = value if tag is None else (value, tag)
                if not inbox.send_nowait(item):
                    await inbox.send(item)
                    now = turn_start = clock()
                    moved = True
                    record_late((index, channel, now))
                elif moved:  # an earlier send of this step waited: this one entered late too
                    record_late((index, channel, now))
        if now - turn_start >= TURN_NS:
            await asyncio.sleep(0)
            if counter.halted:
                return
            now = turn_start = clock()
            moved = True
        if len(steps_recorded) >= limit:
            log.full()
        index += 1
