"""The report's data (the JSON ``tapeflow report`` prints), the trace file, and the stored
calibration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_models import Double, Source, record_diamond, wire

from tapeflow import LocalProcess
from tapeflow.recorder import Recorder
from tapeflow.replay.calibrate import DEFAULTS, ConnectorCost, load, store
from tapeflow.replay.errors import ReplayError
from tapeflow.replay.report import parse_what_if, timing_report
from tapeflow.replay.trace import parse_steps, write_trace


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    log = tmp_path_factory.mktemp("log") / "log.duckdb"
    return log, record_diamond(log, n=40)


def test_the_report_has_the_keys_the_issue_names(recorded: tuple[Path, str]) -> None:
    log, run_id = recorded
    found = timing_report(run_id[:8], log=log, cpus=[1, 2])
    assert found["run_id"] == run_id
    for key in ("makespan_s", "work_s", "span_s", "parallelism", "critical_path", "components", "channels", "predictions", "notes"):
        assert key in found
    assert 0 < found["span_s"] <= found["makespan_s"]
    assert found["work_s"] >= found["span_s"] * 0.999
    assert found["critical_path"][0] == "src"
    assert [c["name"] for c in found["components"]] == ["src", "left", "right", "add", "sink"]
    assert found["components"][0]["steps"] == 41
    assert [ch["messages"] for ch in found["channels"]] == [40] * 5
    assert found["channels"][0]["label"] == "src.x -> left.x"
    assert found["channels"][0]["payload_bytes"] > 0
    assert [(p["cpus"], p["connector"]) for p in found["predictions"]] == [(1, "ray"), (1, "zmq"), (2, "ray"), (2, "zmq")]
    for p in found["predictions"]:
        assert p["makespan_s"] > 0 and p["speedup"] > 0
        assert p["verdict"] in ("pays off", "marginal", "does not pay off")
        assert p["reason"]
        low, high = p["speedup_bounds"]
        assert low <= p["speedup"] <= high
    json.dumps(found)  # JSON-ready as it is


def test_tiny_steps_do_not_pay_off_and_say_messaging_dominates(recorded: tuple[Path, str]) -> None:
    log, run_id = recorded
    found = timing_report(run_id, log=log, cpus=[2], connectors=["ray"])
    (p,) = found["predictions"]
    assert p["verdict"] == "does not pay off"
    assert "messaging would dominate" in p["reason"]


def test_the_report_says_when_it_used_default_costs(recorded: tuple[Path, str], calibration_file: Path) -> None:
    log, run_id = recorded
    found = timing_report(run_id, log=log, cpus=[2])
    assert found["calibration"]["measured"] is False
    assert any(note.startswith("using built-in message and start costs: no calibration at") for note in found["notes"])
    store(DEFAULTS.__class__({"ray": ConnectorCost(1e-6, 2e-6, 3e-6), "zmq": ConnectorCost(1e-6, 1e-6, 1e-6)}, 1.0, 0.1))
    found = timing_report(run_id, log=log, cpus=[2])
    assert found["calibration"]["measured"] is True
    assert found["calibration"]["connectors"]["ray"]["latency_s"] == 3e-6
    assert not any("built-in" in note for note in found["notes"])


def test_a_calibration_from_before_first_s_and_overhead_cores_uses_their_defaults_and_says_so(calibration_file: Path) -> None:
    calibration_file.parent.mkdir(parents=True)
    old = {"connectors": {c: {"step_s": 1e-6, "message_s": 2e-6, "latency_s": 3e-4} for c in ("ray", "zmq")},
           "ray_start_s": 1.0, "actor_start_s": 0.1}
    calibration_file.write_text(json.dumps(old))
    found = load()
    assert found.measured is True and found.connectors["ray"].latency_s == 3e-4
    assert found.connectors["ray"].first_s == DEFAULTS.connectors["ray"].first_s
    assert found.connectors["zmq"].overhead_cores == DEFAULTS.connectors["zmq"].overhead_cores
    assert any("predates cpu_stretch, fanout_s, first_s, overhead_cores" in note and "run tapeflow calibrate again" in note
               for note in found.notes)


def test_a_calibration_from_before_fanout_s_and_cpu_stretch_uses_their_defaults_and_says_so(calibration_file: Path) -> None:
    calibration_file.parent.mkdir(parents=True)
    old = {"connectors": {c: {"step_s": 1e-6, "message_s": 2e-6, "latency_s": 3e-4, "first_s": 1e-3, "overhead_cores": 0.0}
                          for c in ("ray", "zmq")},
           "ray_start_s": 1.0, "actor_start_s": 0.1}
    calibration_file.write_text(json.dumps(old))
    found = load()
    assert found.connectors["ray"].first_s == 1e-3
    assert found.connectors["ray"].fanout_s == DEFAULTS.connectors["ray"].fanout_s > 0
    assert found.connectors["zmq"].cpu_stretch == DEFAULTS.connectors["zmq"].cpu_stretch > 0
    assert any("predates cpu_stretch, fanout_s, window_s:" in note for note in found.notes)
    assert found.connectors["ray"].window_s == DEFAULTS.connectors["ray"].window_s > 0


def test_a_broken_calibration_falls_back_with_a_note(calibration_file: Path) -> None:
    calibration_file.parent.mkdir(parents=True)
    calibration_file.write_text("{not json")
    found = load()
    assert found.measured is False
    assert "unreadable" in found.notes[0] and "run tapeflow calibrate again" in found.notes[0]


def test_what_if_names_a_component_and_a_factor(recorded: tuple[Path, str]) -> None:
    log, run_id = recorded
    assert parse_what_if(["add=2", "a=b=0.5"]) == {"add": 2.0, "a=b": 0.5}
    for bad in ("add", "add=0", "add=fast", "=2"):
        with pytest.raises(ReplayError, match=r"--what-if .*expected COMPONENT=FACTOR"):
            parse_what_if([bad])
    with pytest.raises(ReplayError, match=r"run '.*' has no component 'ad'; did you mean 'add'\? components are: 'src', "):
        timing_report(run_id, log=log, cpus=[1], what_if={"ad": 2.0})
    faster = timing_report(run_id, log=log, cpus=[1], connectors=["zmq"], what_if={"left": 1000.0, "right": 1000.0})
    slower = timing_report(run_id, log=log, cpus=[1], connectors=["zmq"])
    assert faster["predictions"][0]["makespan_s"] < slower["predictions"][0]["makespan_s"]


def test_bad_arguments_are_user_errors(recorded: tuple[Path, str]) -> None:
    log, run_id = recorded
    with pytest.raises(ReplayError, match=r"--cpus: must be at least 1, got 0"):
        timing_report(run_id, log=log, cpus=[0])
    with pytest.raises(ReplayError, match=r"--connector: unknown connector 'asyncio'; choose ray or zmq"):
        timing_report(run_id, log=log, connectors=["asyncio"])


def test_the_trace_has_a_track_a_slice_a_flow_and_a_counter(recorded: tuple[Path, str], tmp_path: Path) -> None:
    log, run_id = recorded
    out = tmp_path / "trace.json"
    line = write_trace(run_id, out, log=log)
    assert line.startswith(f"wrote {out}: run {run_id}, 201 steps, 200 messages")
    events = json.loads(out.read_text())["traceEvents"]
    tracks = [e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"]
    assert tracks == ["src", "left", "right", "add", "sink"]
    slices = [e for e in events if e["ph"] == "X"]
    assert len(slices) == 201 and {"step", "blocked_us", "send_blocked_us"} <= set(slices[0]["args"])
    starts = {e["id"] for e in events if e["ph"] == "s"}
    ends = {e["id"] for e in events if e["ph"] == "f"}
    assert starts == ends and len(starts) == 200
    counters = {e["name"] for e in events if e["ph"] == "C"}
    assert counters == {f"in flight {label}" for label in ("src.x -> left.x", "src.x -> right.x", "left.y -> add.a", "right.y -> add.b", "add.y -> sink.x")}


def test_a_cut_trace_says_what_it_left_out(recorded: tuple[Path, str], tmp_path: Path) -> None:
    log, run_id = recorded
    out = tmp_path / "trace.json"
    line = write_trace(run_id, out, log=log, limit=50)
    assert "10 steps" not in line and "left out 151 steps" in line and "kept steps 0 to 9 of each component" in line
    other = json.loads(out.read_text())["otherData"]
    assert other["steps"] == 50 and other["left_out"]["steps"] == 151
    line = write_trace(run_id, out, log=log, steps=(5, 8))
    assert f"run {run_id}, 15 steps" in line and "kept steps 5 to 7" in line
    assert parse_steps(":10") == (0, 10)
    for bad in ("5", "8:5", "a:b", "-1:3"):
        with pytest.raises(ReplayError, match=r"--steps .*expected A:B"):
            parse_steps(bad)


def test_an_output_with_no_connector_is_listed_but_not_in_the_step_graph(tmp_path: Path) -> None:
    import asyncio

    log = tmp_path / "log.duckdb"
    process = LocalProcess(components=[Source(name="src", n=20), Double(name="d")], connectors=[wire("src.x", "d.x")], tap=Recorder(log))

    async def main() -> None:
        async with process:
            await process.run()

    asyncio.run(main())
    found = timing_report(str(process.run_id), log=log, cpus=[2])
    assert [(c["label"], c["messages"]) for c in found["channels"]] == [("src.x -> d.x", 20), ("d.y -> (no connector)", 20)]
    assert found["critical_path"] and all(p["makespan_s"] > 0 for p in found["predictions"])
