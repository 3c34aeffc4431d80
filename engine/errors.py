"""The one exception tree of tapeflow.

Every error tapeflow raises on purpose derives from :class:`TapeflowError`, and every message
reads ``<where>: <what is wrong>; <what would be right>``::

    TapeflowError
    ├── UserError                  the model or the command is wrong; the CLI prints one line, exits 2
    │   ├── ValidationError        a model that is not valid (Plugboard's name for it)
    │   │   ├── ModelError         the wiring or arguments of a model (all problems at once)
    │   │   └── ConfigError        a YAML model file (all problems at once, with file:line:col)
    │   ├── ResourceError          a resource quantity that does not parse
    │   ├── NotAvailableError      a feature that needs an extra (ray, zmq) that is not here
    │   ├── OutputNotSetError      a step ended without setting a declared output
    │   ├── ExportError            a model that a YAML file cannot hold (Process.dump)
    │   └── ProcessError           a process used out of order (init twice, …)
    │       └── NotInitialisedError  step() before init() (Plugboard's name)
    ├── ComponentError             a component's init/step/destroy raised; the CLI exits 1
    ├── IOStreamClosedError        stepped by hand past the end of its data (Plugboard's name)
    ├── Interrupted                stopped by a signal (SIGINT, SIGTERM); the CLI exits 128 + signal
    └── (in tapeflow.engine.channel, the channel ends' contract)
        ├── WouldBlock             receive_nowait() on an empty channel
        ├── EndOfChannel           every sender closed and every item received
        ├── ClosedResourceError    an end used after its own close()
        └── BusyResourceError      a second task waiting on one receive end
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ComponentError",
    "ConfigError",
    "ExportError",
    "IOStreamClosedError",
    "ModelError",
    "NotAvailableError",
    "NotInitialisedError",
    "Interrupted",
    "OutputNotSetError",
    "Problem",
    "ProcessError",
    "ResourceError",
    "TapeflowError",
    "UserError",
    "ValidationError",
]


class TapeflowError(Exception):
    """Root of every error tapeflow raises on purpose."""


class UserError(TapeflowError):
    """Something the user wrote or asked for is wrong; fixing it is the user's move."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation problem.

    ``path`` locates it in the model's data (``("connectors", 2, "target")``) so that a YAML
    loader can turn it into ``file:line:col``; ``message`` is the whole human line.
    """

    message: str
    path: tuple[str | int, ...] = ()


class ValidationError(UserError):
    """A model that is not valid: the base of ``ModelError`` (wiring, arguments) and
    ``ConfigError`` (a YAML file). Plugboard raises ``plugboard.exceptions.ValidationError``
    for these from ``init()``; tapeflow finds them when the process is built, so an
    ``except ValidationError`` moved to tapeflow must wrap the process's construction."""


class ModelError(ValidationError):
    """A model is wired or configured wrongly; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(p.message for p in self.problems))


class ConfigError(ValidationError):
    """A model file is malformed or invalid; each line starts with ``file:line:col``."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


class ResourceError(UserError, ValueError):
    """A resource quantity that is neither a number nor a Kubernetes-style quantity."""


class NotAvailableError(UserError):
    """A feature that needs something not installed (an extra) or not built yet."""


class OutputNotSetError(UserError):
    """A step finished without ever setting one of the component's declared outputs."""


class ExportError(UserError, ValueError):
    """A component or process that a YAML model file cannot hold: an argument that is not
    plain data, connectors of several types, a file name that is not ``.yaml``. Also a
    ``ValueError``, as Plugboard raises for the same mistakes."""


class ComponentError(TapeflowError):
    """A component's code raised; the original exception is ``__cause__``.

    ``component`` is the component's name, ``step`` the step index (``None`` for init/destroy).
    """

    def __init__(self, message: str, *, component: str, step: int | None) -> None:
        super().__init__(message)
        self.component = component
        self.step = step


class ProcessError(UserError):
    """A process was driven out of order: ``init()`` twice for one run, say."""


class NotInitialisedError(ProcessError):
    """``Process.step()`` before ``init()`` (Plugboard's name). ``run()`` never raises it:
    called without ``init()`` it runs the whole life cycle itself."""


class IOStreamClosedError(TapeflowError):
    """Stepped by hand past the end of the data (Plugboard's name): a component whose
    ``step()`` is called after it closed (``await self.io.close()``, a ``FileReader`` past its
    last row), or ``Process.step()`` once every component has finished. Catch it to stop a
    hand-written loop; a process's own ``run()`` never raises it."""


class Interrupted(TapeflowError):
    """The run was stopped from outside by a signal; every component's ``destroy()`` ran.

    ``signal_name`` is ``"SIGINT"`` (Ctrl-C) or ``"SIGTERM"`` (``timeout``, ``docker stop``,
    systemd, a CI cancel); ``exit_code`` is the shell's convention, 128 + the signal number.
    """

    def __init__(self, signal_name: str, exit_code: int) -> None:
        super().__init__(f"interrupted by {signal_name}; the run stopped after the steps in progress")
        self.signal_name = signal_name
        self.exit_code = exit_code
