"""`tapeflow validate` of a large model file, as a user runs it, beside the raw primitive.

    .venv/bin/python bench/validate.py              # 10,000 components, median of 5
    .venv/bin/python bench/validate.py --n 1000 --repeat 9

Every figure is a whole process, interpreter start to exit, median (min–max):

- ``tapeflow validate``: the CLI on a generated chain of ``--n`` components (a source, then
  pass-throughs, ``c{i-1}.y -> c{i}.x``), whose component module lies beside the file;
- ``yaml parse``: the floor, the same file only parsed into YAML nodes (PyYAML's C parser
  when present, as tapeflow's loader uses it, the garbage collector paused), no model built;
- ``python``: the interpreter alone, what every line above pays first.

Plugboard is not measured here: its ``validate`` builds the whole process (opening a
FileWriter's output among other things), which is not the same work.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PARTS = '''
from tapeflow import IO, Component


class Source(Component):
    io = IO(outputs=["y"])

    def __init__(self, iters: int, **kwargs):
        super().__init__(**kwargs)
        self.iters = iters

    async def step(self):
        await self.io.close()


class Pass(Component):
    io = IO(inputs=["x"], outputs=["y"])

    async def step(self):
        self.y = self.x
'''

# The least any YAML model loader does: libyaml's parser composing the node tree, with the
# garbage collector paused (as tapeflow's loader pauses it), no Python objects built from it.
PARSE = (
    "import gc, sys, yaml; gc.disable(); loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader); "
    "yaml.compose(open(sys.argv[1]), Loader=loader)"
)


def chain(n: int) -> str:
    lines = ["tapeflow:", "  process:", "    args:", "      name: chain", "      components:",
             "      - type: parts.Source", "        args: {name: c0, iters: 3}"]
    for i in range(1, n):
        lines += ["      - type: parts.Pass", f"        args: {{name: c{i}}}"]
    lines.append("      connectors:")
    for i in range(1, n):
        lines += [f"      - source: c{i - 1}.y", f"        target: c{i}.x"]
    return "\n".join(lines) + "\n"


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return elapsed


def summary(samples: list[float]) -> str:
    return f"{statistics.median(samples):.3f} s ({min(samples):.3f}–{max(samples):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="components in the generated chain")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each, interleaved; medians reported")
    args = parser.parse_args()
    tapeflow = [sys.executable, "-m", "tapeflow.cli", "validate", "model.yaml"]
    parse = [sys.executable, "-c", PARSE, "model.yaml"]
    bare = [sys.executable, "-c", "pass"]
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        (here / "parts.py").write_text(PARTS)
        (here / "model.yaml").write_text(chain(args.n))
        runs: dict[str, list[float]] = {"tapeflow validate": [], "yaml parse": [], "python": []}
        for _ in range(args.repeat):  # interleaved, so machine noise hits every line alike
            runs["tapeflow validate"].append(timed(tapeflow, here))
            runs["yaml parse"].append(timed(parse, here))
            runs["python"].append(timed(bare, here))
        size = (here / "model.yaml").stat().st_size
    print(f"validate: a chain of {args.n:,} components ({size / 1e6:.2f} MB of YAML), whole processes, "
          f"median (min–max) of {args.repeat}, python {sys.version.split()[0]}")
    for name, samples in runs.items():
        print(f"{name:<20} {summary(samples)}")
    ratio = statistics.median(runs["tapeflow validate"]) / statistics.median(runs["yaml parse"])
    print(f"ratio tapeflow validate / yaml parse  {ratio:.2f}")


if __name__ == "__main__":
    main()
