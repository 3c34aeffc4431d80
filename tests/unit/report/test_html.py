"""The report's HTML page: one self-contained file, small, with the critical path and what was
left out marked in its timeline data. (tests/integration/test_report_html.py renders it in
Chromium.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from report_models import record_diamond

from tapeflow.recorder.log import open_log
from tapeflow.replay.html import CRITICAL, MAX_MESSAGES, MAX_STEPS, page, timeline, write_html
from tapeflow.replay.report import timing_report

FIVE_MB = 5 * 1000 * 1000


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    log = tmp_path_factory.mktemp("log") / "log.duckdb"
    return log, record_diamond(log, n=40)


def data_of(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="tapeflow-data" type="application/json">(.*?)</script>', html, re.S)
    assert found is not None
    return dict(json.loads(found.group(1)))


def external_references(html: str) -> list[str]:
    """Anything the page would fetch from elsewhere: src/href attributes, CSS url() and @import."""
    found = re.findall(r"""\b(?:src|href)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]*)""", html, re.I)
    found += re.findall(r"""url\(\s*["']?\s*((?:https?:)?//[^)"']*)""", html, re.I)
    found += re.findall(r"""@import\s+["']?((?:https?:)?//[^"';]*)""", html, re.I)
    return found


def test_a_10000_step_run_is_one_self_contained_file_under_5_mb(tmp_path: Path) -> None:
    log = tmp_path / "log.duckdb"
    run_id = record_diamond(log, n=2000)
    with open_log(log) as opened:
        found = timing_report(run_id, log=opened, cpus=[1, 2])
        line = write_html(tmp_path / "report.html", found, opened)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert (tmp_path / "report.html").stat().st_size < FIVE_MB
    assert external_references(html) == []
    markup = re.sub(r"(<script\b[^>]*>).*?</script>", r"\1</script>", html, flags=re.S | re.I)  # the page without its scripts' text
    assert not re.search(r"\b(?:src|href)\s*=|<link\b|<iframe\b|<img\b|<object\b|<embed\b", markup, re.I)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "Apache ECharts" in html  # the library is inlined, licence header and all
    drawn = data_of(html)["timeline"]
    assert drawn["total_steps"] == len(drawn["steps"]) == 5 * 2000 + 1  # src closes in one more step
    assert drawn["total_messages"] == len(drawn["messages"]) == 5 * 2000
    assert drawn["left_out"] == {"steps": 0, "messages": 0}
    assert line.startswith(f"wrote {tmp_path / 'report.html'} (") and "10,001 of 10,001 steps" in line


def test_a_page_at_the_drawing_limits_stays_under_5_mb(recorded: tuple[Path, str]) -> None:
    log, run_id = recorded
    found = timing_report(run_id, log=log, cpus=[1, 2, 4, 8, 16, 32, 64])
    # The widest rows a long run can give: 100 components, steps in the millions, hours in µs.
    steps = [[i % 100, 3_000_000 + i, 9_876_543_210.1 + i, 9_876_543_999.9 + i, i % 3] for i in range(MAX_STEPS)]
    messages = [[i % 100, 9_876_543_210.1 + i, (i + 1) % 100, 9_876_543_999.9 + i, i % 2] for i in range(MAX_MESSAGES)]
    drawn = {"origin_ns": 0, "end_us": 1e10, "window_end_us": 1e10, "steps": steps, "messages": messages, "total_steps": 10**7,
             "total_messages": 10**7, "critical_steps_drawn": 0, "left_out": {"steps": 1, "messages": 1}, "block": 50, "note": "x"}
    assert len(page(found, drawn).encode("utf-8")) < FIVE_MB


def test_the_timeline_marks_the_reports_critical_path(recorded: tuple[Path, str]) -> None:
    log, run_id = recorded
    with open_log(log) as opened:
        found = timing_report(run_id, log=opened, cpus=[2])
        drawn = timeline(opened, found)
    names = [c["name"] for c in found["components"]]
    on_path = [s for s in drawn["steps"] if s[4] & CRITICAL]
    assert on_path and {names[s[0]] for s in on_path} == set(found["critical_path"])
    # Its length is the report's span: the path's steps' durations add up to it (µs rounding aside).
    assert sum(s[3] - s[2] for s in on_path) / 1e6 == pytest.approx(found["span_s"], abs=len(on_path) * 1e-7 + 1e-6)
    assert drawn["critical_steps_drawn"] == len(on_path)
    # Each hop between components is a message: 40 messages per channel never fill 64 places,
    # so there is no backpressure edge for the path to take instead.
    links = [m for m in drawn["messages"] if m[4] & CRITICAL]
    assert len(links) == sum(1 for a, b in zip(found["critical_path"], found["critical_path"][1:]) if a != b)
    for src, send, dst, consumed, _ in drawn["messages"]:
        assert 0 <= send and 0 <= consumed and 0 <= src < len(names) and 0 <= dst < len(names)


def test_a_large_run_is_cut_and_the_page_says_what_was_left_out(recorded: tuple[Path, str]) -> None:
    log, run_id = recorded
    with open_log(log) as opened:
        found = timing_report(run_id, log=opened, cpus=[2])
        drawn = timeline(opened, found, max_steps=150, max_messages=20)
    assert len(drawn["steps"]) <= 150 and len(drawn["messages"]) == 20
    assert drawn["left_out"] == {"steps": 5 * 40 + 1 - len(drawn["steps"]), "messages": 5 * 40 - 20}
    assert drawn["window_end_us"] is not None
    assert all(s[2] < drawn["window_end_us"] for s in drawn["steps"])
    note = drawn["note"]
    assert f"{len(drawn['steps'])} of 201 steps and 20 of 200 messages drawn" in note
    assert f"left out {drawn['left_out']['steps']} steps and 180 messages" in note
    assert f"tapeflow trace {run_id}" in note


def test_run_data_cannot_end_the_script_or_break_the_json(recorded: tuple[Path, str]) -> None:
    log, run_id = recorded
    found = timing_report(run_id, log=log, cpus=[2])
    found["notes"].append("</script><script>alert(1)</script><!-- & \u2028")
    found["predictions"][0]["speedup"] = float("inf")
    found["parallelism"] = float("nan")
    drawn = {"origin_ns": 0, "end_us": 1.0, "window_end_us": None, "steps": [], "messages": [], "total_steps": 0,
             "total_messages": 0, "critical_steps_drawn": 0, "left_out": {"steps": 0, "messages": 0}, "block": 1, "note": ""}
    html = page(found, drawn)
    assert html.lower().count("</script") == html.lower().count("<script") == 4
    data = data_of(html)
    assert data["report"]["notes"][-1] == "</script><script>alert(1)</script><!-- & \u2028"
    assert data["report"]["predictions"][0]["speedup"] is None and data["report"]["parallelism"] is None


def test_the_assets_ship_with_the_package() -> None:
    from importlib import resources

    assets = resources.files("tapeflow.replay").joinpath("assets")
    for name in ("page.js", "page.css", "errors.js", "echarts/echarts.min.js", "echarts/LICENSE", "echarts/NOTICE"):
        assert assets.joinpath(*name.split("/")).is_file(), name
