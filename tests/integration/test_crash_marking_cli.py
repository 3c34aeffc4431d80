"""A reader in another PID namespace on the same host must not mark a live run crashed: a
real run, and a real `tapeflow runs` started in a new PID namespace (unshare)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from handshake import wait_ready
from test_signals_cli import finish, start, user_env


def runs_in_new_pid_namespace(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "tapeflow.cli", "runs"],
        cwd=folder, env=user_env(), capture_output=True, text=True, timeout=60,
    )


def test_a_reader_in_another_pid_namespace_leaves_a_live_run_running(tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a PID namespace here: {probe.stderr.strip()}")
    child, ready = start(tmp_path, "Ticker", 0.001)
    try:
        wait_ready(ready, child)
        seen = runs_in_new_pid_namespace(tmp_path)
        assert seen.returncode == 0, seen.stderr
        [row] = [line for line in seen.stdout.splitlines() if line.strip().startswith("r0")]
        assert " running " in f" {row} ", seen.stdout
    finally:
        child.send_signal(signal.SIGTERM)
        finish(child, ready)
    assert child.returncode == 143
