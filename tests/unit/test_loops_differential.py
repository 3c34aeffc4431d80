"""The plain and the stamped component loops are written out twice on purpose (stepping.py):
on random graphs they must give the same outputs and take the same steps."""

from __future__ import annotations

import random
from typing import Any

import pytest
from conftest import ListTap, wire
from engine_models import Add, Collect, Pass, Scale, Source

from tapeflow import Connector, LocalProcess


def random_model(seed: int) -> tuple[list[Any], list[Connector]]:
    """Sources feed a random DAG of one- and two-input stages; every output with no
    consumer ends in a collector, and some collectors merge several outputs (fan-in)."""
    rng = random.Random(seed)
    components: list[Any] = []
    wires: list[tuple[str, str]] = []
    outputs: list[str] = []  # "name.port" of every output so far
    consumed: set[str] = set()
    for i in range(rng.randint(1, 3)):
        components.append(Source(name=f"s{i}", values=range(rng.randint(1, 40))))
        outputs.append(f"s{i}.x")
    for i in range(rng.randint(1, 8)):
        kind = rng.choice(["pass", "scale", "add"])
        name = f"n{i}"
        if kind == "add":
            components.append(Add(name=name))
            for port in ("a", "b"):
                source = rng.choice(outputs)
                wires.append((source, f"{name}.{port}"))
                consumed.add(source)
        else:
            components.append(Pass(name=name) if kind == "pass" else Scale(name=name))
            source = rng.choice(outputs)
            wires.append((source, f"{name}.{'x' if kind == 'pass' else 'a'}"))
            consumed.add(source)
        outputs.append(f"{name}.y")
    loose = [o for o in outputs if o not in consumed]
    for i in range(0, len(loose), 2):  # pairs of loose outputs share a collector: fan-in
        components.append(Collect(name=f"c{i}"))
        for source in loose[i : i + 2]:
            wires.append((source, f"c{i}.x"))
    return components, [wire(s, t) for s, t in wires]


async def outcome(seed: int, tap: Any) -> tuple[dict[str, list[Any]], dict[str, int]]:
    components, connectors = random_model(seed)
    process = LocalProcess(components, connectors, tap=tap, capacity=random.Random(seed).choice([1, 2, 64]))
    await process.run()
    # Fan-in interleaves by arrival, which may differ between the loops: compared as multisets.
    seen = {c.name: sorted(c.seen, key=repr) for c in components if isinstance(c, Collect)}
    return seen, process.step_counts


@pytest.mark.parametrize("seed", range(40))
async def test_plain_and_stamped_loops_agree_on_random_graphs(seed: int) -> None:
    plain = await outcome(seed, None)
    stamped = await outcome(seed, ListTap())
    assert stamped == plain
    assert any(plain[0].values()) or not plain[0], "the model moved no value at all"
