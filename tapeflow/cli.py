"""The ``tapeflow`` command: run, validate and draw YAML models.

Exit codes: 0 done; 1 a component raised (its own traceback, then one line naming it);
2 the model or the command is wrong (one line per problem, no traceback); 130 interrupted.
typer and rich are imported here only, so ``import tapeflow`` never pays for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tapeflow.clitext import fail_user

from tapeflow import __version__
from tapeflow.engine.errors import ComponentError, Interrupted, UserError

if TYPE_CHECKING:
    from rich.console import Console

    from tapeflow.engine.process import Process
    from tapeflow.engine.tap import Tap

__all__ = ["RunResult", "app", "main", "run_model"]

EXIT_COMPONENT = 1
EXIT_USER = 2
EXIT_INTERRUPTED = 130
# Often enough to look live, rarely enough that drawing costs the model nothing measurable.
PROGRESS_INTERVAL_S = 0.25

# Given the built process, returns the tap to attach (or None): how recording plugs in.
TapFactory = Callable[["Process"], "Tap | None"]

app = typer.Typer(
    name="tapeflow",
    help="Run, validate and draw tapeflow (and Plugboard) YAML models.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@dataclass(slots=True)
class RunResult:
    """What a finished run leaves for the summary."""

    process: Process
    wall_s: float
    outputs: dict[str, str] = field(default_factory=dict)


def run_model(
    path: str | Path,
    *,
    tap_factory: TapFactory | None = None,
    show_progress: bool = False,
    console: Console | None = None,
    process_choice: str | None = None,
    connector_choice: str | None = None,
) -> RunResult:
    """Load a model file, run it to the end on a fresh event loop, and return its summary.

    Raises what the run raises: ``UserError`` for a bad model, ``ComponentError`` for a
    failing component, ``Interrupted`` after SIGINT or SIGTERM (every component's
    ``destroy()`` has run and the record is closed).

    While it runs, the first SIGINT (Ctrl-C) or SIGTERM stops the run after the steps in
    progress, even when a step blocks the event loop; a second one forces: it interrupts
    the blocking step itself (``KeyboardInterrupt`` inside it), and still every
    ``destroy()`` runs.
    """
    from tapeflow.engine.config import load_process

    process = load_process(path, process=process_choice, connector=connector_choice)
    if tap_factory is not None:
        process.tap = tap_factory(process)
    started = time.perf_counter()
    with _signals_stop(process):
        asyncio.run(_run(process, show_progress, console))
    wall_s = time.perf_counter() - started
    return RunResult(process, wall_s, _outputs(process))


@contextlib.contextmanager
def _signals_stop(process: Process) -> Iterator[None]:
    """SIGINT and SIGTERM stop ``process`` cleanly; a second signal forces.

    Python-level handlers run in the main thread between bytecodes, also while a step blocks
    the event loop (``time.sleep`` is resumed after them), so the first signal is noted at
    once and the run stops when the blocking step returns. asyncio's own Ctrl-C handling is
    not used: it knows nothing of SIGTERM, and its second Ctrl-C leaves component coroutines
    behind that were never awaited.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handle(signum: int, _frame: object) -> None:
        received.append(signum)
        stop = Interrupted(signal.Signals(received[0]).name, 128 + received[0])
        if len(received) > 1:
            # Raised where the main thread is: inside a blocking step, that step fails with
            # it, and the run ends as after the first signal. (KeyboardInterrupt would escape
            # the event loop instead and skip the orderly end.)
            raise stop
        process.interrupt(stop)
        # Said at once: a step that blocks may keep the run going a while yet.
        print(f"{stop.signal_name}: stopping after the steps in progress ({stop.signal_name} again to force)", file=sys.stderr, flush=True)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


async def _run(process: Process, show_progress: bool, console: Console | None) -> None:
    async with process:
        if not show_progress:
            await process.run()
            return
        from rich.live import Live

        # rich's refresh thread draws the line, so it keeps moving while a step blocks the
        # event loop (the tutorial's components call time.sleep); progress() is thread-safe.
        with Live(
            get_renderable=lambda: _progress_line(process),
            console=console,
            auto_refresh=True,
            refresh_per_second=1 / PROGRESS_INTERVAL_S,
            transient=True,
        ):
            await process.run()


def _progress_line(process: Process) -> Any:
    from rich.text import Text

    counts = process.progress()
    line = Text(f"running {process.name}: {sum(counts.values())} steps", style="bold")
    detail = "  ".join(f"{name} {steps}" for name, steps in counts.items())
    if detail:
        line.append(f"  ({detail})", style="dim")
    line.no_wrap = True
    line.overflow = "ellipsis"
    return line


def _outputs(process: Process) -> dict[str, str]:
    """What components with a ``describe_output()`` (file writers, say) report they produced."""
    return process.output_descriptions()


def _print_summary(result: RunResult, console: Console) -> None:
    from rich.table import Table

    process = result.process
    table = Table(title=f"{process.name}: completed in {result.wall_s:.2f} s", title_justify="left")
    table.add_column("component")
    table.add_column("class")
    table.add_column("steps", justify="right")
    for name, component in process.components.items():
        table.add_row(name, type(component).__name__, str(process.step_counts.get(name, 0)))
    table.add_row("total", "", str(sum(process.step_counts.values())), style="bold")
    console.print(table)
    for name, text in result.outputs.items():
        console.print(f"{name}: {text}", highlight=False, markup=False, soft_wrap=True)


def _fail_component(error: ComponentError) -> typer.Exit:
    cause = error.__cause__
    if cause is not None:
        traceback.print_exception(cause, file=sys.stderr)
    print(str(error), file=sys.stderr)
    return typer.Exit(EXIT_COMPONENT)


ModelPath = Annotated[Path, typer.Argument(metavar="MODEL.yaml", help="The YAML model file.", show_default=False)]


@app.command()
def run(
    model: ModelPath,
    record: Annotated[
        bool | None,
        typer.Option(
            "--record/--no-record",
            help="Record the run into the event log (default: yes, unless TAPEFLOW_RECORD=0).",
            show_default=False,
        ),
    ] = None,
    log: Annotated[
        Path | None,
        # readable=False: tapeflow checks the path itself, with one line saying what to do.
        typer.Option("--log", help="The event log (default: $TAPEFLOW_LOG, else ./tapeflow.duckdb).", show_default=False, readable=False),
    ] = None,
    process: Annotated[
        str | None,
        typer.Option(
            "--process",
            help="Run on this process instead of the model's: local or ray (Ray: every component in an actor of its own).",
            show_default=False,
        ),
    ] = None,
    connector: Annotated[
        str | None,
        typer.Option(
            "--connector",
            help="Carry messages over this channel instead of the model's: asyncio, ray or zmq "
            "(with --process ray, in-process connectors become zmq unless this says otherwise).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a model to the end; show live progress on a terminal and a summary at the end."""
    from rich.console import Console

    from tapeflow.logcmd import recorded_line
    from tapeflow.recording import tap_for

    console = Console(highlight=False)
    command = ["tapeflow", *sys.argv[1:]]
    recorders: list[Any] = []

    def choose(process: Process) -> Tap | None:
        tap = tap_for(process, record=record, log=log, command=command)
        recorders[:] = [tap] if tap is not None else []
        return tap

    def say_where() -> None:
        for recorder in recorders:
            if recorder.status != "created":
                console.print(recorded_line(recorder), markup=False, soft_wrap=True)

    try:
        result = run_model(
            model,
            tap_factory=choose,
            show_progress=sys.stdout.isatty(),
            console=console,
            process_choice=process,
            connector_choice=connector,
        )
    except Interrupted as stopped:
        say_where()
        print(f"interrupted by {stopped.signal_name}; every component's destroy() ran", file=sys.stderr)
        raise typer.Exit(stopped.exit_code) from None
    except UserError as error:
        say_where()
        raise fail_user(error) from None
    except ComponentError as error:
        say_where()
        raise _fail_component(error) from None
    _print_summary(result, console)
    say_where()


@app.command()
def validate(model: ModelPath) -> None:
    """Check a model without running it: types, arguments, resources and wiring."""
    from tapeflow.engine.config import check_model

    try:
        process = check_model(model)
    except UserError as error:
        raise fail_user(error) from None
    n_components = len(process.components)
    n_connectors = len(process.connectors)
    print(f"{model}: ok ({_count(n_components, 'component')}, {_count(n_connectors, 'connector')})")


@app.command()
def diagram(
    model: ModelPath,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the diagram to this file instead of stdout.")
    ] = None,
) -> None:
    """Print a model as a Mermaid flowchart."""
    from tapeflow.engine.config import check_model
    from tapeflow.engine.diagram import mermaid

    try:
        text = mermaid(check_model(model))
    except UserError as error:
        raise fail_user(error) from None
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"{output}: cannot write the diagram ({error.strerror}); check the path", file=sys.stderr)
        raise typer.Exit(EXIT_USER) from None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _show_version(value: bool) -> None:
    if value:
        print(f"tapeflow {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """tapeflow: an event-sourced dataflow engine with recorded replay."""


def _register_commands() -> None:
    """The commands that read the log; each module imports what it needs when it runs."""
    from tapeflow import logcmd, replaycmd, reportcmd

    for module in (logcmd, replaycmd, reportcmd):
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``tapeflow = "tapeflow.cli:main"``)."""
    app(args=argv, prog_name="tapeflow")


if __name__ == "__main__":
    main()
