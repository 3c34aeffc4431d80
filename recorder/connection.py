"""Opening the log file: DuckDB allows one writing process per file, so every open retries.

A writer holds the file only while it flushes a batch (tens of milliseconds), so a reader or
another run's writer that finds it locked gets in after a short wait. Lock conflicts are
found by DuckDB's own open; the file is never opened by any other means, since the lock is a
POSIX record lock that closing any other handle on the file would silently drop.
"""

from __future__ import annotations

import random
import re
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["busy_holder", "connect", "display"]


def display(path: str | Path) -> str:
    """``path`` as the user should read it: relative to the working directory when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def busy_holder(error: BaseException) -> str | None:
    """If ``error`` is DuckDB refusing the file because another connection holds it, who holds
    it (``"PID 123"`` or ``"this process"``); otherwise ``None``."""
    text = str(error)
    if "Conflicting lock" in text or "Could not set lock" in text:
        found = re.search(r"PID (\d+)", text)
        return f"PID {found.group(1)}" if found else "another process"
    if "different configuration" in text or "already attached" in text:
        return "this process"
    return None


def connect(path: str, *, read_only: bool, wait_s: float | None, warn_after_s: float | None = None, threads: int | None = None) -> Any:
    """A DuckDB connection to ``path``, retrying while another holds the file.

    Waits at most ``wait_s`` seconds (``None``: as long as it takes, printing one warning to
    stderr after ``warn_after_s``); then re-raises the last lock error.
    """
    import duckdb

    started = time.monotonic()
    pause = 0.002
    warned = False
    while True:
        try:
            config: dict[str, Any] = {} if threads is None else {"threads": threads}
            return duckdb.connect(path, read_only=read_only, config=config)
        except (duckdb.IOException, duckdb.ConnectionException, duckdb.InvalidInputException) as error:
            holder = busy_holder(error)
            if holder is None:
                raise
            waited = time.monotonic() - started
            if wait_s is not None and waited >= wait_s:
                raise
            if not warned and warn_after_s is not None and waited >= warn_after_s:
                warned = True
                print(
                    f"tapeflow: log {display(path)} is held by {holder} for {waited:.0f}s; "
                    "recording waits for it (close other connections to the log, e.g. a duckdb shell)",
                    file=sys.stderr,
                )
            # Jitter keeps two writers that collided from colliding again in lockstep.
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.1)
