"""Every query docs/log-schema.md shows runs on a freshly recorded log."""

from __future__ import annotations

import re
from pathlib import Path

from recorded_models import Collect, Pass, Source, wire
from tapeflow import LocalProcess
from tapeflow.recorder import Recorder, open_log

DOC = Path(__file__).parents[3] / "docs" / "log-schema.md"


def documented_queries() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.S)
    return [q.strip() for block in blocks for q in block.split(";") if q.strip()]


async def test_every_documented_query_runs(tmp_path: Path) -> None:
    queries = documented_queries()
    assert len(queries) >= 4 and any("placements" in q for q in queries)
    recorder = Recorder(tmp_path / "log.duckdb")
    async with LocalProcess([Source(name="src", values=[1, 2, 3]), Pass(name="p"), Collect(name="sink")],
                            [wire("src.x", "p.x"), wire("p.y", "sink.x")], tap=recorder) as process:
        await process.run()
    with open_log(tmp_path / "log.duckdb") as log:
        for query in queries:
            assert log.query(query.replace("r0f5qk8xtk0", recorder.run_id)).fetchall(), query
