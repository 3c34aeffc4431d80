"""Per-step timings of a replay: each step's wall and CPU time alone, beside its recorded
duration, and what they add up to (quantiles, the slowest steps, recorded/alone ratios).

Times are kept in ``array('q')``s, 24 bytes a step: the one part of a replay that grows with
the number of steps replayed (a million steps: 24 MB).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

__all__ = ["QUANTILES", "StepTimes"]

QUANTILES = (0.5, 0.9, 0.99)
SLOWEST = 5


def _new() -> array[int]:
    return array("q")


@dataclass(slots=True)
class StepTimes:
    """Step ``i``'s replayed wall time ``wall_ns[i]``, CPU time (this thread's)
    ``cpu_ns[i]`` and recorded duration ``recorded_ns[i]`` (end − start in the run)."""

    wall_ns: array[int] = field(default_factory=_new)
    cpu_ns: array[int] = field(default_factory=_new)
    recorded_ns: array[int] = field(default_factory=_new)

    def __len__(self) -> int:
        return len(self.wall_ns)

    def __repr__(self) -> str:
        # Short: asyncio's runner formats the task's result (and with it this) at exit.
        return f"StepTimes({len(self.wall_ns):,} steps)"

    def keep_best(self, other: StepTimes) -> None:
        """Keep, per step, the quicker of this replay's and ``other``'s (``--repeat``)."""
        for mine, theirs in ((self.wall_ns, other.wall_ns), (self.cpu_ns, other.cpu_ns)):
            for i in range(min(len(mine), len(theirs))):
                if theirs[i] < mine[i]:
                    mine[i] = theirs[i]

    def summary(self, slowest: int = SLOWEST) -> dict[str, Any]:
        """The figures ``tapeflow replay`` prints and ``--format json`` writes (docs/replay.md)."""
        n = len(self.wall_ns)
        recorded = self.recorded_ns[:n]
        wall_total = sum(self.wall_ns)
        recorded_total = sum(recorded)
        order = sorted(range(n), key=self.wall_ns.__getitem__, reverse=True)[:slowest]
        return {
            "steps": n,
            "wall_ns": _figures(self.wall_ns),
            "cpu_ns": _figures(self.cpu_ns),
            "recorded_ns": _figures(recorded),
            "ratio": _ratio(recorded_total, wall_total) if len(recorded) == n else None,
            "slowest": [
                {
                    "step": i,
                    "wall_ns": self.wall_ns[i],
                    "cpu_ns": self.cpu_ns[i] if i < len(self.cpu_ns) else None,
                    "recorded_ns": recorded[i] if i < len(recorded) else None,
                    "ratio": _ratio(recorded[i], self.wall_ns[i]) if i < len(recorded) else None,
                }
                for i in order
            ],
        }


def _ratio(recorded: int, alone: int) -> float | None:
    return round(recorded / alone, 3) if alone > 0 else None


def _figures(values: array[int]) -> dict[str, int] | None:
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)
    found = {f"p{round(q * 100)}": ordered[min(n - 1, int(q * n))] for q in QUANTILES}
    found["max"] = ordered[-1]
    found["total"] = sum(ordered)
    return found
