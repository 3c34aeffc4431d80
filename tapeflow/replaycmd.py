"""``tapeflow replay``: re-run recorded components against the inputs they received, compare
their outputs with the recording, time every step alone, and stop in the debugger.

Exit codes: 0 every component replays equal (or reproduces its recorded failure); 1 one
diverges (its report names the step, the output and both values); 2 a user error (one line
per problem). ``register(app)`` adds the command; the replay itself is ``tapeflow.replay``.
"""

from __future__ import annotations

import json
import sys
import traceback
from bdb import BdbQuit
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tapeflow.clitext import duration, fail_user, print_table

from tapeflow.engine.errors import UserError

if TYPE_CHECKING:
    from tapeflow.recorder.log import RecordedRun
    from tapeflow.replay import ReplayResult

__all__ = ["register", "replay"]

EXIT_DIVERGED = 1


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def _timing_table(result: ReplayResult) -> Any:
    from rich.table import Table
    from rich.text import Text

    title = "per-step time alone (wall, CPU) against the recorded run" + (f", best of {result.repeat}" if result.repeat > 1 else "")
    table = Table(title=Text(title), title_justify="left", box=None)
    heads = ["component", "steps", "alone p50", "p99", "max", "cpu p50", "recorded p50", "p99", "recorded/alone"]
    for head in heads:
        table.add_column(Text(head), justify="left" if head == "component" else "right")
    for found in result.components:
        summary = found.times.summary()
        wall, cpu, recorded = summary["wall_ns"] or {}, summary["cpu_ns"] or {}, summary["recorded_ns"] or {}
        cells = [
            found.name, f"{summary['steps']:,}", duration(wall.get("p50")), duration(wall.get("p99")), duration(wall.get("max")),
            duration(cpu.get("p50")), duration(recorded.get("p50")), duration(recorded.get("p99")), _ratio(summary["ratio"]),
        ]
        table.add_row(*[Text(cell) for cell in cells])
    return table



def _slowest(result: ReplayResult) -> list[str]:
    lines = []
    for found in result.components:
        steps = found.times.summary(slowest=3)["slowest"]
        if not steps:
            continue
        shown = ", ".join(
            f"step {s['step']} {duration(s['wall_ns'])}" + (f" (recorded {duration(s['recorded_ns'])})" if s["recorded_ns"] is not None else "")
            for s in steps
        )
        lines.append(f"slowest steps of {found.name!r} alone: {shown}")
    return lines


def replay(
    run: Annotated[str, typer.Argument(metavar="RUN", help="The run's id, or a unique prefix of it (tapeflow runs lists them).", show_default=False)],
    component: Annotated[
        list[str] | None,
        typer.Option("--component", "-c", help="Replay this component (repeat for more; default: every component of the run).", show_default=False),
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option("--log", help="The log file (default: $TAPEFLOW_LOG, else ./tapeflow.duckdb).", show_default=False, readable=False),
    ] = None,
    tolerance: Annotated[
        str | None,
        typer.Option("--tolerance", metavar="REL[,ABS]", help="Floats may differ by REL of their size, or ABS (also in lists, dicts, numpy arrays).", show_default=False),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", metavar="PORT", help="Do not compare this output (PORT of any component, or COMPONENT.PORT); repeat for more.", show_default=False),
    ] = None,
    repeat: Annotated[int, typer.Option("--repeat", help="Replay N times and keep each step's quickest time.")] = 1,
    cpu: Annotated[bool, typer.Option("--cpu/--no-cpu", help="Time each step's CPU too (a system call a reading: --no-cpu for millions of quick steps).")] = True,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json (docs/replay.md).")] = "table",
    here: Annotated[bool, typer.Option("--here", help="Run the components in the working folder instead of a scratch folder.")] = False,
    path: Annotated[
        list[Path] | None,
        typer.Option("--path", metavar="FOLDER", help="Import component classes from this folder too (the model's folder is searched already).", show_default=False),
    ] = None,
    step: Annotated[int | None, typer.Option("--step", metavar="K", help="Stop in the debugger just before step K, its inputs set (one --component).", show_default=False)] = None,
    pdb: Annotated[bool, typer.Option("--pdb", help="Open the debugger at a failing or diverging step.")] = False,
    until: Annotated[int | None, typer.Option("--until", metavar="K", help="Stop after step K (in the debugger with --pdb).", show_default=False)] = None,
    record: Annotated[
        bool, typer.Option("--record", help="Write the replay into the log as a run of its own (process_kind 'replay'), its steps' times alone queryable with SQL.")
    ] = False,
) -> None:
    """Re-run recorded components against the inputs they received, compare every output with
    the recording, and time every step alone."""
    from tapeflow.replay import Debug, Tolerance
    from tapeflow.replay import replay as run_replay

    if format not in ("table", "json"):
        raise fail_user(UserError(f"--format: unknown format {format!r}; choose table or json"))
    tol = None
    if tolerance is not None:
        try:
            tol = Tolerance.parse(tolerance)
        except ValueError as error:
            raise fail_user(UserError(f"--tolerance: {error}; pass REL or REL,ABS, such as 1e-9 or 1e-9,1e-12")) from None
    for name, value in (("--step", step), ("--until", until)):
        if value is not None and value < 0:
            raise fail_user(UserError(f"{name}: must be a step index (0 or more), got {value}"))
    if step is not None and until is not None and until < step:
        raise fail_user(UserError(f"--until {until} comes before --step {step}; pass --until K with K at least {step}"))
    debug = Debug(before=step, post_mortem=pdb, until=until)
    as_table = format == "table"

    def started(recorded: RecordedRun, scratch: Path | None) -> None:
        if as_table:
            where = f"in scratch folder {scratch}" if scratch is not None else "in the working folder (--here)"
            print(f"replaying run {recorded.id} of {recorded.log.where} {where}", flush=True)

    try:
        result = run_replay(
            run, log=log, components=component, tolerance=tol, ignore=ignore or (), repeat=repeat, here=here,
            path=path or (), debug=debug, cpu=cpu, on_start=started, record=record,
            command=["tapeflow", *sys.argv[1:]],
        )
    except UserError as error:
        raise fail_user(error) from None
    except BdbQuit:
        print("replay: quit in the debugger; nothing was compared after that step", file=sys.stderr)
        raise typer.Exit(EXIT_DIVERGED) from None
    if not as_table:
        print(json.dumps(result.to_json(), indent=2, default=str))
    else:
        for found in result.components:
            print(found.report())
        print_table(_timing_table(result))
        for line in _slowest(result):
            print(line)
        if result.scratch is not None:
            left = sorted(p.name for p in Path(result.scratch).iterdir())
            shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
            print(f"the components left files in {result.scratch}: {shown}")
        if result.recorded_as is not None:
            print(f"recorded the replay as run {result.recorded_as} (process_kind 'replay', replay_of {result.run_id}) in {result.log}")
    for found in result.components:
        raised = found.divergence.error if found.divergence is not None else None
        if raised is not None and as_table:
            traceback.print_exception(raised, file=sys.stderr)
    if not result.ok:
        raise typer.Exit(EXIT_DIVERGED)


def register(app: typer.Typer) -> None:
    """Add ``replay`` to the ``tapeflow`` command."""
    app.command(name="replay")(replay)
