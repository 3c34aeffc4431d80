"""Record the examples and read every payload back equal to what was sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tapeflow.engine.config import load_process
from tapeflow.engine.tap import MESSAGE_WIDTH
from tapeflow.recorder import Recorder, open_log
from tapeflow.recorder.codec import decode
from tapeflow.recorder.recorder import Encoded

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Spy(Recorder):
    """A Recorder that also keeps every payload as the loop handed it over, by (channel, seq)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.sent: dict[tuple[int, int], Any] = {}

    def _flush(self, *, final: bool) -> None:
        for flat in [log.messages for log in self._logs] + [self._unconsumed]:
            for i in range(0, len(flat), MESSAGE_WIDTH):
                payload = flat[i]
                self.sent[(flat[i + 1], flat[i + 2])] = decode(payload) if type(payload) is Encoded else payload
        super()._flush(final=final)


@pytest.mark.parametrize("model", ["loop/savings.yaml", "tutorial/model.yaml"])
async def test_example_payloads_read_back_equal(model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write their CSV files to the working directory
    process = load_process(EXAMPLES / model)
    spy = Spy(tmp_path / "log.duckdb")
    process.tap = spy
    async with process:
        await process.run()
    assert spy.sent
    with open_log(tmp_path / "log.duckdb") as log:
        run = log.run(spy.run_id)
        assert run.status == "completed"
        recorded = {(channel, seq): value for channel, seq, value in run.iter_messages()}
        assert run.info["config"] is not None
    assert recorded == spy.sent
