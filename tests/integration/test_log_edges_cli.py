"""``tapeflow runs`` and ``tapeflow query`` at the log's edges, run as a user runs them.

Every path that cannot be a log is one line on stderr naming it and what to do, exit 2, no
traceback; output is for shells too: CSV lines end in LF, a piped table cuts no value, a
value prints as written (never read as rich markup)."""

from __future__ import annotations

import ctypes
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

SEED = Path(__file__).parents[1] / "fixtures" / "config" / "seed.yaml"
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


class Ran:
    def __init__(self, result: subprocess.CompletedProcess[bytes]) -> None:
        self.code = result.returncode
        self.raw = result.stdout
        self.out = result.stdout.decode()
        self.err = result.stderr.decode()


def tapeflow(*args: str, cwd: Path, env: dict[str, str] | None = None, preexec_fn: Callable[[], None] | None = None) -> Ran:
    return Ran(subprocess.run([sys.executable, "-m", "tapeflow.cli", *args], capture_output=True, cwd=cwd, env=env,
                              preexec_fn=preexec_fn, timeout=60))


def refused(ran: Ran, line: str) -> None:
    """One line on stderr, exactly ``line``, exit 2, nothing on stdout."""
    assert "Traceback" not in ran.err, ran.err
    assert ran.err.splitlines() == [line], ran.err
    assert ran.code == 2 and ran.out == ""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real log, recorded by ``tapeflow run``, and its run id."""
    folder = tmp_path_factory.mktemp("recorded")
    shutil.copy(SEED.parent / "cfg_parts.py", folder / "cfg_parts.py")
    env = {k: v for k, v in os.environ.items() if k not in ("TAPEFLOW_LOG", "TAPEFLOW_RECORD")}
    ran = tapeflow("run", str(SEED), "--log", "log.duckdb", cwd=folder, env=env)
    assert ran.code == 0, ran.err
    run_id = ran.out.split("recorded as run ")[1].split()[0]
    return folder / "log.duckdb", run_id


@pytest.fixture
def log(recorded: tuple[Path, str], tmp_path: Path) -> Path:
    """A copy of the recorded log in this test's folder, as ``log.duckdb``."""
    shutil.copy(recorded[0], tmp_path / "log.duckdb")
    return tmp_path / "log.duckdb"


COMMANDS = [pytest.param(["runs"], id="runs"), pytest.param(["query", "SELECT count(*) FROM runs"], id="query")]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "logs").mkdir()
    refused(tapeflow(*command, "--log", "logs", cwd=tmp_path), "logs: is a folder; pass --log with a file inside it, such as logs/tapeflow.duckdb")


@pytest.mark.parametrize("command", COMMANDS)
def test_dev_null(tmp_path: Path, command: list[str]) -> None:
    refused(tapeflow(*command, "--log", "/dev/null", cwd=tmp_path),
            "/dev/null: not a regular file (a character device); pass --log with a file path such as ./tapeflow.duckdb")


@pytest.mark.parametrize("command", COMMANDS)
def test_memory(tmp_path: Path, command: list[str]) -> None:
    refused(tapeflow(*command, "--log", ":memory:", cwd=tmp_path),
            ":memory:: an in-memory log keeps nothing to read; pass --log with a log file, such as ./tapeflow.duckdb")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_log_cut_to_half_its_size(log: Path, command: list[str]) -> None:
    whole = log.read_bytes()
    log.write_bytes(whole[: len(whole) // 2])
    refused(tapeflow(*command, "--log", "log.duckdb", cwd=log.parent),
            f"log.duckdb: the log is cut short ({len(whole) // 2:,} bytes, not 12,288 of headers and whole blocks of 65,536), "
            "as an interrupted copy or a full disk leaves it; restore it from a whole copy, or pass --log with another log")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_log_cut_at_a_block_boundary(log: Path, command: list[str]) -> None:
    log.write_bytes(log.read_bytes()[: 12288 + 4 * 65536])
    ran = tapeflow(*command, "--log", "log.duckdb", cwd=log.parent)
    assert ran.code == 2 and "Traceback" not in ran.err and len(ran.err.splitlines()) == 1, ran.err
    assert ran.err.startswith("log.duckdb: the log is cut short (274,432 bytes of at least ")
    assert ran.err.endswith("), as an interrupted copy or a full disk leaves it; restore it from a whole copy, or pass --log with another log\n")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_log_cut_inside_its_header(log: Path, command: list[str]) -> None:
    log.write_bytes(log.read_bytes()[:5000])
    refused(tapeflow(*command, "--log", "log.duckdb", cwd=log.parent),
            "log.duckdb: the log is cut short (5,000 bytes, less than DuckDB's 12,288-byte header), "
            "as an interrupted copy or a full disk leaves it; restore it from a whole copy, or pass --log with another log")


@pytest.mark.parametrize("command", COMMANDS)
def test_random_bytes(tmp_path: Path, command: list[str]) -> None:
    content = bytes([0x8F, 0x01]) + random.Random(7).randbytes(1 << 16)
    (tmp_path / "noise.duckdb").write_bytes(content)
    refused(tapeflow(*command, "--log", "noise.duckdb", cwd=tmp_path),
            f"noise.duckdb: not a DuckDB file (it starts with bytes {content[:8].hex(' ')}); pass --log with a tapeflow log")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_text_file(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "notes.duckdb").write_text("hello\nthis is not a log\n")
    refused(tapeflow(*command, "--log", "notes.duckdb", cwd=tmp_path),
            "notes.duckdb: not a DuckDB file (it starts with 'hello'); pass --log with a tapeflow log")


@pytest.mark.parametrize("command", COMMANDS)
def test_an_empty_file(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "empty.duckdb").touch()
    refused(tapeflow(*command, "--log", "empty.duckdb", cwd=tmp_path),
            "empty.duckdb: not a DuckDB file (it is empty); delete it, or pass --log with a tapeflow log")


def _drop_permission_override() -> None:
    """Root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH obeys permission bits like anyone."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def unprivileged() -> Callable[[], None] | None:
    if os.geteuid() != 0:
        return None
    try:
        subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_drop_permission_override, check=True, timeout=30)
    except (subprocess.SubprocessError, OSError) as error:
        pytest.skip(f"running as root, which ignores permission bits, and cannot drop CAP_DAC_OVERRIDE here ({error})")
    return _drop_permission_override


@pytest.mark.parametrize("command", COMMANDS)
def test_a_log_in_a_folder_that_cannot_be_read(log: Path, command: list[str]) -> None:
    closed = log.parent / "closed"
    closed.mkdir()
    shutil.move(log, closed / "log.duckdb")
    closed.chmod(0o000)
    try:
        ran = tapeflow(*command, "--log", "closed/log.duckdb", cwd=log.parent, preexec_fn=unprivileged())
    finally:
        closed.chmod(0o755)
    refused(ran, "closed/log.duckdb: cannot look inside folder closed (permission denied); "
                 "ask for access to it, or pass --log with a log in a folder you can read")


def test_a_log_without_read_permission(log: Path) -> None:
    log.chmod(0o000)
    try:
        ran = tapeflow("runs", "--log", "log.duckdb", cwd=log.parent, preexec_fn=unprivileged())
    finally:
        log.chmod(0o644)
    refused(ran, "log.duckdb: cannot read the log (permission denied); ask for read access, or pass --log with another log")


def test_tilde_in_tapeflow_log_and_log_is_the_home_folder(recorded: tuple[Path, str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(recorded[0], home / "x.duckdb")
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "HOME": str(home), "TAPEFLOW_LOG": "~/x.duckdb"}
    ran = tapeflow("runs", cwd=work, env=env)
    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[0] == f"runs in {home / 'x.duckdb'}" and recorded[1] in ran.out
    ran = tapeflow("query", "SELECT id FROM runs", "--log", "~/x.duckdb", "-f", "csv", cwd=work, env=env)
    assert ran.out.splitlines() == ["id", recorded[1]]
    refused(tapeflow("runs", "--log", "~/y.duckdb", cwd=work, env=env),
            f"{home / 'y.duckdb'}: no log here; record a run first (tapeflow run MODEL), or pass --log PATH")
    assert list(work.iterdir()) == []


def test_the_default_log_missing_is_said_and_not_created(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TAPEFLOW_LOG"}
    refused(tapeflow("runs", cwd=tmp_path, env=env), "tapeflow.duckdb: no log here; record a run first (tapeflow run MODEL), or pass --log PATH")
    assert list(tmp_path.iterdir()) == []


# --- output for shells -----------------------------------------------------------------------------

def test_csv_lines_end_in_lf(log: Path) -> None:
    ran = tapeflow("query", "SELECT 1 AS a, 'x,y' AS b UNION ALL SELECT 2, 'z'", "--log", "log.duckdb", "-f", "csv", cwd=log.parent)
    assert ran.code == 0, ran.err
    assert ran.raw == b'a,b\n1,"x,y"\n2,z\n'


def test_a_piped_table_cuts_no_value(log: Path, recorded: tuple[Path, str]) -> None:
    ran = tapeflow("runs", "--log", "log.duckdb", cwd=log.parent)
    assert ran.code == 0, ran.err
    row = next(line for line in ran.out.splitlines() if line.split()[:1] == [recorded[1]])
    assert row.split()[1:3] == ["seed", "completed"]
    long = "v" * 150 + "-end"
    ran = tapeflow("query", f"SELECT '{long}' AS long, 'a b c d e f g h' AS words, 12345678901234567890 AS big", "--log", "log.duckdb", cwd=log.parent)
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].split() == ["long", "words", "big"]
    assert lines[1].split() == [long, *"abcdefgh", "12345678901234567890"]
    assert len(lines) == 2 and all(line == line.rstrip() for line in lines)


def test_values_print_as_written_never_as_markup(log: Path) -> None:
    ran = tapeflow("query", "SELECT '[/]' AS \"[bold]h[/]\", '[red]x[/]' AS b, ':smile:' AS c, NULL AS d", "--log", "log.duckdb", cwd=log.parent)
    assert ran.code == 0, ran.err
    assert [line.split() for line in ran.out.splitlines()] == [["[bold]h[/]", "b", "c", "d"], ["[/]", "[red]x[/]", ":smile:", "NULL"]]


@pytest.mark.parametrize("sql", ["", "   ", " ; ", "/* only a comment */"])
def test_no_sql_is_refused(log: Path, sql: str) -> None:
    refused(tapeflow("query", sql, "--log", "log.duckdb", cwd=log.parent),
            'query: no SQL statement given; pass one, such as "SELECT * FROM run_summary"')


def test_several_statements_are_refused(log: Path) -> None:
    refused(tapeflow("query", "SELECT 1; SELECT 2", "--log", "log.duckdb", cwd=log.parent),
            "query: 2 statements given; pass one statement per query (run tapeflow query once for each)")
    ran = tapeflow("query", "SELECT 1 AS one;", "--log", "log.duckdb", "-f", "csv", cwd=log.parent)  # one, with its ';'
    assert ran.code == 0 and ran.out == "one\n1\n", ran.err


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_runs_limit_below_one_is_refused(log: Path, limit: str) -> None:
    refused(tapeflow("runs", "-n", limit, "--log", "log.duckdb", cwd=log.parent),
            f"--limit: must be at least 1, got {limit}; pass how many runs to show, such as -n 20")
