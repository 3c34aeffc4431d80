"""Channels whose two ends live in different processes: what every transport (Ray, ZeroMQ)
shares, so that a transport only moves batches.

The component loop (``stepping.py``) is the same in every process kind. It receives from an
:class:`~tapeflow.engine.channel.Inbox`, which for a remote channel is the local buffer at the
receiving end, and it sends through anything with the send side of the Inbox API
(``send_nowait``/``send``/``fan_in``/``close_sender``/``on_detach``): here an
:class:`Outbox`, whose items a transport carries to an :class:`Intake` in the receiving
process, which puts them into that process's Inbox in the order they were sent.

Flow control is by credit, per channel: an Outbox may have ``capacity`` items on their way
(sent, not yet in the receiver's Inbox); each batch the Intake has put into its Inbox comes
back as an acknowledgement that returns that many credits. The Inbox itself holds up to
``capacity`` more, so a remote channel holds at most twice its capacity, and a sender whose
receiver falls behind waits, as it would on an in-process channel.

Batching costs no latency: items sent in one stretch of the sender's synchronous code (a
quick component's steps between two waits) go out as one batch, shipped by a callback that
runs as soon as the sender yields to its event loop, that is exactly when it would otherwise
wait. A transport that charges per call (a Ray actor call, a ZeroMQ frame) pays it per batch.

"My receivers are gone" travels upstream on the same acknowledgements: when the receiving
component has finished, its Intake says so in its next acknowledgement; the Outbox then drops
what is sent to it (never blocking), and calls ``on_detach`` as an Inbox does, which is how a
source whose every receiver is gone is stopped (``process._stop_orphans``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .channel import Inbox

__all__ = ["Intake", "Outbox", "Ship"]

# ship(outbox, seq, items, close): hand one batch to the transport without waiting. The
# transport later calls outbox.acked(len(items), receiver_gone) once the batch is in the
# receiver's Inbox (or outbox.failed(error) when it can never get there).
Ship = Callable[["Outbox", int, list[Any], bool], None]


class Outbox:
    """The sending end of a channel to another process (see the module text)."""

    __slots__ = (
        "channel", "capacity", "fan_in", "detached", "on_detach", "_credits", "_pending", "_seq",
        "_ship", "_loop", "_scheduled", "_waiter", "_closed", "_error",
    )

    def __init__(self, channel: int, capacity: int, ship: Ship, *, fan_in: bool = False) -> None:
        if capacity < 1:
            raise ValueError(f"Outbox: capacity must be at least 1, got {capacity}")
        self.channel = channel
        self.capacity = capacity
        # The receiving input is fed by several connectors: the stamped loop then tags each
        # value with its channel, as for an in-process Inbox.
        self.fan_in = fan_in
        self.detached = False
        self.on_detach: list[Callable[[], None]] = []
        self._credits = capacity
        self._pending: list[Any] = []
        self._seq = 0
        self._ship = ship
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._error: BaseException | None = None

    # --- the send side of the Inbox API, as the component loop uses it ----------------------
    def send_nowait(self, item: Any) -> bool:
        if self.detached:
            return True  # nobody will read it: dropped, as by a detached Inbox
        if self._credits <= 0:
            return False
        self._credits -= 1
        self._pending.append(item)
        if not self._scheduled:
            self._scheduled = True
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self.flush)
        return True

    async def send(self, item: Any) -> None:
        while not self.send_nowait(item):
            if self._error is not None:
                raise self._error
            self.flush()  # what is pending goes now: its acknowledgement is what we wait for
            if self._error is not None:  # the transport failed while shipping it
                raise self._error
            loop = self._loop or asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    def close_sender(self) -> None:
        """This sender is done: what is pending goes out with the close mark."""
        if self._closed:
            return
        self._closed = True
        if self.detached or self._error is not None:
            self._pending = []
            return
        items, self._pending = self._pending, []
        self._scheduled = False
        self._put(items, close=True)

    # --- driven by the transport -------------------------------------------------------------
    def flush(self) -> None:
        """Ship what is pending as one batch (also called by ``loop.call_soon``)."""
        self._scheduled = False
        if not self._pending or self.detached or self._closed:
            return
        items, self._pending = self._pending, []
        self._put(items, close=False)

    def _put(self, items: list[Any], *, close: bool) -> None:
        seq = self._seq
        self._seq = seq + 1
        self._ship(self, seq, items, close)

    def acked(self, count: int, receiver_gone: bool) -> None:
        """``count`` items reached the receiver's Inbox; ``receiver_gone``: it has finished."""
        self._credits += count
        if receiver_gone and not self.detached:
            self.detached = True
            self._pending = []
            for callback in self.on_detach:
                callback()
        self._wake()

    def failed(self, error: BaseException) -> None:
        """The transport cannot deliver (the receiving process died): a waiting send raises."""
        if self._error is None:
            self._error = error
        # No credit will come back: the next send_nowait says "full", and send() raises. The
        # hot path pays nothing for this check.
        self._credits = -(1 << 62)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    @property
    def error(self) -> BaseException | None:
        """Why the transport could not deliver, if it could not (checked after the run: a
        failure found after the sender's last wait is raised by nobody else)."""
        return self._error

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Intake:
    """The receiving end of one channel from another process: puts each batch into the local
    Inbox, in the order the sender shipped them, waiting for room (which is what holds the
    acknowledgement back and so slows the sender)."""

    __slots__ = ("inbox", "_next", "_turns")

    def __init__(self, inbox: Inbox) -> None:
        inbox.add_sender()
        self.inbox = inbox
        self._next = 0
        # A transport may start handling batch n+1 before batch n is in (Ray runs the calls
        # of an async actor concurrently): each waits for its turn here.
        self._turns: dict[int, asyncio.Future[None]] = {}

    async def deliver(self, seq: int, items: list[Any], close: bool) -> bool:
        """Put batch ``seq`` into the Inbox; the result says whether the receiver is gone."""
        if seq != self._next:
            turn = self._turns[seq] = asyncio.get_running_loop().create_future()
            await turn
        try:
            inbox = self.inbox
            for item in items:
                if not inbox.send_nowait(item):
                    await inbox.send(item)
            if close:
                inbox.close_sender()
        finally:
            self._next = seq + 1
            after = self._turns.pop(self._next, None)
            if after is not None and not after.done():
                after.set_result(None)
        return inbox.detached
