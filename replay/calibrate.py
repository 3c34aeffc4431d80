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
  steps and messages in it).
- ``ray_start_s``: starting a local Ray; ``actor_start_s``: starting a model's actors, per
  actor (the first ``RayProcess`` of a driver, cold).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
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


@dataclass(frozen=True, slots=True)
class ConnectorCost:
    """Per step (CPU), per message on each side (CPU), per hop (waiting) on one connector."""

    step_s: float
    message_s: float
    latency_s: float


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
        "ray": ConnectorCost(step_s=6e-6, message_s=35e-6, latency_s=600e-6),
        "zmq": ConnectorCost(step_s=6e-6, message_s=12e-6, latency_s=300e-6),
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
        connectors = {k: ConnectorCost(**{f: float(v[f]) for f in ("step_s", "message_s", "latency_s")}) for k, v in data["connectors"].items()}
        merged = {**DEFAULTS.connectors, **connectors}
        return Calibration(
            merged, float(data["ray_start_s"]), float(data["actor_start_s"]), True, str(path),
            data.get("host"), data.get("cpus"), data.get("measured_at"),
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

    def __init__(self, rounds: int, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._rounds = rounds
        self._i = 0

    async def step(self) -> None:
        if self._i >= self._rounds:
            await self.io.close()
            return
        self.y = getattr(self, "x")  # an input, set by the engine before each step
        self._i += 1


class Pong(Component):
    io = IO(inputs=["x"], outputs=["y"])

    async def step(self) -> None:
        self.y = getattr(self, "x")


def _makespan(log: Path, run_id: str) -> tuple[float, int, float]:
    """(first start to last end, steps, summed step durations) of a run, in seconds."""
    from tapeflow.recorder import open_log

    with open_log(log) as opened:
        row = opened.con.execute(
            "SELECT (max(end_ns) - min(start_ns)) / 1e9, count(*), sum(end_ns - start_ns) / 1e9 FROM steps WHERE run_id = ?", [run_id]
        ).fetchone()
    assert row is not None
    return float(row[0]), int(row[1]), float(row[2])


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


def _ping_pong(kind: str, log: Path, rounds: int) -> str:
    from tapeflow import ConnectorSpec, RayConnector, RayProcess, ZMQConnector
    from tapeflow.recorder import Recorder

    connector: Any = {"ray": RayConnector, "zmq": ZMQConnector}[kind]
    process = RayProcess(
        components=[Ping(name="ping", rounds=rounds, initial_values={"x": [0]}), Pong(name="pong")],
        connectors=[
            connector(spec=ConnectorSpec(source="ping.y", target="pong.x")),
            connector(spec=ConnectorSpec(source="pong.y", target="ping.x")),
        ],
        tap=Recorder(log),
    )
    return asyncio.run(_run(process))[1]


def measure(messages: int = 20_000, rounds: int = 300, say: _t.Callable[[str], None] = lambda _: None) -> Calibration:
    """Measure every cost on this machine (about 20 s on 2 cores at the default sizes).

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
            say(f"local step: {step_s * 1e6:.1f} µs")
            costs: dict[str, ConnectorCost] = {}
            actor_start_s = previous.actor_start_s
            for i, kind in enumerate(CONNECTORS):
                began, run_id, _ = _stream(kind, log, messages, actors=True)
                if i == 0:
                    actor_start_s = began / 2  # two actors, a cold start in this driver
                span, steps, busy = _makespan(log, run_id)
                per_message = span / max(messages, 1) - busy / max(steps, 1)
                message_s = max(1e-7, per_message - step_s)
                run_id = _ping_pong(kind, log, rounds)
                span, steps, busy = _makespan(log, run_id)
                hop = span / max(2 * rounds, 1) - busy / max(steps, 1)
                latency_s = max(0.0, hop - step_s - 2 * message_s)
                costs[kind] = ConnectorCost(step_s, message_s, latency_s)
                say(f"{kind}: {message_s * 1e6:.1f} µs a message, {latency_s * 1e6:.0f} µs a hop")
            say(f"actor start: {actor_start_s:.2f} s an actor")
    finally:
        if started_here:
            ray.shutdown()
    return Calibration(
        costs, ray_start_s, actor_start_s, True, str(calibration_path()), socket.gethostname(), os.cpu_count(),
        dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), notes,
    )
