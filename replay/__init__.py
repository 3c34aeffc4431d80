"""tapeflow's replay: re-running recorded components against the inputs they really received,
comparing their outputs with the recorded ones, and timing every step alone.

    from tapeflow.replay import replay, assert_replays

    result = replay("r0f6vp1", log="tapeflow.duckdb", components=["account"])
    result.ok, result["account"].divergence, result["account"].times.summary()

Importing this package imports neither duckdb nor msgpack; a replay does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ReplayError

if TYPE_CHECKING:
    from .comparison import Tolerance
    from .replayer import Debug, replay
    from .result import ComponentReplay, Divergence, ReplayResult
    from .testing import assert_replays
    from .timing import StepTimes

__all__ = [
    "ComponentReplay", "Debug", "Divergence", "ReplayError", "ReplayResult", "StepTimes", "Tolerance", "assert_replays", "replay",
]

_WHERE = {
    "Tolerance": "comparison", "Debug": "replayer", "replay": "replayer", "ComponentReplay": "result",
    "Divergence": "result", "ReplayResult": "result", "assert_replays": "testing", "StepTimes": "timing",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'tapeflow.replay' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
