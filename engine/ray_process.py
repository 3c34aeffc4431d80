"""``RayProcess``: every component in a Ray actor of its own, on one machine or a cluster.

Each actor runs the same component loop as ``LocalProcess`` (``stepping.py``), on the actor's
own event loop; only the channel underneath differs (``remote.py``): an actor's inputs are
Inboxes fed by Intakes, its outputs are Outboxes whose batches a transport carries, over Ray
actor calls (``RayConnector``) or ZeroMQ sockets (``ZMQConnector``). A connector between two
components of one process that is neither (``AsyncioConnector``) cannot cross an actor
boundary and is refused before anything starts.

Recording: a recorded run's actors each write their steps into a collector beside their
event loop (``tapeflow.recorder.collector``); the driver pulls the drained parts every
``PULL_S`` seconds and hands them to the one recorder, the only writer of the log.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import socket
import sys
import time
import traceback
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .channel import Inbox
from .component import Component
from .connector import Connector
from .errors import ComponentError, NotAvailableError, ProcessError, TapeflowError
from .process import Process, _component_error, _status_of
from .remote import Intake, Outbox
from .stepping import InputFeed, OutputFeed, StepCounter, run_plain, run_stamped
from .tap import DEFAULT_TAP, Tap

__all__ = ["RayProcess"]

# How often the driver pulls recorded parts from the actors while the run goes on.
PULL_S = 0.2
# Items a channel between actors may have on their way, and again in its receiver's inbox.
# Larger than in-process (DEFAULT_CAPACITY): every batch costs an actor call or a frame and
# a round trip for its credit, so the window is what keeps a pipeline busy (chain of 4,
# 20,000 ints: ZeroMQ 50-55k messages/s at 64, 180k at 1024; Ray calls 12-13k and 115-125k).
REMOTE_CAPACITY = 1024
# Round trips per other node to estimate its clock against the driver's.
SKEW_ROUND_TRIPS = 5
# How long to wait for Ray to report an actor's death once a sender found its receiver gone.
DEATH_WAIT_S = 10.0


class PeerLost(TapeflowError):
    """A channel's receiving actor is gone (its process or node died)."""


@dataclass(frozen=True, slots=True)
class OutputLink:
    """One connector leaving an actor: where its batches go and how."""

    port: str
    channel: int
    kind: str  # "ray" or "zmq"
    fan_in: bool
    target: Any  # the receiving actor's handle (ray) or its ZeroMQ endpoint (zmq)


@dataclass(slots=True)
class ActorPlan:
    """What an actor needs to know about its place in the model (picklable)."""

    component_id: int
    # per input port: the channel ids that feed it, and their kinds
    inputs: dict[str, list[tuple[int, str]]]
    capacity: int
    recorded: bool
    collector_spec: Any = None
    # Where an actor's ZeroMQ socket listens; None: the address Ray knows its node by, which
    # is loopback for a Ray started by tapeflow, and the node's cluster address on a cluster.
    zmq_host: str | None = None
    outputs: list[OutputLink] = field(default_factory=list)


@dataclass(slots=True)
class StepFailure:
    """A component's failure, as an actor reports it: picklable whatever the error was."""

    phase: str  # "init", "step", "start", "destroy"
    step: int | None
    error_type: str
    message: str
    traceback: str
    original: bytes | None  # the pickled exception, when it pickles

    @classmethod
    def of(cls, phase: str, step: int | None, error: BaseException) -> StepFailure:
        try:
            original: bytes | None = pickle.dumps(error)
        except Exception:
            original = None
        return cls(
            phase, step, type(error).__name__, str(error), "".join(traceback.format_exception(error)), original
        )

    def exception(self) -> BaseException:
        if self.original is not None:
            try:
                error = pickle.loads(self.original)
                if isinstance(error, BaseException):
                    return error
            except Exception:
                pass
        return RuntimeError(f"{self.error_type}: {self.message}")


class ComponentActor:
    """The body of one component's Ray actor (made a Ray actor class by ``_actor_class``)."""

    def __init__(self) -> None:
        self.component: Component | None = None

    async def load(self, payload: bytes, paths: list[str], cwd: str) -> dict[str, Any]:
        """Take on a component (an actor is reused across runs: see ``_HostPool``); say where
        this actor runs and what its clock reads."""
        ray = _ray()
        cloudpickle = ray.cloudpickle  # Ray's own copy

        # The model's own modules must import here as in the driver, wherever it was started.
        for path in reversed(paths):
            if path not in sys.path:
                sys.path.insert(0, path)
        if os.path.isdir(cwd):
            os.chdir(cwd)
        self.component = cloudpickle.loads(payload)
        self.counter = StepCounter()
        self.plan: ActorPlan | None = None
        self.inboxes: dict[str, Inbox] = {}
        self.intakes: dict[int, Intake] = {}
        self.outboxes: list[Outbox] = []
        self.parts: list[Any] = []
        self.collector: Any = None
        self.zmq_receiver: Any = None
        self.zmq_senders: dict[str, Any] = {}
        self.task: asyncio.Task[None] | None = None
        self.initialised = False
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "time_ns": time.time_ns(),
        }

    async def plan_inputs(self, plan: ActorPlan) -> str | None:
        """Make the inboxes and intakes; bind ZeroMQ if an input needs it (its endpoint)."""
        self.plan = plan
        endpoint = None
        for port, channels in plan.inputs.items():
            inbox = self.inboxes[port] = Inbox(plan.capacity)
            for channel, kind in channels:
                self.intakes[channel] = Intake(inbox)
        if any(kind == "zmq" for channels in plan.inputs.values() for _, kind in channels):
            from .zmq_channel import ZmqReceiver

            ray = _ray()
            self.zmq_receiver = ZmqReceiver(host=plan.zmq_host or ray.util.get_node_ip_address())
            for port, channels in plan.inputs.items():
                for channel, kind in channels:
                    if kind == "zmq":
                        self.zmq_receiver.add_intake(channel, self.intakes[channel])
            endpoint = str(self.zmq_receiver.endpoint)
        return endpoint

    async def plan_outputs(self, links: list[OutputLink]) -> None:
        assert self.plan is not None
        self.plan.outputs = links
        for link in links:
            if link.kind == "ray":
                outbox = Outbox(link.channel, self.plan.capacity, _RayShip(link.target), fan_in=link.fan_in)
            else:
                from .zmq_channel import ZmqSender

                sender = self.zmq_senders.get(link.target)
                if sender is None:
                    sender = self.zmq_senders[link.target] = ZmqSender(link.target)
                outbox = Outbox(link.channel, self.plan.capacity, sender.ship, fan_in=link.fan_in)
            self.outboxes.append(outbox)

    async def init(self) -> StepFailure | None:
        assert self.component is not None
        try:
            await self.component.init()
        except BaseException as error:
            return StepFailure.of("init", None, error)
        self.initialised = True
        return None

    # --- the transport's entry (RayConnector) --------------------------------------------------
    async def push(self, channel: int, seq: int, items: list[Any], close: bool) -> bool:
        return await self.intakes[channel].deliver(seq, items, close)

    # --- the run ---------------------------------------------------------------------------------
    async def clock(self) -> int:
        return time.time_ns()

    async def run(self, skew_ns: int) -> dict[str, Any]:
        """Run the component loop to its end; report how it ended (never raises).

        ``skew_ns`` is how far this node's wall clock is ahead of the driver's (0 on the
        driver's node): taken out of every time recorded here, so that times from every node
        of a run compare."""
        offset_ns = time.time_ns() - time.perf_counter_ns() - skew_ns
        plan = self.plan
        component = self.component
        assert plan is not None and component is not None
        component.io.closed = False
        inputs: list[InputFeed] = [
            (port, deque(component.initial_values.get(port, ())), self.inboxes[port] if plan.inputs.get(port) else None)
            for port in component.io.inputs
        ]
        by_port: dict[str, list[tuple[Any, int]]] = {}
        for link, outbox in zip(plan.outputs, self.outboxes):
            by_port.setdefault(link.port, []).append((outbox, link.channel))
        outputs: list[OutputFeed] = [(port, by_port.get(port, [])) for port in component.io.outputs]
        self._stop_when_orphaned()
        if plan.recorded:
            from ..recorder.collector import Collector

            self.collector = Collector(plan.collector_spec, on_parts=self._keep_parts)
            body = run_stamped(component, plan.component_id, inputs, outputs, self.counter, self.collector, offset_ns)
        else:
            body = run_plain(component, inputs, outputs, self.counter)
        self.task = asyncio.current_task()
        failure: StepFailure | None = None
        status = "completed"
        try:
            await body
        except asyncio.CancelledError:
            status = "cancelled"
        except BaseException as error:
            index = self.counter.steps - 1
            failure = StepFailure.of("step" if index >= 0 else "start", index if index >= 0 else None, error)
            status = "failed"
        finally:
            self.task = None
            for inbox in self.inboxes.values():
                inbox.detach()
            for outbox in self.outboxes:
                outbox.close_sender()
        if failure is None and status == "completed":
            await asyncio.sleep(0)  # a transport reports a failed last batch on the next turn
            lost = next((o.error for o in self.outboxes if o.error is not None), None)
            if lost is not None:
                failure = StepFailure.of("step", max(self.counter.steps - 1, 0), lost)
                status = "failed"
        return {"status": status, "steps": self.counter.steps, "failure": failure}

    def _stop_when_orphaned(self) -> None:
        """Once every outgoing channel has lost its receiver, end after the current step: a
        source would otherwise run forever."""
        if not self.outboxes or self.component is None:
            return
        live = [len(self.outboxes)]
        io = self.component.io

        def lost_one() -> None:
            live[0] -= 1
            if live[0] == 0:
                io.closed = True

        for outbox in self.outboxes:
            outbox.on_detach.append(lost_one)

    def _keep_parts(self, parts: list[Any], final: bool) -> None:
        self.parts.extend(parts)

    async def halt(self) -> None:
        """Stop after the step in progress (a signal, another component failed)."""
        self.counter.halted = True
        task = self.task
        if task is not None:
            task.cancel()

    async def drain(self, final: bool = False) -> tuple[list[Any], int]:
        """The recorded parts so far and the steps begun (pulled by the driver)."""
        if self.collector is not None:
            self.collector.flush(final=final)
        parts, self.parts = self.parts, []
        return parts, self.counter.steps

    async def destroy(self) -> tuple[StepFailure | None, str | None]:
        """Destroy the component; report a failure, and what it says it produced (a file
        writer's rows: the driver's copy of the component never ran)."""
        failure = None
        described = None
        if self.initialised and self.component is not None:
            self.initialised = False
            try:
                await self.component.destroy()
            except BaseException as error:
                failure = StepFailure.of("destroy", None, error)
            describe = getattr(self.component, "describe_output", None)
            if callable(describe):
                try:
                    text = describe()
                    described = text if isinstance(text, str) and text else None
                except Exception:
                    described = None
        if self.zmq_receiver is not None:
            self.zmq_receiver.close()
        for sender in self.zmq_senders.values():
            sender.close()
        self.zmq_receiver = None
        self.zmq_senders = {}
        self.component = None  # nothing of this run stays alive in a pooled actor
        return failure, described


class _RayShip:
    """``ship`` for a ``RayConnector``: one actor call per batch; its result is the ack."""

    __slots__ = ("target",)

    def __init__(self, target: Any) -> None:
        self.target = target

    def __call__(self, outbox: Outbox, seq: int, items: list[Any], close: bool) -> None:
        ref = self.target.push.remote(outbox.channel, seq, items, close)
        future = asyncio.ensure_future(_ack(ref))
        count = len(items)

        def done(f: asyncio.Future[Any]) -> None:
            if f.cancelled():
                return
            error = f.exception()
            if error is not None:
                lost = PeerLost(
                    f"channel {outbox.channel}: its receiving actor is gone ({type(error).__name__}); "
                    "the run stops"
                )
                lost.__cause__ = error
                outbox.failed(lost)
            else:
                outbox.acked(count, f.result())

        future.add_done_callback(done)


async def _ack(ref: Any) -> Any:
    """Await a Ray object ref as an asyncio task can (a ref is awaitable, not a coroutine)."""
    return await ref


NEEDS_ZMQ = "ZMQConnector needs pyzmq, which is not installed: pip install 'tapeflow[zmq]'"


def _needs_zmq() -> None:
    try:
        import zmq  # noqa: F401
    except ImportError as error:
        raise NotAvailableError(NEEDS_ZMQ) from error


def _ray() -> Any:
    from .ray_cluster import import_ray

    return import_ray()


def _import_roots(components: Iterable[Component]) -> list[str]:
    """The folders a worker needs on ``sys.path`` to import each component's class by its
    module name: a model file's own folder is on the driver's path only while the model is
    loaded, and a worker starts wherever Ray started it."""
    roots: list[str] = []
    for component in components:
        name = type(component).__module__
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if not file or name == "__main__":
            continue  # __main__'s classes travel by value (cloudpickle)
        folder = os.path.dirname(os.path.abspath(file))
        depth = name.count(".") + (1 if os.path.basename(file) == "__init__.py" else 0)
        for _ in range(depth):
            folder = os.path.dirname(folder)
        if folder not in roots:
            roots.append(folder)
    return roots


_ACTOR_CLASS: list[Any] = []


def _actor_class() -> Any:
    if not _ACTOR_CLASS:
        _ACTOR_CLASS.append(_ray().remote(ComponentActor))
    return _ACTOR_CLASS[0]


class RayProcess(Process):
    """Runs every component in its own Ray actor, with the component's ``resources``.

    Ray starts by itself on this machine (loopback only, no dashboard) unless it is already
    running in this Python process, or ``address`` (or ``$RAY_ADDRESS``) names a cluster.
    """

    kind: ClassVar[str] = "ray"

    def __init__(
        self,
        components: Iterable[Component],
        connectors: Iterable[Connector] = (),
        *,
        name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        tap: Tap | None = DEFAULT_TAP,
        capacity: int = REMOTE_CAPACITY,
        address: str | None = None,
    ) -> None:
        super().__init__(components, connectors, name=name, parameters=parameters, tap=tap, capacity=capacity)
        self.address = address
        refused = [c for c in self.connectors if c.kind not in ("ray", "zmq")]
        if refused:
            lines = "; ".join(repr(c.spec.label) for c in refused)
            raise ProcessError(
                f"process {self.name!r}: RayProcess runs each component in its own actor, and "
                f"{type(refused[0]).__name__} cannot cross between actors ({lines}); use RayConnector "
                "or ZMQConnector, or run the model on LocalProcess"
            )
        self._actors: dict[str, Any] = {}
        self._options: dict[str, dict[str, Any]] = {}
        self._described: dict[str, str] = {}
        self._skews: dict[str, int] = {}
        self._dead: set[str] = set()
        self._progress: dict[str, int] = {}
        self._placements: dict[str, dict[str, Any]] = {}

    def output_descriptions(self) -> dict[str, str]:
        return dict(self._described)

    async def init(self) -> None:
        from .ray_cluster import check_placement, cluster_nodes, ensure_ray

        await self._open_run()
        try:
            if any(c.kind == "zmq" for c in self.connectors):
                _needs_zmq()
            ensure_ray(self.address)
            names = list(self.components)
            options = {n: self.components[n].resources.to_ray_options() for n in names}
            check_placement([(n, options[n]) for n in names], cluster_nodes())
            await self._start_actors(names, options)
        except BaseException as error:
            await self._fail_before_run(error)
            raise
        failures = await asyncio.gather(*(_ack(a.init.remote()) for a in self._actors.values()), return_exceptions=True)
        for name, failure in zip(self._actors, failures):
            if failure is not None:
                failed = self._died(name, failure) if isinstance(failure, BaseException) else self._failure_error(name, failure)
                await self._fail_before_run(failed)
                raise failed
        self.status = "initialised"

    async def _start_actors(self, names: list[str], options: dict[str, dict[str, Any]]) -> None:
        cloudpickle = _ray().cloudpickle

        actor_class = _actor_class()
        cwd = os.getcwd()
        paths = _import_roots(self.components.values())
        paths += [p for p in sys.path if p and os.path.isdir(p) and p not in paths]
        if "" in sys.path and cwd not in paths:
            paths.insert(0, cwd)
        tap = self.run_tap
        spec = tap.collector_spec() if tap is not None and hasattr(tap, "collector_spec") else None
        recorded = spec is not None
        ids = {n: i for i, n in enumerate(names)}
        payloads = {name: cloudpickle.dumps(self.components[name]) for name in names}
        for name in names:
            self._actors[name] = _POOL.take(options[name]) or actor_class.options(**options[name]).remote()
        # Where each actor landed.
        loaded = await asyncio.gather(
            *(_ack(self._actors[n].load.remote(payloads[n], paths, cwd)) for n in names), return_exceptions=True
        )
        for i, name in enumerate(names):
            if isinstance(loaded[i], BaseException):  # a pooled actor that has died since
                self._actors[name] = actor_class.options(**options[name]).remote()
                loaded[i] = await _ack(self._actors[name].load.remote(payloads[name], paths, cwd))
        self._options = options
        for name, where in zip(names, loaded):
            assert isinstance(where, dict)
            self._placements[name] = where
        edges = self._wiring.edges
        fan_in: dict[tuple[str, str], int] = {}
        for edge in edges:
            key = (edge.target.component, edge.target.port)
            fan_in[key] = fan_in.get(key, 0) + 1
        plans = {}
        for name in names:
            inputs: dict[str, list[tuple[int, str]]] = {port: [] for port in self.components[name].io.inputs}
            for edge in edges:
                if edge.target.component == name:
                    inputs[edge.target.port].append((edge.index, edge.connector.kind))
            plans[name] = ActorPlan(ids[name], inputs, self.capacity, recorded, spec)
        endpoints = await asyncio.gather(*(self._actors[n].plan_inputs.remote(plans[n]) for n in names))
        endpoint_of = dict(zip(names, endpoints))
        links: dict[str, list[OutputLink]] = {n: [] for n in names}
        for edge in edges:
            target_name = edge.target.component
            kind = edge.connector.kind
            target = self._actors[target_name] if kind == "ray" else endpoint_of[target_name]
            links[edge.source.component].append(
                OutputLink(edge.source.port, edge.index, kind, fan_in[(target_name, edge.target.port)] > 1, target)
            )
        await asyncio.gather(*(self._actors[n].plan_outputs.remote(links[n]) for n in names))
        await self._measure_skews()
        placed = getattr(tap, "placed", None)
        if placed is not None:
            for name, where in self._placements.items():
                placed(ids[name], where["host"], where["pid"], where["node_id"], self._skews.get(name, 0))

    async def _measure_skews(self) -> None:
        """Each other node's wall clock against ours: the middle of the quickest of a few
        round trips (NTP's estimate). On our own node the clock is the same one: 0."""
        here = _ray().get_runtime_context().get_node_id()
        self._skews = {}
        by_node: dict[str, int] = {}
        for name, where in self._placements.items():
            node = where["node_id"]
            if node == here:
                continue
            if node not in by_node:
                best: tuple[int, int] | None = None
                for _ in range(SKEW_ROUND_TRIPS):
                    t0 = time.time_ns()
                    theirs = await _ack(self._actors[name].clock.remote())
                    t1 = time.time_ns()
                    if best is None or t1 - t0 < best[0]:
                        best = (t1 - t0, theirs - (t0 + t1) // 2)
                assert best is not None
                by_node[node] = best[1]
            self._skews[name] = by_node[node]

    def _failure_error(self, name: str, failure: StepFailure) -> BaseException:
        original = failure.exception()
        if isinstance(original, TapeflowError):
            return original
        error = _component_error(self.components[name], failure.step, failure.phase, original)
        error.__cause__ = original
        where = self._placements.get(name, {})
        error.add_note(
            f"in the Ray actor of {name!r} (host {where.get('host', '?')}, pid {where.get('pid', '?')}):\n"
            + failure.traceback.rstrip()
        )
        return error

    async def _run(self) -> None:
        self._pending = False
        tap = self.run_tap
        accept = getattr(tap, "accept", None) if tap is not None else None
        loop = asyncio.get_running_loop()
        self._stop = stop = loop.create_future()
        self._loop = loop
        if self._interrupt is not None:
            stop.set_exception(self._interrupt)
        names = list(self._actors)
        runs: dict[asyncio.Future[Any], str] = {
            asyncio.ensure_future(_ack(self._actors[n].run.remote(self._skews.get(n, 0)))): n for n in names
        }
        self.status = "running"
        self._progress = {}
        ended = asyncio.Event()
        puller = asyncio.ensure_future(self._pull(accept, ended))
        error: BaseException | None = None
        pending: set[asyncio.Future[Any]] = set(runs)
        try:
            while pending and error is None:
                done, pending = await asyncio.wait(pending | {stop}, return_when=asyncio.FIRST_COMPLETED)
                pending.discard(stop)
                if stop in done:
                    error = stop.exception()
                    break
                error = self._first_error(runs, done)
            if isinstance(error, PeerLost) and pending:
                # A sender noticed first that its receiver's actor is gone: the run ends
                # naming the actor that died, which Ray reports moments later.
                done, pending = await asyncio.wait(pending, timeout=DEATH_WAIT_S)
                error = self._first_error(runs, done) or error
        except BaseException as interrupt:
            error = self._interrupt or interrupt
        finally:
            if error is not None:
                await asyncio.gather(*(a.halt.remote() for a in self._live_actors()), return_exceptions=True)
                if pending:
                    await asyncio.wait(pending, timeout=10)
                for late in pending:  # their errors came after the one that ended the run
                    if late.done() and not late.cancelled():
                        late.exception()
            # Not cancelled: a pull under way has its parts already taken out of the actors,
            # and they would be lost; it ends, then the last pull takes what is left.
            ended.set()
            await asyncio.gather(puller, return_exceptions=True)
            await self._pull_once(accept, final=True)
            if not stop.done():
                stop.cancel()
            self._stop = self._loop = None
            self._end_record(_status_of(error), error)
        if error is not None:
            raise error

    def _first_error(self, runs: dict[asyncio.Future[Any], str], done: Iterable[asyncio.Future[Any]]) -> BaseException | None:
        """The error that ended the run, of the runs that just ended: a component's own
        failure or an actor's death before a sender's report that its receiver is gone."""
        errors = [e for f in done if (e := self._outcome(runs[f], f)) is not None]
        errors.sort(key=lambda e: isinstance(e, PeerLost))
        return errors[0] if errors else None

    def _outcome(self, name: str, finished: asyncio.Future[Any]) -> BaseException | None:
        if finished.cancelled():
            return asyncio.CancelledError()
        raised = finished.exception()
        if raised is not None:
            return self._died(name, raised)
        report = finished.result()
        self.step_counts[name] = report["steps"]
        if report["failure"] is not None:
            return self._failure_error(name, report["failure"])
        return None

    def _died(self, name: str, raised: BaseException) -> BaseException:
        where = self._placements.get(name, {})
        error = ComponentError(
            f"component {name!r} ({self.components[name].class_path}): its Ray actor died "
            f"(host {where.get('host', '?')}, pid {where.get('pid', '?')}, node {str(where.get('node_id', '?'))[:12]}): "
            f"{type(raised).__name__}; "
            "the run stopped. Look for the actor's own output above (killed, out of memory?)",
            component=name,
            step=None,
        )
        error.__cause__ = raised
        self._dead.add(name)
        return error

    def _live_actors(self) -> list[Any]:
        dead = self._dead
        return [a for n, a in self._actors.items() if n not in dead]

    async def _pull(self, accept: Any, ended: asyncio.Event) -> None:
        """Pull every ``PULL_S`` seconds until the run has ``ended``."""
        while not ended.is_set():
            try:
                await asyncio.wait_for(ended.wait(), PULL_S)
            except TimeoutError:
                await self._pull_once(accept, final=False)

    async def _pull_once(self, accept: Any, *, final: bool) -> None:
        """Take what the actors recorded (into the recorder, if the run is recorded) and how
        far each has come (for ``progress()``)."""
        names = [n for n in self._actors if n not in self._dead]
        results = await asyncio.gather(*(_ack(self._actors[n].drain.remote(final)) for n in names), return_exceptions=True)
        for name, result in zip(names, results):
            if isinstance(result, tuple):
                parts, steps = result
                self._progress[name] = steps
                if parts and accept is not None:
                    accept(parts)

    def progress(self) -> dict[str, int]:
        """Steps begun so far by each component, as of the last pull (every 0.2 s)."""
        return dict(self._progress)

    async def _destroy_components(self) -> BaseException | None:
        """Each actor's ``destroy()``; actors that ended cleanly go back to the pool."""
        first_error: BaseException | None = None
        live = self._live_actors()
        names = [n for n in self._actors if self._actors[n] in live]
        results = await asyncio.gather(*(_ack(self._actors[n].destroy.remote()) for n in names), return_exceptions=True)
        self._described = {}
        for name, result in zip(names, results):
            if isinstance(result, BaseException):
                continue
            failure, described = result
            if described is not None:
                self._described[name] = described
            if failure is not None and first_error is None:
                first_error = self._failure_error(name, failure)
        self._kill_actors(n for n, result in zip(names, results) if isinstance(result, tuple) and result[0] is None)
        return first_error

    def _kill_actors(self, reusable: Iterable[str] = ()) -> None:
        """Hand the actors of ``reusable`` components to the pool, end the others."""
        if not self._actors:
            return
        ray = _ray()
        keep = set(reusable)
        for name, actor in self._actors.items():
            if name in keep and _POOL.give(self._options.get(name, {}), actor):
                continue
            try:
                ray.kill(actor, no_restart=True)
            except Exception:
                pass
        self._actors = {}
        self._dead = set()


class _HostPool:
    """Actors whose run ended cleanly, kept for the next ``RayProcess`` of this driver.

    A Ray actor is a worker process: starting one costs a Python start and Ray's imports,
    about a quarter of a second each on a small machine, while loading a component into a
    live one is one actor call. Only actors that hold next to nothing while idle are kept
    (the default small CPU share; none holding a whole CPU, a GPU, memory or a custom
    resource), at most ``MOST`` of them, and only for the Ray session they were made in."""

    MOST = 64

    def __init__(self) -> None:
        self._idle: dict[str, list[Any]] = {}
        self._session: str | None = None

    @staticmethod
    def _key(options: dict[str, Any]) -> str | None:
        if set(options) - {"num_cpus"} or float(options.get("num_cpus", 0)) >= 1:
            return None
        return repr(sorted(options.items()))

    def _check_session(self) -> None:
        ray = _ray()
        session = ray.get_runtime_context().get_job_id() if ray.is_initialized() else None
        if session != self._session:
            self._idle = {}
            self._session = session

    def take(self, options: dict[str, Any]) -> Any:
        key = self._key(options)
        if key is None:
            return None
        self._check_session()
        idle = self._idle.get(key)
        return idle.pop() if idle else None

    def give(self, options: dict[str, Any], actor: Any) -> bool:
        key = self._key(options)
        if key is None or sum(len(v) for v in self._idle.values()) >= self.MOST:
            return False
        self._check_session()
        self._idle.setdefault(key, []).append(actor)
        return True


_POOL = _HostPool()

