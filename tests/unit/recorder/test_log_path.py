"""``check_log_path``: which paths can be a tapeflow log, said in one line before DuckDB opens
anything; and ``connect``'s translation of what DuckDB's own open still refuses."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tapeflow import IO, AsyncioConnector, Component, ConnectorSpec, LocalProcess
from tapeflow.recorder import LogError, Recorder, open_log
from tapeflow.recorder.connection import check_log_path, connect

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


class Source(Component):
    io = IO(outputs=["x"])

    async def init(self) -> None:
        self.left = list(range(100))

    async def step(self) -> None:
        if not self.left:
            await self.io.close()
            return
        self.x = self.left.pop(0)


class Sink(Component):
    io = IO(inputs=["x"])


async def record(path: Path) -> None:
    process = LocalProcess([Source(name="src"), Sink(name="sink")], [AsyncioConnector(ConnectorSpec(source="src.x", target="sink.x"))],
                           name="tiny", tap=Recorder(path))
    async with process:
        await process.run()


@pytest.fixture
async def log(tmp_path: Path) -> Path:
    path = tmp_path / "log.duckdb"
    await record(path)
    return path


def _drop_permission_override() -> None:
    """In the child, before exec: root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH obeys
    permission bits like anyone (they are dropped from the bounding set, so exec keeps them off)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def unprivileged() -> Callable[[], None] | None:
    """A ``preexec_fn`` under which permission bits hold (``None``: they already do), or a
    skip where this process is root and cannot give up its override."""
    if os.geteuid() != 0:
        return None
    try:
        subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_drop_permission_override, check=True, timeout=30)
    except (subprocess.SubprocessError, OSError) as error:
        pytest.skip(f"running as root, which ignores permission bits, and cannot drop CAP_DAC_OVERRIDE here ({error})")
    return _drop_permission_override


def check_unprivileged(path: str, *, writable: bool, cwd: Path) -> str:
    """``check_log_path`` in a child that obeys permission bits: its LogError's line, or 'ok'."""
    code = (
        "import sys; from pathlib import Path; from tapeflow.recorder import LogError; "
        "from tapeflow.recorder.connection import check_log_path\n"
        f"try: check_log_path(Path({path!r}), writable={writable!r}); print('ok')\n"
        "except LogError as e: print(e)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                            preexec_fn=unprivileged(), timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("writable", [False, True])
def test_memory_is_refused(writable: bool) -> None:
    tail = "pass --log with a file path, or --no-record to run unrecorded" if writable else "pass --log with a log file, such as ./tapeflow.duckdb"
    with pytest.raises(LogError, match=rf"^:memory:: an in-memory log keeps nothing.*; {tail}$"):
        check_log_path(Path(":memory:"), writable=writable)


@pytest.mark.parametrize("writable", [False, True])
def test_a_folder_is_refused_with_a_file_inside_it_suggested(tmp_path: Path, writable: bool) -> None:
    (tmp_path / "logs").mkdir()
    os.chdir(tmp_path)
    with pytest.raises(LogError, match=r"^logs: is a folder; pass --log with a file inside it, such as logs/tapeflow.duckdb$"):
        check_log_path(Path("logs"), writable=writable)


@pytest.mark.parametrize("writable", [False, True])
def test_a_device_is_refused(writable: bool) -> None:
    with pytest.raises(LogError, match=r"^/dev/null: not a regular file \(a character device\); pass --log with a file path such as ./tapeflow.duckdb$"):
        check_log_path(Path("/dev/null"), writable=writable)


def test_a_missing_log_is_refused_for_reading_and_fine_for_writing(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    with pytest.raises(LogError, match=r"^new/log.duckdb: no log here; record a run first \(tapeflow run MODEL\), or pass --log PATH$"):
        check_log_path(Path("new/log.duckdb"), writable=False)
    check_log_path(Path("new/deeper/log.duckdb"), writable=True)  # the writer creates the folders
    assert not (tmp_path / "new").exists()  # a check creates nothing


def test_a_folder_that_cannot_be_made_is_refused_for_writing(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    Path("file").write_text("x")
    with pytest.raises(LogError, match=r"^file/sub/log.duckdb: cannot create folder file/sub: file is not a folder; pass --log with a path in a folder$"):
        check_log_path(Path("file/sub/log.duckdb"), writable=True)


@pytest.mark.parametrize("writable", [False, True])
@pytest.mark.parametrize(
    ("content", "shown"),
    [(b"hello world\n", "it starts with 'hello world'"), (bytes(range(200, 256)) * 100, "it starts with bytes c8 c9 ca cb cc cd ce cf"),
     (b"SQLite format 3\x00" + bytes(4000), "it starts with 'SQLite format 3'")],
)
def test_a_file_of_another_kind_is_refused(tmp_path: Path, writable: bool, content: bytes, shown: str) -> None:
    os.chdir(tmp_path)
    Path("other.db").write_bytes(content)
    instead = "a tapeflow log or a new file name" if writable else "a tapeflow log"
    with pytest.raises(LogError, match=rf"^other.db: not a DuckDB file \({shown}\); pass --log with {instead}$"):
        check_log_path(Path("other.db"), writable=writable)


@pytest.mark.parametrize("writable", [False, True])
def test_a_log_cut_short_is_refused_by_its_size(log: Path, writable: bool) -> None:
    """DuckDB's file is 12,288 bytes of headers, then whole blocks (65,536 bytes in a log tapeflow made)."""
    os.chdir(log.parent)
    whole = log.read_bytes()
    Path("half.duckdb").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(LogError, match=(
        rf"^half.duckdb: the log is cut short \({len(whole) // 2:,} bytes, not 12,288 of headers and whole blocks of 65,536\), "
        r"as an interrupted copy or a full disk leaves it; restore it from a whole copy, or pass --log with another log$"
    )):
        check_log_path(Path("half.duckdb"), writable=writable)


def test_a_log_cut_at_a_block_boundary_is_refused_once_open(log: Path) -> None:
    """Its size looks whole: the blocks its tables use tell (``check_blocks``)."""
    os.chdir(log.parent)
    Path("cut.duckdb").write_bytes(log.read_bytes()[: 12288 + 4 * 65536])
    check_log_path(Path("cut.duckdb"), writable=False)
    with pytest.raises(LogError, match=r"^cut.duckdb: the log is cut short \(274,432 bytes of at least [\d,]+\), as an interrupted copy"):
        open_log("cut.duckdb")


async def test_a_log_whose_free_blocks_at_the_end_were_cut_off_by_duckdb_reads(tmp_path: Path) -> None:
    """DuckDB itself truncates free blocks at the end of the file and still counts them in its
    header: such a file is shorter than the header's count, and whole."""
    path = tmp_path / "log.duckdb"
    for _ in range(3):
        await record(path)
    check_log_path(path, writable=True)
    with open_log(path) as opened:
        assert opened.query("SELECT count(*) FROM runs").fetchall() == [(3,)]


@pytest.mark.parametrize("writable", [False, True])
def test_a_whole_log_an_empty_file_and_a_new_file_pass(log: Path, writable: bool) -> None:
    check_log_path(log, writable=writable)
    (log.parent / "empty.duckdb").touch()  # a writer may have just created it: DuckDB judges
    check_log_path(log.parent / "empty.duckdb", writable=writable)
    if writable:
        check_log_path(log.parent / "new.duckdb", writable=True)


def test_the_header_is_not_read_while_this_process_holds_the_file(log: Path) -> None:
    """Closing any handle on the file would drop DuckDB's lock (a POSIX record lock) held by
    a connection of this process: another process could then write under it."""
    con = connect(str(log), read_only=False, wait_s=0)
    try:
        check_log_path(log, writable=True)
        other = subprocess.run(
            [sys.executable, "-c", f"import duckdb; duckdb.connect({str(log)!r}, read_only=True)"], capture_output=True, text=True, timeout=30
        )
        assert other.returncode != 0 and "lock" in other.stderr, other.stderr
    finally:
        con.close()


def test_connect_translates_what_duckdb_refuses(tmp_path: Path, log: Path) -> None:
    os.chdir(tmp_path)
    Path("empty.duckdb").touch()
    with pytest.raises(LogError, match=r"^empty.duckdb: not a DuckDB file \(it is empty\); delete it, or pass --log with a tapeflow log or a new file name$"):
        connect("empty.duckdb", read_only=False, wait_s=0)
    Path("short.duckdb").write_bytes(log.read_bytes()[:5000])
    with pytest.raises(LogError, match=r"^short.duckdb: the log is cut short \(5,000 bytes, less than DuckDB's 12,288-byte header\), as an interrupted"):
        connect("short.duckdb", read_only=True, wait_s=0)
    with pytest.raises(LogError, match=r"^/dev/null: not a regular file \(a character device\)"):
        connect("/dev/null", read_only=False, wait_s=0)


# --- permissions: run in a child that obeys permission bits (see unprivileged) -----------------

def test_a_log_in_a_folder_that_cannot_be_entered(log: Path) -> None:
    closed = log.parent / "closed"
    closed.mkdir()
    (closed / "log.duckdb").write_bytes(log.read_bytes())
    closed.chmod(0o000)
    try:
        assert check_unprivileged("closed/log.duckdb", writable=False, cwd=log.parent) == (
            "closed/log.duckdb: cannot look inside folder closed (permission denied); "
            "ask for access to it, or pass --log with a log in a folder you can read"
        )
        assert check_unprivileged("closed/sub/log.duckdb", writable=True, cwd=log.parent).startswith(
            "closed/sub/log.duckdb: cannot look inside folder closed (permission denied)"
        )
    finally:
        closed.chmod(0o755)


def test_a_log_that_cannot_be_read_or_written(log: Path) -> None:
    log.chmod(0o000)
    try:
        assert check_unprivileged("log.duckdb", writable=False, cwd=log.parent) == (
            "log.duckdb: cannot read the log (permission denied); ask for read access, or pass --log with another log"
        )
        log.chmod(0o444)
        assert check_unprivileged("log.duckdb", writable=False, cwd=log.parent) == "ok"  # an archived log reads
        assert check_unprivileged("log.duckdb", writable=True, cwd=log.parent) == (
            "log.duckdb: cannot write the log (permission denied); make it writable (chmod u+w), or pass --log with another file"
        )
    finally:
        log.chmod(0o644)


def test_a_folder_that_cannot_be_written(log: Path) -> None:
    folder = log.parent
    folder.chmod(0o555)
    try:
        assert check_unprivileged("log.duckdb", writable=False, cwd=folder) == "ok"
        # DuckDB writes its .wal file beside the log: an existing log needs the folder too.
        for name in ("log.duckdb", "new.duckdb"):
            assert check_unprivileged(name, writable=True, cwd=folder) == (
                f"{name}: cannot write in folder ., where the log and its .wal file go (permission denied); "
                "pass --log with a path in a folder you can write"
            )
        assert check_unprivileged("sub/new.duckdb", writable=True, cwd=folder) == (
            "sub/new.duckdb: cannot create folder sub in . (permission denied); pass --log with a path in a folder you can write"
        )
    finally:
        folder.chmod(0o755)


async def test_a_new_log_has_64_kib_blocks_and_an_older_log_keeps_its_own(tmp_path: Path) -> None:
    """64 KiB blocks: a payload of 100 KiB wastes less of its blocks, and the log's dozen
    small tables take less of a fixed part (bench/README.md). A log made with DuckDB's
    default 256 KiB blocks is recorded into at that size."""
    import duckdb

    def block_size(path: Path) -> int:
        with duckdb.connect(str(path), read_only=True) as con:
            row = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()
        assert row is not None
        return int(row[0])

    await record(tmp_path / "new.duckdb")
    assert block_size(tmp_path / "new.duckdb") == 65536
    duckdb.connect(str(tmp_path / "old.duckdb")).close()  # an empty DuckDB file, default blocks
    await record(tmp_path / "old.duckdb")
    assert block_size(tmp_path / "old.duckdb") == 262144
    with open_log(tmp_path / "old.duckdb") as opened:
        assert opened.con.execute("SELECT count(*) FROM runs").fetchone() == (1,)
