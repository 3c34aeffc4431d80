"""tapeflow's recorder: the DuckDB event log of every message and step.

Importing this package imports neither duckdb, pyarrow nor msgpack; they load when a
recording starts or a log opens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import LogError, RecordingError

if TYPE_CHECKING:
    from .log import Log, RecordedRun, open_log
    from .recorder import Recorder, default_log_path

__all__ = ["Log", "LogError", "RecordedRun", "Recorder", "RecordingError", "default_log_path", "open_log"]


def __getattr__(name: str) -> Any:
    # Lazy: recorder.py imports msgpack (through the codec) at module level.
    if name in ("Recorder", "default_log_path"):
        from . import recorder

        return getattr(recorder, name)
    if name in ("Log", "RecordedRun", "open_log"):
        from . import log

        return getattr(log, name)
    raise AttributeError(f"module 'tapeflow.recorder' has no attribute {name!r}")
