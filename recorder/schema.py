"""The log's tables and views (documented in docs/log-schema.md), and its schema version.

Names here are API: tests pin them and the docs use them.
"""

from __future__ import annotations

from typing import Any

from .errors import LogError

__all__ = ["SCHEMA_VERSION", "check_version", "create", "new_payload_segment"]

SCHEMA_VERSION = 5

TABLES = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE SEQUENCE IF NOT EXISTS run_keys;
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
    pid_ns VARCHAR,                   -- the recording process's PID namespace (crash marking)
    command VARCHAR,
    log_path VARCHAR,
    error VARCHAR,
    key INTEGER NOT NULL UNIQUE DEFAULT nextval('run_keys'),  -- the run's number in message_log/step_log
    replay_of VARCHAR                 -- process_kind 'replay': the run it replayed (runs.id)
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
    parameters JSON,
    spec BLOB                         -- args, kwargs, parameters, initial values, exactly (codec)
);
-- Where each component ran (schema 4): one row per run and component, written with the
-- run's first rows after the component started (see Recorder.placed).
CREATE TABLE IF NOT EXISTS placements (
    run_id VARCHAR NOT NULL,
    component VARCHAR NOT NULL,       -- components.name
    node_id VARCHAR,                  -- the cluster node (a Ray node id); NULL off a cluster
    host VARCHAR,
    pid INTEGER,
    clock_offset_ns BIGINT            -- that node's wall clock minus the recording process's; NULL: not measured
);
CREATE TABLE IF NOT EXISTS channels (
    run_id VARCHAR NOT NULL,
    id INTEGER NOT NULL,
    source_component VARCHAR NOT NULL,
    source_port VARCHAR NOT NULL,
    target_component VARCHAR,         -- NULL (and kind 'unconnected'): an output no connector
    target_port VARCHAR,              -- takes; its messages record what it was set to
    kind VARCHAR
);
-- The bulk of the log is kept narrow (integer keys, no repeated strings): DuckDB inserts it
-- at 7-12 M rows/s instead of 4-5 M with the run id and component name on every row
-- (bench/recording.py). The views below give it the documented names.
-- A message's times are its steps' (schema 5): sent at the end of the sender's step `seq`
-- (or when it entered its channel: send_waits), consumed at the start of the receiver's step,
-- received when both were there. The messages view joins them; storing them again made a
-- third of the log (bench/recording.py, ints-100k: 244 -> 150 bytes a message).
CREATE TABLE IF NOT EXISTS message_log (
    run INTEGER NOT NULL,             -- runs.key
    channel INTEGER NOT NULL,
    seq BIGINT NOT NULL,              -- also the sender's step: the engine sends once per step
    receiver_step BIGINT,             -- NULL: never consumed
    payload BLOB,                     -- msgpack (recorder/codec.py), when small; else NULL and
    payload_id BIGINT                 -- payloads.id: a value stored once for all its messages
);
-- Payloads larger than a few bytes, each stored once per run however many messages carried
-- it (fan-out, pass-through stages); message_log.payload_id refers to them. They live in
-- segments, tables of at most a few MiB each (schema 5), read together through the
-- `payloads` view: DuckDB's checkpoint rewrites a table's last row group whole, and one row
-- group holds 122,880 payloads, so a single table made every write rewrite every payload
-- of the run so far (time growing with the square of the run's payload, three times it in
-- memory, twice it on disk). A segment that is full is never written again.
CREATE TABLE IF NOT EXISTS payload_segments (
    run INTEGER NOT NULL,             -- runs.key
    name VARCHAR NOT NULL,            -- the table: payload_segment_<run>_<n>
    first_id BIGINT,                  -- the ids it holds (payloads.id), first and last
    last_id BIGINT,
    bytes BIGINT NOT NULL             -- of payload data
);
CREATE TABLE IF NOT EXISTS step_log (
    run INTEGER NOT NULL,             -- runs.key
    component INTEGER NOT NULL,       -- components.id
    step BIGINT NOT NULL,
    start_ns BIGINT NOT NULL,
    end_ns BIGINT NOT NULL,
    blocked_ns BIGINT NOT NULL
);
-- A send that found its channel full and waited (backpressure): when the value entered the
-- channel. The message's send_ns is this time; the step's send_blocked_ns is derived from it.
CREATE TABLE IF NOT EXISTS send_waits (
    run INTEGER NOT NULL,             -- runs.key
    component INTEGER NOT NULL,       -- the sender, components.id
    step BIGINT NOT NULL,             -- the sender's step
    channel INTEGER NOT NULL,
    entered_ns BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS step_failures (
    run INTEGER NOT NULL,
    component INTEGER NOT NULL,
    step BIGINT NOT NULL,
    status VARCHAR NOT NULL,          -- failed | cancelled
    error VARCHAR,
    traceback VARCHAR
);
"""

# Stored uncompressed: DuckDB's compression analysis of large blobs halved the insert rate
# (100 KB blobs, 320 a time: 168 against 93 MB/s measured here) for no gain on numeric data.
SEGMENT_TABLE = "CREATE TABLE {name} (run INTEGER NOT NULL, id BIGINT NOT NULL, data BLOB NOT NULL USING COMPRESSION uncompressed)"
NO_PAYLOADS = "SELECT NULL::INTEGER AS run, NULL::BIGINT AS id, NULL::BLOB AS data WHERE false"

VIEWS = """
CREATE OR REPLACE VIEW message_times AS
SELECT m.run, m.channel, m.seq, m.receiver_step,
       coalesce(w.entered_ns, s.end_ns) AS send_ns,
       CASE WHEN d.start_ns IS NOT NULL THEN greatest(coalesce(w.entered_ns, s.end_ns), d.start_ns - d.blocked_ns) END AS receive_ns,
       d.start_ns AS consume_ns, m.payload, m.payload_id
FROM message_log m
JOIN runs r ON r.key = m.run
JOIN channels c ON c.run_id = r.id AND c.id = m.channel
JOIN components a ON a.run_id = r.id AND a.name = c.source_component
LEFT JOIN components b ON b.run_id = r.id AND b.name = c.target_component
LEFT JOIN step_log s ON s.run = m.run AND s.component = a.id AND s.step = m.seq
LEFT JOIN step_log d ON d.run = m.run AND d.component = b.id AND d.step = m.receiver_step
LEFT JOIN send_waits w ON w.run = m.run AND w.component = a.id AND w.step = m.seq AND w.channel = m.channel;

CREATE OR REPLACE VIEW messages AS
SELECT r.id AS run_id, m.channel, m.seq, m.seq AS sender_step, m.receiver_step,
       m.send_ns, m.receive_ns, m.consume_ns, coalesce(m.payload, p.data) AS payload, m.payload_id
FROM message_times m JOIN runs r ON r.key = m.run
LEFT JOIN payloads p ON p.run = m.run AND p.id = m.payload_id;

CREATE OR REPLACE VIEW steps AS
SELECT r.id AS run_id, c.name AS component, s.step, s.start_ns, s.end_ns, s.blocked_ns,
       coalesce(w.last_entered_ns - s.end_ns, 0) AS send_blocked_ns,
       coalesce(f.status, 'ok') AS status, f.error, f.traceback
FROM step_log s
JOIN runs r ON r.key = s.run
JOIN components c ON c.run_id = r.id AND c.id = s.component
LEFT JOIN (SELECT run, component, step, max(entered_ns) AS last_entered_ns FROM send_waits GROUP BY ALL) w
       ON w.run = s.run AND w.component = s.component AND w.step = s.step
LEFT JOIN step_failures f ON f.run = s.run AND f.component = s.component AND f.step = s.step;

CREATE OR REPLACE VIEW run_summary AS
SELECT r.id, r.process_name, r.status, r.started_ns, r.ended_ns,
       coalesce(r.ended_ns, r.heartbeat_ns) - r.started_ns AS wall_ns,
       (SELECT count(*) FROM step_log s WHERE s.run = r.key) AS steps,
       (SELECT count(*) FROM message_log m WHERE m.run = r.key) AS messages,
       r.host, r.pid, r.command, r.error
FROM runs r;

CREATE OR REPLACE VIEW component_time AS
SELECT run_id, component, count(*) AS steps,
       sum(end_ns - start_ns) AS busy_ns, sum(blocked_ns) AS waiting_ns, sum(send_blocked_ns) AS send_blocked_ns,
       min(start_ns) AS first_start_ns, max(end_ns) AS last_end_ns,
       count(*) FILTER (WHERE status <> 'ok') AS failed_steps
FROM steps GROUP BY run_id, component;

CREATE OR REPLACE VIEW channel_latency AS
WITH q AS (
    SELECT run, channel, count(*) AS messages,
           quantile_cont(receive_ns - send_ns, [0.5, 0.99]) AS rq,
           quantile_cont(consume_ns - send_ns, [0.5, 0.99]) AS cq
    FROM message_times GROUP BY run, channel
)
SELECT r.id AS run_id, q.channel,
       c.source_component || '.' || c.source_port || coalesce(' -> ' || c.target_component || '.' || c.target_port, '') AS label,
       q.messages,
       q.rq[1] AS receive_p50_ns, q.rq[2] AS receive_p99_ns,
       q.cq[1] AS consume_p50_ns, q.cq[2] AS consume_p99_ns
FROM q JOIN runs r ON r.key = q.run
LEFT JOIN channels c ON c.run_id = r.id AND c.id = q.channel;

CREATE OR REPLACE VIEW throughput AS
SELECT m.run_id, (m.send_ns - r.started_ns) // 1000000000 AS second, count(*) AS messages
FROM messages m JOIN runs r ON r.id = m.run_id
GROUP BY m.run_id, second;

CREATE OR REPLACE VIEW slowest_steps AS
SELECT run_id, component, step, end_ns - start_ns AS duration_ns, blocked_ns, send_blocked_ns, status, error,
       row_number() OVER (PARTITION BY run_id ORDER BY end_ns - start_ns DESC) AS rank
FROM steps;
"""

TABLE_NAMES = ("meta", "runs", "components", "placements", "channels", "message_log", "payload_segments", "step_log", "send_waits", "step_failures")
VIEW_NAMES = ("payloads", "message_times", "messages", "steps", "run_summary", "component_time", "channel_latency", "throughput", "slowest_steps")

# Older schema version -> SQL that brings it one version up. Version 1 (message and step rows
# keyed by strings) never left development, so it has none: such a log is refused plainly.
MIGRATIONS: dict[int, str] = {
    2: """
ALTER TABLE runs ADD COLUMN pid_ns VARCHAR;
ALTER TABLE components ADD COLUMN spec BLOB;
CREATE TABLE send_waits (run INTEGER NOT NULL, component INTEGER NOT NULL, step BIGINT NOT NULL, channel INTEGER NOT NULL, entered_ns BIGINT NOT NULL);
CREATE TABLE payloads (run INTEGER NOT NULL, id BIGINT NOT NULL, data BLOB NOT NULL USING COMPRESSION uncompressed);
ALTER TABLE message_log ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE message_log ADD COLUMN payload_id BIGINT;
""",
    # Runs recorded before have no placements rows: where they ran is unknown (runs.host/pid
    # say where they were recorded).
    3: """
CREATE TABLE placements (run_id VARCHAR NOT NULL, component VARCHAR NOT NULL, node_id VARCHAR, host VARCHAR, pid INTEGER, clock_offset_ns BIGINT);
""",
    # The one payloads table becomes the first segment, holding every earlier run's payloads.
    # Runs recorded before have no channels for unconnected outputs (their values were not
    # recorded) and are no replays. Their messages' times were stored and are now derived
    # from their steps, as the writer of schema 3 and 4 made them (the same readings).
    4: """
ALTER TABLE message_log DROP COLUMN send_ns;
ALTER TABLE message_log DROP COLUMN receive_ns;
ALTER TABLE message_log DROP COLUMN consume_ns;
ALTER TABLE channels ALTER COLUMN target_component DROP NOT NULL;
ALTER TABLE channels ALTER COLUMN target_port DROP NOT NULL;
ALTER TABLE runs ADD COLUMN replay_of VARCHAR;
ALTER TABLE payloads RENAME TO payload_segment_legacy;
CREATE TABLE payload_segments (run INTEGER NOT NULL, name VARCHAR NOT NULL, first_id BIGINT, last_id BIGINT, bytes BIGINT NOT NULL);
INSERT INTO payload_segments
SELECT run, 'payload_segment_legacy', min(id), max(id), sum(octet_length(data)) FROM payload_segment_legacy GROUP BY run;
""",
}


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
    if version not in MIGRATIONS:
        raise LogError(f"{where}: log schema {version} cannot be migrated to {SCHEMA_VERSION}; pass --log with a new file")
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
    _payloads_view(con)
    con.execute(VIEWS)


def new_payload_segment(con: Any, run_key: int, number: int) -> str:
    """Make the run's segment ``number`` (in ``con``'s transaction) and add it to the
    ``payloads`` view; its name."""
    name = f"payload_segment_{int(run_key)}_{int(number)}"
    con.execute(SEGMENT_TABLE.format(name=name))
    con.execute("INSERT INTO payload_segments VALUES (?, ?, NULL, NULL, 0)", [run_key, name])
    _payloads_view(con)
    return name


def _payloads_view(con: Any) -> None:
    # Segment names are made here (digits and a fixed prefix): safe to put in SQL as they are.
    names = [row[0] for row in con.execute("SELECT DISTINCT name FROM payload_segments ORDER BY name").fetchall()]
    union = " UNION ALL ".join(f"SELECT run, id, data FROM {name}" for name in names) or NO_PAYLOADS
    con.execute(f"CREATE OR REPLACE VIEW payloads AS {union}")
