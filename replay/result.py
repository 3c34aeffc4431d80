"""What a replay found: per component, equal to its recording or the first divergence, and
its per-step timings. Lines here are API (tests pin them, docs/replay.md shows them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .comparison import show
from .timing import StepTimes

__all__ = ["ComponentReplay", "Divergence", "Outcome", "ReplayResult"]

Outcome = Literal["equal", "reproduced", "stopped", "diverged"]
DivergenceKind = Literal["value", "raised", "not raised", "other error", "closed", "init"]


@dataclass(slots=True)
class Divergence:
    """The first place a replay differs from its recording.

    ``kind``: ``value`` (output ``port`` differs), ``raised`` (the replay raised, the
    recording did not), ``not raised`` (the reverse), ``other error`` (both raised, of other
    types), ``closed`` (the replay closed where the recording sent ``port``), ``init`` (the
    replay's ``init()`` raised). ``path`` says where inside the values they first differ
    (``[3]['x']``), with those parts; ``inputs`` are the step's inputs as fed."""

    step: int | None
    kind: DivergenceKind
    port: str | None = None
    recorded: Any = None
    replayed: Any = None
    path: str = ""
    recorded_part: Any = None
    replayed_part: Any = None
    inputs: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None  # what the replay raised
    recorded_error: str | None = None  # the recorded step's error line

    def text(self) -> str:
        """What differs, as it follows ``diverges from run 'r…' ``."""
        at = f"at step {self.step}"
        replay_error = _error_line(self.error) if self.error is not None else ""
        if self.kind == "value":
            return f"{at}, output {self.port!r}: recorded {show(self.recorded)}, replayed {show(self.replayed)}"
        if self.kind == "raised":
            return f"{at}: the replay raised {replay_error}; the recording did not"
        if self.kind == "not raised":
            return f"{at}: the recording failed with {self.recorded_error}; the replay did not raise"
        if self.kind == "other error":
            return f"{at}: the replay raised {replay_error}; the recording failed with {self.recorded_error}"
        if self.kind == "closed":
            return f"{at}: the replay closed (io.close()); the recording sent output {self.port!r}"
        return f"in init(): the replay raised {replay_error}"

    def details(self) -> list[str]:
        lines = []
        if self.path:
            lines.append(f"first difference at {self.path}: recorded {show(self.recorded_part)}, replayed {show(self.replayed_part)}")
        if self.inputs:
            shown = ", ".join(f"{k}={show(v, 60)}" for k, v in self.inputs.items())
            lines.append(f"inputs at step {self.step}: {shown}")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "kind": self.kind,
            "port": self.port,
            "recorded": show(self.recorded, 1000) if self.kind in ("value", "closed") else None,
            "replayed": show(self.replayed, 1000) if self.kind == "value" else None,
            "path": self.path or None,
            "recorded_error": self.recorded_error,
            "replayed_error": _error_line(self.error) if self.error is not None else None,
            "inputs": {k: show(v, 1000) for k, v in self.inputs.items()},
        }


def _error_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _steps(n: int) -> str:
    return "1 step" if n == 1 else f"{n:,} steps"


@dataclass(slots=True)
class ComponentReplay:
    """One component's replay: ``outcome`` is ``equal`` (every compared output equal),
    ``reproduced`` (equal, and the recorded failure happened again at the same step with the
    same exception type), ``stopped`` (equal as far as ``until`` went), or ``diverged``."""

    run_id: str
    name: str
    class_path: str
    outcome: Outcome
    steps: int  # steps replayed
    recorded_steps: int
    compared: int  # output values compared
    divergence: Divergence | None = None
    failure: str | None = None  # the reproduced failure's line
    times: StepTimes = field(default_factory=StepTimes)

    @property
    def ok(self) -> bool:
        return self.outcome != "diverged"

    def line(self) -> str:
        """The first line of the report: what the replay found."""
        head = f"component {self.name!r} ({self.class_path})"
        counts = f"{_steps(self.steps)}, {self.compared:,} output {'value' if self.compared == 1 else 'values'} compared"
        if self.outcome == "equal":
            return f"{head}: equal to run {self.run_id!r} ({counts})"
        if self.outcome == "reproduced":
            assert self.divergence is None
            return f"{head}: reproduces the failure of run {self.run_id!r} at step {self.steps - 1}: {self.failure} ({counts})"
        if self.outcome == "stopped":
            return f"{head}: equal to run {self.run_id!r} up to step {self.steps - 1}, where --until stopped it ({counts} of {self.recorded_steps:,})"
        assert self.divergence is not None
        return f"{head}: diverges from run {self.run_id!r} {self.divergence.text()}"

    def report(self) -> str:
        """``line()``, and for a divergence where inside the values and the step's inputs."""
        lines = [self.line()]
        if self.divergence is not None:
            lines += ["  " + line for line in self.divergence.details()]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "component": self.name,
            "class_path": self.class_path,
            "outcome": self.outcome,
            "line": self.line(),
            "steps": self.steps,
            "recorded_steps": self.recorded_steps,
            "compared": self.compared,
            "failure": self.failure,
            "divergence": self.divergence.to_json() if self.divergence is not None else None,
            "timing": self.times.summary(),
        }


@dataclass(slots=True)
class ReplayResult:
    """A replay of some components of one run. ``ok`` when none diverged."""

    run_id: str
    log: str
    scratch: str | None
    repeat: int
    components: list[ComponentReplay]
    recorded_as: str | None = None  # the replay's own run in the log (record=True, --record)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.components)

    def __getitem__(self, name: str) -> ComponentReplay:
        for found in self.components:
            if found.name == name:
                return found
        raise KeyError(name)

    def report(self) -> str:
        """One line per component; a divergence's details under its line."""
        return "\n".join(c.report() for c in self.components)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "log": self.log,
            "scratch": self.scratch,
            "repeat": self.repeat,
            "ok": self.ok,
            "recorded_as": self.recorded_as,
            "components": [c.to_json() for c in self.components],
        }
