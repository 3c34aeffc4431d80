"""The channel contract: order, capacity, in-band close, fan-in close, detach.

Written against the send-end / receive-end operations every channel kind offers, so the
ZeroMQ and Ray channels can run the same battery when they arrive.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tapeflow.engine.channel import END, Inbox


async def drain(inbox: Inbox) -> list[Any]:
    items = []
    while (item := await inbox.receive()) is not END:
        items.append(item)
    return items


async def test_order_and_close_after_pending_items() -> None:
    inbox = Inbox(capacity=4)
    inbox.add_sender()

    async def produce() -> None:
        for i in range(100):
            await inbox.send(i)
        inbox.close_sender()

    producer = asyncio.create_task(produce())
    assert await drain(inbox) == list(range(100))
    await producer
    assert await inbox.receive() is END  # stays closed


async def test_capacity_bounds_the_buffer() -> None:
    inbox = Inbox(capacity=3)
    inbox.add_sender()
    assert [inbox.send_nowait(i) for i in range(4)] == [True, True, True, False]
    blocked = asyncio.create_task(inbox.send(3))
    await asyncio.sleep(0)
    assert not blocked.done() and len(inbox.buf) == 3
    assert await inbox.receive() == 0
    await blocked
    assert list(inbox.buf) == [1, 2, 3]


async def test_fan_in_closes_after_the_last_sender() -> None:
    inbox = Inbox()
    inbox.add_sender()
    inbox.add_sender()
    inbox.send_nowait("a")
    inbox.close_sender()
    inbox.send_nowait("b")
    assert await inbox.receive() == "a"
    assert await inbox.receive() == "b"
    inbox.close_sender()
    assert await inbox.receive() is END


async def test_close_marker_is_compared_by_identity() -> None:
    class EqualsAnything:
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = object.__hash__

    inbox = Inbox()
    inbox.add_sender()
    odd = EqualsAnything()
    inbox.send_nowait(odd)
    inbox.close_sender()
    assert await inbox.receive() is odd
    assert await inbox.receive() is END


async def test_detach_frees_blocked_senders_and_hands_over_pending_items() -> None:
    dropped: list[Any] = []
    inbox = Inbox(capacity=1)
    inbox.on_drop = dropped.append
    inbox.add_sender()
    inbox.send_nowait(1)
    blocked = asyncio.create_task(inbox.send(2))
    await asyncio.sleep(0)
    inbox.detach()
    await blocked
    inbox.send_nowait(3)
    assert dropped == [1, 2, 3]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"^Inbox: capacity must be at least 1, got 0$"):
        Inbox(capacity=0)


async def test_a_woken_send_that_is_cancelled_passes_its_room_on() -> None:
    import asyncio

    from tapeflow.engine.channel import Inbox

    inbox = Inbox(1)
    inbox.add_sender()
    assert inbox.send_nowait("a")
    first = asyncio.create_task(inbox.send("b"))
    second = asyncio.create_task(inbox.send("c"))
    await asyncio.sleep(0)  # both senders are now waiting for room (one loop pass, no timing)
    assert inbox.buf.popleft() == "a"
    inbox.wake_putter()  # wakes the first waiting sender...
    first.cancel()  # ...which is cancelled before it can take the room
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 5)  # the second gets the room instead of waiting for ever
    assert list(inbox.buf) == ["c"]
