"""A replay recorded into the log as a run of its own (``record=True``), and outputs with no
connector: compared since log schema 5 records them, skipped in runs recorded before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import replay_models as m
from test_replay import record
from tapeflow.recorder import open_log
from tapeflow.replay import ReplayError, replay


@pytest.fixture
def tee(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    factor = m.Tee.factor
    log = tmp_path / "log.duckdb"
    yield log, record(log, [m.Source(name="src", values=[1, 2, 3]), m.Tee(name="tee"), m.Collect(name="sink")], [("src.x", "tee.x"), ("tee.y", "sink.x")])
    m.Tee.factor = factor


def rows(log: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(log), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_an_unconnected_output_is_compared(tee: tuple[Path, str]) -> None:
    log, run_id = tee
    found = replay(run_id, log=log, components=["tee"])["tee"]
    assert found.ok and found.compared == 6  # y and scaled, 3 steps
    m.Tee.factor = 11  # only the output nobody consumed changes
    found = replay(run_id, log=log, components=["tee"])["tee"]
    assert found.line() == f"component 'tee' (replay_models.Tee): diverges from run '{run_id}' at step 0, output 'scaled': recorded 10, replayed 11"
    assert replay(run_id, log=log, components=["tee"], ignore={"scaled"}).ok


def test_a_run_recorded_before_schema_5_skips_an_output_without_a_channel(tee: tuple[Path, str]) -> None:
    log, run_id = tee
    # What a run recorded before schema 5 has: no channel for the unconnected output, no messages on it.
    con = duckdb.connect(str(log))
    con.execute("DELETE FROM message_log WHERE channel IN (SELECT id FROM channels WHERE kind = 'unconnected')")
    con.execute("DELETE FROM channels WHERE kind = 'unconnected'")
    con.close()
    m.Tee.factor = 11
    found = replay(run_id, log=log, components=["tee"])["tee"]
    assert found.line() == f"component 'tee' (replay_models.Tee): equal to run '{run_id}' (3 steps, 3 output values compared)"


def test_record_writes_the_replay_as_a_run_of_its_own(tee: tuple[Path, str]) -> None:
    log, run_id = tee
    result = replay(run_id, log=log, components=["tee", "sink"], record=True, command=["tapeflow", "replay", run_id, "--record"])
    replay_id = result.recorded_as
    assert replay_id is not None and replay_id != run_id
    assert rows(log, "SELECT status, process_kind, replay_of, command, error FROM runs WHERE id = ?", replay_id) == [
        ("completed", "replay", run_id, f"tapeflow replay {run_id} --record", None)
    ]
    # The replayed components as recorded, numbered in replay order.
    assert rows(log, "SELECT id, name, class_path, inputs, outputs, spec FROM components WHERE run_id = ? ORDER BY id", replay_id) == [
        (i, *row) for i, row in enumerate(rows(
            log, "SELECT name, class_path, inputs, outputs, spec FROM components WHERE run_id = ? AND name IN ('tee', 'sink') ORDER BY id", run_id
        ))
    ]
    steps = rows(log, "SELECT component, step, start_ns, end_ns, blocked_ns, status FROM steps WHERE run_id = ? ORDER BY start_ns, component", replay_id)
    assert [(c, s) for c, s, *_ in steps] == [("tee", 0), ("tee", 1), ("tee", 2), ("sink", 0), ("sink", 1), ("sink", 2)]
    # Each step's duration is its time alone; steps are laid end to end, nothing waited.
    tee_times = result["tee"].times.wall_ns.tolist() + result["sink"].times.wall_ns.tolist()
    assert [end - start for _, _, start, end, _, _ in steps] == tee_times
    assert all(steps[i][3] == steps[i + 1][2] for i in range(len(steps) - 1))
    assert {(blocked, status) for *_, blocked, status in steps} == {(0, "ok")}
    assert rows(log, "SELECT component, steps FROM component_time WHERE run_id = ? ORDER BY component", replay_id) == [("sink", 3), ("tee", 3)]
    # It holds times, not inputs: replaying it is refused, pointing at the run it replayed.
    with pytest.raises(ReplayError, match=(
        rf"^run '{replay_id}' is a recorded replay of run '{run_id}': it holds step times, not inputs; replay run '{run_id}' instead$"
    )):
        replay(replay_id, log=log)


def test_record_keeps_the_best_of_repeat_and_a_reproduced_failure(tmp_path: Path) -> None:
    log = tmp_path / "log.duckdb"
    run_id = record(log, [m.Source(name="src", values=[1, 2, 3, 4]), m.Boom(name="boom"), m.Collect(name="sink")], [("src.x", "boom.x"), ("boom.y", "sink.x")])
    result = replay(run_id, log=log, components=["boom"], repeat=3, record=True)
    assert result["boom"].outcome == "reproduced"
    durations = rows(log, "SELECT end_ns - start_ns FROM steps WHERE run_id = ? ORDER BY step", result.recorded_as)
    assert [d for (d,) in durations] == result["boom"].times.wall_ns.tolist()
    assert rows(log, "SELECT step, status, error FROM steps WHERE run_id = ? AND status <> 'ok'", result.recorded_as) == [
        (2, "failed", "ZeroDivisionError: division by zero")
    ]


def test_without_record_the_log_is_unchanged(tee: tuple[Path, str]) -> None:
    log, run_id = tee
    before = rows(log, "SELECT * FROM runs ORDER BY id")
    result = replay(run_id, log=log)
    assert result.recorded_as is None and rows(log, "SELECT * FROM runs ORDER BY id") == before


def test_record_needs_the_logs_path_not_an_open_log(tee: tuple[Path, str]) -> None:
    log, run_id = tee
    with open_log(log) as opened, pytest.raises(ReplayError, match=(
        r"^record=True: pass the log's path, not an open Log; the replay writes its run into the file, which an open Log holds read-only$"
    )):
        replay(run_id, log=opened, record=True)


def test_a_replay_stopped_by_an_unexpected_error_is_recorded_as_failed(tee: tuple[Path, str]) -> None:
    log, run_id = tee
    con = duckdb.connect(str(log))
    con.execute("DELETE FROM message_log WHERE receiver_step = 1 AND channel IN (SELECT id FROM channels WHERE target_component = 'tee')")
    con.close()
    with pytest.raises(ReplayError, match=r"the log has no recorded input 'x' for step 1 \(it has 3 steps\)"):
        replay(run_id, log=log, components=["tee"], record=True)
    [(status, error, replay_of, steps)] = rows(
        log, "SELECT status, error, replay_of, (SELECT count(*) FROM steps s WHERE s.run_id = r.id) FROM runs r WHERE process_kind = 'replay'"
    )
    assert (status, replay_of, steps) == ("failed", run_id, 0)
    assert error.startswith(f"ReplayError: component 'tee' (replay_models.Tee) of run '{run_id}': the log has no recorded input 'x' for step 1")
