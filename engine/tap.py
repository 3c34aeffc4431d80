"""The tap: how a recorder hears every message and every step without the engine knowing it.

A process with ``tap=None`` runs the plain component loop, which has no recording code at
all. With a tap, it runs the stamped loop: every message travels in an envelope
``(payload, channel, seq, sender_step, send_ns)`` and each component loop writes what it
hears into a :class:`StampLog` the tap handed it (``tap.component_log(id, offset_ns)``).

The stamp log is flat lists rather than calls: a Python call costs about 0.1 µs and a list
append 0.03 µs on the 2-core bench machine, against a recording budget of 1 µs per
component-step (bench/recording.py, recording on versus off). Per consumed message the loop
appends seven items, per step four:

- ``messages``: the five items of the envelope, then ``receive_raw, receiver_step`` (the
  receiving step's index). The envelope is spread rather than kept: a list of held tuples
  makes the cyclic GC walk them again and again (0.3 µs per step in bench/recording.py), and
  the writer slices flat columns out of it at C speed;
- ``steps``: ``index, wait_raw, start_raw, end_raw``; ``blocked = start - wait``;
- ``errors``: ``(index, exception)`` for a step that raised (rare, so kept apart).

``*_raw`` values are ``time.perf_counter_ns()`` readings; adding ``offset_ns`` turns them into
wall-clock nanoseconds comparable across processes (differences stay monotonic durations).
``send_ns`` in the envelope is already wall-clock, since it travels to other processes.

A message's consume time is the start of its receiving step, so it is not stored twice.
Messages that were still in flight at the end, or sent to a receiver that had finished, reach
``tap.message(envelope, None, None, None)``.

The tap owns when logs are emptied: the loop calls ``log.full()`` when ``len(log.steps)``
reaches ``log.limit`` (a bound on memory even when the event loop never idles); a tap also
empties them from callbacks on the event loop (a timer), which never interleave with a step's
synchronous code, so ``drain()`` sees whole records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["MESSAGE_WIDTH", "STEP_WIDTH", "ChannelInfo", "ComponentInfo", "Envelope", "EventTap", "RunInfo", "StampLog", "Tap", "call_log", "finish_call_log"]


@dataclass(frozen=True, slots=True)
class ComponentInfo:
    id: int
    name: str
    class_path: str
    args: dict[str, Any]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    resources: dict[str, Any]
    initial_values: dict[str, list[Any]]
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: int
    source_component: str
    source_port: str
    target_component: str
    target_port: str
    kind: str

    @property
    def label(self) -> str:
        return f"{self.source_component}.{self.source_port} -> {self.target_component}.{self.target_port}"


@dataclass(slots=True)
class RunInfo:
    process_name: str
    process_kind: str
    channel_kind: str
    components: list[ComponentInfo]
    channels: list[ChannelInfo]
    parameters: dict[str, Any]
    config: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# (payload, channel id, per-channel sequence number, sender's step index, send time in ns)
Envelope = tuple[Any, int, int, int, int]

# Payload types that cannot change after they were sent: a tap may encode them later, off the
# hot path. Anything else (lists, dicts, arrays) goes through ``StampLog.snapshot`` at once,
# because the receiver or the sender may mutate it after the step.
MESSAGE_WIDTH = 7  # payload, channel, seq, sender_step, send_ns, receive_raw, receiver_step
STEP_WIDTH = 4  # index, wait_raw, start_raw, end_raw

IMMUTABLE_PAYLOADS: frozenset[type] = frozenset({int, float, str, bytes, bool, type(None)})


class StampLog:
    """What one component's stamped loop heard since the tap last drained it."""

    __slots__ = ("component", "offset_ns", "messages", "steps", "errors", "limit", "plain", "snapshot", "on_full")

    def __init__(
        self,
        component: int,
        offset_ns: int,
        *,
        limit: int = 1 << 16,
        plain: frozenset[type] = IMMUTABLE_PAYLOADS,
        snapshot: Callable[[Envelope], Envelope] | None = None,
        on_full: Callable[[StampLog], None] | None = None,
    ) -> None:
        self.component = component
        self.offset_ns = offset_ns
        self.messages: list[Any] = []
        self.steps: list[int] = []
        self.errors: list[tuple[int, BaseException]] = []
        self.limit = limit
        self.plain = plain
        self.snapshot: Callable[[Envelope], Envelope] = snapshot or (lambda envelope: envelope)
        self.on_full = on_full

    def full(self) -> None:
        if self.on_full is not None:
            self.on_full(self)

    def drain(self, final: bool = False) -> tuple[list[Any], list[int], list[tuple[int, BaseException]]]:
        """Take what was recorded, leaving the log empty.

        Messages of a step that has not ended yet stay behind (their consume time is that
        step's start, which only the step record carries); with ``final`` they are taken too,
        and the tap records them as received but never consumed.
        """
        messages, steps, errors = self.messages, self.steps, self.errors
        keep: list[Any] = []
        if messages and not final:
            done = steps[-4] if steps else -1
            cut = len(messages)
            while cut and messages[cut - 1] > done:
                cut -= MESSAGE_WIDTH
            if cut < len(messages):
                keep = messages[cut:]
                del messages[cut:]
        taken = (messages[:], steps[:], errors[:])
        messages.clear()
        steps.clear()
        errors.clear()
        messages.extend(keep)
        return taken


class Tap(Protocol):
    def run_started(self, run: RunInfo) -> None: ...

    def component_log(self, component: int, offset_ns: int) -> StampLog:
        """The log component ``component``'s loop writes to; called once per component."""
        ...

    def message(
        self,
        envelope: Envelope,
        receiver_step: int | None,
        receive_ns: int | None,
        consume_ns: int | None,
    ) -> None:
        """A message that no step consumed (``None`` stamps): in flight at the end, or sent to
        a receiver that had finished."""
        ...

    def run_ended(self, status: str, error: BaseException | None) -> None:
        """``status`` is ``"completed"``, ``"failed"`` or ``"cancelled"``."""
        ...


def call_log(tap: Any, component: int, offset_ns: int) -> StampLog:
    """A log for a tap without ``component_log``: one that has ``message(envelope,
    receiver_step, receive_ns, consume_ns)`` and ``step(component, index, start_ns, end_ns,
    blocked_ns, error)``. They are called after each step (``limit=1``): for tests and tools,
    not for recording at speed."""
    relay = _Relay(tap.message, tap.step)
    return StampLog(component, offset_ns, limit=1, on_full=relay.replay)


class _Relay:
    def __init__(self, on_message: Callable[..., None], on_step: Callable[..., None]) -> None:
        self.on_message = on_message
        self.on_step = on_step

    def replay(self, log: StampLog, final: bool = False) -> None:
        messages, steps, errors = log.drain(final)
        off = log.offset_ns
        starts = {steps[i]: steps[i + 2] for i in range(0, len(steps), STEP_WIDTH)}
        for i in range(0, len(messages), MESSAGE_WIDTH):
            envelope = tuple(messages[i : i + 5])
            received, index = messages[i + 5], messages[i + 6]
            start = starts.get(index)
            if start is None:  # taken off the channel, but its step never began
                self.on_message(envelope, None, received + off, None)
            else:
                self.on_message(envelope, index, received + off, start + off)
        failed = dict(errors)
        for i in range(0, len(steps), STEP_WIDTH):
            index, wait, start, end = steps[i : i + STEP_WIDTH]
            self.on_step(log.component, index, start + off, end + off, start - wait, failed.get(index))


def finish_call_log(log: StampLog) -> None:
    """At the end of a component loop: report what a ``call_log`` still holds."""
    on_full = log.on_full
    relay = getattr(on_full, "__self__", None)
    if isinstance(relay, _Relay):
        relay.replay(log, final=True)


class EventTap:
    """Base for simple taps that prefer one call per event: subclass and override
    ``on_message``/``on_step``. Calls happen after each step (``limit=1``), so this is for
    tests and tools, not for recording at speed."""

    def run_started(self, run: RunInfo) -> None:
        pass

    def component_log(self, component: int, offset_ns: int) -> StampLog:
        return StampLog(component, offset_ns, limit=1, on_full=_Relay(self.on_message, self.on_step).replay)

    def message(self, envelope: Envelope, receiver_step: int | None, receive_ns: int | None, consume_ns: int | None) -> None:
        self.on_message(envelope, receiver_step, receive_ns, consume_ns)

    def run_ended(self, status: str, error: BaseException | None) -> None:
        pass

    def on_message(self, envelope: Any, receiver_step: int | None, receive_ns: int | None, consume_ns: int | None) -> None:
        pass

    def on_step(self, component: int, index: int, start_ns: int, end_ns: int, blocked_ns: int, error: BaseException | None) -> None:
        pass
