"""A value the codec cannot carry fails the run at the step that sent it, names the channel
and the step, and keeps every row recorded before it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recorded_models import Collect, Pass, wire
from tapeflow import IO, Component, LocalProcess
from tapeflow.engine.tap import StampLog
from tapeflow.recorder import Recorder, RecordingError, open_log

BAD = "\udc80"  # a lone surrogate: a valid str that UTF-8 (and so msgpack) cannot carry


class Counter(Component):
    """Sends v0, v1, …; at step 500 a value the codec cannot carry (made here, so it is not
    among the constructor's arguments, which are recorded when the run starts)."""

    io = IO(outputs=["x"])

    def __init__(self, as_list: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.as_list, self.i = as_list, 0

    async def step(self) -> None:
        if self.i == 1000:
            await self.io.close()
            return
        self.x = f"v{self.i}" if self.i != 500 else ([1, BAD] if self.as_list else BAD)
        self.i += 1


class DrainEvery(Recorder):
    """Drains every ``limit`` steps, so the failure falls in the middle of a run's batches."""

    def __init__(self, path: Path, limit: int) -> None:
        super().__init__(path)
        self.limit = limit

    def component_log(self, component: int, offset_ns: int) -> StampLog:
        log = super().component_log(component, offset_ns)
        log.limit = self.limit
        return log


@pytest.mark.parametrize("limit", [7, 1 << 15], ids=["many drains", "one drain"])
@pytest.mark.parametrize("as_list", [False, True], ids=["str (encoded late)", "list (encoded at send)"])
async def test_a_late_unencodable_value_fails_the_run_at_its_step_and_keeps_the_rest(tmp_path: Path, limit: int, as_list: bool) -> None:
    values = [f"v{i}" for i in range(500)]
    recorder = DrainEvery(tmp_path / "log.duckdb", limit)
    process = LocalProcess([Counter(name="src", as_list=as_list), Pass(name="p"), Collect(name="sink")],
                           [wire("src.x", "p.x"), wire("p.y", "sink.x")], tap=recorder)
    kind = "list" if as_list else "str"
    expected = rf"^channel 'src.x -> p.x', step 500: cannot record payload of type builtins.{kind} \('utf-8' codec can't encode character '\\udc80' in position \d+: surrogates not allowed\); send msgpack-able values"
    with pytest.raises(RecordingError, match=expected):
        async with process:
            await process.run()
    with open_log(tmp_path / "log.duckdb") as log:
        run = log.run(recorder.run_id)
        assert run.status == "failed"
        assert run.info["error"].startswith("channel 'src.x -> p.x', step 500: cannot record payload")
        src_steps = log.query("SELECT step, status FROM steps WHERE run_id = $1 AND component = 'src' ORDER BY step", [run.id]).fetchall()
        assert [s for s, _ in src_steps] == list(range(501))
        assert [st for _, st in src_steps] == ["ok"] * 500 + ["failed"]
        assert run.payloads("src.x -> p.x") == values
        p_values = run.payloads("p.y -> sink.x")
        assert p_values == values[: len(p_values)] and len(p_values) <= 500
