"""Shared test helpers: small components and a wiring shorthand."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tapeflow import AsyncioConnector, ConnectorSpec
from tapeflow.engine.tap import Drained, StampLog


def wire(source: str, target: str) -> AsyncioConnector:
    return AsyncioConnector(spec=ConnectorSpec(source=source, target=target))


class ListTap:
    """A tap that keeps everything the stamped loop wrote, for checking it in tests."""

    def __init__(self) -> None:
        self.run: Any = None
        self.logs: dict[int, StampLog] = {}
        self.drained: dict[int, list[Drained]] = {}
        self.ended: tuple[str, BaseException | None] | None = None

    def run_started(self, run: Any) -> None:
        self.run = run

    def component_log(self, component: int, offset_ns: int) -> StampLog:
        info = self.run.components[component]
        log = StampLog(component, offset_ns, n_outputs=len(info.outputs), n_inputs=len(info.inputs), limit=7, on_full=self._drain)
        self.logs[component] = log
        return log

    def _drain(self, log: StampLog) -> None:
        self.drained.setdefault(log.component, []).append(log.drain())

    def component_ended(self, log: StampLog) -> None:
        self._drain(log)

    def run_ended(self, status: str, error: BaseException | None) -> None:
        self.ended = (status, error)

    def steps(self, component: int) -> list[tuple[int, int, int, int]]:
        """(index, wait, start, end) of every step the component recorded."""
        rows = []
        previous_end = 0
        for part in self.drained.get(component, []):
            for i, (wait, start, end) in enumerate(part.times(previous_end)):
                rows.append((part.first_step + i, wait, start, end))
                previous_end = end
        return rows

    def sent(self, component: int, port: int) -> list[Any]:
        return [v for part in self.drained.get(component, []) for v in part.outputs[port]]

    def sources(self, component: int, port: int) -> list[int]:
        return [c for part in self.drained.get(component, []) for c in part.sources[port]]

    def errors(self, component: int) -> list[tuple[int, BaseException]]:
        return [e for part in self.drained.get(component, []) for e in part.errors]


def spy_on_inputs(process: Any) -> dict[tuple[str, int], dict[str, Any]]:
    """Wrap every component's step so it notes, per step index, the input values it saw: what
    a recording of the run must say each step consumed."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for component in process.components.values():
        original, counter = component.step, [0]

        async def step(component: Any = component, original: Any = original, counter: list[int] = counter) -> None:
            seen[(component.name, counter[0])] = {port: component.__dict__[port] for port in component.io.inputs}
            counter[0] += 1
            await original()

        component.step = step
    return seen


@pytest.fixture(autouse=True)
def _in_an_empty_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts in an empty working folder with none of tapeflow's variables set:
    what a user meets. A run recorded by default lands in ./tapeflow.duckdb of that folder
    (also for subprocesses, which inherit it), never in the checkout, and a test that sets
    TAPEFLOW_LOG or TAPEFLOW_RECORD does so itself, where a reader can see it. The user's
    cache folder (where ``tapeflow calibrate`` keeps its measurements) is an empty one of the
    test's: the default path is exercised, the real cache never read or written."""
    monkeypatch.delenv("TAPEFLOW_LOG", raising=False)
    monkeypatch.delenv("TAPEFLOW_RECORD", raising=False)
    monkeypatch.delenv("TAPEFLOW_CALIBRATION", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def calibration_file() -> Path:
    """Where ``tapeflow calibrate`` stores its measurements by default in a test."""
    return Path(os.environ["XDG_CACHE_HOME"]) / "tapeflow" / "calibration.json"


@pytest.fixture(params=["plain", "stamped"])
def tap_mode(request: pytest.FixtureRequest) -> str:
    """Run a semantics test on both component loops: they must behave the same."""
    return str(request.param)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """The ``ray`` module, connected to a local Ray that ``ensure_ray()`` started, once per
    test session: loopback only, no dashboard, as a user's run starts it. ``RAY_ADDRESS`` is
    ignored while it starts, so the tests exercise the default a user gets, not whatever
    cluster the environment names. Ray is a test dependency: missing, the tests fail."""
    import ray

    from tapeflow.engine.ray_cluster import ensure_ray

    started_here = not ray.is_initialized()
    named = os.environ.pop("RAY_ADDRESS", None)
    try:
        ensure_ray()
    finally:
        if named is not None:
            os.environ["RAY_ADDRESS"] = named
    yield ray
    if started_here:
        ray.shutdown()


REPORT_MODELS = Path(__file__).parent / "unit" / "report"


@pytest.fixture(scope="module")
def recorded_diamond(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """The report tests' diamond model recorded in a folder of its own: ``(folder, run id,
    environment)``, the environment naming its log and a calibration file not there yet.
    (Here, not in a conftest of tests/integration: a second conftest module would shadow this
    one for the tests that import from it.)"""
    folder = tmp_path_factory.mktemp("report")
    sys.path.insert(0, str(REPORT_MODELS))
    try:
        from report_models import record_diamond
    finally:
        sys.path.remove(str(REPORT_MODELS))
    log = folder / "log.duckdb"
    run_id = record_diamond(log, n=30)
    env = {**os.environ, "TAPEFLOW_LOG": str(log), "TAPEFLOW_CALIBRATION": str(folder / "calibration.json")}
    return folder, run_id, env
