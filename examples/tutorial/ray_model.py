"""The tutorial's model on a RayProcess: every component in a Ray actor of its own.

    python examples/tutorial/ray_model.py                      # RayConnector, ray.csv next to this file
    python examples/tutorial/ray_model.py out.csv              # or where you say
    python examples/tutorial/ray_model.py out.csv --zmq        # ZMQConnector instead

The same components and wiring as ``model.py``; only the process and connector classes change,
as in the tutorial. The two Sleeps now run at the same time in two actors, so a step takes
the slower sleep (0.1 s), not both (0.15 s): 20 steps in about 2 s instead of 3 s.

Ray starts by itself on this machine, on loopback only and without the dashboard, unless it is
already running in this Python process or ``RAY_ADDRESS`` names a cluster.
"""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so `hello_ray` imports from anywhere

from hello_ray import Iterator, Sleep, Timestamper  # noqa: E402

from tapeflow import ConnectorSpec, RayConnector, RayProcess, ZMQConnector  # noqa: E402
from tapeflow.engine.library import FileWriter  # noqa: E402

ITERS = 20
SLOW, VERY_SLOW = 0.05, 0.1


def build(
    path: str | Path,
    iters: int = ITERS,
    slow: float = SLOW,
    very_slow: float = VERY_SLOW,
    connector: type[RayConnector] | type[ZMQConnector] = RayConnector,
    **process_args: object,
) -> RayProcess:
    """The tutorial's RayProcess; ``process_args`` go to ``RayProcess`` (``tap=None``, say)."""
    return RayProcess(
        components=[
            Iterator(name="input", iters=iters),
            Sleep(name="slow-sleep", sleep_seconds=slow),
            Sleep(name="very-slow-sleep", sleep_seconds=very_slow),
            Timestamper(name="timestamper"),
            FileWriter(name="save-results", path=str(path), field_names=["timestamp"]),
        ],
        connectors=[
            connector(spec=ConnectorSpec(source="input.x", target="slow-sleep.x")),
            connector(spec=ConnectorSpec(source="input.x", target="very-slow-sleep.x")),
            connector(spec=ConnectorSpec(source="slow-sleep.y", target="timestamper.x")),
            connector(spec=ConnectorSpec(source="very-slow-sleep.y", target="timestamper.y")),
            connector(spec=ConnectorSpec(source="timestamper.timestamp", target="save-results.timestamp")),
        ],
        **process_args,  # type: ignore[arg-type]
    )


async def main(path: str | Path, connector: type[RayConnector] | type[ZMQConnector] = RayConnector) -> None:
    process = build(path, connector=connector)
    async with process:
        await process.run()
    print(f"wrote {process.step_counts.get('save-results', 0)} timestamps to {path}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = args[0] if args else Path(__file__).resolve().parent / "ray.csv"
    asyncio.run(main(out, ZMQConnector if "--zmq" in sys.argv else RayConnector))
