"""The tap: how a recorder hears every message and every step without the engine knowing it.

A process with ``tap=None`` runs the plain component loop, which has no recording code at
all. With a tap, it runs the stamped loop: every message travels in an envelope
``(payload, channel, seq, sender_step, send_ns)`` and the tap is called

- ``message(envelope, receiver_step, receive_ns, consume_ns)`` once per message, when the
  receiving step consumes it (or, with ``receiver_step=None``, when it was still in flight at
  the end or its receiver had gone); one call carries the send, receive and consume stamps,
  so no join is needed later;
- ``step(...)`` once per step, after it ended or failed (start, end, time blocked on inputs).

Two calls per component-step rather than one per event: each Python call costs about 0.1 µs
and the recording budget is 1 µs per step (bench/chain.py, recording on versus off).

Timestamps (``*_ns``) are wall-clock nanoseconds, comparable across processes; they are taken
as ``perf_counter_ns() + offset`` with the offset fixed at run start, so differences between
them are monotonic durations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["ChannelInfo", "ComponentInfo", "Envelope", "RunInfo", "Tap"]


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


class Tap(Protocol):
    def run_started(self, run: RunInfo) -> None: ...

    def message(
        self,
        envelope: Envelope,
        receiver_step: int | None,
        receive_ns: int | None,
        consume_ns: int | None,
    ) -> None:
        """``envelope`` is ``(payload, channel, seq, sender_step, send_ns)``, passed whole so
        the hot path does not unpack and repack it; ``receive_ns`` is when the receiver took it
        off the channel (the moment it came looking, if the message was already waiting)."""
        ...

    def step(
        self,
        component: int,
        index: int,
        start_ns: int,
        end_ns: int,
        blocked_ns: int,
        error: BaseException | None,
    ) -> None: ...

    def run_ended(self, status: str, error: BaseException | None) -> None:
        """``status`` is ``"completed"``, ``"failed"`` or ``"cancelled"``."""
        ...
