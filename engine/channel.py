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
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Final

__all__ = ["END", "Inbox"]


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
