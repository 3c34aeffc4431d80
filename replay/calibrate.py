"""What running on Ray costs on this machine: per step, per message, per hop, and to start.

``tapeflow calibrate`` runs tiny models and stores what they measured in a JSON file
(``$TAPEFLOW_CALIBRATION``, else ``$XDG_CACHE_HOME/tapeflow/calibration.json``, else
``~/.cache/tapeflow/calibration.json``); the report reads it, and says when it falls back to
:data:`DEFAULTS` instead. What is measured, from each run's own log:

- ``step_s``: an actor's component loop per step, recording included, beside the step itself
  (a local source -> sink of tiny steps: the run's wall time between steps, per step).
- ``message_s``: CPU per message, paid by the sender and again by the receiver, streaming
  (source -> sink on RayProcess: the time per message, less a step).
- ``latency_s``: one hop on an idle channel (a ping-pong loop: half a round, less the
  steps and messages in it; the median of REPEATS runs, for a loop's makespan multiplies
  it by thousands and one run's hop strays by a third from the next's on 2 cores).
- ``first_s``: what a channel's first message takes beyond ``latency_s`` (source -> sink on
  RayProcess: the sink's first step start less the source's first step end, less a hop): the
  receiving actor's loop starting after ``run()``, the first batch leaving (a sender of quick
  steps ships when it first yields, after ``stepping.TURN_NS`` of steps), the connection's
  first use. A fixed term per channel, paid once.
- ``overhead_cores``: the cores Ray's own processes (raylet, GCS, the driver pulling records,
  each actor's I/O threads) and the connector take from the steps while actors keep every
  core busy: ``cpus + 1`` actors each spinning a fixed amount of thread CPU time at once on
  RayProcess (twice, the quicker kept); the cores the steps got are that CPU work over the
  time it took (the spinners' first step start to last step end), the rest is the overhead
  (``cpus`` less that, at least 0).
- ``fanout_s``: what each channel beyond the first adds to the hops out of a step that sends
  on several and ships them by themselves (its actor then waits for input, so each channel's
  batch leaves alone: an actor call or a frame, its acknowledgement back on the sender's loop,
  one more receiving process on the cores): the tiny ping-pong loop's round with ``pong``
  also sending every step to a sink, less the plain loop's round (the median of REPEATS pairs).
- ``cpu_stretch``: the wall time a step on an actor takes beyond its CPU time, per second of
  that CPU time, with its hop after (the loop, the GIL and the OS handing back the core after
  a burst): a ping-pong loop whose steps spin ``STRETCH_SPIN_S`` of thread CPU each: half a
  round, less the spin and less half the tiny loop's round, over the spin (medians of REPEATS).
- ``window_s``: the engine's CPU per step inside a step's recorded window (taking its
  inputs, handing its outputs to the channels, the clock readings), which a step replayed
  alone does not have: the local stream's median recorded step less the same step replayed
  alone (``tapeflow.replay``), per component, averaged. ``--replay`` reports add it to every
  step (a tiny step replays in about 0.2 µs and was recorded at 0.55-0.68 µs, locally and on
  actors alike).
- ``ray_start_s``: starting a local Ray; ``actor_start_s``: starting a model's actors, per
  actor (the first ``RayProcess`` of a driver, cold).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import statistics
import tempfile
import time
import typing as _t
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tapeflow.engine.component import Component, ComponentArgsDict
from tapeflow.engine.io import IO

__all__ = ["DEFAULTS", "Calibration", "ConnectorCost", "calibration_path", "load", "measure", "store"]

ENV = "TAPEFLOW_CALIBRATION"
CONNECTORS = ("ray", "zmq")
# Measured since the first calibrations: an older file gets the defaults for these, with a note.
LATER_FIELDS = ("first_s", "overhead_cores", "fanout_s", "cpu_stretch", "window_s")
# The spinning actors of the overhead measurement: steps of SPIN_S of thread CPU, SPIN_STEPS each.
SPIN_S = 0.01
SPIN_STEPS = 30
MAX_SPINNERS = 33
# The stretch measurement: ping-pong rounds with steps that spin STRETCH_SPIN_S of thread
# CPU each.
STRETCH_SPIN_S = 0.01
STRETCH_ROUNDS = 30
REPEATS = 5


@dataclass(frozen=True, slots=True)
class ConnectorCost:
    """Per step (CPU), per message on each side (CPU), per hop (waiting) on one connector;
    a channel's first message's extra wait (``first_s``); the cores Ray and the connector
    take from steps that keep every core busy (``overhead_cores``); what each channel beyond
    the first adds to the hops of a step that ships its outputs by themselves (``fanout_s``);
    the wall time an actor's step takes beyond its CPU time, per second of it
    (``cpu_stretch``); the engine's CPU per step inside the step's recorded window that a
    step replayed alone does not have (``window_s``)."""

    step_s: float
    message_s: float
    latency_s: float
    first_s: float = 0.0
    overhead_cores: float = 0.0
    fanout_s: float = 0.0
    cpu_stretch: float = 0.0
    window_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Calibration:
    connectors: dict[str, ConnectorCost]
    ray_start_s: float
    actor_start_s: float
    measured: bool = False
    where: str = "built-in defaults"
    host: str | None = None
    cpus: int | None = None
    measured_at: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "connectors": {k: asdict(v) for k, v in self.connectors.items()},
            "ray_start_s": self.ray_start_s,
            "actor_start_s": self.actor_start_s,
            "host": self.host,
            "cpus": self.cpus,
            "measured_at": self.measured_at,
        }

    def one_off_s(self, actors: int) -> float:
        """Starting Ray and ``actors`` actors, once per driver."""
        return self.ray_start_s + self.actor_start_s * actors


# Measured on the 2-core bench machine (tapeflow calibrate, 2026-11); only a stand-in for a
# calibration of the machine at hand.
DEFAULTS = Calibration(
    connectors={
        "ray": ConnectorCost(step_s=6e-6, message_s=35e-6, latency_s=600e-6, first_s=4e-3, overhead_cores=0.2,
                             fanout_s=1.0e-3, cpu_stretch=0.15, window_s=0.5e-6),
        "zmq": ConnectorCost(step_s=6e-6, message_s=12e-6, latency_s=300e-6, first_s=1.5e-3, overhead_cores=0.2,
                             fanout_s=0.2e-3, cpu_stretch=0.10, window_s=0.5e-6),
    },
    ray_start_s=4.0,
    actor_start_s=0.5,
)


def calibration_path() -> Path:
    named = os.environ.get(ENV)
    if named:
        return Path(named).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    root = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return root / "tapeflow" / "calibration.json"


def load(path: Path | None = None) -> Calibration:
    """The stored calibration, or :data:`DEFAULTS` with a note saying why."""
    path = path or calibration_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        connectors: dict[str, ConnectorCost] = {}
        missing: set[str] = set()
        for k, v in data["connectors"].items():
            default = DEFAULTS.connectors.get(k, DEFAULTS.connectors["ray"])
            later = {}
            for f in LATER_FIELDS:
                if f in v:
                    later[f] = float(v[f])
                else:
                    later[f] = getattr(default, f)
                    missing.add(f)
            connectors[k] = ConnectorCost(**{f: float(v[f]) for f in ("step_s", "message_s", "latency_s")}, **later)
        merged = {**DEFAULTS.connectors, **connectors}
        notes = []
        if missing:
            said = ", ".join(sorted(missing))
            notes.append(f"calibration {path} predates {said}: using the built-in value (docs/report.md); run tapeflow calibrate again")
        return Calibration(
            merged, float(data["ray_start_s"]), float(data["actor_start_s"]), True, str(path),
            data.get("host"), data.get("cpus"), data.get("measured_at"), notes,
        )
    except FileNotFoundError:
        why = f"no calibration at {path}; run tapeflow calibrate"
    except (OSError, ValueError, KeyError, TypeError) as error:
        why = f"calibration {path} unreadable ({type(error).__name__}: {error}); run tapeflow calibrate again"
    return replace(DEFAULTS, notes=[f"using built-in message and start costs: {why}"])


def store(calibration: Calibration, path: Path | None = None) -> Path:
    path = path or calibration_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(calibration.to_json(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------- the models
# Module-level, so Ray workers import them by name.


class Count(Component):
    io = IO(outputs=["x"])

    def __init__(self, n: int, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._n = n
        self._i = 0

    async def step(self) -> None:
        if self._i >= self._n:
            await self.io.close()
            return
        self.x = self._i
        self._i += 1


class Drain(Component):
    io = IO(inputs=["x"], outputs=[])

    async def step(self) -> None:
        pass


class Ping(Component):
    """One end of a ping-pong loop: ``rounds`` rounds, then it closes."""

    io = IO(inputs=["x"], outputs=["y"])

    def __init__(self, rounds: int, seconds: float = 0.0, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._rounds = rounds
        self._seconds = seconds
        self._i = 0

    async def step(self) -> None:
        if self._i >= self._rounds:
            await self.io.close()
            return
        _spin(self._seconds)
        self.y = getattr(self, "x")  # an input, set by the engine before each step
        self._i += 1


class Pong(Component):
    """The other end: passes ``x`` back, after spinning ``seconds`` of thread CPU time."""

    io = IO(inputs=["x"], outputs=["y"])

    def __init__(self, seconds: float = 0.0, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._seconds = seconds

    async def step(self) -> None:
        _spin(self._seconds)
        self.y = getattr(self, "x")


def _spin(seconds: float) -> None:
    """Spin ``seconds`` of this thread's CPU time (a step that holds the loop and the GIL)."""
    if seconds > 0:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass


class Spin(Component):
    """Spins ``seconds`` of this thread's CPU time a step (a step that never yields)."""

    io = IO(inputs=["x"], outputs=[])

    def __init__(self, seconds: float, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._seconds = seconds

    async def step(self) -> None:
        end = time.thread_time() + self._seconds
        while time.thread_time() < end:
            pass


def _first_hop(log: Path, run_id: str, source: str, target: str) -> float:
    """From ``source``'s first step end to ``target``'s first step start, in seconds."""
    from tapeflow.recorder import open_log

    with open_log(log) as opened:
        row = opened.con.execute(
            "SELECT max(start_ns) FILTER (component = $t) - max(end_ns) FILTER (component = $s) FROM steps "
            "WHERE run_id = $run AND step = 0 AND component IN ($s, $t)",
            {"run": run_id, "s": source, "t": target},
        ).fetchone()
    return float(row[0]) / 1e9 if row and row[0] is not None else 0.0


def _spin_span(log: Path, run_id: str) -> float:
    """First step start to last step end of the spinning components, in seconds."""
    from tapeflow.recorder import open_log

    with open_log(log) as opened:
        row = opened.con.execute(
            "SELECT (max(end_ns) - min(start_ns)) / 1e9 FROM steps WHERE run_id = ? AND starts_with(component, 'spin')", [run_id]
        ).fetchone()
    return float(row[0]) if row and row[0] is not None else 0.0


def _loop_round(log: Path, run_id: str, rounds: int) -> float:
    """A ping-pong round in seconds: ping's and pong's first step start to last step end, over
    the rounds recorded (pong's steps; ``rounds`` if none); a sink's steps are not in it."""
    from tapeflow.recorder import open_log

    with open_log(log) as opened:
        row = opened.con.execute(
            "SELECT (max(end_ns) - min(start_ns)) / 1e9, count(*) FILTER (component = 'pong') FROM steps "
            "WHERE run_id = ? AND component IN ('ping', 'pong')", [run_id]
        ).fetchone()
    if not row or row[0] is None:
        return 0.0
    return float(row[0]) / max(int(row[1] or rounds), 1)


def _makespan(log: Path, run_id: str) -> tuple[float, int, float]:
    """(first start to last end, steps, summed step durations) of a run, in seconds."""
    from tapeflow.recorder import open_log

    with open_log(log) as opened:
        row = opened.con.execute(
            "SELECT (max(end_ns) - min(start_ns)) / 1e9, count(*), sum(end_ns - start_ns) / 1e9 FROM steps WHERE run_id = ?", [run_id]
        ).fetchone()
    assert row is not None
    return float(row[0]), int(row[1]), float(row[2])


def _window(log: Path, run_id: str) -> float:
    """The engine's CPU per step inside a step's recorded window (taking its inputs, handing
    its outputs to the channels, the clock readings), which a step replayed alone does not
    have: the median recorded step less the median replayed one, per component, averaged
    over the stream's two. A report that replays (``--replay``) adds it to every step."""
    from tapeflow.recorder import open_log

    from .replayer import replay

    result = replay(run_id, log=log, cpu=False)
    gaps = []
    with open_log(log) as opened:
        for found in result.components:
            row = opened.con.execute(
                "SELECT quantile_cont(end_ns - start_ns, 0.5) FROM steps WHERE run_id = ? AND component = ?", [run_id, found.name]
            ).fetchone()
            if row and row[0] is not None and len(found.times):
                gaps.append(float(row[0]) - statistics.median(found.times.wall_ns))
    return max(0.0, statistics.fmean(gaps) / 1e9) if gaps else 0.0


async def _run(process: Any) -> tuple[float, str]:
    """Run ``process``; (seconds its start took, its run id)."""
    started = time.perf_counter()
    await process.__aenter__()
    began = time.perf_counter() - started
    try:
        await process.run()
    finally:
        await process.__aexit__(None, None, None)
    return began, str(process.run_id)


def _stream(kind: str | None, log: Path, n: int, actors: bool) -> tuple[float, str, Any]:
    from tapeflow import AsyncioConnector, ConnectorSpec, LocalProcess, RayConnector, RayProcess, ZMQConnector
    from tapeflow.recorder import Recorder

    connector: Any = {"ray": RayConnector, "zmq": ZMQConnector, None: AsyncioConnector}[kind]
    process_class: Any = RayProcess if actors else LocalProcess
    process = process_class(
        components=[Count(name="count", n=n), Drain(name="drain")],
        connectors=[connector(spec=ConnectorSpec(source="count.x", target="drain.x"))],
        tap=Recorder(log),
    )
    began, run_id = asyncio.run(_run(process))
    return began, run_id, process


def _ping_pong(kind: str, log: Path, rounds: int, sinks: int = 0, seconds: float = 0.0) -> str:
    """A ping-pong loop of ``rounds`` rounds; ``sinks``: how many more channels pong sends
    every step on (each to a sink of its own), beside the one back to ping; ``seconds``: the
    thread CPU time each step spins."""
    from tapeflow import ConnectorSpec, RayConnector, RayProcess, ZMQConnector
    from tapeflow.recorder import Recorder

    connector: Any = {"ray": RayConnector, "zmq": ZMQConnector}[kind]
    process = RayProcess(
        components=[Ping(name="ping", rounds=rounds, seconds=seconds, initial_values={"x": [0]}), Pong(name="pong", seconds=seconds),
                    *(Drain(name=f"sink{i}") for i in range(sinks))],
        connectors=[
            connector(spec=ConnectorSpec(source="ping.y", target="pong.x")),
            connector(spec=ConnectorSpec(source="pong.y", target="ping.x")),
            *(connector(spec=ConnectorSpec(source="pong.y", target=f"sink{i}.x")) for i in range(sinks)),
        ],
        tap=Recorder(log),
    )
    return asyncio.run(_run(process))[1]


def _spinners(kind: str, log: Path, k: int, steps: int = SPIN_STEPS) -> str:
    """``k`` actors spinning at once: a source sends each ``steps`` items."""
    from tapeflow import ConnectorSpec, RayConnector, RayProcess, ZMQConnector
    from tapeflow.recorder import Recorder

    connector: Any = {"ray": RayConnector, "zmq": ZMQConnector}[kind]
    process = RayProcess(
        components=[Count(name="count", n=steps), *(Spin(name=f"spin{i}", seconds=SPIN_S) for i in range(k))],
        connectors=[connector(spec=ConnectorSpec(source="count.x", target=f"spin{i}.x")) for i in range(k)],
        tap=Recorder(log),
    )
    return asyncio.run(_run(process))[1]


def measure(
    messages: int = 20_000, rounds: int = 300, say: _t.Callable[[str], None] = lambda _: None, spin_steps: int = SPIN_STEPS
) -> Calibration:
    """Measure every cost on this machine (about 30 s on 2 cores at the default sizes).

    Starts a local Ray (loopback only) when none is connected, and stops it again; with Ray
    already connected, ``ray_start_s`` keeps its previous value (stored, else the default)."""
    import ray

    from tapeflow.engine.ray_cluster import ensure_ray

    previous = load()
    notes: list[str] = []
    started_here = not ray.is_initialized()
    t0 = time.perf_counter()
    ensure_ray()
    if started_here:
        ray_start_s = time.perf_counter() - t0
    else:
        ray_start_s = previous.ray_start_s
        notes.append(f"Ray was already running: its start cost is kept at {ray_start_s:.2f} s")
    say(f"Ray start: {ray_start_s:.2f} s")
    try:
        with tempfile.TemporaryDirectory(prefix="tapeflow-calibrate-") as folder:
            log = Path(folder) / "calibrate.duckdb"
            _, run_id, _ = _stream(None, log, messages, actors=False)
            span, steps, busy = _makespan(log, run_id)
            step_s = max(0.0, (span - busy) / max(steps, 1))
            window_s = _window(log, run_id)
            say(f"local step: {step_s * 1e6:.1f} µs between steps, {window_s * 1e6:.2f} µs of the engine's inside each")
            costs: dict[str, ConnectorCost] = {}
            actor_start_s = previous.actor_start_s
            cpus = os.cpu_count() or 1
            spinners = cpus + 1  # one more than the cores: every core busy with steps
            if spinners > MAX_SPINNERS:
                notes.append(f"{cpus} cores: overhead_cores measured with {MAX_SPINNERS} spinning actors, not enough to keep every core busy")
                spinners = MAX_SPINNERS
            for i, kind in enumerate(CONNECTORS):
                began, run_id, _ = _stream(kind, log, messages, actors=True)
                if i == 0:
                    actor_start_s = began / 2  # two actors, a cold start in this driver
                first_hop = _first_hop(log, run_id, "count", "drain")
                span, steps, busy = _makespan(log, run_id)
                per_message = span / max(messages, 1) - busy / max(steps, 1)
                message_s = max(1e-7, per_message - step_s)
                # A round of the tiny loop, plain and with pong sending to a sink as well, in
                # turn, REPEATS times: the median of the differences (a hop on Ray varies by
                # a fraction of a millisecond from run to run; pairs cancel a load that drifts).
                plains, busies, fans, spins = [], [], [], []
                for _ in range(REPEATS):
                    plain_id = _ping_pong(kind, log, rounds)
                    plains.append(_loop_round(log, plain_id, rounds))
                    _, steps, busy = _makespan(log, plain_id)
                    busies.append(busy / max(steps, 1))
                    fans.append(_loop_round(log, _ping_pong(kind, log, rounds, sinks=1), rounds) - plains[-1])
                    spins.append(_loop_round(log, _ping_pong(kind, log, STRETCH_ROUNDS, seconds=STRETCH_SPIN_S), STRETCH_ROUNDS))
                plain = statistics.median(plains)
                # Twice, keeping the quicker: the first run of fresh actors pays their imports
                # (the recording's first pull), and whatever else runs on the machine only
                # ever slows a run down.
                spun = min(_spin_span(log, _spinners(kind, log, spinners, spin_steps)) for _ in range(2))
                work = spinners * spin_steps * SPIN_S
                got = min(float(cpus), work / spun) if spun > 0 else float(cpus)
                overhead_cores = max(0.0, min(spinners, cpus) - got)
                # A hop from the median of the plain rounds, not from one run: it is the
                # term a loop's makespan multiplies by thousands.
                hop = plain / 2 - statistics.median(busies)
                latency_s = max(0.0, hop - step_s - 2 * message_s)
                first_s = max(0.0, first_hop - latency_s)
                fanout_s = max(0.0, statistics.median(fans))
                cpu_stretch = max(0.0, (statistics.median(spins) / 2 - STRETCH_SPIN_S - plain / 2) / STRETCH_SPIN_S)
                costs[kind] = ConnectorCost(step_s, message_s, latency_s, first_s, overhead_cores, fanout_s, cpu_stretch, window_s)
                say(f"{kind}: {message_s * 1e6:.1f} µs a message, {latency_s * 1e6:.0f} µs a hop, "
                    f"{first_s * 1e3:.2f} ms more for a channel's first message, "
                    f"{fanout_s * 1e6:.0f} µs more a hop per channel a step fans out to beyond one, "
                    f"steps {cpu_stretch:.0%} longer than their CPU time; "
                    f"{spinners} spinning actors got {got:.2f} of {cpus} cores ({overhead_cores:.2f} to Ray)")
            say(f"actor start: {actor_start_s:.2f} s an actor")
    finally:
        if started_here:
            ray.shutdown()
    return Calibration(
        costs, ray_start_s, actor_start_s, True, str(calibration_path()), socket.gethostname(), os.cpu_count(),
        dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), notes,
    )
