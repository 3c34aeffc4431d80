"""The asyncio channel (``open_channel``) against the contract battery, plus what is its own:
``on_drop``, the capacity check and the messages of its errors."""

from __future__ import annotations

from typing import Any

import pytest
from channel_contract import CHECKS, Check, ChannelFactory, check_channel

from tapeflow.engine.channel import ClosedResourceError, ReceiveEnd, SendEnd, WouldBlock, open_channel

make: ChannelFactory = open_channel


@pytest.mark.parametrize("capacity", [1, 64])
@pytest.mark.parametrize("check", CHECKS, ids=[check.__name__.removeprefix("check_") for check in CHECKS])
async def test_contract(check: Check, capacity: int) -> None:
    await check(make, capacity)


async def test_whole_battery_in_one_go() -> None:
    await check_channel(make, 2)


async def test_receiver_gone_hands_pending_and_later_items_to_on_drop() -> None:
    dropped: list[Any] = []
    tx, rx = open_channel(2, on_drop=dropped.append)
    assert tx.send_nowait(1) and tx.send_nowait(2)
    rx.close()
    assert tx.send_nowait(3)
    await tx.send(4)
    assert dropped == [1, 2, 3, 4]


async def test_ends_are_typed_by_annotation() -> None:
    tx: SendEnd[int]
    rx: ReceiveEnd[int]
    tx, rx = open_channel(1)
    assert tx.send_nowait(7)
    assert rx.receive_nowait() == 7


def test_error_messages() -> None:
    tx, rx = open_channel(1)
    with pytest.raises(WouldBlock, match=r"^channel receive end: no item is waiting; await receive\(\) to wait for one$"):
        rx.receive_nowait()
    tx.close()
    with pytest.raises(ClosedResourceError, match=r"^channel send end: send after close\(\); send before closing, or clone\(\) the end before closing it if another task still needs to send$"):
        tx.send_nowait(1)
    with pytest.raises(ClosedResourceError, match=r"^channel send end: clone\(\) after close\(\); clone the end before closing it$"):
        tx.clone()
    rx.close()
    with pytest.raises(ClosedResourceError, match=r"^channel receive end: receive after close\(\); close the receive end only when done receiving \(close\(\) drops what is pending\)$"):
        rx.receive_nowait()


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"^open_channel: capacity must be at least 1, got 0; a channel buffers one item or more$"):
        open_channel(0)
