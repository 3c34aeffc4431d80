"""The ``tapeflow`` command end to end, run as a subprocess as a user would run it."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from handshake import READY_FD, ready_pipe, wait_ready

from tapeflow import __version__
from tapeflow.cli import run_model

FIXTURES = Path(__file__).parents[1] / "fixtures" / "config"
SEED = FIXTURES / "seed.yaml"


def tapeflow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tapeflow.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=30
    )


def write_model(folder: Path, text: str) -> Path:
    shutil.copy(FIXTURES / "cfg_parts.py", folder / "cfg_parts.py")
    path = folder / "model.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def one_component_after_iterator(folder: Path, type_name: str, port: str = "a") -> Path:
    return write_model(
        folder,
        f"""
        tapeflow:
          process:
            args:
              components:
              - {{type: cfg_parts.Iterator, args: {{name: src, iters: 3}}}}
              - {{type: cfg_parts.{type_name}, args: {{name: boom}}}}
              connectors:
              - {{source: src.x, target: boom.{port}}}
        """,
    )


def test_run_prints_a_summary_without_progress_when_not_a_tty() -> None:
    result = tapeflow("run", str(SEED))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "running seed" not in result.stdout
    assert "seed: completed in" in result.stdout
    for name, steps in [("input", 11), ("slow-sleep", 10), ("save-results", 10), ("total", 51)]:
        assert any(name in line and line.rstrip(" │|").endswith(str(steps)) for line in result.stdout.splitlines()), name
    assert "save-results: kept 10 values" in result.stdout


def test_run_reports_where_file_outputs_went(tmp_path: Path) -> None:
    pytest.importorskip("tapeflow.engine.library")
    text = SEED.read_text().replace(
        "type: cfg_parts.Collect\n        args:\n          name: \"save-results\"",
        "type: plugboard.library.file_io.FileWriter\n        args:\n          name: \"save-results\"\n"
        "          path: out.csv\n          field_names: [value]",
    )
    (tmp_path / "model.yaml").write_text(text)
    shutil.copy(FIXTURES / "cfg_parts.py", tmp_path / "cfg_parts.py")
    result = tapeflow("run", "model.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "save-results: wrote 10 rows to out.csv" in result.stdout
    assert (tmp_path / "out.csv").exists()


def test_validate_ok() -> None:
    result = tapeflow("validate", str(SEED))
    assert (result.returncode, result.stdout) == (0, f"{SEED}: ok (5 components, 5 connectors)\n")


def test_validate_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            type: plugboard.process.RayProcess
            args:
              components:
              - {type: cfg_parts.Scalar, args: {name: scale}}
        """,
    )
    result = tapeflow("validate", "model.yaml", cwd=path.parent)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "model.yaml:6:16: component 'scale': unknown type 'cfg_parts.Scalar'; did you mean 'cfg_parts.Scaler'?",
    ]


@pytest.mark.parametrize("command", ["run", "validate", "diagram"])
def test_missing_file_exits_2(tmp_path: Path, command: str) -> None:
    result = tapeflow(command, "nowhere.yaml", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "nowhere.yaml: no such file; check the path\n")


def test_diagram_to_stdout_and_file(tmp_path: Path) -> None:
    result = tapeflow("diagram", str(SEED))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("flowchart LR\n    input@{ shape: rounded, label: Iterator<br>**input** } --> ")
    out = tmp_path / "seed.mmd"
    result = tapeflow("diagram", str(SEED), "--output", str(out))
    assert (result.returncode, result.stdout) == (0, "")
    assert out.read_text() == tapeflow("diagram", str(SEED)).stdout


def test_version() -> None:
    result = tapeflow("--version")
    assert (result.returncode, result.stdout) == (0, f"tapeflow {__version__}\n")


def test_failing_component_prints_its_traceback_and_exits_1(tmp_path: Path) -> None:
    path = one_component_after_iterator(tmp_path, "Explodes")
    result = tapeflow("run", str(path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "in step" in result.stderr and "1 / (self.a - self.a)" in result.stderr
    assert lines[-2] == "ZeroDivisionError: division by zero"
    assert lines[-1] == "component 'boom' (cfg_parts.Explodes) failed in step 0: ZeroDivisionError: division by zero"


def test_output_not_set_is_a_user_error(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              components:
              - {type: cfg_parts.Forgetful, args: {name: src}}
              - {type: cfg_parts.Collect, args: {name: sink}}
              connectors:
              - {source: src.x, target: sink.value}
        """,
    )
    result = tapeflow("run", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("component 'src' (cfg_parts.Forgetful): step 0 ended without setting output 'x'")


def test_ctrl_c_stops_cleanly_runs_destroy_and_exits_130(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        f"""
        tapeflow:
          process:
            args:
              components:
              - {{type: cfg_parts.Forever, args: {{name: forever, marker_dir: "{tmp_path}"}}}}
        """,
    )
    read_fd, write_fd = ready_pipe()
    # Restore SIGINT's default in the child: a shell may have started the tests with it ignored.
    child = subprocess.Popen(
        [sys.executable, "-m", "tapeflow.cli", "run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, READY_FD: str(write_fd)},
        pass_fds=(write_fd,),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    os.close(write_fd)
    try:
        wait_ready(read_fd, child)  # init() has run: the model is started
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=20)
    finally:
        os.close(read_fd)
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, stderr
    assert stderr == (
        "SIGINT: stopping after the steps in progress (SIGINT again to force)\n"
        "interrupted by SIGINT; every component's destroy() ran\n"
    )
    assert (tmp_path / "destroyed").read_text() == str(child.pid)


def test_run_model_with_progress_and_a_tap_factory() -> None:
    from rich.console import Console

    seen = []

    def factory(process: object) -> None:
        seen.append(process)

    buffer = io.StringIO()
    result = run_model(SEED, tap_factory=factory, show_progress=True, console=Console(file=buffer, force_terminal=True))
    assert seen == [result.process]
    assert result.process.status == "completed"
    assert result.outputs == {"save-results": "kept 10 values"}
    assert result.wall_s > 0


def test_module_entry_point_matches_console_script() -> None:
    script = shutil.which("tapeflow", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the console script is not installed beside this interpreter")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=30)
    assert result.stdout == f"tapeflow {__version__}\n"
