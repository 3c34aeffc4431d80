"""Taps for the "recording on" variants of bench/chain.py (``--tap MODULE:FACTORY``).

``null`` keeps nothing: it measures what the engine's stamped loop (a clock read and appends
to the component's stamp log per step) costs on its own, the floor under any recorder. The
real recorder plugs in the same way: ``--tap taps:recorder`` records into a temporary DuckDB
file. A factory is called with no arguments and may return an object with a
``close()`` (called after the run).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from tapeflow.engine.tap import RunInfo, StampLog


class NullTap:
    def run_started(self, run: RunInfo) -> None:
        self.ports = {c.id: (len(c.outputs), len(c.inputs)) for c in run.components}

    def component_log(self, component: int, offset_ns: int) -> StampLog:
        n_outputs, n_inputs = self.ports[component]
        return StampLog(component, offset_ns, n_outputs=n_outputs, n_inputs=n_inputs, on_full=lambda log: log.drain())

    def component_ended(self, log: StampLog) -> None:
        pass

    def run_ended(self, status: str, error: Any) -> None:
        pass


def null() -> NullTap:
    return NullTap()


def recorder() -> Any:
    from tapeflow.recorder import Recorder

    folder = tempfile.mkdtemp(prefix="tapeflow-bench-")
    return Recorder(os.path.join(folder, "bench.duckdb"))
