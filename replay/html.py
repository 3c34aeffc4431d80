"""The report as one self-contained HTML page (``tapeflow report RUN --html report.html``).

    from tapeflow.recorder.log import open_log
    from tapeflow.replay.html import write_html
    from tapeflow.replay.report import timing_report

    with open_log("tapeflow.duckdb") as log:
        write_html("report.html", timing_report("r0f5q", log=log), log)

The page shows a timeline of every component's steps (a row per component, a bar per step)
with the critical path highlighted and each message a link from the step that sent it to the
step that consumed it; the predicted speedup on ``RayProcess`` against N cores with its
bounds, per connector; and the report's tables. Its data is the report object that
``--format json`` prints, plus the steps and messages drawn (``timeline``), as JSON in the
page; ``assets/page.js`` draws it with Apache ECharts (``assets/echarts/``), both inlined, so
the file opens with the network off. A Content-Security-Policy in the page forbids loading
anything from elsewhere.

Large runs are cut so the page stays small and quick: the timeline draws the steps that start
in the run's first stretch of time holding at most ``max_steps`` steps, and at most
``max_messages`` of the messages between them; the page says what was left out.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from tapeflow.recorder.log import Log

from .graph import load_graph, longest_path
from .predict import seconds_text

__all__ = ["MAX_MESSAGES", "MAX_STEPS", "page", "timeline", "write_html"]

# 20,000 steps and 10,000 links keep the page under 2.5 MB (2.3 MB at both limits, ECharts
# 1.1 MB of it; tests/unit/report/test_html.py pins it under 5 MB), and headless Chromium
# loads and draws such a page in about 1.3 s here (by hand: chromium --headless --dump-dom).
MAX_STEPS = 20_000
MAX_MESSAGES = 10_000

CRITICAL = 1  # flags of a drawn step or message
FAILED = 2

_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:"


def timeline(log: Log, report: Mapping[str, Any], *, max_steps: int = MAX_STEPS, max_messages: int = MAX_MESSAGES) -> dict[str, Any]:
    """The steps and messages to draw for ``report`` (``timing_report``'s result, read from ``log``).

    ``steps``: ``[component, step, start_us, end_us, flags]``; ``messages``: ``[source
    component, send_us, target component, consumed_us, flags]``, times from the run's first
    step; ``flags``: 1 on the critical path, 2 a failed or cancelled step."""
    recorded = log.run(str(report["run_id"]))
    con = log.con
    key = int(recorded.info["key"])
    row = con.execute("SELECT min(start_ns), max(end_ns), count(*) FROM step_log WHERE run = ?", [key]).fetchone()
    assert row is not None and row[2], "timing_report refuses a run without steps"
    origin, last_end, total_steps = int(row[0]), int(row[1]), int(row[2])
    found = con.execute("SELECT start_ns FROM step_log WHERE run = ? ORDER BY start_ns LIMIT 1 OFFSET ?", [key, max_steps]).fetchone()
    cutoff = int(found[0]) if found is not None else last_end + 1

    # The critical path as the report found it: the same graph, the same longest path.
    graph = load_graph(con, key, recorded.id, int(report["capacity"]))
    path = longest_path(graph, graph.dur_ns, 0.0).nodes
    on_path = set(path)
    path_edges = set(zip(path, path[1:]))

    def us(ns: int) -> float:
        return round((ns - origin) / 1e3, 1)

    steps: list[list[Any]] = []
    critical_steps = 0
    for c, k, start, end, status in con.execute(
        "SELECT s.component, s.step, s.start_ns, s.end_ns, f.status FROM step_log s "
        "LEFT JOIN step_failures f ON f.run = s.run AND f.component = s.component AND f.step = s.step "
        "WHERE s.run = ? AND s.start_ns < ? ORDER BY s.component, s.step",
        [key, cutoff],
    ).fetchall():
        flags = (CRITICAL if graph.node(c, k) in on_path else 0) | (FAILED if status else 0)
        critical_steps += flags & CRITICAL
        steps.append([c, k, us(start), us(end), flags])

    # Links between drawn steps: those on the critical path first, then the earliest sent.
    # There are at most as many as drawn steps times their output channels (a message per
    # channel per sending step). A link ends where the consuming step took the message.
    linkable: list[list[Any]] = []
    for src, seq, send, dst, receiver_step, consumed in con.execute(
        """
        SELECT a.id, m.seq, coalesce(sw.entered_ns, s.end_ns) AS send_ns, b.id, m.receiver_step,
               r.start_ns  -- a message's consume time is its receiving step's start
        FROM message_log m
        JOIN channels ch ON ch.run_id = $run AND ch.id = m.channel
        JOIN components a ON a.run_id = $run AND a.name = ch.source_component
        JOIN components b ON b.run_id = $run AND b.name = ch.target_component
        JOIN step_log s ON s.run = m.run AND s.component = a.id AND s.step = m.seq
        JOIN step_log r ON r.run = m.run AND r.component = b.id AND r.step = m.receiver_step
        LEFT JOIN send_waits sw ON sw.run = m.run AND sw.component = a.id AND sw.step = m.seq AND sw.channel = m.channel
        WHERE m.run = $key AND s.start_ns < $cutoff AND r.start_ns < $cutoff
        ORDER BY send_ns, m.channel
        """,
        {"run": recorded.id, "key": key, "cutoff": cutoff},
    ).fetchall():
        flags = CRITICAL if (graph.node(src, seq), graph.node(dst, receiver_step)) in path_edges else 0
        linkable.append([src, us(send), dst, us(consumed), flags])
    messages = linkable
    if len(linkable) > max_messages:
        kept = sorted(range(len(linkable)), key=lambda i: (not linkable[i][4] & CRITICAL, i))[:max_messages]
        messages = [linkable[i] for i in sorted(kept)]
    row = con.execute("SELECT count(*) FROM message_log WHERE run = ?", [key]).fetchone()
    total_messages = int(row[0]) if row else 0

    left_steps, left_messages = total_steps - len(steps), total_messages - len(messages)
    drawn = f"{len(steps):,} of {total_steps:,} steps and {len(messages):,} of {total_messages:,} messages drawn"
    if left_steps:
        drawn += (f": the steps that start in the run's first {seconds_text((cutoff - origin) / 1e9)} of {seconds_text((last_end - origin) / 1e9)} "
                  f"(at most {max_steps:,})")
    if len(linkable) > len(messages):
        drawn += f"; of the links between them, those on the critical path and then the earliest sent (at most {max_messages:,})"
    if left_steps or left_messages:
        never = total_messages - _consumed(con, key)
        drawn += f"; left out {left_steps:,} steps and {left_messages:,} messages"
        if never:
            drawn += f" ({never:,} never consumed: no link to draw)"
        drawn += f" (tapeflow trace {recorded.id} -o trace.json shows them in Perfetto)"
    if graph.block > 1:
        drawn += f"; the critical path was found on blocks of {graph.block:,} steps, so a whole block of it is highlighted"
    return {
        "origin_ns": origin,
        "end_us": us(last_end),
        "window_end_us": us(cutoff) if left_steps else None,
        "steps": steps,
        "messages": messages,
        "total_steps": total_steps,
        "total_messages": total_messages,
        "critical_steps_drawn": critical_steps,
        "left_out": {"steps": left_steps, "messages": left_messages},
        "block": graph.block,
        "note": drawn,
    }


def _consumed(con: Any, key: int) -> int:
    row = con.execute("SELECT count(*) FROM message_log WHERE run = ? AND receiver_step IS NOT NULL", [key]).fetchone()
    return int(row[0]) if row else 0


def page(report: Mapping[str, Any], drawn: Mapping[str, Any]) -> str:
    """The HTML page of ``report`` with ``drawn`` (``timeline``'s result) as its timeline."""
    data = json.dumps(_finite({"report": report, "timeline": drawn}), separators=(",", ":"), default=str, allow_nan=False, ensure_ascii=False)
    # In a <script> element only "</script" and "<!--" are special; JSON has "<" only inside strings.
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    title = f"tapeflow report: run {report['run_id']}"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        f"<title>{_escape(title)}</title>\n<style>\n{_asset('page.css')}</style>\n</head>\n<body>\n",
        "<div id=\"tapeflow-status\" data-state=\"loading\" hidden></div>\n<pre id=\"tapeflow-errors\" hidden></pre>\n",
        f"<script>\n{_asset('errors.js')}</script>\n",
        f"<noscript>This page draws its charts and tables with JavaScript; {_escape(title)}.</noscript>\n",
        "<main id=\"tapeflow-report\"></main>\n",
        f"<script>\n{_asset('echarts/echarts.min.js')}\n</script>\n",
        f"<script id=\"tapeflow-data\" type=\"application/json\">{data}</script>\n",
        f"<script>\n{_asset('page.js')}</script>\n</body>\n</html>\n",
    ])


def write_html(
    output: str | os.PathLike[str], report: Mapping[str, Any], log: Log, *, max_steps: int = MAX_STEPS, max_messages: int = MAX_MESSAGES
) -> str:
    """Write the page of ``report`` (read from ``log``) to ``output``; the line that says what it holds."""
    drawn = timeline(log, report, max_steps=max_steps, max_messages=max_messages)
    text = page(report, drawn)
    Path(output).write_text(text, encoding="utf-8")
    size = len(text.encode("utf-8"))
    return f"wrote {output} ({size / 2**20:.1f} MiB, opens offline): run {report['run_id']}, {drawn['note']}"


def _asset(name: str) -> str:
    text = resources.files("tapeflow.replay").joinpath("assets", *name.split("/")).read_text(encoding="utf-8")
    if "</script" in text.lower():  # would end the inline <script> early: a vendored update must be checked
        raise ValueError(f"asset {name!r} holds '</script', which cannot be inlined in a <script> element")
    return text


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float as ``None``: JSON has neither."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
