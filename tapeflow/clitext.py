"""What every command prints the same way: a user error as its lines on stderr with exit 2,
a duration in the unit that reads best, and a table."""

from __future__ import annotations

import sys
from typing import Any

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


def print_table(renderable: Any, *, highlight: bool = False) -> None:
    """Print a rich table: on a terminal, to its width (columns fold, none is cut); elsewhere
    (a pipe, a file) as wide as it needs, so no value is cut or wrapped, with no trailing
    blanks."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console(highlight=highlight)
    if console.is_terminal:
        console.print(renderable)
        return
    width = Measurement.get(console, console.options.update(max_width=1 << 20), renderable).maximum
    console = Console(width=max(width, 1), highlight=highlight)
    with console.capture() as captured:
        console.print(renderable)
    for line in captured.get().splitlines():
        print(line.rstrip())
