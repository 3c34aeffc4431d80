"""``tapeflow validate`` on files that used to hang it or pass it wrongly: a user error each,
one located line, exit 2, and never a hang (each run has a timeout)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "fixtures" / "config"


def validate(folder: Path, text: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(FIXTURES / "cfg_parts.py", folder / "cfg_parts.py")
    (folder / "model.yaml").write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "tapeflow.cli", "validate", "model.yaml"],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=30,
    )


def test_recursive_alias_exits_2_at_once(tmp_path: Path) -> None:
    result = validate(tmp_path, "tapeflow:\n  process:\n    args:\n      components: &a [*a]\n")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "model.yaml:4:23: YAML alias '*a' refers to a node that contains it; write the value out\n"


def test_alias_bomb_exits_2_at_once(tmp_path: Path) -> None:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    result = validate(tmp_path, "\n".join(lines) + "\n")
    assert result.returncode == 2
    assert result.stderr.startswith("model.yaml:6:45: YAML alias '*l4' makes aliases expand to more than 1,000,000 nodes")


def test_argument_of_the_wrong_type_exits_2_before_init(tmp_path: Path) -> None:
    text = (
        "tapeflow:\n  process:\n    args:\n      components:\n"
        "      - {type: cfg_parts.Iterator, args: {name: src, iters: ten}}\n"
    )
    result = validate(tmp_path, text)
    assert (result.returncode, result.stderr) == (
        2,
        "model.yaml:5:61: component 'src': argument 'iters' (int) is str 'ten'; input should be a valid integer\n",
    )
