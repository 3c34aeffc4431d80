"""Record the examples and read every payload back equal to what its receiver was given."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import spy_on_inputs

from tapeflow.engine.config import load_process
from tapeflow.recorder import Recorder, open_log

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("model", ["loop/savings.yaml", "tutorial/model.yaml"])
async def test_example_payloads_read_back_equal(model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write their CSV files to the working directory
    process = load_process(EXAMPLES / model)
    seen = spy_on_inputs(process)
    recorder = Recorder(tmp_path / "log.duckdb")
    process.tap = recorder
    async with process:
        await process.run()
    with open_log(tmp_path / "log.duckdb") as log:
        run = log.run(recorder.run_id)
        assert run.status == "completed"
        assert run.info["config"] is not None
        targets = {row[0]: (row[1], row[2]) for row in run.channels.select("id, target_component, target_port").fetchall()}
        consumed = run.messages.filter("receiver_step IS NOT NULL").select("channel, receiver_step").fetchall()
        values = {(channel, seq): value for channel, seq, value in run.iter_messages()}
        seqs = {(c, s): r for c, s, r in run.messages.select("channel, seq, receiver_step").fetchall()}
    checked = 0
    for (channel, seq), value in values.items():
        receiver_step = seqs[(channel, seq)]
        if receiver_step is None:
            continue
        component, port = targets[channel]
        assert seen[(component, receiver_step)][port] == value
        checked += 1
    # Every value a step took from a channel is in the log, and nothing else was consumed.
    from_channels = sum(
        1
        for (component, index), inputs in seen.items()
        for port in inputs
        if index >= len(process.components[component].initial_values.get(port, ()))
    )
    assert checked == len(consumed) == from_channels > 0
