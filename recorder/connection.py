"""Opening the log file: DuckDB allows one writing process per file, so every open retries.

A writer holds the file only while it flushes a batch (tens of milliseconds), so a reader or
another run's writer that finds it locked gets in after a short wait. Lock conflicts are
found by DuckDB's own open. DuckDB's lock is a POSIX record lock, which closing *any* handle
on the file in the same process silently drops: so the file is opened by other means only
by :func:`check_log_path`, to read its header, and only when this process has no handle on
it (``/proc/self/fd`` says so; where it cannot tell, the header is left to DuckDB).

Before a log is opened, :func:`check_log_path` refuses paths that cannot be a tapeflow log
with one line that names the path (``:memory:``, a folder, ``/dev/null``, a file of another
kind, a truncated log, a folder without permission); what DuckDB's own open still refuses
is translated to the same kind of line by :func:`open_error`.
"""

from __future__ import annotations

import os
import random
import re
import stat
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .errors import LogError

__all__ = ["busy_holder", "check_blocks", "check_log_path", "connect", "damaged", "display", "is_damage", "open_error"]

# DuckDB's file: a 4096-byte main header (bytes 8..12 are b"DUCK"), then two 4096-byte
# database headers (the one with the higher iteration is current), each: checksum,
# iteration, meta block, free list, block count, block size, ... (all 8-byte little-endian).
HEADER_SIZE = 4096
MAGIC = b"DUCK"
_DATABASE_HEADER = struct.Struct("<QQqqQQ")
# How DuckDB's errors say the file itself is cut short or damaged.
_DAMAGE = ("Could not read enough bytes", "Corrupt database file", "does not match stored checksum")


def display(path: str | Path) -> str:
    """``path`` as the user should read it: relative to the working directory when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def check_log_path(path: Path, *, writable: bool) -> None:
    """Raise :class:`LogError` (one line naming ``path``) if ``path`` cannot be a tapeflow log.

    Refused: ``:memory:`` (nothing would be kept), a folder, a device or other file that is
    not a regular file, a file that is not a DuckDB file (its header lacks DuckDB's magic), a
    DuckDB file cut short (its size not its headers and whole blocks; a log cut at a block
    boundary is found once open, by :func:`check_blocks`), and a file or folder without the
    permission needed. A missing file is refused for reading; for writing (``writable``) it
    is fine when its folder can be made (the writer creates missing folders) and written to
    (DuckDB puts its ``.wal`` file beside the log). An empty file is left to DuckDB's own
    open: a writer may have just created it.
    """
    where = display(path)
    if str(path).startswith(":memory:"):
        if writable:
            raise LogError(f"{where}: an in-memory log keeps nothing; pass --log with a file path, or --no-record to run unrecorded")
        raise LogError(f"{where}: an in-memory log keeps nothing to read; pass --log with a log file, such as ./tapeflow.duckdb")
    try:
        found = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        _check_missing(path, where, writable=writable)
        return
    except PermissionError:
        folder = _closed_folder(path)
        raise LogError(
            f"{where}: cannot look inside folder {display(folder)} (permission denied); "
            "ask for access to it, or pass --log with a log in a folder you can read"
        ) from None
    if stat.S_ISDIR(found.st_mode):
        raise LogError(f"{where}: is a folder; pass --log with a file inside it, such as {display(path / 'tapeflow.duckdb')}")
    if not stat.S_ISREG(found.st_mode):
        raise LogError(f"{where}: not a regular file ({_kind(found.st_mode)}); pass --log with a file path such as ./tapeflow.duckdb")
    if not os.access(path, os.R_OK):
        raise LogError(f"{where}: cannot read the log (permission denied); ask for read access, or pass --log with another log")
    if writable:
        if not os.access(path, os.W_OK):
            raise LogError(f"{where}: cannot write the log (permission denied); make it writable (chmod u+w), or pass --log with another file")
        _check_writable_folder(path.parent, where)
    head = _read_head(path, found)
    if head is None or found.st_size == 0:
        return  # left to DuckDB's open (see the docstring)
    content, size = head
    if content[8:12] != MAGIC:
        instead = "a tapeflow log or a new file name" if writable else "a tapeflow log"
        raise LogError(f"{where}: not a DuckDB file ({_starts_with(content)}); pass --log with {instead}")
    # DuckDB's file is its headers and whole blocks; cut anywhere else, it was cut short.
    block_size = _block_size(content)
    if block_size is not None and (size - 3 * HEADER_SIZE) % block_size and _settled(path, size):
        raise LogError(
            f"{where}: the log is cut short ({size:,} bytes, not {3 * HEADER_SIZE:,} of headers and whole blocks of "
            f"{block_size:,}), as an interrupted copy or a full disk leaves it; restore it from a whole copy, or pass --log with another log"
        )


def open_error(path: str | Path, error: BaseException, *, writable: bool) -> LogError:
    """DuckDB's refusal to open ``path`` as one line naming it (not for lock conflicts:
    :func:`busy_holder` tells those, and the caller waits). What :func:`check_log_path`
    finds wrong with the path is said first; else DuckDB's reason, translated."""
    try:
        check_log_path(Path(path), writable=writable)
    except LogError as found:
        return found
    where = display(path)
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "not a valid DuckDB database file" in text:
        instead = "a tapeflow log or a new file name" if writable else "a tapeflow log"
        head = _read_head(Path(path), None)
        if head is not None and not head[0]:
            return LogError(f"{where}: not a DuckDB file (it is empty); delete it, or pass --log with {instead}")
        return LogError(f"{where}: not a DuckDB file; pass --log with {instead}")
    if is_damage(error):
        head = _read_head(Path(path), None)
        if head is not None and head[0][8:12] == MAGIC:
            size = head[1]
            if size < 3 * HEADER_SIZE:
                return LogError(
                    f"{where}: the log is cut short ({size:,} bytes, less than DuckDB's {3 * HEADER_SIZE:,}-byte header), as an "
                    "interrupted copy or a full disk leaves it; restore it from a whole copy, or pass --log with another log"
                )
            # Cut at a block boundary, so that DuckDB's own metadata lies past the end: the
            # header still counts the blocks the file had.
            counted = _header_blocks(head[0])
            if counted is not None and size < 3 * HEADER_SIZE + counted[0] * counted[1]:
                return LogError(
                    f"{where}: the log is cut short ({size:,} bytes of at least {3 * HEADER_SIZE + counted[0] * counted[1]:,}), "
                    "as an interrupted copy or a full disk leaves it; restore it from a whole copy, or pass --log with another log"
                )
        return damaged(where, error)
    if "Permission denied" in text:
        access = "write" if writable else "read"
        return LogError(f"{where}: cannot open the log (permission denied); ask for {access} access, or pass --log with another log")
    return LogError(f"{where}: cannot open the log: {text}; pass --log with another log")


def is_damage(error: BaseException) -> bool:
    """Whether DuckDB's ``error`` says the file itself is cut short or damaged."""
    return any(sign in str(error) for sign in _DAMAGE)


def damaged(where: str, error: BaseException) -> LogError:
    """A log DuckDB opened but cannot read: cut short, or its blocks damaged."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return LogError(
        f"{where}: the log is damaged or cut short ({text}); restore it from a whole copy, or pass --log with another log"
    )


def _check_missing(path: Path, where: str, *, writable: bool) -> None:
    if not writable:
        raise LogError(f"{where}: no log here; record a run first (tapeflow run MODEL), or pass --log PATH")
    folder = path.absolute().parent
    missing: Path | None = None
    while True:
        try:
            found = os.stat(folder)
        except (FileNotFoundError, NotADirectoryError):
            missing, folder = folder, folder.parent
            continue
        except PermissionError:
            closed = _closed_folder(folder)
            raise LogError(
                f"{where}: cannot look inside folder {display(closed)} (permission denied); "
                "pass --log with a path in a folder you can write"
            ) from None
        break
    if missing is None:
        _check_writable_folder(folder, where)
        return
    if not stat.S_ISDIR(found.st_mode):
        raise LogError(f"{where}: cannot create folder {display(missing)}: {display(folder)} is not a folder; pass --log with a path in a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise LogError(
            f"{where}: cannot create folder {display(missing)} in {display(folder)} (permission denied); "
            "pass --log with a path in a folder you can write"
        )


def _check_writable_folder(folder: Path, where: str) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise LogError(
            f"{where}: cannot write in folder {display(folder)}, where the log and its .wal file go (permission denied); "
            "pass --log with a path in a folder you can write"
        )


def _closed_folder(path: Path) -> Path:
    """The first folder on the way to ``path`` that this process may not look inside."""
    absolute = path.absolute()
    for folder in reversed(absolute.parents):
        if not os.access(folder, os.X_OK):
            return folder
    return absolute.parent


def _kind(mode: int) -> str:
    kinds = [(stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket")]
    return next((name for test, name in kinds if test(mode)), "not a file")


def _held_here(found: os.stat_result) -> bool | None:
    """Whether this process has the file open (``None``: cannot tell, no ``/proc/self/fd``)."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            other = os.stat(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (found.st_dev, found.st_ino):
            return True
    return False


def _read_head(path: Path, found: os.stat_result | None) -> tuple[bytes, int] | None:
    """The file's first three headers and its size, read so that a write under way does not
    mislead (header and size read twice must agree); ``None`` when it cannot be read safely
    (this process holds the file: closing a handle would drop DuckDB's lock) or at all."""
    # Under _OPENING, which every DuckDB open of this module takes: otherwise another thread
    # of this process (a second run's writer) could open the log between the check that no
    # handle is held here and our close, and that close would drop its lock.
    with _OPENING:
        try:
            found = found if found is not None else os.stat(path)
            if _held_here(found) is not False:
                return None
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        try:
            for _ in range(5):
                head, size = os.pread(fd, 3 * HEADER_SIZE, 0), os.fstat(fd).st_size
                if (os.pread(fd, 3 * HEADER_SIZE, 0), os.fstat(fd).st_size) == (head, size):
                    return head, size
            return None
        except OSError:
            return None
        finally:
            os.close(fd)


def _block_size(head: bytes) -> int | None:
    """The block size the current database header records, or ``None`` if the header is not
    one this understands (another DuckDB version, or one still being written)."""
    counted = _header_blocks(head)
    return None if counted is None else counted[1]


def _header_blocks(head: bytes) -> tuple[int, int] | None:
    """``(blocks, block size)`` the current database header records, or ``None`` if the
    header is not one this understands."""
    if len(head) < 3 * HEADER_SIZE:
        return None
    headers: list[tuple[int, ...]] = [_DATABASE_HEADER.unpack_from(head, offset) for offset in (HEADER_SIZE, 2 * HEADER_SIZE)]
    _checksum, iteration, _meta, _free, blocks, block_size = max(headers, key=lambda h: h[1])
    if iteration == 0 or not HEADER_SIZE <= block_size <= 1 << 30 or block_size & (block_size - 1) or blocks < 0:
        return None
    return blocks, block_size


def _settled(path: Path, size: int) -> bool:
    """Whether the file keeps ``size`` for a moment: a block being written has an odd size."""
    for _ in range(5):
        time.sleep(0.01)
        try:
            if os.stat(path).st_size != size:
                return False
        except OSError:
            return False
    return True


def check_blocks(con: Any, path: Path) -> None:
    """Raise :class:`LogError` if the log open on ``con`` keeps data past the end of the file
    at ``path``: a log cut short at a block boundary (one cut anywhere else
    :func:`check_log_path` finds by its size alone). Reads only metadata, and only the
    block counts when the file holds every block the header counts (the usual case)."""
    block_size, total, used = con.execute(
        "SELECT block_size, total_blocks, used_blocks FROM pragma_database_size() WHERE database_name = current_database()"
    ).fetchall()[0]
    size = os.stat(path).st_size
    have = (size - 3 * HEADER_SIZE) // block_size
    if have >= total:
        return
    # Free blocks at the end may have been cut off by DuckDB itself: ask where data lies.
    needed = used
    if have >= used:
        tables = [row[0] for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main'"
        ).fetchall()]
        parts = " UNION ALL ".join(
            "SELECT block_id FROM pragma_storage_info('{}') WHERE persistent".format(name.replace("'", "''")) for name in tables
        )
        top = con.execute(f"SELECT max(block_id) FROM ({parts})").fetchall()[0][0] if tables else None
        needed = 0 if top is None else int(top) + 1
    if have < needed:
        raise LogError(
            f"{display(path)}: the log is cut short ({size:,} bytes of at least {3 * HEADER_SIZE + needed * block_size:,}), as an "
            "interrupted copy or a full disk leaves it; restore it from a whole copy, or pass --log with another log"
        )


def _starts_with(head: bytes) -> str:
    if not head:
        return "it is empty"
    text = ""
    for ch in head[:16].decode("latin-1"):
        if not (ch.isascii() and ch.isprintable()):
            break
        text += ch
    if len(text) >= 4:
        return f"it starts with {text!r}"
    return f"it starts with bytes {head[:8].hex(' ')}"


def busy_holder(error: BaseException) -> str | None:
    """If ``error`` is DuckDB refusing the file because another connection holds it, who holds
    it (``"PID 123"`` or ``"this process"``); otherwise ``None``."""
    text = str(error)
    if "Conflicting lock" in text or "Could not set lock" in text:
        found = re.search(r"PID (\d+)", text)
        return f"PID {found.group(1)}" if found else "another process"
    if "different configuration" in text or "already attached" in text:
        return "this process"
    return None


# The block size of a log tapeflow creates (DuckDB's default is 256 KiB): payloads of 1 to
# 100 KiB leave less of their blocks unused, and the dozen small tables take less room
# (docs/log-schema.md; 32 KiB was worse for ints and 1 KiB payloads, bench/README.md).
BLOCK_SIZE = 65536
# Held while this process opens a log with DuckDB, and while _read_head has it open itself.
_OPENING = threading.Lock()


def connect(
    path: str,
    *,
    read_only: bool,
    wait_s: float | None,
    warn_after_s: float | None = None,
    threads: int | None = None,
    settings: dict[str, Any] | None = None,
) -> Any:
    """A DuckDB connection to ``path``, retrying while another holds the file.

    Waits at most ``wait_s`` seconds (``None``: as long as it takes, printing one warning to
    stderr after ``warn_after_s``); then re-raises the last lock error. Any other refusal is
    raised as a one-line :class:`LogError` naming the path (:func:`open_error`). ``threads``
    and ``settings`` are DuckDB settings for this connection's database.
    """
    import duckdb

    started = time.monotonic()
    pause = 0.002
    warned = False
    while True:
        try:
            config: dict[str, Any] = dict(settings or {})
            if not read_only:
                # The block size of a log this connection creates; a log that exists keeps its own.
                config.setdefault("default_block_size", BLOCK_SIZE)
            if threads is not None:
                config["threads"] = threads
            with _OPENING:  # never while _read_head has the file open (see there)
                return duckdb.connect(path, read_only=read_only, config=config)
        except duckdb.Error as error:
            holder = busy_holder(error)
            if holder is None:
                raise open_error(path, error, writable=not read_only) from error
            waited = time.monotonic() - started
            if wait_s is not None and waited >= wait_s:
                raise
            if not warned and warn_after_s is not None and waited >= warn_after_s:
                warned = True
                print(
                    f"tapeflow: log {display(path)} is held by {holder} for {waited:.0f}s; "
                    "recording waits for it (close other connections to the log, e.g. a duckdb shell)",
                    file=sys.stderr,
                )
            # Jitter keeps two writers that collided from colliding again in lockstep.
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.1)
