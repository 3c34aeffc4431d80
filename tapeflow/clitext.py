"""What every command prints the same way: a user error as its lines on stderr with exit 2,
and a duration in the unit that reads best."""

from __future__ import annotations

import sys

import typer

EXIT_USER = 2


def fail_user(error: BaseException) -> typer.Exit:
    """Print ``error``'s lines (no traceback) on stderr; the ``typer.Exit`` to raise, code 2."""
    for line in str(error).splitlines() or [type(error).__name__]:
        print(line, file=sys.stderr)
    return typer.Exit(EXIT_USER)


def duration(ns: float | None) -> str:
    """``850 ns``, ``12.5 µs``, ``3.2 ms``, ``1.50 s``; empty for ``None``."""
    if ns is None:
        return ""
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.1f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e9:.2f} s"
