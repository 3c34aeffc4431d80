"""Record a small run, replay it: equal, diverging, reproduced crashes, tolerance, ignore,
the user errors (pinned, one line each), debugging hooks and timings."""

from __future__ import annotations

import io
import math
import pdb
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import replay_models as m
from tapeflow import Component, LocalProcess
from tapeflow.recorder import LogError, Recorder
from tapeflow.replay import Debug, ReplayError, Tolerance, assert_replays, replay
from tapeflow.replay.comparison import first_difference, same


def record(path: Path, components: list[Component], wires: list[tuple[str, str]], **kwargs: Any) -> str:
    import asyncio

    process = LocalProcess(components, [m.wire(a, b) for a, b in wires], tap=Recorder(path, **kwargs), **({"parameters": kwargs.pop("parameters")} if "parameters" in kwargs else {}))

    async def run() -> None:
        async with process:
            await process.run()

    try:
        asyncio.run(run())
    except Exception:
        pass
    assert process.run_id is not None
    return process.run_id


@pytest.fixture
def knobs() -> Iterator[None]:
    factor, when = m.Scale.factor, m.Boom.when
    yield
    m.Scale.factor, m.Boom.when = factor, when


@pytest.fixture
def chain(tmp_path: Path, knobs: None) -> tuple[Path, str]:
    log = tmp_path / "log.duckdb"
    run_id = record(
        log,
        [m.Source(name="src", values=[1.0, 2.5, 4.0, 8.0]), m.Scale(name="scale"), m.Collect(name="sink"), m.Collect(name="clock")],
        [("src.x", "scale.x"), ("scale.y", "sink.x"), ("scale.stamp", "clock.x")],
    )
    return log, run_id


def test_every_component_replays_equal(chain: tuple[Path, str]) -> None:
    log, run_id = chain
    result = replay(run_id, log=log, ignore={"stamp"})
    assert result.ok
    assert [c.line() for c in result.components] == [
        f"component 'src' (replay_models.Source): equal to run '{run_id}' (5 steps, 4 output values compared)",
        f"component 'scale' (replay_models.Scale): equal to run '{run_id}' (4 steps, 4 output values compared)",
        f"component 'sink' (replay_models.Collect): equal to run '{run_id}' (4 steps, 0 output values compared)",
        f"component 'clock' (replay_models.Collect): equal to run '{run_id}' (4 steps, 0 output values compared)",
    ]
    timing = result["scale"].times.summary()
    assert timing["steps"] == 4 and len(timing["slowest"]) == 4
    assert timing["wall_ns"]["max"] >= timing["wall_ns"]["p50"] >= 0
    assert timing["recorded_ns"]["total"] > 0 and timing["ratio"] is not None


def test_a_changed_formula_diverges_at_the_first_step_with_both_values(chain: tuple[Path, str]) -> None:
    log, run_id = chain
    m.Scale.factor = 3.0
    result = replay(run_id, log=log, components=["scale"], ignore={"scale.stamp"})
    assert not result.ok
    found = result["scale"]
    assert found.report().splitlines() == [
        f"component 'scale' (replay_models.Scale): diverges from run '{run_id}' at step 0, output 'y': recorded 2.0, replayed 3.0",
        "  inputs at step 0: x=1.0",
    ]
    assert found.divergence is not None and (found.divergence.step, found.divergence.port) == (0, "y")
    assert found.steps == 1


def test_clock_outputs_diverge_unless_ignored(chain: tuple[Path, str]) -> None:
    log, run_id = chain
    found = replay(run_id, log=log, components=["scale"])["scale"]
    assert found.divergence is not None and found.divergence.port == "stamp"


def test_tolerance_lets_floats_differ_by_that_much(chain: tuple[Path, str]) -> None:
    log, run_id = chain
    m.Scale.factor = 2.0 * (1 + 1e-12)
    assert not replay(run_id, log=log, components=["scale"], ignore={"stamp"}).ok
    assert replay(run_id, log=log, components=["scale"], ignore={"stamp"}, tolerance=1e-9).ok
    assert replay(run_id, log=log, components=["scale"], ignore={"stamp"}, tolerance="0,1e-9").ok


def test_a_recorded_crash_is_reproduced(tmp_path: Path, knobs: None) -> None:
    log = tmp_path / "log.duckdb"
    run_id = record(log, [m.Source(name="src", values=[1, 2, 3, 4]), m.Boom(name="boom"), m.Collect(name="sink")], [("src.x", "boom.x"), ("boom.y", "sink.x")])
    found = replay(run_id, log=log, components=["boom"])["boom"]
    assert found.ok and found.outcome == "reproduced"
    assert found.line() == (
        f"component 'boom' (replay_models.Boom): reproduces the failure of run '{run_id}' at step 2: "
        "ZeroDivisionError: division by zero (3 steps, 2 output values compared)"
    )
    m.Boom.when = 99  # fixed: the recorded failure no longer happens
    found = replay(run_id, log=log, components=["boom"])["boom"]
    assert found.line() == (
        f"component 'boom' (replay_models.Boom): diverges from run '{run_id}' at step 2: "
        "the recording failed with ZeroDivisionError: division by zero; the replay did not raise"
    )
    m.Boom.when = 2  # broken earlier
    found = replay(run_id, log=log, components=["boom"])["boom"]
    assert found.line() == (
        f"component 'boom' (replay_models.Boom): diverges from run '{run_id}' at step 1: "
        "the replay raised ZeroDivisionError: division by zero; the recording did not"
    )


def test_loops_fan_in_initial_values_positional_args_and_parameters(tmp_path: Path) -> None:
    log = tmp_path / "log.duckdb"
    run_id = record(
        log,
        [
            m.Source(name="a", values=[1, 2, 3]), m.Source(name="b", values=[10, 20]),
            m.Pass(name="merge"), m.Positional(5, name="pos", parameters={"bump": 100}),
            m.Add(name="sum", initial_values={"total_in": [0]}), m.Collect(name="sink"),
        ],
        [("a.x", "merge.x"), ("b.x", "merge.x"), ("merge.y", "pos.x"), ("pos.y", "sum.x"), ("sum.total", "sum.total_in"), ("sum.total", "sink.x")],
    )
    result = replay(run_id, log=log)
    assert result.ok, result.report()
    assert result["sum"].compared == 5 and result["pos"].compared == 5


def test_assert_replays_raises_with_the_report(chain: tuple[Path, str]) -> None:
    log, run_id = chain
    assert_replays(log, run_id, ignore={"stamp"})
    m.Scale.factor = 4.0
    with pytest.raises(AssertionError, match=re.escape(f"run '{run_id}': 1 of 4 components diverge from the recording\n")) as raised:
        assert_replays(log, run_id, ignore={"stamp"})
    assert "at step 0, output 'y': recorded 2.0, replayed 4.0" in str(raised.value)


async def test_replay_from_inside_an_event_loop(chain: tuple[Path, str]) -> None:
    log, run_id = chain
    assert replay(run_id, log=log, components=["src"]).ok


def test_user_errors_are_one_line_each(chain: tuple[Path, str], tmp_path: Path) -> None:
    log, run_id = chain
    with pytest.raises(LogError, match=r"^run 'nope' not found in .*log\.duckdb; recent runs: r\w+ \(completed\)$"):
        replay("nope", log=log)
    with pytest.raises(ReplayError, match=rf"^run '{run_id}': no component 'scal'; did you mean 'scale'\? components are: 'src', 'scale', 'sink', 'clock'$"):
        replay(run_id, log=log, components=["scal"])
    with pytest.raises(ReplayError, match=r"^--ignore 'scale.nope': no such output; outputs are: 'scale.stamp', 'scale.y'$"):
        replay(run_id, log=log, components=["scale"], ignore={"scale.nope"})
    with pytest.raises(LogError, match=r"no log here; record a run first"):
        replay(run_id, log=tmp_path / "missing.duckdb")
    with pytest.raises(ReplayError, match=r"^--repeat: must be at least 1, got 0"):
        replay(run_id, log=log, repeat=0)


def test_a_class_that_no_longer_imports_or_changed_its_constructor(tmp_path: Path) -> None:
    log = tmp_path / "log.duckdb"
    run_id = record(log, [m.Source(name="src", values=[1]), m.Positional(5, name="pos"), m.Collect(name="sink")], [("src.x", "pos.x"), ("pos.y", "sink.x")])
    import duckdb

    con = duckdb.connect(str(log))
    con.execute("UPDATE components SET class_path = 'gone_module.Source' WHERE name = 'src'")
    con.execute("UPDATE components SET class_path = 'replay_models.Pass' WHERE name = 'pos'")
    con.close()
    with pytest.raises(ReplayError) as raised:
        replay(run_id, log=log)
    assert str(raised.value).splitlines() == [
        f"component 'src' (gone_module.Source) of run '{run_id}': class 'gone_module.Source' no longer imports "
        "(ModuleNotFoundError: No module named 'gone_module'); run the replay from the model's folder, or pass --path with the folder of its module",
        f"component 'pos' (replay_models.Pass) of run '{run_id}': the constructor no longer takes the recorded arguments "
        "(too many positional arguments); recorded: Pass(5, name='pos'); replay with the code the run was recorded with, or record the run again",
    ]


def test_payloads_recorded_as_text_cannot_be_fed(tmp_path: Path) -> None:
    log = tmp_path / "log.duckdb"
    run_id = record(log, [m.Source(name="src", values=[object()]), m.Pass(name="p"), m.Collect(name="sink")], [("src.x", "p.x"), ("p.y", "sink.x")], fallback="repr")
    with pytest.raises(ReplayError, match=(
        rf"^component 'p' \(replay_models.Pass\) of run '{run_id}': input 'x' at step 0 was recorded as text only "
        r"\(Recorder\(fallback='repr'\)\): <object object at 0x\w+>; it cannot be fed to the component: "
        r"record the run again with msgpack-able values or Recorder\(fallback='pickle'\)$"
    )):
        replay(run_id, log=log, components=["p"])
    # Its source rebuilds from text-only arguments neither.
    with pytest.raises(ReplayError, match=r"constructor argument 'values' was recorded as text only"):
        replay(run_id, log=log, components=["src"])


def test_components_run_in_a_scratch_folder_unless_here(tmp_path: Path) -> None:
    log = tmp_path / "log.duckdb"
    run_id = record(log, [m.Source(name="src", values=[1, 2]), m.Writer(name="w", path="out.txt")], [("src.x", "w.x")])
    Path("out.txt").unlink()
    result = replay(run_id, log=log, components=["w"])
    assert not Path("out.txt").exists()
    assert result.scratch is not None and (Path(result.scratch) / "out.txt").read_text() == "1\n2\n"
    empty = replay(run_id, log=log, components=["src"])
    assert empty.scratch is None  # nothing left there: removed
    replay(run_id, log=log, components=["w"], here=True)
    assert Path("out.txt").read_text() == "1\n2\n"


def test_until_stops_after_step_k(chain: tuple[Path, str]) -> None:
    log, run_id = chain
    found = replay(run_id, log=log, components=["scale"], ignore={"stamp"}, debug=Debug(until=1))["scale"]
    assert found.line() == (
        f"component 'scale' (replay_models.Scale): equal to run '{run_id}' up to step 1, where --until stopped it "
        "(2 steps, 2 output values compared of 4)"
    )


def debugger(commands: str, out: io.StringIO) -> Any:
    return lambda: pdb.Pdb(stdin=io.StringIO(commands), stdout=out, nosigint=True)


def test_step_k_stops_before_it_with_the_inputs_set(chain: tuple[Path, str]) -> None:
    log, run_id = chain
    out = io.StringIO()
    replay(run_id, log=log, components=["scale"], ignore={"stamp"}, debug=Debug(before=2, debugger=debugger("p self.x\nc\n", out)))
    assert "(Pdb) 4.0\n" in out.getvalue()


def test_pdb_opens_a_post_mortem_at_a_failing_step(tmp_path: Path, knobs: None) -> None:
    log = tmp_path / "log.duckdb"
    run_id = record(log, [m.Source(name="src", values=[1, 2, 3]), m.Boom(name="boom"), m.Collect(name="sink")], [("src.x", "boom.x"), ("boom.y", "sink.x")])
    out = io.StringIO()
    replay(run_id, log=log, components=["boom"], debug=Debug(post_mortem=True, debugger=debugger("p self.x\nc\n", out)))
    assert "self.y = 1 / 0\n(Pdb) 3\n" in out.getvalue()


def test_repeat_keeps_each_steps_quickest_time(chain: tuple[Path, str]) -> None:
    log, run_id = chain
    result = replay(run_id, log=log, components=["scale"], ignore={"stamp"}, repeat=3)
    assert result.ok and result.repeat == 3 and len(result["scale"].times) == 4


@pytest.mark.parametrize(
    ("recorded", "replayed", "tolerance", "equal"),
    [
        (1, 1.0, None, False),
        ((1, 2), [1, 2], None, False),
        (float("nan"), float("nan"), None, True),
        ({"a": [1.0, 2.0]}, {"a": [1.0, 2.0 + 1e-12]}, None, False),
        ({"a": [1.0, 2.0]}, {"a": [1.0, 2.0 + 1e-12]}, Tolerance(1e-9), True),
        (complex(1, 2), complex(1, 2 + 1e-12), Tolerance(1e-9), True),
        (math.inf, math.inf, None, True),
        (0.0, 1e-15, Tolerance(0, 1e-12), True),
    ],
)
def test_same(recorded: Any, replayed: Any, tolerance: Tolerance | None, equal: bool) -> None:
    assert same(recorded, replayed, tolerance) is equal


def test_numpy_arrays_compare_with_tolerance_and_say_where() -> None:
    np = pytest.importorskip("numpy")
    a = np.arange(6, dtype="f8").reshape(2, 3)
    b = a.copy()
    b[1, 2] += 1e-12
    assert first_difference(a, b) == ("[1, 2]", 5.0, b[1, 2])
    assert same(a, b, Tolerance(1e-9))
    assert not same(a, a.astype("f4"))


def test_tolerance_parse_refuses_nonsense() -> None:
    assert Tolerance.parse("1e-9,1e-12") == Tolerance(1e-9, 1e-12)
    with pytest.raises(ValueError, match="expected numbers REL or REL,ABS"):
        Tolerance.parse("tight")
    with pytest.raises(ValueError, match="must be finite and not negative"):
        Tolerance.parse("-1")


def test_no_cpu_leaves_the_cpu_clock_out(chain: tuple[Path, str]) -> None:
    log, run_id = chain
    timing = replay(run_id, log=log, components=["scale"], ignore={"stamp"}, cpu=False)["scale"].times.summary()
    assert timing["cpu_ns"] is None and timing["wall_ns"] is not None
    assert timing["slowest"][0]["cpu_ns"] is None
