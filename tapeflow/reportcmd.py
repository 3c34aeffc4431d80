"""``tapeflow report``, ``tapeflow trace`` and ``tapeflow calibrate``: where a run's time went,
whether Ray would pay off, a Perfetto trace, and measuring what Ray costs on this machine.

``register(app)`` adds the three commands; the work is in ``tapeflow.replay.report``,
``.trace`` and ``.calibrate``. User errors print one line per problem and exit 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tapeflow.clitext import duration, fail_user, print_table

from tapeflow.engine.errors import UserError

__all__ = ["calibrate", "register", "report", "trace"]


RunArg = Annotated[str, typer.Argument(metavar="RUN", help="The run's id, or a unique prefix of it (tapeflow runs lists them).", show_default=False)]
LogOption = Annotated[
    Path | None,
    typer.Option("--log", help="The log file (default: $TAPEFLOW_LOG, else ./tapeflow.duckdb).", show_default=False, readable=False),
]


def _s(seconds: float | None) -> str:
    return "" if seconds is None else duration(seconds * 1e9)


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"



def _table(title: str, heads: list[str], rows: list[list[str]]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), title_justify="left", box=None)
    for i, head in enumerate(heads):
        table.add_column(Text(head), justify="left" if i == 0 or head in ("channel", "verdict", "connector") else "right")
    for row in rows:
        table.add_row(*[Text(cell) for cell in row])
    return table


def _render(found: dict[str, Any]) -> None:
    print(f"run {found['run_id']} in {found['log']} ({found['process_kind']}, {found['status']})")
    rows = [
        [c["name"], f"{c['steps']:,}", duration(c["busy_ns"]), duration(c["blocked_ns"]), duration(c["send_blocked_ns"]),
         duration(c["step_ns"]["p50_ns"]), duration(c["step_ns"]["p90_ns"]), duration(c["step_ns"]["p99_ns"]), duration(c["step_ns"]["max_ns"])]
        for c in found["components"]
    ]
    print_table(_table("components", ["component", "steps", "busy", "blocked on inputs", "blocked on outputs", "step p50", "p90", "p99", "max"], rows))
    rows = [
        [ch["label"], f"{ch['messages']:,}", duration(ch["receive_ns"]["p50_ns"]), duration(ch["receive_ns"]["p99_ns"]),
         duration(ch["consume_ns"]["p50_ns"]), duration(ch["consume_ns"]["p99_ns"]), _bytes(ch["payload_bytes"])]
        for ch in found["channels"]
    ]
    print_table(_table("channels", ["channel", "messages", "receive p50", "p99", "consume p50", "p99", "payload"], rows))
    parallelism = found["parallelism"]
    print(f"makespan {_s(found['makespan_s'])}  work T1 {_s(found['work_s'])}  span T∞ {_s(found['span_s'])}  "
          f"parallelism T1/T∞ {parallelism if parallelism is not None else '-'}")
    shares = ", ".join(f"{name} {_s(s)}" for name, s in sorted(found["critical_path_s"].items(), key=lambda x: -x[1]))
    print(f"critical path ({_s(found['span_s'])}): {' -> '.join(found['critical_path'])}  [{shares}]")
    rows = []
    for p in found["predictions"]:
        bounds = p["speedup_bounds"]
        rows.append([
            str(p["cpus"]), p["connector"], _s(p["makespan_s"]), "" if p["speedup"] is None else f"{p['speedup']:.2f}x",
            "" if not bounds else f"{bounds[0]:.2f}x–{bounds[1]:.2f}x", _s(p["bounds_s"]["span_law"]), _s(p["bounds_s"]["work_law"]),
            _s(p["bounds_s"]["graham"]), p["verdict"],
        ])
    what_if = ", ".join(f"{k} {v:g}x as fast" for k, v in found["what_if"].items())
    title = "predicted on RayProcess (one actor per component)" + (f", what if {what_if}" if what_if else "")
    print_table(_table(title, ["cpus", "connector", "makespan", "speedup", "speedup range", "span law", "work law", "Graham", "verdict"], rows))
    said: set[str] = set()
    for p in found["predictions"]:
        line = f"{p['verdict']}: {p['reason']}"
        if p["reason"] not in said:
            said.add(p["reason"])
            print(f"  {p['cpus']} cpus, {p['connector']}: {line}")
    one_off = found["one_off_s"]
    print(f"one-off: starting Ray {_s(one_off['ray_start_s'])} and {len(found['components'])} actors "
          f"{_s(one_off['actor_start_s'] * len(found['components']))}: {_s(one_off['total_s'])} per driver, not in the makespans above")
    for note in found["notes"]:
        print(f"note: {note}")


def report(
    run: RunArg,
    log: LogOption = None,
    cpus: Annotated[list[int] | None, typer.Option("--cpus", metavar="N", help="Predict for N cores (repeat for more; default 1, 2, 4, 8 and this machine's).", show_default=False)] = None,
    connector: Annotated[list[str] | None, typer.Option("--connector", help="ray or zmq (repeat; default both).", show_default=False)] = None,
    what_if: Annotated[list[str] | None, typer.Option("--what-if", metavar="COMPONENT=FACTOR", help="Predict as if COMPONENT's steps were FACTOR times as fast (repeat for more).", show_default=False)] = None,
    replay: Annotated[bool, typer.Option("--replay", help="Replay each component alone to measure its steps' wall and CPU time (takes as long as the steps).")] = False,
    path: Annotated[list[Path] | None, typer.Option("--path", metavar="FOLDER", help="With --replay: import component classes from this folder too.", show_default=False)] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json (docs/report.md).")] = "table",
    html: Annotated[Path | None, typer.Option("--html", metavar="PATH", help="Also write the report as one self-contained HTML page (timeline, speedup against N, tables).", show_default=False)] = None,
) -> None:
    """Where a run's time went, its critical path, and whether RayProcess would make it faster."""
    from tapeflow.recorder.log import open_log
    from tapeflow.replay.report import parse_what_if, timing_report

    if format not in ("table", "json"):
        raise fail_user(UserError(f"--format: unknown format {format!r}; choose table or json"))
    wrote = None
    try:
        with open_log(log) as opened:  # one log for the report and the page's timeline
            found = timing_report(
                run, log=opened, cpus=cpus, connectors=connector or ("ray", "zmq"), what_if=parse_what_if(what_if or ()),
                replay=replay, path=path or (),
            )
            if html is not None:
                from tapeflow.replay.html import write_html

                try:
                    wrote = write_html(html, found, opened)
                except OSError as error:
                    raise UserError(f"{html}: cannot write the page ({error.strerror}); check the path") from None
    except UserError as error:
        raise fail_user(error) from None
    if format == "json":
        print(json.dumps(found, indent=2, default=str))
    else:
        _render(found)
    if wrote is not None:
        print(wrote, file=sys.stderr if format == "json" else sys.stdout)


def trace(
    run: RunArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The trace file to write (Chrome trace-event JSON).")] = Path("trace.json"),
    log: LogOption = None,
    steps: Annotated[str | None, typer.Option("--steps", metavar="A:B", help="Only steps A to B-1 of each component.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many steps in all (each component's first ones).")] = 50_000,
) -> None:
    """Write a Chrome trace-event file of a run (opens in Perfetto and chrome://tracing)."""
    from tapeflow.replay.trace import parse_steps, write_trace

    try:
        window = parse_steps(steps) if steps is not None else None
        if limit < 1:
            raise UserError(f"--limit: must be at least 1, got {limit}; pass how many steps to keep, such as --limit 100000")
        summary = write_trace(run, output, log=log, steps=window, limit=limit)
    except UserError as error:
        raise fail_user(error) from None
    except OSError as error:
        raise fail_user(UserError(f"{output}: cannot write the trace ({error.strerror}); check the path")) from None
    print(summary)


def calibrate(
    messages: Annotated[int, typer.Option("--messages", help="Messages in each streaming run.")] = 20_000,
    rounds: Annotated[int, typer.Option("--rounds", help="Round trips in each ping-pong run.")] = 300,
) -> None:
    """Measure Ray's and ZeroMQ's cost per message and per hop, and actor start, on this machine; store them for tapeflow report."""
    from tapeflow.replay.calibrate import measure, store

    if messages < 1 or rounds < 1:
        raise fail_user(UserError("--messages and --rounds: must be at least 1"))
    try:
        found = measure(messages, rounds, say=lambda line: print(line, flush=True))
        where = store(found)
    except UserError as error:
        raise fail_user(error) from None
    except OSError as error:
        raise fail_user(UserError(f"{error.filename}: cannot store the calibration ({error.strerror}); set TAPEFLOW_CALIBRATION to a writable path")) from None
    for note in found.notes:
        print(f"note: {note}")
    print(f"stored in {where} (tapeflow report uses it; TAPEFLOW_CALIBRATION names another file)")


def register(app: typer.Typer) -> None:
    """Add ``report``, ``trace`` and ``calibrate`` to the ``tapeflow`` command."""
    app.command(name="report")(report)
    app.command(name="trace")(trace)
    app.command(name="calibrate")(calibrate)

