"""One decision per run on recording: by default into TAPEFLOW_LOG (else ./tapeflow.duckdb),
an explicit tap, or nothing; resolved per run, never written back to ``process.tap``.

These tests look at the working directory itself (an empty folder, ``TAPEFLOW_LOG`` unset):
the default is what a user meets, not what a fixture sets.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from recorded_models import Collect, Source, wire
from tapeflow import Component, ComponentError, IO, LocalProcess
from tapeflow.engine.tap import DEFAULT_TAP
from tapeflow.recorder import Recorder, RecordingError, open_log


def model(**kwargs: object) -> LocalProcess:
    return LocalProcess([Source(name="src", values=[1, 2]), Collect(name="sink")], [wire("src.x", "sink.x")], **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def empty_cwd() -> Path:
    """The empty working folder every test starts in (tests/conftest.py), as a user's."""
    assert "TAPEFLOW_LOG" not in os.environ and os.listdir() == []
    return Path.cwd()


async def test_a_process_records_by_default_into_the_working_directory(empty_cwd: Path) -> None:
    process = model()
    async with process:
        await process.run()
    assert process.tap is DEFAULT_TAP  # the decision is per run, never written back
    assert isinstance(process.run_tap, Recorder) and process.run_id is not None
    assert os.listdir(empty_cwd) == ["tapeflow.duckdb"]
    with open_log() as log:
        run = log.run(process.run_id)
        assert run.status == "completed"
        assert [v for _, _, v in run.iter_messages()] == [1, 2]


@pytest.mark.parametrize("off", ["0", "false", "off"])
async def test_tapeflow_record_0_alone_writes_nothing(empty_cwd: Path, monkeypatch: pytest.MonkeyPatch, off: str) -> None:
    monkeypatch.setenv("TAPEFLOW_RECORD", off)
    process = model()
    async with process:
        await process.run()
    assert process.run_tap is None and process.run_id is None
    assert os.listdir(empty_cwd) == []


async def test_tap_none_alone_writes_nothing(empty_cwd: Path) -> None:
    process = model(tap=None)
    async with process:
        await process.run()
    assert os.listdir(empty_cwd) == []


async def test_a_process_runs_again_with_a_record_per_run(empty_cwd: Path) -> None:
    process = model()
    ids = []
    for _ in range(2):
        async with process:
            await process.run()
        ids.append(process.run_id)
    assert process.status == "completed" and ids[0] != ids[1]
    with open_log() as log:
        assert [log.run(i).status for i in ids] == ["completed", "completed"]  # type: ignore[arg-type]
    # run() without init() owns the whole life cycle, and can be called again too.
    await process.run()
    await process.run()
    assert process.step_counts == {"src": 3, "sink": 2}


async def test_an_explicit_recorder_records_one_run_only(empty_cwd: Path) -> None:
    recorder = Recorder(empty_cwd / "mine.duckdb")
    process = model(tap=recorder)
    await process.run()
    assert process.run_id == recorder.run_id
    with pytest.raises(RecordingError, match=rf"^run '{recorder.run_id}': this Recorder already recorded a run; make a new Recorder per run$"):
        await process.run()
    assert sorted(os.listdir(empty_cwd)) == ["mine.duckdb"]


class Lifecycle(Component):
    io = IO(inputs=["x"])

    def __init__(self, fail_in: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_in = fail_in
        self.destroyed = False

    async def init(self) -> None:
        if self.fail_in == "init":
            raise RuntimeError("no licence")

    async def step(self) -> None:
        pass

    async def destroy(self) -> None:
        self.destroyed = True
        if self.fail_in == "destroy":
            raise OSError("disk gone")


@pytest.mark.parametrize("phase", ["init", "destroy"])
async def test_a_failing_init_or_destroy_is_a_failed_run_in_the_log(empty_cwd: Path, phase: str) -> None:
    source = Source(name="src", values=[1, 2])
    sink = Lifecycle(name="sink", fail_in=phase)
    process = LocalProcess([source, sink], [wire("src.x", "sink.x")])
    expected = {"init": "RuntimeError: no licence", "destroy": "OSError: disk gone"}[phase]
    with pytest.raises(ComponentError, match=rf"^component 'sink' \(test_default_recording.Lifecycle\) failed in {phase}: {expected}$"):
        async with process:
            await process.run()
    assert sink.destroyed  # destroy() ran, also after a failing init()
    with open_log() as log:
        run = log.run(process.run_id)  # type: ignore[arg-type]
        assert run.status == "failed"
        assert run.info["error"] == f"component 'sink' (test_default_recording.Lifecycle) failed in {phase}: {expected}"
        steps = run.steps.fetchall()
        assert len(steps) == (0 if phase == "init" else 5)  # src 3 (the last closes), sink 2


async def test_a_process_entered_and_left_without_running_ends_its_record(empty_cwd: Path) -> None:
    quiet = model()
    async with quiet:
        pass
    failing = model()
    with pytest.raises(ZeroDivisionError):
        async with failing:
            1 / 0
    with open_log() as log:
        assert log.run(quiet.run_id).status == "completed"  # type: ignore[arg-type]
        run = log.run(failing.run_id)  # type: ignore[arg-type]
        assert (run.status, run.info["error"]) == ("failed", "ZeroDivisionError: division by zero")
        assert run.steps.fetchall() == []


async def test_init_twice_for_one_run_is_refused(empty_cwd: Path) -> None:
    from tapeflow import ProcessError

    process = model(tap=None)
    await process.init()
    with pytest.raises(ProcessError, match=r"^process 'LocalProcess': init\(\) was called twice for one run; call run\(\) \(or destroy\(\)\) first$"):
        await process.init()
    await process.run()
    await process.destroy()
    assert process.step_counts == {"src": 3, "sink": 2}
