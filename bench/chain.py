"""Chain benchmark: Source -> 10 x Pass -> Sink, tapeflow beside Plugboard 0.9 and a bare floor.

    .venv/bin/python bench/chain.py                 # all variants, median of 3, a table
    .venv/bin/python bench/chain.py --json          # the same as one JSON object
    .venv/bin/python bench/chain.py --quick         # smaller n, one repeat: a smoke test

Every variant runs in its own fresh interpreter, so peak RSS is per variant:

- ``tapeflow``: LocalProcess, no tap (the plain loop), ``--n`` messages (default 100,000);
- ``tapeflow+null-tap``: the same with a tap that does nothing: the stamped loop's own cost,
  the floor under any recorder; ``--tap MODULE:FACTORY`` adds a variant with a real one;
- ``plugboard``: the peer's bench/peer/bench_chain.py on Plugboard 0.9 LocalProcess, run by the
  peer venv's python (``--peer-venv`` or ``$TAPEFLOW_PEER_VENV``; bench/setup-peer.sh makes
  one). Plugboard is ~100x slower, so it carries ``--peer-n`` (10,000) messages: compare the
  per-step figures;
- ``floor``: 12 long-lived asyncio tasks joined by ``asyncio.Queue(maxsize=64)``: the least a
  chain on asyncio can cost;
- ``tapeflow@small``: tapeflow at ``--small-n`` (10,000) messages, to show that peak memory
  does not grow with the message count.

µs per component-step = run time / (messages x components), components counting the source
and the sink (12 for the default chain), as in the peer's script. Run time covers ``run()``
only: not imports, building or init.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memory import peak_rss_mib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_SCRIPT = HERE / "peer" / "bench_chain.py"

# What "import the component API" means for each side: what a model file imports.
TAPEFLOW_IMPORT = "import tapeflow"
PLUGBOARD_IMPORT = "from plugboard.component import Component, IOController; from plugboard.schemas import ComponentArgsDict"


# ------------------------------------------------------------------------------ workers
# Each worker runs in its own interpreter (``chain.py --worker KIND``) and prints one JSON line.


async def _tapeflow_run(n: int, length: int, tap_spec: str | None) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from models import Pass, Sink, Source

    from tapeflow import AsyncioConnector, ConnectorSpec, LocalProcess

    tap = None
    if tap_spec:
        module_name, _, factory = tap_spec.partition(":")
        tap = getattr(importlib.import_module(module_name), factory)()
    components: list[Any] = [Source(name="src", iters=n)]
    components += [Pass(name=f"p{i}") for i in range(length)]
    components.append(Sink(name="sink"))
    names = [c.name for c in components]
    specs = [ConnectorSpec(source="src.x", target=f"{names[1]}.x")]
    specs += [ConnectorSpec(source=f"{a}.y", target=f"{b}.x") for a, b in zip(names[1:-1], names[2:])]
    process = LocalProcess(components=components, connectors=[AsyncioConnector(spec=s) for s in specs], tap=tap)
    async with process:
        t0 = time.perf_counter()
        await process.run()
        run_s = time.perf_counter() - t0
    if hasattr(tap, "close"):
        tap.close()
    sink = process.components["sink"]
    return {"run_s": run_s, "sink_count": sink.count, "sink_last": sink.last}  # type: ignore[attr-defined]


async def _floor_run(n: int, length: int) -> dict[str, Any]:
    end = object()  # compared by identity, as tapeflow's END
    queues: list[asyncio.Queue[Any]] = [asyncio.Queue(maxsize=64) for _ in range(length + 1)]
    result = {"count": 0, "last": None}

    async def source(out: asyncio.Queue[Any]) -> None:
        for i in range(n):
            await out.put(i)
        await out.put(end)

    async def passer(inp: asyncio.Queue[Any], out: asyncio.Queue[Any]) -> None:
        while (item := await inp.get()) is not end:
            await out.put(item)
        await out.put(end)

    async def sink(inp: asyncio.Queue[Any]) -> None:
        while (item := await inp.get()) is not end:
            result["count"] += 1
            result["last"] = item

    t0 = time.perf_counter()
    tasks = [asyncio.create_task(source(queues[0]))]
    tasks += [asyncio.create_task(passer(queues[i], queues[i + 1])) for i in range(length)]
    tasks.append(asyncio.create_task(sink(queues[-1])))
    await asyncio.gather(*tasks)
    run_s = time.perf_counter() - t0
    return {"run_s": run_s, "sink_count": result["count"], "sink_last": result["last"]}


def worker(kind: str, n: int, length: int, tap_spec: str | None) -> None:
    if kind == "floor":
        out = asyncio.run(_floor_run(n, length))
    else:
        out = asyncio.run(_tapeflow_run(n, length, tap_spec))
    out.update(n=n, length=length, peak_rss_mib=peak_rss_mib())
    print(json.dumps(out), flush=True)


# ------------------------------------------------------------------------------ driver


@dataclass
class Variant:
    name: str
    command: list[str]
    n: int
    components: int
    runs: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None

    def summary(self) -> dict[str, Any]:
        if self.skipped or not self.runs:
            return {"variant": self.name, "skipped": self.skipped or "no runs"}
        run_s = statistics.median(r["run_s"] for r in self.runs)
        return {
            "variant": self.name,
            "n": self.n,
            "components": self.components,
            "repeats": len(self.runs),
            "run_s": round(run_s, 4),
            "run_s_all": [round(r["run_s"], 4) for r in self.runs],
            "us_per_component_step": round(run_s / (self.n * self.components) * 1e6, 3),
            "msgs_per_s": round(self.n / run_s, 1),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in self.runs),
            "sink_count": self.runs[-1].get("sink_count"),
        }


def find_peer_python(flag: str | None) -> Path | None:
    """The peer venv's python: --peer-venv, else $TAPEFLOW_PEER_VENV, else .venv-plugboard in
    the repository or beside it (where bench/setup-peer.sh and the shared setup put it)."""
    candidates = [flag, os.environ.get("TAPEFLOW_PEER_VENV"), str(ROOT / ".venv-plugboard"), str(ROOT.parent / ".venv-plugboard")]
    for venv in candidates:
        if venv and (Path(venv) / "bin" / "python").exists():
            return Path(venv) / "bin" / "python"
    return None


def run_json(command: list[str], timeout: float) -> dict[str, Any]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def import_time(python: Path | str, statement: str, best_of: int) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    times = []
    for _ in range(best_of):
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        times.append(float(done.stdout.strip()))
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--n", type=int, default=100_000, help="messages for tapeflow and the floor")
    p.add_argument("--small-n", type=int, default=10_000, help="messages for the memory-flatness run")
    p.add_argument("--peer-n", type=int, default=10_000, help="messages for Plugboard (slow)")
    p.add_argument("--length", type=int, default=10, help="number of Pass components")
    p.add_argument("--repeat", type=int, default=3, help="runs per variant; the median is reported")
    p.add_argument("--peer-venv", default=None, help="Plugboard venv (default: $TAPEFLOW_PEER_VENV or .venv-plugboard)")
    p.add_argument("--no-peer", action="store_true", help="skip Plugboard")
    p.add_argument("--tap", default=None, metavar="MODULE:FACTORY", help="add a variant recording through this tap")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--quick", action="store_true", help="n=10,000, peer n=1,000, one repeat")
    p.add_argument("--worker", choices=["tapeflow", "floor"], help=argparse.SUPPRESS)
    p.add_argument("--worker-tap", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()

    if a.worker:
        worker(a.worker, a.n, a.length, a.worker_tap)
        return
    if a.quick:
        a.n, a.small_n, a.peer_n, a.repeat = 10_000, 2_000, 1_000, 1

    me = [sys.executable, str(Path(__file__).resolve())]
    comps = a.length + 2

    def ours(kind: str, n: int, tap: str | None = None) -> list[str]:
        return me + ["--worker", kind, "--n", str(n), "--length", str(a.length)] + (["--worker-tap", tap] if tap else [])

    variants = [
        Variant("tapeflow", ours("tapeflow", a.n), a.n, comps),
        # The recording variants: --worker-tap names a factory; bench/ is on sys.path there.
        Variant("tapeflow+null-tap", ours("tapeflow", a.n, "taps:null"), a.n, comps),
    ]
    if a.tap:
        variants.append(Variant(f"tapeflow+tap({a.tap})", ours("tapeflow", a.n, a.tap), a.n, comps))
    variants.append(Variant("floor", ours("floor", a.n), a.n, comps))
    peer_python = None if a.no_peer else find_peer_python(a.peer_venv)
    peer = Variant("plugboard", [str(peer_python), str(PEER_SCRIPT), "--n", str(a.peer_n), "--length", str(a.length)], a.peer_n, comps)
    if a.no_peer:
        peer.skipped = "skipped: --no-peer"
    elif peer_python is None:
        peer.skipped = "skipped: peer venv not found (run bench/setup-peer.sh)"
    variants.append(peer)
    variants.append(Variant("tapeflow@small", ours("tapeflow", a.small_n), a.small_n, comps))

    for variant in variants:
        if variant.skipped:
            if not a.json:
                print(variant.skipped, file=sys.stderr)
            continue
        for _ in range(a.repeat):
            variant.runs.append(run_json(variant.command, timeout=600))
        expected = variant.n
        if variant.runs[-1].get("sink_count") != expected:
            raise SystemExit(f"{variant.name}: the sink got {variant.runs[-1].get('sink_count')} messages, not {expected}")

    imports: dict[str, float | str] = {"tapeflow_s": round(import_time(sys.executable, TAPEFLOW_IMPORT, 5), 3)}
    if peer_python is not None:
        imports["plugboard_s"] = round(import_time(peer_python, PLUGBOARD_IMPORT, 5), 3)
    else:
        imports["plugboard_s"] = peer.skipped or "skipped"

    by = {v.name: v.summary() for v in variants}

    def ratio(x: str, y: str) -> float | None:
        a_, b_ = by[x], by[y]
        if "us_per_component_step" not in a_ or "us_per_component_step" not in b_:
            return None
        return round(a_["us_per_component_step"] / b_["us_per_component_step"], 4)

    ratios = {
        "tapeflow/plugboard": ratio("tapeflow", "plugboard"),
        "tapeflow/floor": ratio("tapeflow", "floor"),
        "tapeflow+null-tap/tapeflow": ratio("tapeflow+null-tap", "tapeflow"),
    }
    small, big = by["tapeflow@small"], by["tapeflow"]
    memory = {
        f"tapeflow_peak_rss_mib@{a.small_n}": small.get("peak_rss_mib"),
        f"tapeflow_peak_rss_mib@{a.n}": big.get("peak_rss_mib"),
    }
    report = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "length": a.length,
        "variants": list(by.values()),
        "ratios": ratios,
        "import": imports,
        "memory": memory,
    }
    if a.json:
        print(json.dumps(report, indent=2))
        return
    print(f"chain: source -> {a.length} x pass -> sink ({comps} components), median of {a.repeat}, python {report['python']}, {report['cpus']} CPUs")
    print(f"{'variant':<22} {'messages':>9} {'run s':>9} {'µs/step':>9} {'msgs/s':>11} {'peak MiB':>9}")
    for s in by.values():
        if "skipped" in s:
            print(f"{s['variant']:<22} {s['skipped']}")
            continue
        print(f"{s['variant']:<22} {s['n']:>9,} {s['run_s']:>9.3f} {s['us_per_component_step']:>9.3f} {s['msgs_per_s']:>11,.0f} {s['peak_rss_mib']:>9.1f}")
    for k, v in ratios.items():
        print(f"ratio {k:<27} {v if v is not None else 'n/a'}")
    print(f"import: tapeflow {imports['tapeflow_s']} s, plugboard component API {imports['plugboard_s']}{' s' if isinstance(imports['plugboard_s'], float) else ''} (best of 5, fresh interpreter)")
    print("memory: " + ", ".join(f"{k} = {v}" for k, v in memory.items()))


if __name__ == "__main__":
    main()
