"""The ZeroMQ transport of remote channels: it carries the batches of an
:class:`~tapeflow.engine.remote.Outbox` to its :class:`~tapeflow.engine.remote.Intake` in
another process, and the acknowledgements back (``remote.py`` says what the two ends promise).

Each receiving process has one :class:`ZmqReceiver`: a ROUTER socket bound to one interface
(``127.0.0.1`` unless the caller names another, never every interface) on a port the OS
picks, serving every intake of that process. Each sending process has one :class:`ZmqSender`
per receiving endpoint: a DEALER connected to it, shared by every Outbox that sends there;
its ``ship`` is the Outbox's ``ship``. Both work inside whatever asyncio loop is running when
they are made (in a Ray actor, a loop in a non-main thread) and must be used from that loop.

On the wire (one ZeroMQ multipart message each way; integers little-endian)::

    batch   sender -> receiver   [channel i64 | seq u64 | close u8] [pickle 5 of the items] [buffer]...
    ack     receiver -> sender   [channel i64 | count u64 | receiver gone u8] ([error text])

The items of a batch are pickled with protocol 5; contiguous buffers (numpy arrays) travel out
of band as frames of their own: copied once when sent (the sender may change an array right
after sending it), used where ZeroMQ received them, writable, on the other side. Each batch is handed to its intake as a
task of its own, so a full inbox holds back only its own channel (the intake keeps each
channel's batches in order); its acknowledgement goes back when it is in the inbox.

Failures reach the sender through ``Outbox.failed``, so its next send that has to wait raises
:class:`RemoteChannelError`: a batch that does not pickle here or does not unpickle there, a
batch for a channel the receiver does not know, and a receiver that can no longer be reached.
A receiving process that dies closes its TCP connections, which the DEALER sees at once;
one that vanishes without closing them (its host went down) is noticed by ZeroMQ heartbeats
after :data:`HEARTBEAT_TIMEOUT_MS`. Either way every Outbox of that sender fails: up to
``capacity`` further items are taken (and lost) without waiting, and then the sending
component's send raises instead of waiting forever. The other direction, a sender that dies
before it closes its channels, leaves the receiving component waiting for more input; the
process kind detects dead actors itself.

``close()`` (on either side) cancels the tasks and closes the sockets at once (linger 0):
batches not yet handed to the OS are dropped. Close a sender only once its channels are
closed and their receivers have finished (or the run is being torn down).
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any, Final, cast

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from .errors import TapeflowError
from .remote import Intake, Outbox

__all__ = ["HEARTBEAT_TIMEOUT_MS", "RemoteChannelError", "ZmqReceiver", "ZmqSender"]

_BATCH: Final = struct.Struct("<qQ?")  # channel, seq, close
_ACK: Final = struct.Struct("<qQ?")  # channel, count, receiver gone

# A silent peer (no traffic, not even heartbeats) is taken for dead after this long. ZeroMQ's
# I/O thread answers heartbeats, so a process whose loop is busy in a long step still answers.
HEARTBEAT_IVL_MS: Final = 1_000
HEARTBEAT_TIMEOUT_MS: Final = 10_000

# Hosts that would listen on every interface: a channel listens on one, named by the caller.
_EVERY_INTERFACE: Final = frozenset({"*", "", "0.0.0.0", "::", "[::]"})


class RemoteChannelError(TapeflowError):
    """A remote channel cannot carry its items any more (the receiving process is gone, or a
    batch would not pickle or unpickle); raised by the sender's next send that would wait."""


def _context() -> zmq.asyncio.Context:
    # One context (one ZeroMQ I/O thread) per process, shared by every socket made here.
    return zmq.asyncio.Context.instance()


def _configure(sock: zmq.asyncio.Socket) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    # No high-water marks: credit flow bounds what is queued (capacity items per channel), and
    # a ROUTER at its mark drops messages, which for an acknowledgement would lose credits.
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.RCVHWM, 0)


class ZmqReceiver:
    """The receiving side of every ZeroMQ channel into this process: one ROUTER socket.

    ``ZmqReceiver(host)`` binds at once, on a port the OS picks, and starts reading in the
    running loop; :attr:`endpoint` is what senders connect to. Register each channel's
    intake with :meth:`add_intake` before its endpoint is handed to the sender.
    """

    __slots__ = ("endpoint", "_sock", "_intakes", "_reader", "_deliveries")

    def __init__(self, host: str = "127.0.0.1") -> None:
        if host.strip() in _EVERY_INTERFACE:
            raise ValueError(
                f"ZmqReceiver: host {host!r} would listen on every interface; "
                "give the address of one interface, such as '127.0.0.1'"
            )
        loop = asyncio.get_running_loop()
        sock = _context().socket(zmq.ROUTER)
        _configure(sock)
        address = host
        if ":" in host and not host.startswith("["):
            sock.setsockopt(zmq.IPV6, 1)
            address = f"[{host}]"
        try:
            sock.bind(f"tcp://{address}:0")
            last = sock.getsockopt(zmq.LAST_ENDPOINT)
        except BaseException:
            sock.close(linger=0)
            raise
        assert isinstance(last, bytes)
        self.endpoint: str = last.decode()
        self._sock = sock
        self._intakes: dict[int, Intake] = {}
        self._deliveries: set[asyncio.Task[None]] = set()
        self._reader = loop.create_task(self._read())

    def add_intake(self, channel: int, intake: Intake) -> None:
        """Batches of ``channel`` go to ``intake`` (one intake per channel id)."""
        if channel in self._intakes:
            raise ValueError(f"ZmqReceiver: channel {channel} already has an intake; give each channel its own id")
        self._intakes[channel] = intake

    def close(self) -> None:
        """Stop reading and delivering, close the socket (pending acknowledgements are dropped)."""
        self._reader.cancel()
        for task in self._deliveries:
            task.cancel()
        self._deliveries.clear()
        self._sock.close(linger=0)

    async def _read(self) -> None:
        sock = self._sock
        loop = asyncio.get_running_loop()
        while True:
            # Already-waiting messages come back as finished futures: one pass of the loop
            # reads everything that is there.
            frames = await sock.recv_multipart(copy=False)
            if len(frames) < 3 or len(frames[1]) != _BATCH.size:
                continue  # not from a ZmqSender: nothing to answer
            peer = frames[0].bytes
            channel, seq, close = _BATCH.unpack(frames[1].buffer)
            intake = self._intakes.get(channel)
            if intake is None:
                self._answer(peer, channel, 0, True, f"ZmqReceiver at {self.endpoint}: no channel {channel} here; "
                             "the receiving process registers every channel before it gives out its endpoint")
                continue
            try:
                # Out-of-band buffers stay in the frames ZeroMQ received into (writable, no copy).
                items = pickle.loads(frames[2].buffer, buffers=[frame.buffer for frame in frames[3:]])
            except Exception as error:
                self._answer(peer, channel, 0, False, f"channel {channel}: a batch does not unpickle in the "
                             f"receiving process: {type(error).__name__}: {error}; send values whose classes "
                             "the receiving process can import")
                continue
            task = loop.create_task(self._deliver(peer, channel, intake, seq, items, close))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, peer: bytes, channel: int, intake: Intake, seq: int, items: list[Any], close: bool) -> None:
        try:
            gone = await intake.deliver(seq, items, close)
        except Exception as error:  # a bug here must not pass in silence: the sender raises it
            self._answer(peer, channel, 0, False, f"channel {channel}: delivering a batch failed in the "
                         f"receiving process: {type(error).__name__}: {error}")
            raise
        self._answer(peer, channel, len(items), gone)

    def _answer(self, peer: bytes, channel: int, count: int, gone: bool, error: str | None = None) -> None:
        frames = [peer, _ACK.pack(channel, count, gone)]
        if error is not None:
            frames.append(error.encode())
        # A ROUTER without a mark never waits, and one whose peer is gone drops the message:
        # the future comes back finished, successful.
        self._sock.send_multipart(frames)


class ZmqSender:
    """The sending side of the ZeroMQ channels from this process to one receiving endpoint:
    a DEALER connected to it, shared by every :class:`Outbox` whose ``ship`` is :meth:`ship`.

    Made in the running loop, which then also reads the acknowledgements and watches the
    connection.
    """

    __slots__ = ("endpoint", "_sock", "_monitor", "_outboxes", "_error", "_tasks")

    def __init__(self, endpoint: str) -> None:
        loop = asyncio.get_running_loop()
        sock = _context().socket(zmq.DEALER)
        _configure(sock)
        sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        if endpoint.startswith("tcp://["):
            sock.setsockopt(zmq.IPV6, 1)
        try:
            # Refused or dropped: the receiver bound before its endpoint was given out, so it is gone.
            monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED)
            monitor.setsockopt(zmq.LINGER, 0)
            sock.connect(endpoint)
        except BaseException:
            sock.close(linger=0)
            raise
        self.endpoint = endpoint
        self._sock = sock
        self._monitor = monitor
        self._outboxes: dict[int, Outbox] = {}
        self._error: RemoteChannelError | None = None
        self._tasks = (loop.create_task(self._read_acks()), loop.create_task(self._watch()))

    def ship(self, outbox: Outbox, seq: int, items: list[Any], close: bool) -> None:
        """Send one batch of ``outbox`` without waiting (the Outbox's ``ship``)."""
        channel = outbox.channel
        known = self._outboxes.setdefault(channel, outbox)
        if known is not outbox:
            raise ValueError(f"ZmqSender to {self.endpoint}: two outboxes share channel {channel}; give each its own id")
        if self._error is not None:
            self._fail_soon(outbox, self._error)
            return
        buffers: list[pickle.PickleBuffer] = []
        try:
            payload = pickle.dumps(items, protocol=5, buffer_callback=buffers.append)
            frames: list[Any] = [_BATCH.pack(channel, seq, close), payload, *(b.raw() for b in buffers)]
        except Exception as error:
            failure = RemoteChannelError(
                f"channel {channel} to {self.endpoint}: a value does not pickle: {type(error).__name__}: "
                f"{error}; send values that pickle (numbers, strings, containers, numpy arrays, "
                "instances of importable classes)"
            )
            failure.__cause__ = error
            self._fail_soon(outbox, failure)
            return
        # Sends now, or queues in order if it cannot; zmq.asyncio hands back an asyncio future.
        sent = cast("asyncio.Future[Any]", self._sock.send_multipart(frames))
        if not sent.done():
            sent.add_done_callback(lambda f: self._check_sent(outbox, f))
        elif not sent.cancelled() and sent.exception() is not None:
            asyncio.get_running_loop().call_soon(self._check_sent, outbox, sent)

    def close(self) -> None:
        """Stop reading acknowledgements, close the socket; unsent batches are dropped."""
        for task in self._tasks:
            task.cancel()
        if not self._sock.closed:
            self._sock.disable_monitor()
        self._monitor.close(linger=0)
        self._sock.close(linger=0)

    @staticmethod
    def _fail_soon(outbox: Outbox, error: RemoteChannelError) -> None:
        # Not from inside ship: Outbox.send ships, then waits, and a failure reported while it
        # ships would not wake that wait.
        asyncio.get_running_loop().call_soon(outbox.failed, error)

    def _check_sent(self, outbox: Outbox, sent: asyncio.Future[Any]) -> None:
        if sent.cancelled():
            return  # the socket was closed
        error = sent.exception()
        if error is not None:
            failure = RemoteChannelError(
                f"channel {outbox.channel} to {self.endpoint}: ZeroMQ could not send a batch: {error}"
            )
            failure.__cause__ = error
            outbox.failed(failure)

    async def _read_acks(self) -> None:
        sock = self._sock
        outboxes = self._outboxes
        while True:
            frames = await sock.recv_multipart()
            if len(frames[0]) != _ACK.size:
                continue
            channel, count, gone = _ACK.unpack(frames[0])
            outbox = outboxes.get(channel)
            if outbox is None:
                continue
            if len(frames) > 1:
                outbox.failed(RemoteChannelError(frames[1].decode(errors="replace")))
            else:
                outbox.acked(count, gone)

    async def _watch(self) -> None:
        event = parse_monitor_message(await self._monitor.recv_multipart())
        what = "could not connect to" if event["event"] == zmq.EVENT_CONNECT_RETRIED else "lost the connection to"
        self._lost(
            RemoteChannelError(
                f"ZmqSender to {self.endpoint}: {what} the receiving process (it has ended, or "
                f"stopped answering heartbeats for {HEARTBEAT_TIMEOUT_MS // 1000} s); what is sent "
                "there cannot arrive, look at how that process ended"
            )
        )

    def _lost(self, error: RemoteChannelError) -> None:
        # No reconnecting: the port may by now belong to another process's receiver.
        try:
            self._sock.disconnect(self.endpoint)
        except zmq.ZMQError:
            pass
        self._error = error
        for outbox in self._outboxes.values():
            outbox.failed(error)
