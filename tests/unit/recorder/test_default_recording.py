"""A process records by default, into TAPEFLOW_LOG (else ./tapeflow.duckdb), unless told not to."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorded_models import Collect, Source, wire
from tapeflow import LocalProcess
from tapeflow.recorder import Recorder, open_log


def model(**kwargs: object) -> LocalProcess:
    return LocalProcess([Source(name="src", values=[1, 2]), Collect(name="sink")], [wire("src.x", "sink.x")], **kwargs)  # type: ignore[arg-type]


async def test_a_process_records_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPEFLOW_LOG", str(tmp_path / "default.duckdb"))
    process = model()
    async with process:
        await process.run()
    assert isinstance(process.tap, Recorder)
    with open_log(tmp_path / "default.duckdb") as log:
        run = log.run(process.tap.run_id)
        assert run.status == "completed"
        assert [v for _, _, v in run.iter_messages()] == [1, 2]


@pytest.mark.parametrize("off", ["0", "false", "off"])
async def test_tapeflow_record_0_turns_default_recording_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, off: str) -> None:
    monkeypatch.setenv("TAPEFLOW_LOG", str(tmp_path / "default.duckdb"))
    monkeypatch.setenv("TAPEFLOW_RECORD", off)
    process = model()
    async with process:
        await process.run()
    assert process.tap is None
    assert not (tmp_path / "default.duckdb").exists()


async def test_tap_none_records_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPEFLOW_LOG", str(tmp_path / "default.duckdb"))
    process = model(tap=None)
    async with process:
        await process.run()
    assert not (tmp_path / "default.duckdb").exists()
