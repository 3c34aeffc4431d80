"""The in-process channel: a bounded inbox in front of one input port.

Guarantees (the contract every channel kind keeps):

- **Order**: items from one sender arrive in the order sent; items from several senders
  (fan-in) interleave in arrival order.
- **Capacity**: at most ``capacity`` items wait; a send to a full inbox waits for room. The
  non-blocking path is tried first, so a send only awaits when the buffer is full.
- **Close**: each sender closes its own end; after the last one closes, the receiver gets
  every pending item and then ``END`` (in-band, compared by identity, never by ``==``).
- **Receiver gone**: when the receiving component has finished, the inbox is *detached*:
  pending items are handed to ``on_drop`` (if set) and later sends are dropped the same way
  instead of blocking forever.

:func:`open_channel` puts the same contract behind two ends, modelled on trio's and anyio's
memory channels: a :class:`SendEnd` (``send_nowait``/``send``/``clone``/``close``) and a
:class:`ReceiveEnd` (``receive_nowait``/``receive``/``async for``/``close``), with the
signals :class:`WouldBlock`, :class:`EndOfChannel`, :class:`ClosedResourceError` and
:class:`BusyResourceError`. The component loops in ``stepping.py`` keep reading the
:class:`Inbox` directly; the ends are the contract every channel kind is checked against
(``tests/unit/channel_contract.py``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Generic, Self, TypeVar

from .errors import TapeflowError

__all__ = [
    "DEFAULT_CAPACITY",
    "END",
    "BusyResourceError",
    "ClosedResourceError",
    "EndOfChannel",
    "Inbox",
    "ReceiveEnd",
    "SendEnd",
    "WouldBlock",
    "open_channel",
]


class _End:
    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Final = _End()

# Bounded like the floor benchmark's queues; large enough that a producer and a consumer run
# in batches between context switches (bench/chain.py), small enough to keep memory flat.
DEFAULT_CAPACITY: Final = 64


class Inbox:
    __slots__ = ("buf", "capacity", "_getter", "_putters", "_senders", "fan_in", "detached", "on_drop", "on_detach")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"Inbox: capacity must be at least 1, got {capacity}")
        self.buf: deque[Any] = deque()
        self.capacity = capacity
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] = deque()
        self._senders = 0
        # Fed by more than one sender: fixed when wired, unlike the count of open senders.
        self.fan_in = False
        self.detached = False
        self.on_drop: Callable[[Any], None] | None = None
        self.on_detach: list[Callable[[], None]] = []

    # --- send end -------------------------------------------------------------------------
    def add_sender(self) -> None:
        self._senders += 1
        self.fan_in = self._senders > 1

    def send_nowait(self, item: Any) -> bool:
        """Put ``item`` if there is room (or drop it if detached); ``False`` when full."""
        buf = self.buf
        if len(buf) < self.capacity:
            buf.append(item)
            getter = self._getter
            if getter is not None:
                self._getter = None
                if not getter.done():
                    getter.set_result(None)
            return True
        if self.detached:
            self._drop(item)
            return True
        return False

    async def send(self, item: Any) -> None:
        while not self.send_nowait(item):
            putter = asyncio.get_running_loop().create_future()
            self._putters.append(putter)
            try:
                await putter
            except BaseException:
                if putter.done() and not putter.cancelled():
                    # Woken, then cancelled before taking the room: hand the wake-up on, or
                    # another blocked sender would wait although there is room.
                    self.wake_putter()
                putter.cancel()
                raise

    def close_sender(self) -> None:
        """One sender is done; after the last one, ``END`` follows the pending items."""
        self._senders -= 1
        if self._senders <= 0 and not self.detached:
            self.buf.append(END)  # in-band, past capacity: closing never blocks
            getter = self._getter
            if getter is not None:
                self._getter = None
                if not getter.done():
                    getter.set_result(None)

    # --- receive end ----------------------------------------------------------------------
    async def receive(self) -> Any:
        """The next item, waiting for one; ``END`` (again and again) once closed and drained."""
        buf = self.buf
        while not buf:
            getter = asyncio.get_running_loop().create_future()
            self._getter = getter
            try:
                await getter
            finally:
                self._getter = None
        item = buf.popleft()
        if item is END:
            buf.appendleft(END)
        elif self._putters:
            self.wake_putter()
        return item

    def wake_putter(self) -> None:
        putters = self._putters
        while putters:
            putter = putters.popleft()
            if not putter.done():
                putter.set_result(None)
                return

    def detach(self) -> None:
        """The receiver has finished: hand over what is pending and never block a sender again."""
        if self.detached:
            return
        self.detached = True
        self.capacity = 0
        pending = [item for item in self.buf if item is not END]
        self.buf.clear()
        for item in pending:
            self._drop(item)
        while self._putters:
            putter = self._putters.popleft()
            if not putter.done():
                putter.set_result(None)
        for callback in self.on_detach:
            callback()

    def _drop(self, item: Any) -> None:
        if self.on_drop is not None:
            self.on_drop(item)


# --- the two ends ---------------------------------------------------------------------------
# Named as trio names them. They are module-level, not in ``tapeflow.__all__``: only code that
# drives a channel by hand (a channel kind, its tests) meets them.


class WouldBlock(TapeflowError):
    """``receive_nowait`` found nothing waiting; ``await receive()`` would have waited."""


class EndOfChannel(TapeflowError):
    """Every sender has closed and every item sent has been received; nothing more will come."""


class ClosedResourceError(TapeflowError):
    """This end was used after its own ``close()`` (the peer closing is not an error)."""


class BusyResourceError(TapeflowError):
    """A second task tried to wait in ``receive()`` while another task already waits there."""


T = TypeVar("T")


class SendEnd(Generic[T]):
    """The sending end of a bounded in-process channel; made by :func:`open_channel`.

    Guarantees:

    - **Order**: items sent through one end arrive in the order sent. Items from clones of it
      (fan-in) interleave in the order they entered the buffer.
    - **Capacity**: at most ``capacity`` items wait in the buffer. ``send_nowait`` never blocks
      and returns ``False`` when the buffer is full (the item was not sent); ``send`` tries the
      same non-blocking path first and only waits, first come first served, when it is full.
      A ``send`` cancelled while waiting has not sent its item, and passes the room it may
      have been offered on to the next waiting sender.
    - **You closed it** (``close()``): this end is done. Once every end (this one and all its
      clones) is closed, the receiver gets every pending item and then :class:`EndOfChannel`.
      ``close()`` is idempotent per end and never blocks. Using the end afterwards
      (``send_nowait``, ``send``, ``clone``) raises :class:`ClosedResourceError`, and so does a
      ``send`` of this end that was still waiting for room when it was closed (its item is
      not sent).
    - **The peer closed it** (the :class:`ReceiveEnd` was closed): nobody will read again, so
      sends never block and never fail: ``send_nowait`` returns ``True`` and ``send`` returns
      at once, the item handed to ``on_drop`` (if given to :func:`open_channel`) and dropped.
      Senders blocked at that moment are released the same way.
    """

    __slots__ = ("_inbox", "_closed", "_waiting")

    def __init__(self, inbox: Inbox) -> None:
        inbox.add_sender()
        self._inbox = inbox
        self._closed = False
        # This end's own sends waiting for room, so that close() can release them.
        self._waiting: set[asyncio.Future[None]] = set()

    def send_nowait(self, item: T) -> bool:
        """Put ``item`` if there is room (drop it if the receiver is gone); ``False`` when full."""
        if self._closed:
            raise ClosedResourceError(_SENT_AFTER_CLOSE)
        return self._inbox.send_nowait(item)

    async def send(self, item: T) -> None:
        """Put ``item``, waiting for room while the buffer is full (backpressure)."""
        if self._closed:
            raise ClosedResourceError(_SENT_AFTER_CLOSE)
        inbox = self._inbox
        if inbox.send_nowait(item):
            return
        loop = asyncio.get_running_loop()
        while True:
            # Inbox.send's own wait loop, plus two things it leaves out: close() of this end
            # must release its waiting sends, and room offered to a send that is then
            # cancelled must go to the next sender, not be lost (asyncio.Queue does the same).
            putter = loop.create_future()
            inbox._putters.append(putter)
            self._waiting.add(putter)
            try:
                await putter
            except BaseException:
                if putter.done() and not putter.cancelled():
                    self._pass_room_on()
                putter.cancel()
                raise
            finally:
                self._waiting.discard(putter)
            if self._closed:
                self._pass_room_on()
                raise ClosedResourceError(
                    "channel send end: closed while a send waited for room, so its item was "
                    "not sent; close an end only after its sends have returned"
                )
            if inbox.send_nowait(item):
                return

    def _pass_room_on(self) -> None:
        inbox = self._inbox
        if len(inbox.buf) < inbox.capacity:
            inbox.wake_putter()

    def clone(self) -> SendEnd[T]:
        """Another send end onto the same receiver (fan-in); it must be closed on its own."""
        if self._closed:
            raise ClosedResourceError(
                "channel send end: clone() after close(); clone the end before closing it"
            )
        return SendEnd(self._inbox)

    def close(self) -> None:
        """This end is done; after the last end closes, the receiver sees the end of the stream."""
        if self._closed:
            return
        self._closed = True
        for putter in self._waiting:
            if not putter.done():
                putter.set_result(None)
        self._inbox.close_sender()


_SENT_AFTER_CLOSE: Final = (
    "channel send end: send after close(); send before closing, or clone() the end "
    "before closing it if another task still needs to send"
)


class ReceiveEnd(Generic[T]):
    """The receiving end of a bounded in-process channel; made by :func:`open_channel`.

    Guarantees:

    - **Order** and **capacity**: as stated on :class:`SendEnd`. Each item is received once.
      Receiving an item makes room for exactly one waiting sender.
    - **Waiting**: ``receive_nowait`` never blocks and raises :class:`WouldBlock` when nothing
      is waiting; ``receive`` waits for an item. One task waits in ``receive`` at a time
      (a second raises :class:`BusyResourceError`); fan out with one channel per receiver.
    - **The peers closed it** (every :class:`SendEnd` closed): the pending items come first,
      then ``receive`` and ``receive_nowait`` raise :class:`EndOfChannel`, every time they are
      called, and ``async for item in receive_end`` ends. The end of the stream is a marker
      compared by identity, so no item (a numpy array, an object whose ``==`` says yes to
      everything) is ever taken for it.
    - **You closed it** (``close()``): the receiver is gone. Pending items are handed to
      ``on_drop`` (if given to :func:`open_channel`) and dropped, senders are never blocked
      again (their items are dropped the same way), and a ``receive`` waiting at that moment
      or called afterwards raises :class:`ClosedResourceError`. ``close()`` is idempotent and
      never blocks.
    """

    __slots__ = ("_inbox", "_closed")

    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox
        self._closed = False

    def receive_nowait(self) -> T:
        """The next item; :class:`WouldBlock` if none waits, :class:`EndOfChannel` once ended."""
        if self._closed:
            raise ClosedResourceError(_RECEIVED_AFTER_CLOSE)
        inbox = self._inbox
        buf = inbox.buf
        if not buf:
            raise WouldBlock("channel receive end: no item is waiting; await receive() to wait for one")
        return self._take(inbox, buf)

    async def receive(self) -> T:
        """The next item, waiting for one; :class:`EndOfChannel` once closed and drained."""
        inbox = self._inbox
        buf = inbox.buf
        while True:
            if self._closed:
                raise ClosedResourceError(_RECEIVED_AFTER_CLOSE)
            if buf:
                return self._take(inbox, buf)
            # Inbox keeps one waiting receiver; a second would silently replace the first.
            if inbox._getter is not None:
                raise BusyResourceError(
                    "channel receive end: another task is already waiting in receive(); "
                    "receive from one task, or give each receiver its own channel"
                )
            getter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            inbox._getter = getter
            try:
                await getter
            finally:
                if inbox._getter is getter:
                    inbox._getter = None

    @staticmethod
    def _take(inbox: Inbox, buf: deque[Any]) -> T:
        item = buf[0]
        if item is END:  # left in place: the end of the stream is reported every time
            raise EndOfChannel("channel receive end: every sender has closed and every item was received")
        buf.popleft()
        if inbox._putters:
            inbox.wake_putter()
        result: T = item
        return result

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.receive()
        except EndOfChannel:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """The receiver is gone: drop what is pending and never block a sender again."""
        if self._closed:
            return
        self._closed = True
        inbox = self._inbox
        inbox.detach()
        getter = inbox._getter
        if getter is not None and not getter.done():
            getter.set_result(None)  # the waiting receive wakes and raises ClosedResourceError


_RECEIVED_AFTER_CLOSE: Final = (
    "channel receive end: receive after close(); close the receive end only when done "
    "receiving (close() drops what is pending)"
)


def open_channel(
    capacity: int = DEFAULT_CAPACITY, *, on_drop: Callable[[Any], None] | None = None
) -> tuple[SendEnd[Any], ReceiveEnd[Any]]:
    """A bounded in-process channel of ``capacity`` items: ``(send end, receive end)``.

    Annotate the ends to type the items: ``tx: SendEnd[int]; rx: ReceiveEnd[int]``.
    ``on_drop`` gets each item dropped because the receive end was closed.
    """
    if capacity < 1:
        raise ValueError(f"open_channel: capacity must be at least 1, got {capacity}; a channel buffers one item or more")
    inbox = Inbox(capacity)
    inbox.on_drop = on_drop
    return SendEnd(inbox), ReceiveEnd(inbox)
