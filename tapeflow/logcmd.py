"""``tapeflow runs`` and ``tapeflow query``: the event log from the command line.

``register(app)`` adds both commands to the ``tapeflow`` Typer app; ``recorded_line`` is the
run summary's line naming the run and its log (the Recorder itself comes from
``tapeflow.recording.tap_for``). User errors print one line and exit 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tapeflow.clitext import fail_user, print_table

from tapeflow.engine.errors import UserError

if TYPE_CHECKING:
    from tapeflow.recorder import Recorder

__all__ = ["recorded_line", "register"]


# readable=False: click would refuse an unreadable path in its own many-line usage error;
# open_log's check says it in one line that names the path.
LogOption = Annotated[
    Path | None,
    typer.Option("--log", help="The log file (default: $TAPEFLOW_LOG, else ./tapeflow.duckdb).", show_default=False, readable=False),
]


def recorded_line(recorder: Recorder) -> str:
    """The summary's last line: which run, which log, how to look at it."""
    from tapeflow.recorder.connection import display

    where = display(recorder.path)
    log = "" if recorder.path == _default() else f" --log {where}"
    return f"recorded as run {recorder.run_id} in {where} (tapeflow runs{log}; tapeflow query \"SELECT …\"{log})"


def _default() -> Path:
    from tapeflow.recorder import default_log_path

    return default_log_path()


def _when(ns: int | None) -> str:
    if ns is None:
        return ""
    return dt.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def _duration(ns: int | None) -> str:
    if ns is None:
        return ""
    seconds = ns / 1e9
    return f"{seconds:.2f}s" if seconds < 60 else f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, dt.date | dt.time | dt.timedelta):
        return str(value)
    return value



def _text(value: str, style: str = "") -> Any:
    """``value`` as rich prints it literally: never read as markup or emoji codes."""
    from rich.text import Text

    return Text(value, style=style)


def runs(log: LogOption = None, limit: Annotated[int, typer.Option("--limit", "-n", help="Show at most N runs.")] = 20) -> None:
    """List recorded runs, newest first."""
    if limit < 1:
        raise fail_user(UserError(f"--limit: must be at least 1, got {limit}; pass how many runs to show, such as -n 20"))
    import duckdb
    from rich.table import Table

    from tapeflow.recorder import open_log

    try:
        with open_log(log) as opened:
            try:
                rows = opened.runs(limit).fetchall()
            except duckdb.Error as error:
                raise opened.read_error(error) from error
            where = opened.where
    except UserError as error:
        raise fail_user(error) from None
    if not rows:
        print(f"no runs recorded in {where}")
        return
    print(f"runs in {where}")  # not the table's title: rich would wrap it to the table's width
    table = Table(box=None)
    for name in ("id", "model", "status", "started", "wall", "steps", "messages"):
        # On a narrow terminal the other columns fold onto more lines first: an id is copied.
        table.add_column(_text(name), justify="right" if name in ("wall", "steps", "messages") else "left", overflow="fold", no_wrap=name == "id")
    colours = {"completed": "green", "failed": "red", "crashed": "red", "running": "yellow"}
    for run_id, name, status, started, _ended, wall, steps, messages, *_ in rows:
        cells = [str(run_id), name or "", status, _when(started), _duration(wall), f"{steps:,}", f"{messages:,}"]
        styles = ["", "", colours.get(status, "white"), "", "", "", ""]
        table.add_row(*[_text(cell, style) for cell, style in zip(cells, styles)])
    print_table(table, highlight=True)


def query(
    sql: Annotated[str, typer.Argument(help="One SQL statement over the log's tables and views (see docs/log-schema.md).")],
    log: LogOption = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
) -> None:
    """Run one SQL statement against the log and print the result."""
    if format not in ("table", "csv", "json"):
        raise fail_user(UserError(f"--format: unknown format {format!r}; choose table, csv or json"))
    import duckdb

    from tapeflow.recorder import open_log

    try:
        with open_log(log) as opened:
            relation = opened.query(sql)
            if relation is None:  # a statement with no result
                return
            try:
                names = list(relation.columns)
                rows = relation.fetchall()
            except duckdb.Error as error:
                raise opened.read_error(error) from error
    except UserError as error:
        raise fail_user(error) from None
    if format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([[_plain(v) for v in row] for row in rows])
    elif format == "json":
        print(json.dumps([{k: _plain(v) for k, v in zip(names, row)} for row in rows], default=str))
    else:
        from rich.table import Table

        table = Table(box=None)
        for name in names:
            table.add_column(_text(name), overflow="fold")
        for row in rows:
            table.add_row(*[_text("NULL", "dim") if v is None else _text(str(_plain(v))) for v in row])
        print_table(table, highlight=True)


def register(app: typer.Typer) -> None:
    """Add ``runs`` and ``query`` to the ``tapeflow`` command."""
    app.command(name="runs")(runs)
    app.command(name="query")(query)
