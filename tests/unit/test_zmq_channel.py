"""The ZeroMQ transport (``engine/zmq_channel.py``): the contract battery over real loopback
sockets, with both ends in this process, and what is its own (binding, numpy payloads, a full
inbox that holds back only its own channel, and the ways a channel fails).

A battery channel is an :class:`Outbox` shipping through a :class:`ZmqSender` to a
:class:`ZmqReceiver`, whose :class:`Intake` puts the items into an :class:`Inbox` read through a
:class:`ReceiveEnd` (closing it detaches the inbox, which the intake reports upstream in its
next acknowledgement). Each channel of a test shares one DEALER, as the outputs of one process
sending to one other process do; a clone (fan-in) connects a DEALER of its own, as another
sending process would. ``settle()`` waits on what the adapter sees of the transport (batches
shipped, arriving, delivered and acknowledged; items entering the inbox; sends woken by room),
never on a timer.
"""

from __future__ import annotations

import asyncio
import itertools
import pickle
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channel_contract import CHECKS, Check, ChannelFactory, check_channel

from tapeflow.engine.channel import END, ClosedResourceError, Inbox, ReceiveEnd
from tapeflow.engine.remote import Intake, Outbox
from tapeflow.engine.zmq_channel import RemoteChannelError, ZmqReceiver, ZmqSender

pytestmark = pytest.mark.filterwarnings("error")


# --- the adapter: SendEnd/ReceiveEnd-shaped ends of a ZeroMQ channel -----------------------------
class _Lane:
    """One send end's way into the inbox: its Outbox, its Intake and the counts settle() reads."""

    __slots__ = ("outbox", "shipped", "arrived", "delivered", "acks", "waiting", "woken", "error")

    def __init__(self) -> None:
        self.outbox: Outbox
        self.shipped = 0  # batches handed to the ZmqSender
        self.arrived = 0  # batches the ZmqReceiver handed to the intake
        self.delivered = 0  # batches all in the inbox (or dropped: the receiver is gone)
        self.acks = 0  # acknowledgements back at the Outbox
        self.waiting: list[asyncio.Future[None]] = []  # sends of this end waiting for room
        self.woken: set[asyncio.Future[None]] = set()  # ... woken by room, not yet run
        self.error: BaseException | None = None


class _Link:
    """Everything one channel's ends share: the inbox, the lanes, and the settle() wait."""

    def __init__(self, capacity: int, receiver: ZmqReceiver, sender: ZmqSender,
                 new_sender: Callable[[], ZmqSender], ids: itertools.count[int]) -> None:
        self.capacity = capacity
        self.inbox = _WatchedInbox(self, capacity)
        self.receiver = receiver
        self.new_sender = new_sender
        self.ids = ids
        self.lanes: list[_Lane] = []
        self.changed: asyncio.Future[None] | None = None
        self.first = self.lane(sender)

    def lane(self, sender: ZmqSender) -> _Lane:
        lane = _Lane()
        channel = next(self.ids)

        def ship(outbox: Outbox, seq: int, items: list[Any], close: bool) -> None:
            lane.shipped += 1
            sender.ship(outbox, seq, items, close)

        lane.outbox = _WatchedOutbox(self, lane, channel, self.capacity, ship)
        self.receiver.add_intake(channel, _WatchedIntake(self, lane, self.inbox))
        self.lanes.append(lane)
        return lane

    def poke(self) -> None:
        changed = self.changed
        if changed is not None and not changed.done():
            changed.set_result(None)

    def wake(self, lane: _Lane) -> None:
        for waiter in lane.waiting:
            if not waiter.done():
                waiter.set_result(None)
                lane.woken.add(waiter)
        self.poke()

    def quiet(self, lane: _Lane) -> bool:
        inbox = self.inbox
        waits_for_room = not inbox.detached and len(inbox.buf) >= inbox.capacity
        return (
            not lane.woken
            and lane.arrived == lane.shipped
            and lane.acks == lane.delivered
            and (lane.delivered == lane.arrived or waits_for_room)
        )

    async def settle(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            for lane in self.lanes:
                lane.outbox.flush()  # what is pending goes now, not after this task yields
            if all(self.quiet(lane) for lane in self.lanes):
                return
            self.changed = loop.create_future()
            await self.changed


class _WatchedInbox(Inbox):
    __slots__ = ("link",)

    def __init__(self, link: _Link, capacity: int) -> None:
        super().__init__(capacity)
        self.link = link

    def send_nowait(self, item: Any) -> bool:
        taken = super().send_nowait(item)
        if taken:
            self.link.poke()
        return taken


class _WatchedIntake(Intake):
    __slots__ = ("link", "lane")

    def __init__(self, link: _Link, lane: _Lane, inbox: Inbox) -> None:
        super().__init__(inbox)
        self.link = link
        self.lane = lane

    async def deliver(self, seq: int, items: list[Any], close: bool) -> bool:
        self.lane.arrived += 1
        self.link.poke()
        try:
            return await super().deliver(seq, items, close)
        finally:
            self.lane.delivered += 1
            self.link.poke()


class _WatchedOutbox(Outbox):
    __slots__ = ("link", "lane")

    def __init__(self, link: _Link, lane: _Lane, channel: int, capacity: int,
                 ship: Callable[[Outbox, int, list[Any], bool], None]) -> None:
        super().__init__(channel, capacity, ship)
        self.link = link
        self.lane = lane

    def acked(self, count: int, receiver_gone: bool) -> None:
        super().acked(count, receiver_gone)
        self.lane.acks += 1
        self.link.wake(self.lane)

    def failed(self, error: BaseException) -> None:
        super().failed(error)
        self.lane.error = error
        self.link.wake(self.lane)


class ZmqSendEnd:
    """A SendEnd over one Outbox. Any number of tasks may wait in ``send`` (a component loop
    has one, which is all ``Outbox.send`` serves): each wait is woken by every acknowledgement
    and tries again, so a cancelled wait takes no room with it."""

    def __init__(self, link: _Link, lane: _Lane) -> None:
        self._link = link
        self._lane = lane
        self._closed = False
        self.holds = 2 * link.capacity

    def send_nowait(self, item: Any) -> bool:
        if self._closed:
            raise ClosedResourceError("channel send end: send after close()")
        return self._lane.outbox.send_nowait(item)

    async def send(self, item: Any) -> None:
        if self._closed:
            raise ClosedResourceError("channel send end: send after close()")
        lane = self._lane
        while not lane.outbox.send_nowait(item):
            if lane.error is not None:
                raise lane.error
            lane.outbox.flush()
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            lane.waiting.append(waiter)
            try:
                await waiter
            finally:
                lane.waiting.remove(waiter)
                if waiter in lane.woken:
                    lane.woken.discard(waiter)
                    self._link.poke()
            if self._closed:
                raise ClosedResourceError("channel send end: closed while a send waited for room")

    def clone(self) -> ZmqSendEnd:
        if self._closed:
            raise ClosedResourceError("channel send end: clone() after close()")
        link = self._link
        return ZmqSendEnd(link, link.lane(link.new_sender()))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._link.wake(self._lane)
        self._lane.outbox.close_sender()

    async def settle(self) -> None:
        await self._link.settle()


class ZmqReceiveEnd(ReceiveEnd[Any]):
    __slots__ = ("_link", "holds")

    def __init__(self, link: _Link) -> None:
        super().__init__(link.inbox)
        self._link = link
        self.holds = 2 * link.capacity

    async def settle(self) -> None:
        await self._link.settle()


@pytest.fixture
async def make() -> AsyncIterator[ChannelFactory]:
    """Open ZeroMQ channels into one receiver; closes every socket at the end."""
    receiver = ZmqReceiver()
    senders: list[ZmqSender] = []

    def new_sender() -> ZmqSender:
        senders.append(ZmqSender(receiver.endpoint))
        return senders[-1]

    shared = new_sender()
    ids = itertools.count(1)

    def open_zmq_channel(capacity: int) -> tuple[ZmqSendEnd, ZmqReceiveEnd]:
        link = _Link(capacity, receiver, shared, new_sender, ids)
        return ZmqSendEnd(link, link.first), ZmqReceiveEnd(link)

    yield open_zmq_channel
    for sender in senders:
        sender.close()
    receiver.close()
    await _all_tasks_ended()


async def _all_tasks_ended() -> None:
    """Every task the transport started ends once it is closed (no pending task is left)."""
    others = asyncio.all_tasks() - {asyncio.current_task()}
    await asyncio.gather(*others, return_exceptions=True)


# --- the battery ------------------------------------------------------------------------------
@pytest.mark.parametrize("capacity", [1, 64])
@pytest.mark.parametrize("check", CHECKS, ids=[check.__name__.removeprefix("check_") for check in CHECKS])
async def test_contract(make: ChannelFactory, check: Check, capacity: int) -> None:
    await check(make, capacity)


async def test_whole_battery_in_one_go(make: ChannelFactory) -> None:
    await check_channel(make, 2)


# --- binding --------------------------------------------------------------------------------------
async def test_binds_loopback_on_a_port_the_os_picks() -> None:
    receiver = ZmqReceiver()
    try:
        host, port = receiver.endpoint.removeprefix("tcp://").rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
    finally:
        receiver.close()
    await _all_tasks_ended()


@pytest.mark.parametrize("host", ["*", "0.0.0.0", "::", ""])
async def test_refuses_to_listen_on_every_interface(host: str) -> None:
    with pytest.raises(ValueError, match=r"^ZmqReceiver: host '.*' would listen on every interface; give the address of one interface, such as '127\.0\.0\.1'$"):
        ZmqReceiver(host)


async def test_one_intake_per_channel() -> None:
    receiver = ZmqReceiver()
    try:
        receiver.add_intake(3, Intake(Inbox(1)))
        with pytest.raises(ValueError, match=r"^ZmqReceiver: channel 3 already has an intake; give each channel its own id$"):
            receiver.add_intake(3, Intake(Inbox(1)))
    finally:
        receiver.close()
    await _all_tasks_ended()


# --- raw Outbox/Intake pairs, as the process kinds use them ---------------------------------------
class _Pair:
    """A receiver and a sender in this process; ``channel()`` wires an Outbox to a new Inbox."""

    def __init__(self) -> None:
        self.receiver = ZmqReceiver()
        self.sender = ZmqSender(self.receiver.endpoint)

    def channel(self, channel: int, capacity: int, *, register: bool = True) -> tuple[Outbox, Inbox]:
        inbox = Inbox(capacity)
        if register:
            self.receiver.add_intake(channel, Intake(inbox))
        return Outbox(channel, capacity, self.sender.ship), inbox

    async def close(self) -> None:
        self.sender.close()
        self.receiver.close()
        await _all_tasks_ended()


@pytest.fixture
async def pair() -> AsyncIterator[_Pair]:
    pair = _Pair()
    yield pair
    await pair.close()


async def _send_all(outbox: Outbox, items: list[Any]) -> None:
    """The component loop's way of sending: the non-blocking path first."""
    for item in items:
        if not outbox.send_nowait(item):
            await outbox.send(item)
    outbox.close_sender()


async def _receive_all(inbox: Inbox) -> list[Any]:
    items = []
    while (item := await inbox.receive()) is not END:
        items.append(item)
    return items


@pytest.mark.parametrize("capacity", [1, 64])
async def test_outbox_send_delivers_in_order_through_many_refills(pair: _Pair, capacity: int) -> None:
    outbox, inbox = pair.channel(1, capacity)
    items = list(range(10 * capacity + 3))
    producer = asyncio.create_task(_send_all(outbox, items))
    assert await _receive_all(inbox) == items
    await producer


async def test_numpy_arrays_arrive_equal_and_writable(pair: _Pair) -> None:
    import numpy as np
    outbox, inbox = pair.channel(1, 4)
    big = np.arange(1_000_000, dtype=np.float32).reshape(1000, 1000)
    values = [big, {"a": np.arange(5), "b": [np.zeros(3, dtype=np.int8)]}, big[:, ::2], 7]
    producer = asyncio.create_task(_send_all(outbox, values))
    got = await _receive_all(inbox)
    await producer
    assert got[0].dtype == np.float32 and np.array_equal(got[0], big)
    assert np.array_equal(got[1]["a"], np.arange(5)) and got[1]["b"][0].dtype == np.int8
    assert np.array_equal(got[2], big[:, ::2])  # not contiguous: pickled in band
    assert got[3] == 7
    got[0][0, 0] = -1.0  # a receiver may change what it received, as in-process
    assert got[0].flags.writeable and big[0, 0] == 0.0


async def test_full_inbox_holds_back_only_its_own_channel(make: ChannelFactory) -> None:
    """Two channels into one process over one connection: the first's inbox is full and its
    next batch waits there, yet the second channel carries everything through."""
    tx_a, rx_a = make(1)
    tx_b, rx_b = make(1)
    assert await _fill_settled(tx_a) == 2  # one in the inbox, one waiting at the receiver
    items = list(range(50))

    async def produce() -> None:
        for item in items:
            await tx_b.send(item)
        tx_b.close()

    producer = asyncio.create_task(produce())
    assert [item async for item in rx_b] == items
    await producer
    tx_a.close()
    assert [item async for item in rx_a] == [0, 1]


async def _fill_settled(tx: Any) -> int:
    sent = 0
    while True:
        if not tx.send_nowait(sent):
            await tx.settle()
            if not tx.send_nowait(sent):
                return sent
        sent += 1


# --- failures -------------------------------------------------------------------------------------
async def test_receiver_gone_fails_a_waiting_send(pair: _Pair) -> None:
    """The receiving process ends (its socket closes): a send waiting for room raises."""
    outbox, _inbox = pair.channel(1, 1)
    assert outbox.send_nowait(0)
    await outbox.send(1)  # 0 went into the inbox; 1 is on its way and will wait there
    blocked = asyncio.create_task(outbox.send(2))
    pair.receiver.close()
    with pytest.raises(RemoteChannelError, match=r"^ZmqSender to tcp://127\.0\.0\.1:\d+: lost the connection to the receiving process \(it has ended, or stopped answering heartbeats for 10 s\); what is sent there cannot arrive, look at how that process ended$"):
        await blocked


async def test_a_receiver_that_is_never_there_fails_the_sender() -> None:
    receiver = ZmqReceiver()
    endpoint = receiver.endpoint
    receiver.close()  # bound, then gone before anyone connected
    sender = ZmqSender(endpoint)
    try:
        outbox = Outbox(1, 1, sender.ship)
        assert outbox.send_nowait(0)
        # Alone, the connection is refused; beside other test runs, the OS may have given the
        # port to another process's receiver by now, which answers or hangs up.
        with pytest.raises(RemoteChannelError, match=r"could not connect to the receiving process|lost the connection to the receiving process|no channel 1 here"):
            await outbox.send(1)
    finally:
        sender.close()
    await _all_tasks_ended()


async def test_unknown_channel_fails_the_sender(pair: _Pair) -> None:
    outbox, _inbox = pair.channel(99, 1, register=False)
    assert outbox.send_nowait(0)
    with pytest.raises(RemoteChannelError, match=r"^ZmqReceiver at tcp://127\.0\.0\.1:\d+: no channel 99 here; the receiving process registers every channel before it gives out its endpoint$"):
        await outbox.send(1)


async def test_value_that_does_not_pickle_fails_the_sender(pair: _Pair) -> None:
    outbox, _inbox = pair.channel(1, 1)
    assert outbox.send_nowait(lambda: 0)
    with pytest.raises(RemoteChannelError, match=r"^channel 1 to tcp://127\.0\.0\.1:\d+: a value does not pickle: .*; send values that pickle \(numbers, strings, containers, numpy arrays, instances of importable classes\)$"):
        await outbox.send(1)


def _refuse() -> None:
    raise ImportError("no module named 'elsewhere'")


class _Unloadable:
    def __reduce__(self) -> tuple[Callable[[], None], tuple[()]]:
        return (_refuse, ())


async def test_value_that_does_not_unpickle_fails_the_sender(pair: _Pair) -> None:
    outbox, _inbox = pair.channel(1, 1)
    pickle.dumps(_Unloadable())  # it does pickle
    assert outbox.send_nowait(_Unloadable())
    with pytest.raises(RemoteChannelError, match=r"^channel 1: a batch does not unpickle in the receiving process: ImportError: no module named 'elsewhere'; send values whose classes the receiving process can import$"):
        await outbox.send(1)


async def test_two_outboxes_cannot_share_a_channel_id(pair: _Pair) -> None:
    first, _inbox = pair.channel(5, 1)
    second = Outbox(5, 1, pair.sender.ship)
    first.close_sender()
    with pytest.raises(ValueError, match=r"^ZmqSender to tcp://127\.0\.0\.1:\d+: two outboxes share channel 5; give each its own id$"):
        second.close_sender()
