"""The tutorial's model on a LocalProcess: Iterator -> two Sleeps -> Timestamper -> FileWriter.

    python examples/tutorial/model.py            # writes ray.csv next to this file
    python examples/tutorial/model.py out.csv    # or where you say

The tutorial sleeps 0.5 s and 1 s for 20 iterations (30 s); this copy sleeps 0.05 s and 0.1 s
so it runs in about 3 s: the shape of the run is the same, only shorter.
"""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so `hello_ray` imports from anywhere

from hello_ray import Iterator, Sleep, Timestamper  # noqa: E402

from tapeflow import AsyncioConnector, ConnectorSpec, LocalProcess  # noqa: E402
from tapeflow.engine.library import FileWriter  # noqa: E402

ITERS = 20
SLOW, VERY_SLOW = 0.05, 0.1


def build(path: str | Path, iters: int = ITERS, slow: float = SLOW, very_slow: float = VERY_SLOW) -> LocalProcess:
    return LocalProcess(
        components=[
            Iterator(name="input", iters=iters),
            Sleep(name="slow-sleep", sleep_seconds=slow),
            Sleep(name="very-slow-sleep", sleep_seconds=very_slow),
            Timestamper(name="timestamper"),
            FileWriter(name="save-results", path=path, field_names=["timestamp"]),
        ],
        connectors=[
            AsyncioConnector(spec=ConnectorSpec(source="input.x", target="slow-sleep.x")),
            AsyncioConnector(spec=ConnectorSpec(source="input.x", target="very-slow-sleep.x")),
            AsyncioConnector(spec=ConnectorSpec(source="slow-sleep.y", target="timestamper.x")),
            AsyncioConnector(spec=ConnectorSpec(source="very-slow-sleep.y", target="timestamper.y")),
            AsyncioConnector(spec=ConnectorSpec(source="timestamper.timestamp", target="save-results.timestamp")),
        ],
    )


async def main(path: str | Path) -> None:
    process = build(path)
    async with process:
        await process.run()
    print(process.components["save-results"].describe_output())  # type: ignore[attr-defined]


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent / "ray.csv"
    asyncio.run(main(out))
