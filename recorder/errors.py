"""The recorder's errors; both are user errors (the CLI prints one line and exits 2)."""

from __future__ import annotations

from ..engine.errors import UserError

__all__ = ["LogError", "RecordingError"]


class LogError(UserError):
    """A log cannot be opened or read: missing, locked, of another schema, an unknown run."""


class RecordingError(UserError):
    """A run cannot be recorded as asked: an unencodable payload, a log that cannot be written."""
