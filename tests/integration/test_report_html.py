"""``tapeflow report RUN --html`` end to end: the page, rendered in headless Chromium with the
network off, runs without errors and shows every component in its timeline."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium")


def tapeflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tapeflow.cli", *args], capture_output=True, text=True, timeout=50, env=env)


def render(page: Path, profile: Path) -> tuple[str, str]:
    """The DOM after the page's scripts ran, and Chromium's log (console messages included)."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", "--window-size=1280,1600",
         "--host-resolver-rules=MAP * ~NOTFOUND",  # the network is off: no name resolves
         "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=40,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def status_of(dom: str) -> dict[str, str]:
    tag = re.search(r'<div id="tapeflow-status"([^>]*)>', dom)
    assert tag is not None, dom[:2000]
    return {k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag.group(1))}


def errors_of(dom: str, log: str) -> list[str]:
    box = re.search(r'<pre id="tapeflow-errors"[^>]*>(.*?)</pre>', dom, re.S)
    found = [line for line in html.unescape(box.group(1) if box else "<no #tapeflow-errors>").splitlines() if line]
    found += [line for line in log.splitlines() if ":CONSOLE" in line and re.search(r"Uncaught|Error|Refused", line)]
    return found


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run installs it)")
def test_the_page_renders_offline_without_errors_and_shows_every_component(
    recorded_diamond: tuple[Path, str, dict[str, str]], tmp_path: Path,
) -> None:
    folder, run_id, env = recorded_diamond
    page = tmp_path / "report.html"
    done = tapeflow("report", run_id, "--cpus", "1", "--cpus", "4", "--html", str(page), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"wrote {page} (")
    dom, log = render(page, tmp_path / "profile")
    assert errors_of(dom, log) == []
    status = status_of(dom)
    assert status["data-state"] == "ready"
    assert status["data-charts"] == "3"  # the timeline and a speedup chart per connector
    assert status["data-steps"] == str(5 * 30 + 1) and status["data-messages"] == str(5 * 30)
    # The names ECharts painted as the timeline's rows (page.js reads its display list).
    drawn = re.search(r'<ul id="timeline-components"[^>]*>(.*?)</ul>', dom, re.S)
    assert drawn is not None
    assert [html.unescape(n) for n in re.findall(r"<li>(.*?)</li>", drawn.group(1))] == ["src", "left", "right", "add", "sink"]
    for table in ("components", "channels", "predictions"):
        assert f'<table id="{table}">' in dom
    assert "src.x -&gt; left.x" in dom and "does not pay off" in dom


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run installs it)")
def test_an_error_in_the_page_is_seen(recorded_diamond: tuple[Path, str, dict[str, str]], tmp_path: Path) -> None:
    """The check above would see a broken page: a script error and a load from the network."""
    folder, run_id, env = recorded_diamond
    page = tmp_path / "report.html"
    assert tapeflow("report", run_id, "--cpus", "2", "--html", str(page), env=env).returncode == 0
    text = page.read_text(encoding="utf-8")
    broken = '<script>noSuchFunction();</script><img src="https://example.com/x.png">\n<script id="tapeflow-data"'
    page.write_text(text.replace('<script id="tapeflow-data"', broken, 1), encoding="utf-8")
    dom, log = render(page, tmp_path / "profile")
    errors = errors_of(dom, log)
    assert any("noSuchFunction is not defined" in e for e in errors), errors
    assert any("https://example.com/x.png" in e for e in errors), errors
    assert status_of(dom)["data-state"] == "error"


def test_json_stays_json_and_an_unwritable_page_is_one_line(recorded_diamond: tuple[Path, str, dict[str, str]], tmp_path: Path) -> None:
    folder, run_id, env = recorded_diamond
    page = tmp_path / "report.html"
    done = tapeflow("report", run_id, "--cpus", "2", "--format", "json", "--html", str(page), env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["run_id"] == run_id
    assert done.stderr.startswith(f"wrote {page} (") and page.stat().st_size > 0
    done = tapeflow("report", run_id, "--cpus", "2", "--html", str(tmp_path / "missing" / "report.html"), env=env)
    assert done.returncode == 2
    assert done.stderr == f"{tmp_path / 'missing' / 'report.html'}: cannot write the page (No such file or directory); check the path\n"
