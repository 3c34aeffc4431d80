"""Whether and where a run is recorded: the one function every switch goes through.

A process built with the default ``tap`` asks :func:`tap_for` when each run starts; the CLI
asks it too, with its ``--record/--no-record`` and ``--log`` options. So ``--no-record``,
``tap=None`` and ``TAPEFLOW_RECORD=0`` each alone mean that nothing is written, and an
explicit ``--record`` wins over the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tapeflow.engine.tap import Tap

__all__ = ["recording_enabled", "tap_for"]

_OFF = frozenset({"0", "false", "no", "off"})


def recording_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """``False`` when ``TAPEFLOW_RECORD`` says no (``0``, ``false``, ``no``, ``off``)."""
    return environ.get("TAPEFLOW_RECORD", "1").strip().lower() not in _OFF


def tap_for(
    process: Any = None,
    *,
    record: bool | None = None,
    log: str | os.PathLike[str] | None = None,
    command: list[str] | None = None,
) -> Tap | None:
    """The tap for one run: a new Recorder, or ``None`` to record nothing.

    ``record``: ``True`` records whatever the environment says, ``False`` never, ``None``
    follows ``TAPEFLOW_RECORD``. ``log``: the log file (default ``$TAPEFLOW_LOG``, else
    ``./tapeflow.duckdb``).
    """
    if record is False or (record is None and not recording_enabled()):
        return None
    from tapeflow.recorder import Recorder

    return Recorder(log, command=command)
