"""Handshakes with a child `tapeflow run`: the test waits on a pipe until the model says it is
ready, or on the child's stderr until the CLI says it took a signal, never on a timer.

The model's component writes a line to the file descriptor named by ``READY_FD`` (passed to
the child with ``pass_fds``) when the moment the test needs has come.
"""

from __future__ import annotations

import os
import select
import subprocess

READY_FD = "TAPEFLOW_TEST_READY_FD"
TIMEOUT_S = 20.0


def ready_pipe() -> tuple[int, int]:
    """``(read end for the test, write end for the child)``; pass the write end with
    ``pass_fds=(w,)`` and ``env[READY_FD] = str(w)``, then close it here after starting."""
    return os.pipe()


def _fail(child: subprocess.Popen[str], why: str) -> None:
    if child.poll() is None:
        child.kill()
    out, err = child.communicate()
    raise AssertionError(f"{why}\nstdout:\n{out}\nstderr:\n{err}")


def wait_ready(read_fd: int, child: subprocess.Popen[str]) -> None:
    """Block until the model writes its ready line (or fail if it ends or takes too long)."""
    readable, _, _ = select.select([read_fd], [], [], TIMEOUT_S)
    if not readable:
        _fail(child, f"the model did not say it was ready within {TIMEOUT_S:.0f} s")
    if not os.read(read_fd, 64):
        _fail(child, "the model ended before it said it was ready")


def wait_stderr_line(child: subprocess.Popen[str], expected: str) -> str:
    """Read the child's stderr until the line ``expected``; returns what was read (which
    ``communicate()`` will not return again)."""
    assert child.stderr is not None
    fd = child.stderr.fileno()
    seen = b""
    while expected.encode() + b"\n" not in seen:
        readable, _, _ = select.select([fd], [], [], TIMEOUT_S)
        if not readable:
            _fail(child, f"stderr never said {expected!r}; it said {seen.decode()!r}")
        chunk = os.read(fd, 4096)
        if not chunk:
            _fail(child, f"the run ended before stderr said {expected!r}; it said {seen.decode()!r}")
        seen += chunk
    return seen.decode()
