"""A recorded run as a Chrome trace-event file (JSON), for Perfetto and ``chrome://tracing``.

A track (thread) per component, in declaration order; a slice per step (args: step index,
time blocked on inputs and on full outputs, status); a flow arrow per message from the
sending step to the step that consumed it; a counter per channel of the messages in flight
(sent, not yet consumed). Times are microseconds from the run's first step.

Large runs are cut to stay usable: ``steps=(a, b)`` keeps steps ``a`` to ``b-1`` of each
component, ``limit`` keeps at most that many steps in all (each component's first ones), and
the file's ``otherData.left_out`` says what was left out.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tapeflow.recorder.log import Log, open_log

from .errors import ReplayError

__all__ = ["parse_steps", "trace_events", "write_trace"]


def parse_steps(text: str) -> tuple[int, int]:
    """``"100:200"`` -> ``(100, 200)``; ``":50"`` and ``"10:"`` leave an end open."""
    first, sep, last = text.partition(":")
    try:
        a = int(first) if first.strip() else 0
        b = int(last) if last.strip() else 2**62
    except ValueError:
        a, b = -1, -1
    if not sep or a < 0 or b <= a:
        raise ReplayError(f"--steps {text!r}: expected A:B with 0 <= A < B, such as 0:1000 (steps 0 to 999 of each component)")
    return a, b


def _window(con: Any, key: int, steps: tuple[int, int] | None, limit: int) -> tuple[int, int, int]:
    """(first step, last step + 1, steps kept per component at most) so that at most
    ``limit`` steps are kept in all."""
    a, b = steps if steps is not None else (0, 2**62)
    counts = [int(r[0]) for r in con.execute(
        "SELECT count(*) FROM step_log WHERE run = ? AND step >= ? AND step < ? GROUP BY component", [key, a, b]).fetchall()]
    if sum(counts) <= limit:
        return a, b, 2**62
    lo, hi = 0, max(counts)  # the largest per-component cap that keeps the total under the limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(min(c, mid) for c in counts) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return a, min(b, a + lo), lo


def trace_events(log: Log, run: str, steps: tuple[int, int] | None = None, limit: int = 50_000) -> dict[str, Any]:
    """The trace of run ``run`` as a ``{"traceEvents": [...], ...}`` object."""
    recorded = log.run(run)
    con = log.con
    key = int(recorded.info["key"])
    names = [r[0] for r in con.execute("SELECT name FROM components WHERE run_id = ? ORDER BY id", [recorded.id]).fetchall()]
    row = con.execute("SELECT min(start_ns), count(*) FROM step_log WHERE run = ?", [key]).fetchone()
    if row is None or not row[1]:
        raise ReplayError(f"run {recorded.id!r} has no recorded steps; nothing to trace")
    origin, total_steps = int(row[0]), int(row[1])
    a, b, _ = _window(con, key, steps, limit)

    def us(ns: int) -> float:
        return round((ns - origin) / 1e3, 3)

    events: list[dict[str, Any]] = [{"ph": "M", "pid": 1, "tid": 0, "name": "process_name", "args": {"name": f"run {recorded.id}"}}]
    for i, name in enumerate(names):
        events.append({"ph": "M", "pid": 1, "tid": i + 1, "name": "thread_name", "args": {"name": name}})
        events.append({"ph": "M", "pid": 1, "tid": i + 1, "name": "thread_sort_index", "args": {"sort_index": i}})
    kept = 0
    rows = con.execute(
        "SELECT s.step, s.start_ns, s.end_ns, s.blocked_ns, s.send_blocked_ns, s.status, c.id FROM steps s "
        "JOIN components c ON c.run_id = s.run_id AND c.name = s.component "
        "WHERE s.run_id = ? AND s.step >= ? AND s.step < ? ORDER BY c.id, s.step",
        [recorded.id, a, b],
    ).fetchall()
    for step, start, end, blocked, send_blocked, status, cid in rows:
        kept += 1
        events.append({
            "ph": "X", "pid": 1, "tid": cid + 1, "name": names[cid], "ts": us(start), "dur": round((end - start) / 1e3, 3),
            "args": {"step": step, "blocked_us": round(blocked / 1e3, 3), "send_blocked_us": round(send_blocked / 1e3, 3), "status": status},
        })
    channels = con.execute(
        "SELECT ch.id, ch.source_component || '.' || ch.source_port || ' -> ' || ch.target_component || '.' || ch.target_port, "
        "a.id, b.id FROM channels ch JOIN components a ON a.run_id = ch.run_id AND a.name = ch.source_component "
        "JOIN components b ON b.run_id = ch.run_id AND b.name = ch.target_component WHERE ch.run_id = ? ORDER BY ch.id",
        [recorded.id],
    ).fetchall()
    labels = {int(cid): (label, int(src), int(dst)) for cid, label, src, dst in channels}
    messages = con.execute(
        "WITH w AS (SELECT ch.id, a.id AS src, b.id AS dst FROM channels ch "
        "  JOIN components a ON a.run_id = ch.run_id AND a.name = ch.source_component "
        "  JOIN components b ON b.run_id = ch.run_id AND b.name = ch.target_component WHERE ch.run_id = $run) "
        # A message's times are its steps' (and its send_waits row, if its send waited).
        "SELECT m.channel, m.seq, m.receiver_step, s.start_ns, r.start_ns, coalesce(sw.entered_ns, s.end_ns), r.start_ns "
        "FROM message_log m "
        "JOIN w ON w.id = m.channel "
        "JOIN step_log s ON s.run = m.run AND s.component = w.src AND s.step = m.seq "
        "LEFT JOIN step_log r ON r.run = m.run AND r.component = w.dst AND r.step = m.receiver_step "
        "LEFT JOIN send_waits sw ON sw.run = m.run AND sw.component = w.src AND sw.step = m.seq AND sw.channel = m.channel "
        "WHERE m.run = $key AND m.seq >= $a AND m.seq < $b "
        "AND (m.receiver_step IS NULL OR (m.receiver_step >= $a AND m.receiver_step < $b)) "
        "ORDER BY m.channel, m.seq",
        {"run": recorded.id, "key": key, "a": a, "b": b},
    ).fetchall()
    flows = 0
    changes: dict[int, list[tuple[int, int]]] = {}
    for channel, seq, receiver_step, sender_start, receiver_start, send_ns, consume_ns in messages:
        label, src, dst = labels[int(channel)]
        changes.setdefault(int(channel), []).append((send_ns, 1))
        if receiver_step is None:
            continue
        changes[int(channel)].append((consume_ns, -1))
        flows += 1
        ident = f"{channel}:{seq}"
        events.append({"ph": "s", "pid": 1, "tid": src + 1, "name": label, "cat": "message", "id": ident, "ts": us(sender_start)})
        events.append({"ph": "f", "bp": "e", "pid": 1, "tid": dst + 1, "name": label, "cat": "message", "id": ident, "ts": us(receiver_start)})
    for channel, points in changes.items():
        label = labels[channel][0]
        points.sort()
        level = 0
        for at, delta in points:
            level += delta
            events.append({"ph": "C", "pid": 1, "name": f"in flight {label}", "ts": us(at), "args": {"messages": level}})
    total_messages = con.execute("SELECT count(*) FROM message_log WHERE run = ?", [key]).fetchone()
    left = {
        "steps": total_steps - kept,
        "messages": int(total_messages[0] if total_messages else 0) - len(messages),
        "window": [a, b if b < 2**62 else None],
    }
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"run_id": recorded.id, "steps": kept, "messages": len(messages), "flows": flows, "left_out": left},
    }


def write_trace(
    run: str, output: str | os.PathLike[str], *, log: str | os.PathLike[str] | Log | None = None,
    steps: tuple[int, int] | None = None, limit: int = 50_000,
) -> str:
    """Write the trace of ``run`` to ``output``; the line that says what it holds."""
    opened = open_log(log) if not isinstance(log, Log) else None
    source = opened if opened is not None else log
    assert isinstance(source, Log)
    try:
        found = trace_events(source, run, steps, limit)
    finally:
        if opened is not None:
            opened.close()
    Path(output).write_text(json.dumps(found, separators=(",", ":")), encoding="utf-8")
    info = found["otherData"]
    left = info["left_out"]
    line = f"wrote {output}: run {info['run_id']}, {info['steps']:,} steps, {info['messages']:,} messages (open in https://ui.perfetto.dev or chrome://tracing)"
    if left["steps"] or left["messages"]:
        a, b = left["window"]
        window = f"steps {a} to {b - 1 if b is not None else 'the end'} of each component"
        line += f"; left out {left['steps']:,} steps and {left['messages']:,} messages (kept {window}; --steps A:B or --limit to choose)"
    return line
