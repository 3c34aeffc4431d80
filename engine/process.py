"""Processes: build the channels of a wired model and run every component to completion."""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar

from .channel import DEFAULT_CAPACITY, Inbox
from .component import Component, Status, set_status
from .connector import Connector
from .errors import (
    ComponentError,
    Interrupted,
    IOStreamClosedError,
    ModelError,
    NotAvailableError,
    NotInitialisedError,
    Problem,
    ProcessError,
    TapeflowError,
)
from .lockstep import Lockstep
from .stepping import InputFeed, OutputFeed, StepCounter, run_plain, run_stamped
from .tap import DEFAULT_TAP, ChannelInfo, ComponentInfo, RunInfo, Tap, default_tap
from .wiring import Wiring, check_wiring

__all__ = ["LocalProcess", "Process"]


class Process:
    """Components and connectors, checked as a whole when built, run with ``run()``.

    Use as ``async with process: await process.run()``; ``init()`` and ``destroy()`` may also
    be called by hand. ``tap`` (see ``tapeflow.engine.tap``) hears every message and step: by
    default the run is recorded into the event log (``tapeflow.recorder``; set
    ``TAPEFLOW_RECORD=0`` to turn that off everywhere), ``tap=None`` records nothing.

    ``status`` (a ``Status``, Plugboard's values) says where the process is; each component
    has its own. ``step()`` takes one step of every component, by hand; ``export()`` and
    ``dump(path)`` write the process as a YAML model.
    """

    kind: ClassVar[str] = "abstract"
    # Whether step() can drive this kind by hand in this Python process (not on Ray actors).
    _steps_by_hand: ClassVar[bool] = False

    def __init__(
        self,
        components: Iterable[Component],
        connectors: Iterable[Connector] = (),
        *,
        name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        tap: Tap | None = DEFAULT_TAP,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.name = name or type(self).__name__
        self.parameters: dict[str, Any] = dict(parameters or {})
        self.connectors: list[Connector] = list(connectors)
        component_list = list(components)
        _check_built(component_list)
        self._wiring: Wiring = check_wiring(component_list, self.connectors)
        self.components: dict[str, Component] = self._wiring.components
        self.tap = tap
        self.capacity = capacity
        # Set by a config loader so a recorder can store the model as it was written.
        self.config: dict[str, Any] | None = None
        self.status = "created"
        self.step_counts: dict[str, int] = {}
        # The tap of the current (or last) run: ``tap`` resolved once per run, see init().
        self.run_tap: Tap | None = None
        self._counters: dict[str, StepCounter] = {}
        self._initialised: list[Component] = []
        self._destroyed = False
        self._pending = False  # initialised for a run that has not ended yet
        self._ended = False  # the current run's record has its ending
        self._interrupt: BaseException | None = None
        self._exit_error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[None] | None = None
        # The state of a run driven by step(), from its first step() to the next init().
        self._lockstep: Lockstep | None = None

    @property
    def status(self) -> Status:
        """Where the process is: ``created``, ``init``, ``running``, ``waiting`` (between two
        ``step()`` calls), ``completed``, ``failed``, or ``stopped`` (cancelled, interrupted)."""
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        # Process kinds set tapeflow's own words ("initialised", "cancelled"): Plugboard's here.
        status = _PLUGBOARD_STATUS.get(value) or Status(value)
        self._status = status
        if status in (Status.INIT, Status.RUNNING):
            for component in getattr(self, "components", {}).values():
                set_status(component, status)

    @property
    def channel_kind(self) -> str:
        kinds = sorted({c.kind for c in self.connectors})
        return ",".join(kinds) if kinds else "none"

    def run_info(self) -> RunInfo:
        names = list(self.components)
        return RunInfo(
            process_name=self.name,
            process_kind=self.kind,
            channel_kind=self.channel_kind,
            components=[
                ComponentInfo(
                    id=i,
                    name=c.name,
                    class_path=c.class_path,
                    args=c.init_args,
                    inputs=c.io.inputs,
                    outputs=c.io.outputs,
                    resources=c.resources.to_dict(),
                    initial_values={k: list(v) for k, v in c.initial_values.items()},
                    parameters=dict(c.parameters),
                    positional=c.init_positional,
                )
                for i, c in enumerate(self.components[n] for n in names)
            ],
            channels=[
                ChannelInfo(
                    id=e.index,
                    source_component=e.source.component,
                    source_port=e.source.port,
                    target_component=e.target.component,
                    target_port=e.target.port,
                    kind=e.connector.kind,
                )
                for e in self._wiring.edges
            ]
            + self._unconnected_outputs(),
            parameters=dict(self.parameters),
            config=self.config,
            stop=self.interrupt,
        )

    def _unconnected_outputs(self) -> list[ChannelInfo]:
        """A recorded channel for each output no connector takes, numbered after the edges."""
        connected = {(e.source.component, e.source.port) for e in self._wiring.edges}
        number = max((e.index for e in self._wiring.edges), default=-1) + 1
        found = []
        for name, component in self.components.items():
            for port in component.io.outputs:
                if (name, port) not in connected:
                    found.append(ChannelInfo(number, name, port, None, None, "unconnected"))
                    number += 1
        return found

    def output_descriptions(self) -> dict[str, str]:
        """What components with a ``describe_output()`` (file writers, say) say they produced
        in the last run, by component name."""
        found: dict[str, str] = {}
        for name, component in self.components.items():
            describe = getattr(component, "describe_output", None)
            if callable(describe):
                text = describe()
                if isinstance(text, str) and text:
                    found[name] = text
        return found

    def progress(self) -> dict[str, int]:
        """Steps begun so far by each component; safe to read while the process runs, also
        from another thread (``list()`` of the items is taken in one step under the GIL)."""
        return {name: counter.steps for name, counter in list(self._counters.items())}

    @property
    def run_id(self) -> str | None:
        """The id the current (or last) run was recorded under, ``None`` if unrecorded."""
        run_id = getattr(self.run_tap, "run_id", None)
        return run_id if isinstance(run_id, str) else None

    async def __aenter__(self) -> Process:
        await self.init()
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        # An error raised inside ``async with`` before run() ends a pending record as failed.
        self._exit_error = exc
        try:
            await self.destroy()
        finally:
            self._exit_error = None

    async def init(self) -> None:
        """Start a run: decide how it is recorded, open its record, merge parameters and run
        every component's ``init()`` in declaration order.

        The record is opened before any component's ``init()``, so a log that cannot be
        written stops the run before it touched anything, and a failing ``init()`` is a
        failed run in the log. On such a failure every component initialised so far is
        destroyed before the error is raised.
        """
        await self._open_run()
        for component in self.components.values():
            self._initialised.append(component)
            try:
                await component.init()
            except BaseException as raised:
                error = raised if isinstance(raised, TapeflowError) else _component_error(component, None, "init", raised)
                if error is not raised:
                    error.__cause__ = raised
                await self._fail_before_run(error)
                if error is raised:
                    raise
                raise error from raised
        self.status = "initialised"

    async def _open_run(self) -> None:
        """The start of every run, whatever the process kind: reset, decide the recording,
        open the record."""
        if self._pending:
            raise ProcessError(f"process {self.name!r}: init() was called twice for one run; call run() (or destroy()) first")
        self._initialised = []
        self._destroyed = False
        self._ended = False
        self._interrupt = None
        self.step_counts = {}
        self._counters = {}
        self._lockstep = None
        for component in self.components.values():
            component.io.reopen()
            component.parameters = {**self.parameters, **component.own_parameters}
        # One decision per run, never written back to self.tap: a process can be run again.
        tap = default_tap(self) if self.tap is DEFAULT_TAP else self.tap
        self.run_tap = tap
        if tap is not None:
            tap.run_started(self.run_info())
        self._pending = True

    async def _fail_before_run(self, error: BaseException) -> None:
        """A run that ends before its first step: destroy what was initialised, end the record."""
        self._pending = False
        try:
            await self.destroy()
        except BaseException as destroy_error:
            error.add_note(f"also: {destroy_error}")
        self._end_record(_status_of(error), error)

    async def run(self) -> None:
        """Run every component to the end. Called without ``init()`` first (no ``async
        with``), it initialises the process itself and also destroys it at the end."""
        if self._lockstep is not None and self._pending:
            raise ProcessError(
                f"process {self.name!r}: run() after step() in the same run; step() on to the end, "
                "or destroy() and init() again before run()"
            )
        owns_lifecycle = not self._pending
        if owns_lifecycle:
            await self.init()
        try:
            await self._run()
        finally:
            if owns_lifecycle:
                await self.destroy()

    async def _run(self) -> None:
        """The run itself, between ``init()`` and ``destroy()``: what a process kind does."""
        raise NotImplementedError

    async def destroy(self) -> None:
        """Run ``destroy()`` of every initialised component once, even after a failure.

        A ``destroy()`` that raises marks the run failed in its record (naming the component
        and the phase), after every other component's ``destroy()`` has run.
        """
        if self._destroyed:
            return
        self._destroyed = True
        first_error = await self._destroy_components()
        if self._pending:  # initialised, never run: the record still needs its ending
            self._pending = False
            ended_by = first_error or self._exit_error
            self._end_record("completed" if ended_by is None else _status_of(ended_by), ended_by)
        elif first_error is not None and self._ended:
            teardown = getattr(self.run_tap, "teardown_failed", None)
            if teardown is not None:
                teardown(first_error)
        if first_error is not None:
            raise first_error

    async def _destroy_components(self) -> BaseException | None:
        """Every initialised component's ``destroy()``; the first failure, as an error."""
        first_error: BaseException | None = None
        for component in self._initialised:
            try:
                await component.destroy()
            except Exception as error:
                if first_error is None:
                    first_error = _component_error(component, None, "destroy", error)
                    first_error.__cause__ = error
        return first_error

    def _end_record(self, status: str, error: BaseException | None) -> None:
        self._ended = True
        self._settle(status, error)
        if self.run_tap is not None:
            self.run_tap.run_ended(status, error)

    def _settle(self, status: str, error: BaseException | None) -> None:
        """The process's and its components' statuses at the end of a run: the component
        that failed is ``failed``, the others ``stopped``; a signal stops them all."""
        stopped = isinstance(error, Interrupted) or status == "cancelled"
        self.status = "cancelled" if stopped else status
        failed = error.component if isinstance(error, ComponentError) and not stopped else None
        for name, component in self.components.items():
            if self._status is Status.COMPLETED:
                set_status(component, Status.COMPLETED)
            elif name == failed:
                set_status(component, Status.FAILED)
            elif not component.status.is_terminal or self._lockstep is None:
                set_status(component, Status.STOPPED)

    async def step(self) -> None:
        """Take one step of every component that can take one, by hand (tests, notebooks):
        values sent in this step reach their receivers in this same call, so a chain moves
        one value all the way through it. Plugboard's ``Process.step()``.

        Call ``init()`` first (``NotInitialisedError`` otherwise). Once no component has a
        value left to step on, the run is ``completed`` and ``step()`` raises
        ``IOStreamClosedError``: the end of a hand-written loop. A step that raises fails the
        run as in ``run()``. Steps taken here are not in the event log (the run is, with its
        outcome); ``run()`` cannot take over a run begun with ``step()``. ``LocalProcess``
        only: a ``RayProcess`` runs its components in actors.
        """
        if not self._steps_by_hand:
            raise NotAvailableError(
                f"process {self.name!r}: step() is not available on {type(self).__name__}, whose components run "
                "elsewhere; step the model by hand on a LocalProcess"
            )
        lockstep = self._lockstep
        if not self._pending:
            if self._ended and not self._destroyed:
                if lockstep is not None and self._status is Status.COMPLETED:
                    raise IOStreamClosedError(f"process {self.name!r}: every component has finished; the run is completed")
                raise ProcessError(f"process {self.name!r}: the run ended ({self._status}); destroy() and init() again to step it")
            raise NotInitialisedError(
                f"process {self.name!r}: step() before init(); call await process.init() first (or step inside async with process:)"
            )
        if lockstep is None:
            lockstep = self._lockstep = Lockstep(self.components, self._wiring.edges)
        self._status = Status.RUNNING
        try:
            sent = await lockstep.step(self._step_error)
        except BaseException as error:
            self._pending = False
            self._end_record(_status_of(error), error)
            raise
        if lockstep.done or not sent:
            if not lockstep.done:
                waiting = ", ".join(repr(n) for n in lockstep.waiting())
                stuck = ProcessError(f"process {self.name!r}: no component can step ({waiting} wait for inputs nobody sends); check the wiring")
                self._pending = False
                self._end_record("failed", stuck)
                raise stuck
            self._pending = False
            self._end_record("completed", None)
            raise IOStreamClosedError(f"process {self.name!r}: every component has finished; the run is completed")
        self._status = Status.WAITING

    def _step_error(self, component: Component, index: int, error: Exception) -> Exception:
        if isinstance(error, TapeflowError):
            return error
        wrapped = _component_error(component, index, "step", error)
        wrapped.__traceback__ = None
        return wrapped

    def export(self) -> dict[str, Any]:
        """The ``process:`` section of a YAML model for this process: its type, its
        connectors' type, and its name, components, connectors and parameters (Plugboard's
        ``Process.export()``)."""
        from .export import export_process

        return export_process(self)

    def dump(self, path: str | os.PathLike[str]) -> None:
        """Write this process as a YAML model file (``.yaml`` or ``.yml``) that
        ``tapeflow run`` and ``load_process`` read back (Plugboard's ``Process.dump()``).

        A component type defined in the script run as ``__main__`` loads back only in that
        script; put components in a module for ``tapeflow run``. ``ExportError`` names any
        argument a YAML file cannot hold."""
        from .export import dump_process

        dump_process(self, path)

    def interrupt(self, reason: BaseException) -> None:
        """Stop the run after the steps now in progress, from a signal handler or another
        thread: the run ends with ``reason`` (e.g. ``Interrupted("SIGTERM")``), every
        ``destroy()`` runs, and the record is closed. Safe to call more than once."""
        if self._interrupt is None:
            self._interrupt = reason
        for counter in list(self._counters.values()):
            counter.halted = True
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(_settle, stop, reason)


def _settle(future: asyncio.Future[None], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


# tapeflow's words for a run's status (the event log keeps them) → Plugboard's.
_PLUGBOARD_STATUS = {"initialised": Status.INIT, "cancelled": Status.STOPPED}


def _check_built(components: Sequence[object]) -> None:
    """A component whose ``__init__`` never called ``Component.__init__`` has no name, ports
    or parameters of its own: one line that says so, instead of an ``AttributeError`` later."""
    problems = []
    for i, component in enumerate(components):
        if isinstance(component, Component) and "name" not in vars(component):
            cls = type(component)
            problems.append(Problem(
                f"component class {cls.__name__!r} ({cls.__module__}.{cls.__qualname__}) was built without "
                f"Component.__init__; call super().__init__(**kwargs) in {cls.__name__}.__init__",
                ("components", i),
            ))
    if problems:
        raise ModelError(problems)


def _status_of(error: BaseException | None) -> str:
    if error is None:
        return "completed"
    return "cancelled" if isinstance(error, asyncio.CancelledError | KeyboardInterrupt) else "failed"


class LocalProcess(Process):
    """Runs every component as one task on the running asyncio event loop."""

    kind = "local"
    _steps_by_hand = True

    async def _run(self) -> None:
        self._pending = False
        tap = self.run_tap
        names = list(self.components)
        inboxes = {(n, port): Inbox(self.capacity) for n in names for port in self.components[n].io.inputs}
        links: dict[tuple[str, str], list[tuple[Inbox, int]]] = {}
        for edge in self._wiring.edges:
            inbox = inboxes[(edge.target.component, edge.target.port)]
            inbox.add_sender()
            links.setdefault((edge.source.component, edge.source.port), []).append((inbox, edge.index))
        _stop_orphans(self.components, inboxes, links)

        offset_ns = time.time_ns() - time.perf_counter_ns()
        loop = asyncio.get_running_loop()
        # Set (with an exception) by interrupt() or by the tap when the run must stop: the
        # wait below watches it beside the component tasks.
        self._stop = stop = loop.create_future()
        self._loop = loop
        if self._interrupt is not None:
            stop.set_exception(self._interrupt)
        tasks: dict[asyncio.Task[None], str] = {}
        for component_id, name in enumerate(names):
            component = self.components[name]
            counter = StepCounter()
            self._counters[name] = counter
            inputs: list[InputFeed] = [
                (port, deque(component.initial_values.get(port, ())), inboxes[(name, port)] if inboxes[(name, port)]._senders else None)
                for port in component.io.inputs
            ]
            outputs: list[OutputFeed] = [(port, links.get((name, port), [])) for port in component.io.outputs]
            mine = [inboxes[(name, port)] for port in component.io.inputs]
            theirs = [inbox for _, targets in outputs for inbox, _ in targets]
            if tap is None:
                body = partial(run_plain, component, inputs, outputs, counter)
            else:
                body = partial(run_stamped, component, component_id, inputs, outputs, counter, tap, offset_ns)
            tasks[asyncio.create_task(_lifetime(body, mine, theirs), name=f"tapeflow:{name}")] = name

        self.status = "running"
        error: BaseException | None = None
        # One future for "a component failed, or all are done", fed by done-callbacks: waiting
        # on the task set itself again after each finished task costs O(components) a time.
        finished: asyncio.Future[asyncio.Task[None] | None] = loop.create_future()
        remaining = [len(tasks)]

        def on_done(task: asyncio.Task[None]) -> None:
            remaining[0] -= 1
            if finished.done():
                return
            if not task.cancelled() and task.exception() is not None:
                finished.set_result(task)
            elif remaining[0] == 0:
                finished.set_result(None)

        for task in tasks:
            task.add_done_callback(on_done)
        if not tasks:
            finished.set_result(None)
        try:
            await asyncio.wait((finished, stop), return_when=asyncio.FIRST_COMPLETED)
            if stop.done() and not stop.cancelled():
                error = stop.exception()
            elif (failed := finished.result()) is not None:
                error = self._wrap(tasks[failed], failed.exception())
        except BaseException as interrupt:  # cancelled while waiting
            error = self._interrupt or interrupt
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not stop.done():
                stop.cancel()
            self._stop = self._loop = None
            self.step_counts = {n: c.steps for n, c in self._counters.items()}
            self._end_record(_status_of(error), error)
        if error is not None:
            raise error

    def _wrap(self, name: str, error: BaseException | None) -> BaseException:
        assert error is not None
        if isinstance(error, TapeflowError):
            return error
        component = self.components[name]
        index = self._counters[name].steps - 1
        wrapped = _component_error(component, index, "step" if index >= 0 else "start", error)
        wrapped.__cause__ = error
        wrapped.__traceback__ = None
        return wrapped


async def _lifetime(body: Callable[[], Awaitable[None]], mine: Sequence[Inbox], theirs: Sequence[Inbox]) -> None:
    """Run a component loop; when it ends, close its outputs and stop accepting its inputs.

    The loop's coroutine is made here, inside the task, so a task cancelled before it ever
    ran (a second Ctrl-C) leaves no coroutine behind that was never awaited."""
    try:
        await body()
    finally:
        for inbox in mine:
            inbox.detach()
    for inbox in theirs:
        inbox.close_sender()


def _stop_orphans(components: Mapping[str, Component], inboxes: Mapping[tuple[str, str], Inbox], links: Mapping[tuple[str, str], list[tuple[Inbox, int]]]) -> None:
    """A component whose every outgoing channel has lost its receiver is ended after its
    current step: its values can reach nobody, and a source would otherwise run forever."""
    for name, component in components.items():
        targets = [inbox for port in component.io.outputs for inbox, _ in links.get((name, port), [])]
        if not targets:
            continue
        live = [len(targets)]

        def lost_one(io: Any = component.io, live: list[int] = live) -> None:
            live[0] -= 1
            if live[0] == 0:
                io.closed = True

        for inbox in targets:
            inbox.on_detach.append(lost_one)


def _component_error(component: Component, step: int | None, phase: str, error: BaseException) -> ComponentError:
    where = f"component {component.name!r} ({component.class_path})"
    when = {"step": f"in step {step}", "start": "before its first step"}.get(phase, f"in {phase}")
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return ComponentError(f"{where} failed {when}: {detail}", component=component.name, step=step)
