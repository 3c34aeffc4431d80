"""A recorded run as a regression test: ``assert_replays`` fails with the divergence report.

    from tapeflow.replay.testing import assert_replays

    def test_savings_still_replays():
        assert_replays("tests/runs/savings.duckdb", "r0f6vp1", tolerance=1e-12, ignore={"clock.now"})
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from ..recorder.log import Log
from .comparison import Tolerance
from .replayer import replay
from .result import ReplayResult

__all__ = ["assert_replays"]


def assert_replays(
    log: str | os.PathLike[str] | Log | None,
    run: str,
    *,
    components: Iterable[str] | None = None,
    tolerance: Tolerance | float | tuple[float, float] | str | None = None,
    ignore: Iterable[str] = (),
    path: Sequence[str | os.PathLike[str]] = (),
) -> ReplayResult:
    """Replay ``components`` (default: all) of ``run`` in ``log`` and raise ``AssertionError``
    whose message is the report (one line per component, details under a divergence) unless
    every one replays equal to its recording (or reproduces its recorded failure)."""
    result = replay(run, log=log, components=components, tolerance=tolerance, ignore=ignore, path=path)
    if not result.ok:
        diverged = [c for c in result.components if not c.ok]
        raise AssertionError(
            f"run {result.run_id!r}: {len(diverged)} of {len(result.components)} components diverge from the recording\n"
            + result.report()
        )
    return result
