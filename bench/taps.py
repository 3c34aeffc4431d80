"""Taps for the "recording on" variants of bench/chain.py (``--tap MODULE:FACTORY``).

``null`` does nothing: it measures what the engine's stamped loop (envelopes, clocks, two tap
calls per step) costs on its own, the floor under any recorder. A real recorder plugs in the
same way, e.g. ``--tap tapeflow.recorder:SomeTap`` once it exists; the factory is called with
no arguments and may return an object with a ``close()`` (called after the run).
"""

from typing import Any


class NullTap:
    def run_started(self, run: Any) -> None:
        pass

    def message(self, envelope: Any, receiver_step: Any, receive_ns: Any, consume_ns: Any) -> None:
        pass

    def step(self, component: int, index: int, start_ns: int, end_ns: int, blocked_ns: int, error: Any) -> None:
        pass

    def run_ended(self, status: str, error: Any) -> None:
        pass


def null() -> NullTap:
    return NullTap()
