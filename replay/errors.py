"""Replay's errors: both are user errors (the CLI prints one line and exits 2).

    UserError (tapeflow.engine.errors)
    ├── LogError (tapeflow.recorder)   no log, no such run, no such component, a newer schema
    └── ReplayError                    the recording cannot be replayed as asked: a class that
        │                              no longer imports, a changed constructor, a payload
        │                              recorded as text only, a record that does not add up
        └── (each a line ``component 'x' (m.X) of run 'r…': what; what to do``)
"""

from __future__ import annotations

from ..engine.errors import UserError

__all__ = ["ReplayError"]


class ReplayError(UserError):
    """A recorded component cannot be replayed as asked; the message says why and what to do."""
