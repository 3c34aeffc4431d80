"""A run recorded as a process that runs its components elsewhere records it, in one process.

The driver's ``Recorder`` gets ``run_started``/``run_ended``; the components write into a
``Collector`` built from the recorder's spec (pickled, as it crosses to another process), and
every drain's parts are pickled, unpickled and handed to ``Recorder.accept`` one component at
a time, the last component's first: a receiver's process may ship before its sender's.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from tapeflow.engine.tap import Drained, RunInfo, StampLog
from tapeflow.recorder import Recorder
from tapeflow.recorder.collector import Collector


class Shipped:
    def __init__(self, path: Path, *, limit: int | None = None) -> None:
        self.recorder = Recorder(path)
        self.limit = limit
        self.collector: Collector | None = None
        self.shipped = 0  # accept() calls

    @property
    def run_id(self) -> str:
        return self.recorder.run_id

    def run_started(self, run: RunInfo) -> None:
        self.recorder.run_started(run)
        spec = pickle.loads(pickle.dumps(self.recorder.collector_spec()))
        self.collector = Collector(spec, self._ship)
        for c in run.components:
            self.recorder.placed(c.id, f"node{c.id}.example", 4000 + c.id, f"node-{c.id}", 1000 * c.id)

    def component_log(self, component: int, offset_ns: int) -> StampLog:
        assert self.collector is not None
        log = self.collector.component_log(component, offset_ns)
        if self.limit is not None:
            log.limit = self.limit
        return log

    def component_ended(self, log: StampLog) -> None:
        assert self.collector is not None
        self.collector.component_ended(log)

    def run_ended(self, status: str, error: BaseException | None) -> None:
        assert self.collector is not None
        self.collector.flush(final=True)
        self.recorder.run_ended(status, error)

    def teardown_failed(self, error: BaseException) -> None:
        self.recorder.teardown_failed(error)

    def _ship(self, parts: list[Drained], final: bool) -> None:
        arrived: list[Drained] = pickle.loads(pickle.dumps(parts))
        by_component: dict[int, list[Any]] = {}
        for part in arrived:
            by_component.setdefault(part.component, []).append(part)
        for component in sorted(by_component, reverse=True):
            self.recorder.accept(by_component[component])
            self.shipped += 1
