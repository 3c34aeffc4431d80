"""The tap: how a recorder hears every message and every step without the engine knowing it.

A process with ``tap=None`` runs the plain component loop, which has no recording code at
all. With a tap, it runs the stamped loop, which writes into a :class:`StampLog` the tap
handed it (``tap.component_log(id, offset_ns)``), per component-step:

- ``ends``: when each step ended, in an ``array('q')`` that a recorder hands to Arrow
  without converting a single int; the step index is implicit (``first_step`` + position);
- ``moved``: flat ``(index, wait, start)`` triples for the steps whose wait for inputs did
  not begin at the previous step's end (a send had to wait, or it is the first step) or that
  did not start the moment they began waiting (an input had to wait). Every other step began
  waiting, and started, at the previous step's end: in a busy model that is most steps, so
  most steps cost one clock reading and one append. ``blocked = start - wait``;
- ``outputs[i]``: the value sent on output ``i`` after the step (steps that sent nothing —
  the closing step, a failed step — append nothing);
- ``sources[i]``: for an input fed by several connectors (fan-in) only, the channel id each
  consumed value came from;
- ``errors``: ``(index, exception)`` for a step that raised (rare, so kept apart);
- ``late``: flat ``(index, channel, entered)`` triples for each send that found its channel
  full and had to wait (backpressure), and for every later send of the same step: ``entered``
  is when the value went into the channel, read in the same synchronous stretch as the
  append, so no receiver can have taken it yet. Every other message entered its channel at
  its step's end.

Messages are not written one by one: every message is determined by these records. The engine
sends once per connector per step, so message ``seq`` on a channel is the sender's step
``seq``: its payload is ``outputs[port][seq]`` and its send time that step's end (or its
``late`` entry). It is
consumed by the receiver's step ``seq + len(initial_values[port])`` (for fan-in, found through
``sources``), whose start is the consume time; it was received at ``max(send, wait)`` of that
step, the moment both the message and its receiver were there. A recorder derives the message
rows in bulk, off the event loop; see ``tapeflow.recorder.writer``. This keeps the stamped loop
within a few list appends of the plain one: recording is budgeted at 1 µs per component-step
(bench/recording.py) and one Python call costs about 0.1 µs, a list append 0.03 µs.

``*_raw`` values are ``time.perf_counter_ns()`` readings; adding ``offset_ns`` turns them into
wall-clock nanoseconds comparable across processes (differences stay monotonic durations).

The tap owns when logs are emptied: the loop calls ``log.full()`` when ``len(log.ends)``
reaches ``log.limit`` (a bound on memory even when the event loop never idles); a tap also
drains them from callbacks on the event loop (a timer), which never interleave with a step's
synchronous code. A drain may still fall between a step's record and its later sends (a send
that had to wait), or between a fan-in value's ``sources`` entry and its step: a consumer of
the logs matches records across drains.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["DEFAULT_TAP", "IMMUTABLE_PAYLOADS", "ChannelInfo", "ComponentInfo", "Drained", "RunInfo", "StampLog", "Tap"]


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
    # The positional constructor arguments (``args`` holds the keyword ones).
    positional: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: int
    source_component: str
    source_port: str
    # None for an output with no connector: its values are recorded on a channel of their own.
    target_component: str | None
    target_port: str | None
    kind: str

    @property
    def label(self) -> str:
        if self.target_component is None:
            return f"{self.source_component}.{self.source_port}"
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
    # Ends the run with this error after the steps in progress (``Process.interrupt``): how a
    # tap that cannot record what it was given (a payload the codec refuses) fails the run.
    stop: Callable[[BaseException], None] | None = None


# Payload types that cannot change after they were sent: a tap may encode them later, off the
# hot path. Anything else (lists, dicts, arrays) goes through ``StampLog.snapshot`` at once,
# because the receiver or the sender may mutate it after the step.
IMMUTABLE_PAYLOADS: frozenset[type] = frozenset({int, float, str, bytes, bool, type(None)})


@dataclass(slots=True)
class Drained:
    """What a drain took out of one component's log."""

    component: int
    first_step: int
    ends: array[int]
    moved: array[int]
    outputs: list[list[Any]]
    sources: list[list[int]]
    errors: list[tuple[int, BaseException]]
    finished: bool
    late: array[int] = field(default_factory=lambda: array("q"))
    # Raw clock readings + offset_ns = wall-clock ns. Per batch, because the components of one
    # run may live in several processes (or hosts), each with its own clock and offset.
    offset_ns: int = 0

    def times(self, previous_end: int) -> list[tuple[int, int, int]]:
        """``(wait, start, end)`` per step, in plain Python: for tests and tools; a recorder
        rebuilds the same columns with Arrow kernels (``tapeflow.recorder.matching``)."""
        moved = {self.moved[i]: (self.moved[i + 1], self.moved[i + 2]) for i in range(0, len(self.moved), 3)}
        rows = []
        for i, end in enumerate(self.ends):
            wait, start = moved.get(self.first_step + i, (previous_end, previous_end))
            rows.append((wait, start, end))
            previous_end = end
        return rows


class StampLog:
    """What one component's stamped loop recorded since the tap last drained it."""

    __slots__ = (
        "component", "offset_ns", "ends", "moved", "outputs", "sources", "errors", "first_step",
        "limit", "plain", "snapshot", "on_full", "finished", "late",
    )

    def __init__(
        self,
        component: int,
        offset_ns: int,
        *,
        n_outputs: int = 0,
        n_inputs: int = 0,
        limit: int = 1 << 15,
        plain: frozenset[type] = IMMUTABLE_PAYLOADS,
        snapshot: Callable[[Any, int], Any] | None = None,
        on_full: Callable[[StampLog], None] | None = None,
    ) -> None:
        self.component = component
        self.offset_ns = offset_ns
        self.ends: array[int] = array("q")
        self.moved: array[int] = array("q")
        self.late: array[int] = array("q")
        self.outputs: list[list[Any]] = [[] for _ in range(n_outputs)]
        self.sources: list[list[int]] = [[] for _ in range(n_inputs)]
        self.errors: list[tuple[int, BaseException]] = []
        self.first_step = 0
        self.limit = limit
        self.plain = plain
        # snapshot(value, output port) -> what to keep for a payload that could still change
        self.snapshot: Callable[[Any, int], Any] = snapshot or (lambda value, port: value)
        self.on_full = on_full
        self.finished = False

    def full(self) -> None:
        if self.on_full is not None:
            self.on_full(self)

    def drain(self) -> Drained:
        """Take what was recorded, leaving the log empty (the loop keeps appending to the
        same containers, so they are copied and cleared, never replaced)."""
        ends, moved = self.ends, self.moved
        taken = Drained(
            self.component,
            self.first_step,
            ends[:],
            moved[:],
            [out[:] for out in self.outputs],
            [src[:] for src in self.sources],
            self.errors[:],
            self.finished,
            self.late[:],
            self.offset_ns,
        )
        self.first_step += len(ends)
        del ends[:], moved[:], self.late[:]
        for out in self.outputs:
            out.clear()
        for src in self.sources:
            src.clear()
        self.errors.clear()
        return taken


class Tap(Protocol):
    def run_started(self, run: RunInfo) -> None: ...

    def component_log(self, component: int, offset_ns: int) -> StampLog:
        """The log component ``component``'s loop writes to; called once per component."""
        ...

    def component_ended(self, log: StampLog) -> None:
        """The component's loop is over (``log.finished`` is set): values still sent to it
        will never be consumed."""
        ...

    def run_ended(self, status: str, error: BaseException | None) -> None:
        """``status`` is ``"completed"``, ``"failed"`` or ``"cancelled"``. Called once per
        run, also when the run failed before its first step (in a component's ``init()``)."""
        ...

    # Optional: ``teardown_failed(error)`` — a component's ``destroy()`` raised after
    # ``run_ended``; the process looks it up with ``getattr`` so minimal taps may omit it.


class _DefaultTap:
    """``tap=DEFAULT_TAP`` (a process's default): whatever :func:`set_default_tap_factory`
    installed decides at run time; tapeflow's front door installs the recorder there, so the
    engine itself never imports it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT_TAP"


DEFAULT_TAP: Any = _DefaultTap()
_default_factory: list[Callable[[Any], Tap | None]] = []


def set_default_tap_factory(factory: Callable[[Any], Tap | None]) -> None:
    _default_factory[:] = [factory]


def default_tap(process: Any) -> Tap | None:
    return _default_factory[0](process) if _default_factory else None
