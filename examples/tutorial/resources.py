"""The tutorial's resources section on a RayProcess: DataProducer -> CPUIntensiveTask -> GPUTask.

    python examples/tutorial/resources.py          # on a machine without a GPU: refused, see below

Each component's ``resources`` become its Ray actor's request: ``CPUIntensiveTask`` declares
2 CPUs on its class and this instance lowers it to 1; ``GPUTask`` declares half a CPU and one
GPU on its class; ``DataProducer`` keeps the default (0.001 CPU, so many share a core).

Before any actor starts, RayProcess checks that every component fits on some node of the Ray
cluster: Ray would leave an actor that fits nowhere waiting forever, and the run would hang.
On a machine without a GPU (Ray started here has none), the run is refused at once, naming
the GPU component::

    component 'gpu-task' asks for cpu=0.5, gpu=1, but no node of the Ray cluster has gpu=1
    (nodes have at most: cpu=2, gpu=0, memory=…); lower its resources, or run it on a Ray
    cluster with a node that has them

That refusal is this example's expected outcome here. Where a GPU is present (Ray counts the
machine's GPUs when it starts, or ``ray start --head --num-gpus=1`` and ``RAY_ADDRESS=auto``),
it runs and prints what GPUTask returned.
"""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so `hello_ray` imports from anywhere

from hello_ray import CPUIntensiveTask, DataProducer, GPUTask  # noqa: E402

from tapeflow import ConnectorSpec, ProcessError, RayConnector, RayProcess, Resource  # noqa: E402


def build(**process_args: object) -> RayProcess:
    """The tutorial's process, as it wires it; ``process_args`` go to ``RayProcess``."""
    # Resources can be declared at the class level (see CPUIntensiveTask and GPUTask in
    # hello_ray.py) or overridden when instantiating components.
    return RayProcess(
        components=[
            CPUIntensiveTask(name="cpu-task", resources=Resource(cpu=1.0)),  # overrides the class's 2 CPUs
            GPUTask(name="gpu-task"),  # the class's resources: cpu="500m", gpu=1
            DataProducer(name="producer", iters=5),  # the default resources
        ],
        connectors=[
            RayConnector(spec=ConnectorSpec(source="producer.output", target="cpu-task.x")),
            RayConnector(spec=ConnectorSpec(source="cpu-task.y", target="gpu-task.data")),
        ],
        **process_args,  # type: ignore[arg-type]
    )


async def main() -> int:
    process = build()
    try:
        async with process:
            await process.run()
    except ProcessError as error:  # the placement check: no node has what a component asks for
        print(error, file=sys.stderr)
        return 1
    print("steps:", process.step_counts)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
