"""Taps for the "recording on" variants of bench/chain.py (``--tap MODULE:FACTORY``).

``null`` keeps nothing: it measures what the engine's stamped loop (envelopes, clock reads,
appends to the component's stamp log) costs on its own, the floor under any recorder. The
real recorder plugs in the same way: ``--tap bench.taps:recorder`` records into a
temporary DuckDB file. A factory is called with no arguments and may return an object with a
``close()`` (called after the run).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from tapeflow.engine.tap import RunInfo, StampLog


class NullTap:
    def run_started(self, run: RunInfo) -> None:
        pass

    def component_log(self, component: int, offset_ns: int) -> StampLog:
        return StampLog(component, offset_ns, on_full=lambda log: log.drain())

    def message(self, envelope: Any, receiver_step: Any, receive_ns: Any, consume_ns: Any) -> None:
        pass

    def run_ended(self, status: str, error: Any) -> None:
        pass


def null() -> NullTap:
    return NullTap()


def recorder() -> Any:
    from tapeflow.recorder import Recorder

    folder = tempfile.mkdtemp(prefix="tapeflow-bench-")
    return Recorder(os.path.join(folder, "bench.duckdb"))
