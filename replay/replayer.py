"""Replaying recorded components: each built afresh, fed the inputs it consumed in the run,
step by step, its outputs compared with the recorded ones, every step timed alone.

One component at a time, on one event loop, with no channels: the replay calls ``init()``,
sets the step's inputs as attributes (initial values first, then the recorded messages, in
the order its steps consumed them), awaits ``step()``, reads its outputs, and at the end calls
``destroy()``. A recorded step that failed must fail again at the same step with the same
exception type (the failure is reproduced); one that was cancelled (another component failed)
is replayed but not compared. Components run in a scratch working folder unless ``here``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pdb as _pdb
import sys
import tempfile
import threading
import time
from array import array
from bdb import BdbQuit
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ..engine.component import Component
from ..engine.stepping import missing_output_error
from ..recorder.codec import Unrecorded
from ..recorder.log import Log, RecordedRun, open_log
from .comparison import Tolerance, first_difference, same
from .construction import build, check_signature, import_path, model_folders, resolve_class
from .errors import ReplayError
from .recording import RecordedComponent, Unfeedable, decode_input, decode_output, read_component, unfeedable
from .result import ComponentReplay, Divergence, ReplayResult
from .store import PROCESS_KIND, ReplayRun
from .timing import StepTimes

__all__ = ["Debug", "replay"]

Debugger = Callable[[], _pdb.Pdb]
# Equal and of one of these types: equal, with no call (NaN != NaN goes the long way).
# Steps per chunk: each input's and output's payloads for them are lists (bench/replay.py).
CHUNK = 4096
_PLAIN: frozenset[type] = frozenset({int, float, str, bytes, bool, type(None)})


@dataclass(frozen=True, slots=True)
class Debug:
    """Where a replay stops: ``before`` step K with its inputs set (in the debugger),
    ``post_mortem`` at a failing or diverging step, ``until`` after step K (in the debugger
    when ``post_mortem`` or ``before`` asks for one). ``debugger`` makes the ``pdb.Pdb``."""

    before: int | None = None
    post_mortem: bool = False
    until: int | None = None
    debugger: Debugger = _pdb.Pdb


def _tolerance(value: Tolerance | float | tuple[float, float] | str | None) -> Tolerance | None:
    if value is None or isinstance(value, Tolerance):
        return value
    if isinstance(value, str):
        return Tolerance.parse(value)
    if isinstance(value, tuple):
        return Tolerance(float(value[0]), float(value[1]))
    return Tolerance(float(value))


def replay(
    run: str,
    *,
    log: str | os.PathLike[str] | Log | None = None,
    components: Iterable[str] | None = None,
    tolerance: Tolerance | float | tuple[float, float] | str | None = None,
    ignore: Iterable[str] = (),
    repeat: int = 1,
    here: bool = False,
    path: Sequence[str | os.PathLike[str]] = (),
    debug: Debug | None = None,
    cpu: bool = True,
    on_start: Callable[[RecordedRun, Path | None], None] | None = None,
    record: bool = False,
    command: Sequence[str] | None = None,
) -> ReplayResult:
    """Replay ``components`` (default: every one) of run ``run`` (an id or a unique prefix)
    from ``log`` (a path, an open :class:`~tapeflow.recorder.Log`, or ``None``: the default
    log) and compare every output of every step with the recording.

    ``tolerance``: floats may differ by ``rel`` (or ``(rel, abs)``, or ``"REL,ABS"``);
    ``ignore``: outputs not compared, as ``"port"`` (of any component) or
    ``"component.port"``. ``repeat``: replay each component that many times, keeping each
    step's quickest time. ``here``: run in the working folder instead of a scratch folder.
    ``path``: folders to import component classes from (before the model's own folder).
    ``on_start(run, scratch)`` is called once everything checked out, before any component
    runs. ``record``: write the replay into the log as a run of its own (``process_kind``
    ``'replay'``, ``replay_of`` this run; ``ReplayResult.recorded_as`` is its id), with
    ``command`` (default ``sys.argv``) as its command; it needs the log's path, not an open
    ``Log``. Raises ``LogError`` / ``ReplayError`` (user errors, every problem at once); a
    divergence is not an error: see ``ReplayResult.ok``.
    """
    if repeat < 1:
        raise ReplayError(f"--repeat: must be at least 1, got {repeat}; pass how many times to replay, such as --repeat 5")
    if record and isinstance(log, Log):
        raise ReplayError(
            "record=True: pass the log's path, not an open Log; the replay writes its run into the file, which an open Log holds read-only"
        )
    tol = _tolerance(tolerance)
    opened = open_log(log) if not isinstance(log, Log) else None
    source = opened if opened is not None else log
    assert isinstance(source, Log)
    stored: ReplayRun | None = None
    try:
        recorded_run = source.run(run)
        plan = _plan(recorded_run, components, list(ignore), list(path), debug)
        scratch = None if here else Path(tempfile.mkdtemp(prefix="tapeflow-replay-"))
        if on_start is not None:
            on_start(recorded_run, scratch)
        if record:
            names = [rc.name for rc, _, _ in plan.entries]
            stored = ReplayRun(source.path, recorded_run.id, names, sys.argv if command is None else command)
        try:
            with import_path(plan.folders), _working_folder(scratch):
                results = _run_sync(lambda: _replay_all(plan, tol, repeat, debug or Debug(), cpu))
        except BaseException as error:
            if stored is not None and opened is not None:
                # The run is written with the log closed for reading (DuckDB lets a process
                # hold a file one way at a time). Not writing it must not hide what stopped
                # the replay, which is raised either way.
                opened.close()
                opened = None
                with contextlib.suppress(Exception):
                    stored.write([], error)
            raise
        if scratch is not None:
            with contextlib.suppress(OSError):
                scratch.rmdir()  # only when the components left nothing there
        kept = str(scratch) if scratch is not None and scratch.exists() else None
        found = ReplayResult(recorded_run.id, source.where, kept, repeat, results)
    finally:
        if opened is not None:
            opened.close()
    if stored is not None:
        found.recorded_as = stored.write(results)
    return found


@dataclass(slots=True)
class _Plan:
    folders: list[Path]
    entries: list[tuple[RecordedComponent, type[Component], frozenset[str]]]


def _plan(run: RecordedRun, names: Iterable[str] | None, ignore: list[str], path: list[str | os.PathLike[str]], debug: Debug | None) -> _Plan:
    """Everything checked before anything runs, every problem reported at once."""
    from ..recorder import LogError

    if run.info.get("process_kind") == PROCESS_KIND:
        # A replay's run keeps its steps' times, not the inputs they were fed (store.py).
        raise ReplayError(
            f"run {run.id!r} is a recorded replay of run {run.info.get('replay_of')!r}: it holds step times, not inputs; "
            f"replay run {run.info.get('replay_of')!r} instead"
        )
    all_names = [str(r[0]) for r in run.log.con.execute("SELECT name FROM components WHERE run_id = ? ORDER BY id", [run.id]).fetchall()]
    chosen = list(dict.fromkeys(names)) if names is not None else all_names
    problems: list[str] = []
    recorded: list[RecordedComponent] = []
    for name in chosen:
        try:
            recorded.append(read_component(run, name))
        except (LogError, ReplayError) as error:
            problems.append(str(error))
    if not chosen:
        problems.append(f"run {run.id!r}: has no components; nothing to replay")
    if debug is not None and debug.before is not None and len(chosen) != 1:
        problems.append(f"--step: stops one component; pass --component NAME (run {run.id!r} has: {', '.join(repr(n) for n in all_names)})")
    folders = model_folders(run.info, path)
    entries = []
    with import_path(folders):
        for rc in recorded:
            try:
                _check_spec(rc)
                cls = resolve_class(rc, folders)
                check_signature(rc, cls)
            except ReplayError as error:
                problems.append(str(error))
                continue
            ignored = frozenset(p.rpartition(".")[2] for p in ignore if "." not in p or p.rpartition(".")[0] == rc.name)
            entries.append((rc, cls, ignored))
            if debug is not None and debug.before is not None and not 0 <= debug.before < max(rc.steps, 1):
                problems.append(f"--step {debug.before}: {rc.where} has steps 0 to {rc.steps - 1}; pass a step in that range")
    for item in ignore:
        owner, _, port = item.rpartition(".")
        candidates = [rc for rc in recorded if not owner or rc.name == owner]
        if owner and not candidates and owner in all_names:
            continue  # a component of the run not replayed this time
        if not any(port in rc.outputs for rc in candidates):
            outputs = sorted({f"{rc.name}.{o}" for rc in (candidates or recorded) for o in rc.outputs})
            problems.append(f"--ignore {item!r}: no such output; outputs are: {', '.join(repr(o) for o in outputs) or 'none'}")
    if problems:
        raise ReplayError("\n".join(problems))
    return _Plan(folders, entries)


def _check_spec(rc: RecordedComponent) -> None:
    def texts(value: Any, what: str) -> Iterator[tuple[str, Unrecorded]]:
        if isinstance(value, Unrecorded):
            yield what, value
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                yield from texts(item, what)
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from texts(key, what)
                yield from texts(item, what)

    parts: list[tuple[str, Any]] = [(f"positional constructor argument {i}", v) for i, v in enumerate(rc.spec.get("args") or [])]
    parts += [(f"constructor argument {k!r}", v) for k, v in (rc.spec.get("kwargs") or {}).items()]
    parts += [(f"parameter {k!r}", v) for k, v in (rc.spec.get("parameters") or {}).items()]
    parts += [(f"initial values of input {k!r}", v) for k, v in (rc.spec.get("initial_values") or {}).items()]
    for what, value in parts:
        for found_what, found in texts(value, what):
            raise unfeedable(rc.where, found_what, Unfeedable(found.text))


@contextlib.contextmanager
def _working_folder(folder: Path | None) -> Iterator[None]:
    if folder is None:
        yield
        return
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _run_sync(make: Callable[[], Any]) -> Any:
    """``asyncio.run(make())``; from inside a running event loop (an async test), on a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    found: list[Any] = []
    failed: list[BaseException] = []

    def work() -> None:
        try:
            found.append(asyncio.run(make()))
        except BaseException as error:
            failed.append(error)

    thread = threading.Thread(target=work, name="tapeflow-replay")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return found[0]


async def _replay_all(plan: _Plan, tolerance: Tolerance | None, repeat: int, debug: Debug, cpu: bool) -> list[ComponentReplay]:
    results = []
    for rc, cls, ignored in plan.entries:
        first: ComponentReplay | None = None
        for attempt in range(repeat):
            done = await _replay_one(rc, cls, ignored, tolerance, debug if attempt == 0 else Debug(), cpu)
            if first is None:
                first = done
            else:
                first.times.keep_best(done.times)
        assert first is not None
        results.append(first)
    return results


async def _replay_one(
    rc: RecordedComponent, cls: type[Component], ignored: frozenset[str], tolerance: Tolerance | None, debug: Debug, cpu: bool
) -> ComponentReplay:
    component = build(rc, cls)
    times = StepTimes()
    result = ComponentReplay(rc.run.id, rc.name, rc.class_path, "equal", 0, rc.steps, 0, times=times)
    limit = rc.steps if debug.until is None else min(rc.steps, debug.until + 1)
    try:
        await component.init()
    except Exception as error:
        result.outcome = "diverged"
        result.divergence = Divergence(None, "init", error=error)
        _post_mortem(debug, error)
        await _destroy(component)
        return result
    try:
        await _steps(component, rc, ignored, limit, tolerance, debug, cpu, result)
    finally:
        await _destroy(component)
    return result


async def _destroy(component: Component) -> None:
    with contextlib.suppress(Exception):
        await component.destroy()


async def _steps(
    component: Component,
    rc: RecordedComponent,
    ignored: frozenset[str],
    limit: int,
    tolerance: Tolerance | None,
    debug: Debug,
    cpu: bool,
    result: ComponentReplay,
) -> None:
    """The hot loop (bench/replay.py): a chunk of steps at a time, each input's and output's
    recorded values for the chunk decoded up front into plain lists (in bulk where they are
    fixed-width numbers: recording.fixed_values); per step: set the inputs, time the step,
    compare the outputs. CPU time is read per step or per block of steps: see :class:`_CpuClock`."""
    initial = rc.initial_values
    inputs = [(port, initial.get(port, []), rc.input_column(port)) for port in rc.inputs]
    outputs = [(port, rc.output_column(port)) for port in rc.outputs if port not in ignored and rc.output_channel[port] is not None]
    durations = rc.durations()
    state = component.__dict__
    io = component.io
    step = component.step
    failures = rc.failures
    wall, recorded_ns = result.times.wall_ns, result.times.recorded_ns
    # What the wall clock readings themselves cost, taken off every step's time.
    wall_cost, cpu_cost = _clock_costs()
    perf = time.perf_counter_ns
    # A debugger's wait would read as time the thread was off its CPU: per-step readings then.
    debugging = debug.before is not None or debug.post_mortem
    clock = _CpuClock(result.times, wall_cost, cpu_cost, per_block=not debugging) if cpu else None
    unset = [port for port in rc.outputs if port not in state]
    before = set(state) if unset else set()
    stop_before = -1 if debug.before is None else debug.before
    index = 0  # the first step of the chunk
    try:
        while index < limit:
            # A chunk ends where an input runs out of initial values, so each input's cells
            # are all values given or all payloads to decode.
            n = min(CHUNK, limit - index)
            for _, given, column in inputs:
                if index < len(given):
                    n = min(n, len(given) - index)
            # And where a batch read from the log ends, so at most one batch per column is
            # held (a batch of large payloads is cut at recording.PAYLOAD_BYTES).
            for column in [c for _, given, c in inputs if index >= len(given)] + [c for _, c in outputs] + [durations]:
                ready = column.ready()
                if ready is not None:
                    n = min(n, ready)
            feeds: list[tuple[str, list[Any]]] = []
            problems: dict[str, Exception] = {}  # an input whose value at step index + len(values) cannot be decoded
            for port, given, column in inputs:
                if index < len(given):
                    feeds.append((port, given[index : index + n]))
                    continue
                cells = column.take(index, n)
                values, problem = (cells, None) if column.decoded else _decode_inputs(cells)
                if problem is not None:
                    problems[port] = problem
                feeds.append((port, values))
            fed = min([n] + [len(values) for _, values in feeds])
            checks = []
            for port, column in outputs:
                cells = column.take(index, n)
                checks.append((port, cells if column.decoded else list(map(decode_output, cells))))
            recorded_ns.extend(durations.take(index, n))
            only = feeds[0] if len(feeds) == 1 else None
            event: Callable[[], object] | None = None  # what ended the chunk early: handled after its block is timed
            j = 0
            while j < fed and event is None:
                # A block of steps: the CPU clock is read around it, or around each of its steps.
                end = fed if clock is None else min(fed, j + clock.block)
                per_step = clock is not None and clock.start(len(wall))
                thread_time = time.thread_time_ns if per_step else int  # int() is 0: no CPU clock read
                for j in range(j, end):
                    if only is not None:
                        state[only[0]] = only[1][j]
                    else:
                        for port, values in feeds:
                            state[port] = values[j]
                    at = index + j
                    if at == stop_before:
                        _stop_before(component, rc, at, debug)
                    c0 = thread_time()
                    w0 = perf()
                    try:
                        await step()
                    except BdbQuit:
                        raise
                    except Exception as error:
                        w1 = perf()
                        c1 = thread_time()
                        wall.append(max(w1 - w0 - wall_cost, 0))
                        if per_step:
                            result.times.cpu_ns.append(max(c1 - c0 - cpu_cost, 0))
                        event = partial(_raised, rc, component, at, error, result, debug)
                        break
                    w1 = perf()
                    c1 = thread_time()
                    spent = w1 - w0 - wall_cost
                    wall.append(spent if spent > 0 else 0)
                    if per_step:
                        spent = c1 - c0 - cpu_cost
                        result.times.cpu_ns.append(spent if spent > 0 else 0)
                    if failures and at in failures and failures[at][0] == "failed":
                        event = partial(_failed_before, component, rc, at, result, debug)
                        break
                    if io.closed:
                        event = partial(_closed, component, rc, at, checks, j, result, debug)
                        break
                    if unset:
                        unset = [port for port in unset if port not in state]
                        if unset:
                            event = partial(_raised, rc, component, at, missing_output_error(component, at, unset, before), result, debug)
                            break
                    for port, recorded_values in checks:
                        if j >= len(recorded_values):  # the recording sent nothing from here on (closed, failed, ended)
                            continue
                        recorded = recorded_values[j]
                        replayed = state[port]
                        kind = type(recorded)
                        if kind is type(replayed) and kind in _PLAIN and recorded == replayed:
                            result.compared += 1
                            continue
                        if not same(recorded, replayed, tolerance):
                            event = partial(_diverged, component, rc, at, port, recorded, replayed, tolerance, result, debug)
                            break
                        result.compared += 1
                    if event is not None:
                        break
                else:
                    j = end
                if clock is not None:
                    clock.stop(len(wall))
            if event is not None:
                event()
                return
            if fed < n:
                missing = next(port for port, values in feeds if len(values) == fed)
                if missing in problems:
                    raise _undecodable(rc, missing, index + fed, problems[missing]) from problems[missing]
                raise ReplayError(
                    f"{rc.where}: the log has no recorded input {missing!r} for step {index + fed} (it has {rc.steps} steps); "
                    "the record does not add up: record the run again"
                )
            index += n
        if limit < rc.steps:
            result.outcome = "stopped"
        if limit and debug.until is not None and (debug.post_mortem or debug.before is not None):
            _stop_after(component, rc, limit - 1, debug)
    finally:
        if clock is not None:
            clock.stop(len(wall))
        result.steps = len(wall)
        del recorded_ns[result.steps :]
        for _, _, column in inputs:
            column.close()
        for _, column in outputs:
            column.close()
        durations.close()


def _decode_inputs(cells: list[Any]) -> tuple[list[Any], Exception | None]:
    """``cells`` decoded (``decode_input``), in one ``map``; where one cannot be, the values
    before it and what was wrong (raised when the replay reaches that step)."""
    try:
        return list(map(decode_input, cells)), None
    except Exception:
        values = []
        for cell in cells:
            try:
                values.append(decode_input(cell))
            except Exception as problem:
                return values, problem
        raise


class _CpuClock:
    """Each replayed step's CPU time (the replaying thread's), read per step or per block.

    A CPU clock reading is a system call (about 0.4 µs here): two around a step of 0.2 µs cost
    more than the step and than the rest of the replay together (bench/replay.py). So for
    quick steps the clock is read around a block of :data:`BLOCK` steps instead, and each step
    gets its wall time as its CPU time, which is exact when the thread never left its CPU in
    the block: a thread's CPU time grows at most as fast as the wall clock, so if the block's
    CPU time is its wall time (less than :data:`OFF_CPU_NS` apart, less than any switch away
    and back takes), every step of it ran on the CPU throughout. (Two readings per step are
    no closer for such steps: their own cost varies by more than the step takes.)

    Steps are read one by one (two readings each) at the start, after a block whose thread
    left its CPU (a step slept, waited for I/O, or another process took the core), and while
    steps take :data:`QUICK_NS` or more (the readings' cost is then small beside them). In a
    block of quick steps whose thread did leave its CPU (another process took the core), the
    time it was away is taken off the longest steps, down to the block's median step, which
    is where such a wait lengthens a quick step; any rest was spent between steps.
    """

    BLOCK = 256
    QUICK_NS = 20_000
    OFF_CPU_NS = 1_000

    def __init__(self, times: StepTimes, wall_cost: int, cpu_cost: int, *, per_block: bool) -> None:
        self.times = times
        self.wall_cost = wall_cost
        self.cpu_cost = cpu_cost
        self.per_block = per_block
        self.block = self.BLOCK
        self.trusted = False  # the last block was quick and on its CPU: read the next one per block
        self.first = -1  # the first step of the block being timed; -1: none
        self.per_step = True
        self.w0 = self.c0 = 0

    def start(self, first: int) -> bool:
        """A block begins at step ``first``: whether its steps are to be read one by one."""
        self.first = first
        self.per_step = not (self.per_block and self.trusted)
        self.c0 = time.thread_time_ns()
        self.w0 = time.perf_counter_ns()
        return self.per_step

    def stop(self, last: int) -> None:
        """The block ends before step ``last``: give its steps their CPU times."""
        if self.first < 0:
            return
        w1 = time.perf_counter_ns()
        c1 = time.thread_time_ns()
        first, self.first = self.first, -1
        wall, cpus = self.times.wall_ns, self.times.cpu_ns
        off = (w1 - self.w0 - self.wall_cost) - (c1 - self.c0 - self.cpu_cost)
        quick = last > first and max(wall[first:last]) < self.QUICK_NS
        if not self.per_step:
            cpus.extend(wall[first:last])
            if off > self.OFF_CPU_NS:
                _take_off(cpus, first, last, off)
        del cpus[last:]  # a step that raised mid-block may have its reading already
        self.trusted = quick and off <= self.OFF_CPU_NS


def _take_off(cpus: array[int], first: int, last: int, off: int) -> None:
    """Take ``off`` ns (time the thread was not on its CPU) off the longest of steps
    ``first`` .. ``last - 1``, each down to their median at most."""
    order = sorted(range(first, last), key=cpus.__getitem__, reverse=True)
    median = cpus[order[len(order) // 2]]
    for i in order:
        if off <= 0 or cpus[i] <= median:
            break
        cut = min(off, cpus[i] - median)
        cpus[i] -= cut
        off -= cut


def _undecodable(rc: RecordedComponent, port: str, index: int, problem: Exception) -> ReplayError:
    if isinstance(problem, Unfeedable):
        return unfeedable(rc.where, f"input {port!r} at step {index}", problem)
    return ReplayError(
        f"{rc.where}: input {port!r} at step {index} cannot be decoded ({type(problem).__name__}: {problem}); "
        "a pickled value needs its class importable: pass --path with its module's folder"
    )


def _failed_before(component: Component, rc: RecordedComponent, index: int, result: ComponentReplay, debug: Debug) -> bool:
    """A recorded failed (or cancelled) step ran through in the replay: a divergence, unless
    the recording's step was only cancelled (another component failed: not compared)."""
    status, error = rc.failures[index]
    if status != "failed":
        return False
    result.outcome = "diverged"
    result.divergence = Divergence(index, "not raised", recorded_error=error, inputs=_inputs(component, rc))
    _stop_at(component, result.divergence, debug)
    return True


def _closed(component: Component, rc: RecordedComponent, index: int, checks: list[tuple[str, list[Any]]], j: int, result: ComponentReplay, debug: Debug) -> None:
    for port, recorded in checks:
        if j < len(recorded):
            result.outcome = "diverged"
            result.divergence = Divergence(index, "closed", port, recorded=recorded[j], inputs=_inputs(component, rc))
            _stop_at(component, result.divergence, debug)
            return


def _diverged(
    component: Component, rc: RecordedComponent, index: int, port: str, recorded: Any, replayed: Any,
    tolerance: Tolerance | None, result: ComponentReplay, debug: Debug,
) -> None:
    result.outcome = "diverged"
    found = first_difference(recorded, replayed, tolerance)
    where, part_a, part_b = found if found is not None else ("", None, None)
    result.divergence = Divergence(index, "value", port, recorded, replayed, where, part_a, part_b, _inputs(component, rc))
    _stop_at(component, result.divergence, debug)


_costs: list[tuple[int, int]] = []


def _clock_costs() -> tuple[int, int]:
    """The wall and CPU time the replay measures around a step that does nothing: the clock
    readings' own cost, the least of 200 tries (about 0.1 and 0.4 µs here)."""
    if not _costs:
        perf, thread_time = time.perf_counter_ns, time.thread_time_ns
        walls, cpus = [], []
        for _ in range(200):
            c0 = thread_time()
            w0 = perf()
            w1 = perf()
            c1 = thread_time()
            walls.append(w1 - w0)
            cpus.append(c1 - c0)
        _costs.append((min(walls), min(cpus)))
    return _costs[0]


def _inputs(component: Component, rc: RecordedComponent) -> dict[str, Any]:
    return {port: component.__dict__.get(port) for port in rc.inputs}


def _raised(rc: RecordedComponent, component: Component, index: int, error: BaseException, result: ComponentReplay, debug: Debug) -> None:
    failure = rc.failures.get(index)
    if failure is not None and failure[0] == "failed":
        recorded_type = failure[1].split(":", 1)[0].strip()
        if recorded_type == type(error).__name__:
            result.outcome = "reproduced"
            text = " ".join(str(error).split())
            result.failure = f"{type(error).__name__}: {text}" if text else type(error).__name__
            _post_mortem(debug, error)
            return
        result.divergence = Divergence(index, "other error", error=error, recorded_error=failure[1], inputs=_inputs(component, rc))
    else:
        result.divergence = Divergence(index, "raised", error=error, inputs=_inputs(component, rc))
    result.outcome = "diverged"
    _post_mortem(debug, error)


def _stop_before(component: Component, rc: RecordedComponent, index: int, debug: Debug) -> None:
    self = component  # noqa: F841 - what `p self.x` reads in the debugger
    inputs = ", ".join(f"self.{port}" for port in rc.inputs) or "none (a source)"
    print(f"replay: stopped before step {index} of {rc.where}; inputs set: {inputs}; step() runs when you continue ('c')", flush=True)
    debug.debugger().set_trace()
    next_step = self.step  # noqa: F841 - where the debugger stops: `self` is the component, its inputs set


def _stop_after(component: Component, rc: RecordedComponent, index: int, debug: Debug) -> None:
    self = component  # noqa: F841 - the component after step `index`, for the debugger
    print(f"replay: stopped after step {index} of {rc.where} (--until); 'c' ends the replay", flush=True)
    debug.debugger().set_trace()


def _stop_at(component: Component, divergence: Divergence, debug: Debug) -> None:
    if not debug.post_mortem:
        return
    self = component  # noqa: F841 - the component as the diverging step left it
    recorded, replayed = divergence.recorded, divergence.replayed  # noqa: F841 - for the debugger
    print(f"replay: diverged {divergence.text()}; `self`, `recorded` and `replayed` are here", flush=True)
    debug.debugger().set_trace()


def _post_mortem(debug: Debug, error: BaseException) -> None:
    if not debug.post_mortem or error.__traceback__ is None:
        return
    print(f"replay: post-mortem of {type(error).__name__}: {error}", flush=True)
    debugger = debug.debugger()
    debugger.reset()
    debugger.interaction(None, error.__traceback__)
