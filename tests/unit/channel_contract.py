"""The channel contract battery: every channel kind passes it, as every trio stream passes
``trio.testing.check_one_way_stream``.

A channel kind is given as a factory ``make(capacity) -> (send end, receive end)``. Each
``check_*`` coroutine below checks one promise of the contract (stated on
``tapeflow.engine.channel.SendEnd`` and ``ReceiveEnd``) and raises ``AssertionError`` when it
is broken; :data:`CHECKS` lists them for a test module to parametrize over, and
:func:`check_channel` runs them all in one go.

No check sleeps. A send that must be blocked is started in a task that sets an event just
before it sends: when the checker wakes from that event, the task has run up to the point
where it waits, or has finished. A broken promise that hangs is caught by the per-test timeout.

**Remote kinds.** A channel whose ends are in different processes (``remote.py``) delivers an
item only after the event loop has run, and holds more than ``capacity``: ``capacity`` items
on their way plus ``capacity`` in the receiver's inbox. Its ends say so by being
:class:`Remote`: ``holds`` is that bound, and ``await settle()`` returns once everything
shipped has reached the receiver's inbox and been acknowledged, or waits for room there
(the adapter waits on the events of its own transport, never on a timer). The checks call
:func:`settle` wherever they then look at what is receivable or refused; for the in-process
channel it does nothing and never yields, so its checks are exactly what they were. Where a
promise itself differs for remote kinds, the check's docstring says how.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import pytest

from tapeflow.engine.channel import BusyResourceError, ClosedResourceError, EndOfChannel, WouldBlock

__all__ = ["CHECKS", "ChannelFactory", "ReceiveEndLike", "Remote", "SendEndLike", "check_channel"]


class SendEndLike(Protocol):
    def send_nowait(self, item: Any) -> bool: ...
    async def send(self, item: Any) -> None: ...
    def clone(self) -> SendEndLike: ...
    def close(self) -> None: ...


class ReceiveEndLike(Protocol):
    def receive_nowait(self) -> Any: ...
    async def receive(self) -> Any: ...
    def __aiter__(self) -> AsyncIterator[Any]: ...
    def close(self) -> None: ...


@runtime_checkable
class Remote(Protocol):
    """An end of a channel between processes (both its ends are, for a remote kind)."""

    # What one send end can have in the channel, on its way and in the inbox, once settled,
    # before send_nowait refuses: 2 x capacity for an Outbox (see remote.py).
    holds: int

    async def settle(self) -> None:
        """Until everything sent through any end of this channel is in the receiver's inbox and
        acknowledged, or waits there for room; and every send woken by room has run."""
        ...


ChannelFactory = Callable[[int], tuple[SendEndLike, ReceiveEndLike]]
Check = Callable[[ChannelFactory, int], Awaitable[None]]


# --- helpers ------------------------------------------------------------------------------------
async def started(body: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    """Run ``body`` in a task until it first waits (or ends), then hand the task back."""
    going = asyncio.Event()

    async def run() -> None:
        going.set()
        await body()

    task = asyncio.create_task(run())
    await going.wait()
    return task


def is_remote(end: SendEndLike | ReceiveEndLike) -> bool:
    return isinstance(end, Remote)


def holds(tx: SendEndLike, capacity: int) -> int:
    """How many items the channel holds before ``send_nowait`` refuses, once settled."""
    return tx.holds if isinstance(tx, Remote) else capacity


async def settle(end: SendEndLike | ReceiveEndLike) -> None:
    """Let a remote channel deliver what it carries; nothing (and no yield) in-process."""
    if isinstance(end, Remote):
        await end.settle()


async def fill(tx: SendEndLike, capacity: int) -> int:
    """Send 0, 1, … until the channel holds all it can; the count sent.

    In-process that is ``capacity`` items, each taken at once. A remote channel refuses after
    ``capacity`` items on their way and takes more once they are in the receiver's inbox.
    """
    bound = holds(tx, capacity)
    await top_up(tx, range(bound))
    return bound


async def top_up(tx: SendEndLike, items: range) -> list[int]:
    """Send exactly ``items`` into a channel that has room for them, then check it is full."""
    for i in items:
        if not tx.send_nowait(i):
            await settle(tx)
            assert tx.send_nowait(i), f"send_nowait refused item {i}, although the channel had room for it"
    await settle(tx)
    assert not tx.send_nowait("over"), f"send_nowait took an item past the {len(items)} the channel had room for"
    return list(items)


# The loops below stop after ``most`` items: a channel that never says "empty" or "ended"
# fails the check at once instead of spinning where no timeout can interrupt it.


def drain_nowait(rx: ReceiveEndLike, most: int) -> list[Any]:
    """Every item waiting now (at most ``most``)."""
    items = []
    for _ in range(most + 1):
        try:
            items.append(rx.receive_nowait())
        except WouldBlock:
            return items
    raise AssertionError(f"receive_nowait gave more than the {most} items that can be waiting: {items[:5]}...")


async def receive_all(rx: ReceiveEndLike, most: int) -> list[Any]:
    """Every item up to the end of the stream (at most ``most``)."""
    items = []
    for _ in range(most + 1):
        try:
            items.append(await rx.receive())
        except EndOfChannel:
            return items
    raise AssertionError(f"receive gave more than the {most} items sent: {items[:5]}...")


async def drain(rx: ReceiveEndLike, most: int) -> list[Any]:
    """Every item waiting now (at most ``most``); for a remote kind, also those on their way."""
    items = drain_nowait(rx, most)
    while is_remote(rx):
        await settle(rx)
        more = drain_nowait(rx, most - len(items))
        if not more:
            break
        items += more
    return items


async def receive_until_done(rx: ReceiveEndLike, task: asyncio.Task[None], most: int) -> list[Any]:
    """Remote kinds: receive one item at a time, settling after each, until ``task`` (a send
    waiting for room) is done; that must take at most ``most`` receives."""
    got: list[Any] = []
    while not task.done():
        assert len(got) < most, f"a send still waited for room after {most} receives"
        got.append(rx.receive_nowait())
        await settle(rx)
    await task
    return got


def assert_ended(rx: ReceiveEndLike) -> None:
    for _ in range(3):  # the end is reported every time, not once
        with pytest.raises(EndOfChannel):
            rx.receive_nowait()


# --- the checks ---------------------------------------------------------------------------------
async def check_order_one_sender(make: ChannelFactory, capacity: int) -> None:
    """One sender's items arrive in the order sent, through many refills of the buffer."""
    tx, rx = make(capacity)
    items = list(range(3 * capacity + 5))

    async def produce() -> None:
        for item in items:
            await tx.send(item)
        tx.close()

    producer = await started(produce)
    assert await receive_all(rx, len(items)) == items
    await producer


async def check_capacity_and_backpressure(make: ChannelFactory, capacity: int) -> None:
    """``capacity`` items fit; then ``send_nowait`` says no and ``send`` waits until a receive.

    Remote: ``holds`` (2 x capacity) items fit. Room goes back to the sender a batch at a time,
    when the batch is all in the receiver's inbox, so the waiting send may need up to
    ``capacity`` receives (not one) to go; then the channel takes exactly as many more items
    as it has room for, and everything arrives in order.
    """
    tx, rx = make(capacity)
    bound = await fill(tx, capacity)
    blocked = await started(lambda: tx.send("late"))
    await settle(tx)
    assert not blocked.done(), "send returned while the buffer was full"
    assert not tx.send_nowait("over"), "send_nowait went past a full buffer"
    if not is_remote(tx):
        assert rx.receive_nowait() == 0
        await blocked
        assert not tx.send_nowait("over"), "the room made by one receive was given twice"
        assert drain_nowait(rx, capacity) == [*range(1, capacity), "late"]
        return
    got = await receive_until_done(rx, blocked, capacity)
    room = len(got) - 1  # it held `bound`; `got` left, "late" came in
    more = await top_up(tx, range(bound, bound + room))
    assert got + await drain(rx, 2 * bound) == [*range(bound), "late", *more]


async def check_cancelled_send_passes_room_on(make: ChannelFactory, capacity: int) -> None:
    """A waiting send cancelled after room was made sends nothing and leaves the room to the next.

    Remote: room comes back when an acknowledgement arrives, and the checker cannot act between
    its arrival and the woken send's turn; so the first send is cancelled while it waits, and
    the check is that it sends nothing and the second still goes once there is room (within
    ``capacity`` receives, as in the backpressure check).
    """
    tx, rx = make(capacity)
    bound = await fill(tx, capacity)
    first = await started(lambda: tx.send("first"))
    second = await started(lambda: tx.send("second"))
    if not is_remote(tx):
        assert rx.receive_nowait() == 0  # room for one, offered to the first waiting send
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    if not is_remote(tx):
        await second
        assert drain_nowait(rx, capacity) == [*range(1, capacity), "second"]
        return
    got = await receive_until_done(rx, second, capacity)
    assert got + await drain(rx, bound) == [*range(bound), "second"]


async def check_close_after_pending_items(make: ChannelFactory, capacity: int) -> None:
    """Closing the only sender delivers every pending item, then the end, again and again."""
    tx, rx = make(capacity)
    for i in range(capacity):
        assert tx.send_nowait(i)
    tx.close()  # never blocks, even with the buffer full
    assert [await rx.receive() for _ in range(capacity)] == list(range(capacity))
    for _ in range(3):
        with pytest.raises(EndOfChannel):
            await rx.receive()
    assert_ended(rx)


class EqualsAnything:
    """An item whose ``==`` says yes to everything (module-level so that it pickles)."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


async def check_end_is_not_an_item(make: ChannelFactory, capacity: int) -> None:
    """An item is never taken for the end of the stream, whatever its ``==`` says.

    Remote: the item arrives as a copy (it crossed processes pickled), so the check is on its
    type, not its identity.
    """
    tx, rx = make(capacity)
    odd = EqualsAnything()
    assert tx.send_nowait(odd)
    tx.close()
    await settle(rx)
    got = rx.receive_nowait()
    if is_remote(rx):
        assert type(got) is EqualsAnything
    else:
        assert got is odd
    assert_ended(rx)


async def check_fan_in_ends_after_last_sender(make: ChannelFactory, capacity: int) -> None:
    """With clones, the end comes only after every end closed; a repeated close counts once."""
    first, rx = make(capacity)
    second = first.clone()
    third = second.clone()
    assert first.send_nowait("a")
    first.close()
    first.close()
    first.close()
    await settle(rx)
    assert rx.receive_nowait() == "a"
    with pytest.raises(WouldBlock):  # two ends still open: not the end yet
        rx.receive_nowait()
    second.close()
    await settle(rx)
    with pytest.raises(WouldBlock):
        rx.receive_nowait()
    assert third.send_nowait("b")
    third.close()
    await settle(rx)
    assert rx.receive_nowait() == "b"
    assert_ended(rx)


async def check_fan_in_keeps_each_senders_order(make: ChannelFactory, capacity: int) -> None:
    """Concurrent clones each get all their items through, each in its own order."""
    tx, rx = make(capacity)
    ends = [tx, tx.clone(), tx.clone()]
    count = 2 * capacity + 3

    async def produce(name: int, end: SendEndLike) -> None:
        for i in range(count):
            await end.send((name, i))
        end.close()

    producers = [await started(functools.partial(produce, name, end)) for name, end in enumerate(ends)]
    items = await receive_all(rx, len(ends) * count)
    await asyncio.gather(*producers)
    for name in range(len(ends)):
        assert [i for n, i in items if n == name] == list(range(count))
    assert len(items) == len(ends) * count


async def check_async_for_ends_at_close(make: ChannelFactory, capacity: int) -> None:
    """``async for`` over the receive end yields every item and ends when the senders close."""
    tx, rx = make(capacity)
    items = list(range(2 * capacity + 1))

    async def produce() -> None:
        for item in items:
            await tx.send(item)
        tx.close()

    producer = await started(produce)
    got = []
    async for item in rx:
        got.append(item)
        assert len(got) <= len(items), f"async for gave more than the {len(items)} items sent"
    assert got == items
    await producer


async def check_receive_waits_for_an_item(make: ChannelFactory, capacity: int) -> None:
    """``receive_nowait`` on an empty channel raises; ``receive`` waits until an item comes."""
    tx, rx = make(capacity)
    with pytest.raises(WouldBlock):
        rx.receive_nowait()
    got: list[Any] = []

    async def consume() -> None:
        got.append(await rx.receive())

    consumer = await started(consume)
    assert not consumer.done(), "receive returned from an empty channel"
    assert tx.send_nowait("x")
    await consumer
    assert got == ["x"]
    await settle(rx)
    with pytest.raises(WouldBlock):
        rx.receive_nowait()


async def check_one_waiting_receiver(make: ChannelFactory, capacity: int) -> None:
    """A second task waiting in ``receive`` is refused, and the first one still gets its item."""
    tx, rx = make(capacity)
    got: list[Any] = []

    async def consume() -> None:
        got.append(await rx.receive())

    consumer = await started(consume)
    with pytest.raises(BusyResourceError, match="another task is already waiting in receive"):
        await rx.receive()
    assert tx.send_nowait("x")
    await consumer
    assert got == ["x"]


async def check_receiver_gone_frees_senders(make: ChannelFactory, capacity: int) -> None:
    """Closing the receive end frees a waiting send; later sends never block or fail.

    Remote: the sender learns it from the acknowledgement of what it has on its way.
    """
    tx, rx = make(capacity)
    await fill(tx, capacity)
    blocked = await started(lambda: tx.send("late"))
    assert not blocked.done()
    rx.close()
    rx.close()  # idempotent
    await blocked
    for i in range(2 * capacity + 1):
        assert tx.send_nowait(i), "send_nowait refused an item after the receiver was gone"
        await tx.send(i)
    tx.close()
    with pytest.raises(ClosedResourceError, match="receive after close"):
        rx.receive_nowait()
    with pytest.raises(ClosedResourceError, match="receive after close"):
        await rx.receive()


async def check_receiver_close_wakes_its_receive(make: ChannelFactory, capacity: int) -> None:
    """A ``receive`` waiting when its own end is closed raises instead of waiting forever."""
    _tx, rx = make(capacity)
    consumer = await started(rx.receive)
    assert not consumer.done()
    rx.close()
    with pytest.raises(ClosedResourceError):
        await consumer


async def check_send_after_own_close_raises(make: ChannelFactory, capacity: int) -> None:
    """A closed send end refuses ``send_nowait``, ``send`` and ``clone``; other clones go on."""
    tx, rx = make(capacity)
    other = tx.clone()
    tx.close()
    with pytest.raises(ClosedResourceError, match="send after close"):
        tx.send_nowait(1)
    with pytest.raises(ClosedResourceError, match="send after close"):
        await tx.send(1)
    with pytest.raises(ClosedResourceError, match="clone"):
        tx.clone()
    assert other.send_nowait(2)
    other.close()
    await settle(rx)
    assert rx.receive_nowait() == 2
    assert_ended(rx)


async def check_close_wakes_own_waiting_send(make: ChannelFactory, capacity: int) -> None:
    """Closing a send end while one of its sends waits: that send raises, its item never arrives."""
    tx, rx = make(capacity)
    bound = await fill(tx, capacity)
    blocked = await started(lambda: tx.send("late"))
    assert not blocked.done()
    tx.close()
    with pytest.raises(ClosedResourceError, match="closed while a send waited"):
        await blocked
    assert await receive_all(rx, bound) == list(range(bound))


CHECKS: tuple[Check, ...] = (
    check_order_one_sender,
    check_capacity_and_backpressure,
    check_cancelled_send_passes_room_on,
    check_close_after_pending_items,
    check_end_is_not_an_item,
    check_fan_in_ends_after_last_sender,
    check_fan_in_keeps_each_senders_order,
    check_async_for_ends_at_close,
    check_receive_waits_for_an_item,
    check_one_waiting_receiver,
    check_receiver_gone_frees_senders,
    check_receiver_close_wakes_its_receive,
    check_send_after_own_close_raises,
    check_close_wakes_own_waiting_send,
)


async def check_channel(make: ChannelFactory, capacity: int) -> None:
    """The whole battery against one channel kind and capacity (capacity 1 or more)."""
    for check in CHECKS:
        await check(make, capacity)
