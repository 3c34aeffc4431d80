"""The log's tables and views (documented in docs/log-schema.md), and its schema version.

Names here are API: tests pin them and the docs use them.
"""

from __future__ import annotations

from typing import Any

from .errors import LogError

__all__ = ["SCHEMA_VERSION", "check_version", "create"]

SCHEMA_VERSION = 1

TABLES = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS runs (
    id VARCHAR PRIMARY KEY,
    status VARCHAR NOT NULL,          -- running | completed | failed | crashed
    started_ns BIGINT NOT NULL,
    ended_ns BIGINT,
    heartbeat_ns BIGINT,              -- last time the recording process was seen alive
    process_name VARCHAR,
    process_kind VARCHAR,
    channel_kind VARCHAR,
    config JSON,
    parameters JSON,
    versions JSON,
    host VARCHAR,
    pid INTEGER,
    command VARCHAR,
    log_path VARCHAR,
    error VARCHAR
);
CREATE TABLE IF NOT EXISTS components (
    run_id VARCHAR NOT NULL,
    id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    class_path VARCHAR,
    args JSON,
    inputs VARCHAR[],
    outputs VARCHAR[],
    resources JSON,
    initial_values JSON,
    parameters JSON
);
CREATE TABLE IF NOT EXISTS channels (
    run_id VARCHAR NOT NULL,
    id INTEGER NOT NULL,
    source_component VARCHAR NOT NULL,
    source_port VARCHAR NOT NULL,
    target_component VARCHAR NOT NULL,
    target_port VARCHAR NOT NULL,
    kind VARCHAR
);
CREATE TABLE IF NOT EXISTS messages (
    run_id VARCHAR NOT NULL,
    channel INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    sender_step BIGINT NOT NULL,
    receiver_step BIGINT,             -- NULL: never consumed (in flight at the end)
    send_ns BIGINT NOT NULL,
    receive_ns BIGINT,
    consume_ns BIGINT,
    payload BLOB NOT NULL             -- msgpack, see recorder/codec.py
);
CREATE TABLE IF NOT EXISTS steps (
    run_id VARCHAR NOT NULL,
    component VARCHAR NOT NULL,       -- the component's name
    step BIGINT NOT NULL,
    start_ns BIGINT NOT NULL,
    end_ns BIGINT NOT NULL,
    blocked_ns BIGINT NOT NULL,       -- time spent waiting for inputs before the step
    status VARCHAR NOT NULL,          -- ok | failed | cancelled
    error VARCHAR,
    traceback VARCHAR
);
"""

VIEWS = """
CREATE OR REPLACE VIEW run_summary AS
SELECT r.id, r.process_name, r.status, r.started_ns, r.ended_ns,
       coalesce(r.ended_ns, r.heartbeat_ns) - r.started_ns AS wall_ns,
       (SELECT count(*) FROM steps s WHERE s.run_id = r.id) AS steps,
       (SELECT count(*) FROM messages m WHERE m.run_id = r.id) AS messages,
       r.host, r.pid, r.command, r.error
FROM runs r;

CREATE OR REPLACE VIEW component_time AS
SELECT run_id, component, count(*) AS steps,
       sum(end_ns - start_ns) AS busy_ns, sum(blocked_ns) AS waiting_ns,
       min(start_ns) AS first_start_ns, max(end_ns) AS last_end_ns,
       count(*) FILTER (WHERE status <> 'ok') AS failed_steps
FROM steps GROUP BY run_id, component;

CREATE OR REPLACE VIEW channel_latency AS
WITH q AS (
    SELECT run_id, channel, count(*) AS messages,
           quantile_cont(receive_ns - send_ns, [0.5, 0.99]) AS rq,
           quantile_cont(consume_ns - send_ns, [0.5, 0.99]) AS cq
    FROM messages GROUP BY run_id, channel
)
SELECT q.run_id, q.channel,
       c.source_component || '.' || c.source_port || ' -> ' || c.target_component || '.' || c.target_port AS label,
       q.messages,
       q.rq[1] AS receive_p50_ns, q.rq[2] AS receive_p99_ns,
       q.cq[1] AS consume_p50_ns, q.cq[2] AS consume_p99_ns
FROM q LEFT JOIN channels c ON c.run_id = q.run_id AND c.id = q.channel;

CREATE OR REPLACE VIEW throughput AS
SELECT m.run_id, (m.send_ns - r.started_ns) // 1000000000 AS second, count(*) AS messages
FROM messages m JOIN runs r ON r.id = m.run_id
GROUP BY m.run_id, second;

CREATE OR REPLACE VIEW slowest_steps AS
SELECT run_id, component, step, end_ns - start_ns AS duration_ns, blocked_ns, status, error,
       row_number() OVER (PARTITION BY run_id ORDER BY end_ns - start_ns DESC) AS rank
FROM steps;
"""

TABLE_NAMES = ("meta", "runs", "components", "channels", "messages", "steps")
VIEW_NAMES = ("run_summary", "component_time", "channel_latency", "throughput", "slowest_steps")

# Older schema version -> SQL that brings it one version up. Empty while there is one version.
MIGRATIONS: dict[int, str] = {}


def _version(con: Any, where: str) -> int | None:
    names = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
    if not names:
        return None  # a new, empty file
    if "meta" not in names:
        raise LogError(f"{where}: not a tapeflow log (no 'meta' table; it has {', '.join(sorted(names))}); pass --log with another file")
    rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    row = rows[0] if rows else None
    if row is None:
        raise LogError(f"{where}: tapeflow log without a schema version; pass --log with another file")
    return int(row[0])


def check_version(con: Any, where: str, *, writable: bool) -> None:
    """Refuse a log of a newer schema; migrate an older one (when ``writable``)."""
    version = _version(con, where)
    if version is None or version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise LogError(
            f"{where}: written by a newer tapeflow (log schema {version}, this tapeflow reads {SCHEMA_VERSION}); "
            "upgrade tapeflow, or pass --log with another file"
        )
    if not writable:
        raise LogError(f"{where}: log schema {version} is older than {SCHEMA_VERSION}; record one run to migrate it")
    while version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise LogError(f"{where}: log schema {version} cannot be migrated to {SCHEMA_VERSION}; pass --log with a new file")
        con.execute(MIGRATIONS[version])
        version += 1
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])


def create(con: Any, where: str) -> None:
    """Make ``con``'s database a current tapeflow log (idempotent)."""
    check_version(con, where, writable=True)
    con.execute(TABLES)
    con.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", [str(SCHEMA_VERSION)])
    con.execute(VIEWS)
