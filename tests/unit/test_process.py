"""Step semantics of LocalProcess, on both the plain and the stamped component loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import ListTap, wire
from engine_models import (
    Add,
    Boom,
    Collect,
    Counter,
    EvenOnly,
    Forever,
    Pair,
    Pass,
    Scale,
    Source,
    TakeTwo,
    Typo,
)

from tapeflow import ComponentError, LocalProcess, OutputNotSetError


def make(tap_mode: str, components: list[Any], connectors: list[Any], **kwargs: Any) -> LocalProcess:
    tap = ListTap() if tap_mode == "stamped" else None
    return LocalProcess(components=components, connectors=connectors, tap=tap, **kwargs)


async def run(process: LocalProcess) -> LocalProcess:
    async with process:
        await process.run()
    return process


async def test_chain_delivers_every_value_in_order(tap_mode: str) -> None:
    values = list(range(500))  # several times the channel capacity, so backpressure is exercised
    p = await run(make(tap_mode, [Source(name="src", values=values), Pass(name="p"), Collect(name="sink")],
                       [wire("src.x", "p.x"), wire("p.y", "sink.x")]))
    sink = p.components["sink"]
    assert sink.seen == values
    assert p.status == "completed"
    # The source's closing step counts as a step; it sent nothing.
    assert p.step_counts == {"src": 501, "p": 500, "sink": 500}


async def test_fan_out_sends_the_same_object_to_every_target(tap_mode: str) -> None:
    payload = [{"k": 1}]
    p = await run(make(tap_mode, [Source(name="src", values=payload), Collect(name="a"), Collect(name="b")],
                       [wire("src.x", "a.x"), wire("src.x", "b.x")]))
    assert p.components["a"].seen[0] is payload[0]
    assert p.components["b"].seen[0] is payload[0]


async def test_fan_in_merges_streams_and_closes_after_all_sources(tap_mode: str) -> None:
    p = await run(make(tap_mode, [Source(name="s1", values=[1, 2, 3]), Source(name="s2", values=[10, 20]), Collect(name="sink")],
                       [wire("s1.x", "sink.x"), wire("s2.x", "sink.x")]))
    seen = p.components["sink"].seen
    assert sorted(seen) == [1, 2, 3, 10, 20]
    assert [v for v in seen if v < 10] == [1, 2, 3]  # each source's order is kept


async def test_two_inputs_step_once_per_pair(tap_mode: str) -> None:
    p = await run(make(tap_mode, [Source(name="a", values=[1, 2, 3]), Source(name="b", values=["x", "y"]), Pair(name="pair"), Collect(name="sink")],
                       [wire("a.x", "pair.a"), wire("b.x", "pair.b"), wire("pair.out", "sink.x")]))
    # The shorter input closes first, and the component finishes with it.
    assert p.components["sink"].seen == [(1, "x"), (2, "y")]


async def test_initial_values_start_a_loop(tap_mode: str) -> None:
    p = await run(make(tap_mode, [Counter(name="c", limit=5, initial_values={"x": [0]})], [wire("c.y", "c.x")]))
    assert p.components["c"].seen == [0, 1, 2, 3, 4, 5]


async def test_initial_values_come_before_channel_values(tap_mode: str) -> None:
    p = await run(make(tap_mode, [Source(name="src", values=[1, 2]), Add(name="add", initial_values={"b": [100, 200, 300]}), Collect(name="sink")],
                       [wire("src.x", "add.a"), wire("src.x", "add.b"), wire("add.y", "sink.x")]))
    # b: 100, 200, 300 (initial), then 1, 2 from the channel; a: 1, 2, then closed.
    assert p.components["sink"].seen == [101, 202]


async def test_input_fed_only_by_initial_values_ends_with_them(tap_mode: str) -> None:
    p = await run(make(tap_mode, [Pass(name="p", initial_values={"x": [7, 8]}), Collect(name="sink")], [wire("p.y", "sink.x")]))
    assert p.components["sink"].seen == [7, 8]


async def test_outputs_keep_their_value_between_steps(tap_mode: str) -> None:
    class Latch(EvenOnly):
        async def init(self) -> None:
            self.y = None  # sending None on purpose is allowed: set it

    p = await run(make(tap_mode, [Source(name="src", values=[1, 2, 3, 4, 5]), Latch(name="even"), Collect(name="sink")],
                       [wire("src.x", "even.x"), wire("even.y", "sink.x")]))
    assert p.components["sink"].seen == [None, 2, 2, 4, 4]


async def test_process_parameters_reach_components_and_their_own_win(tap_mode: str) -> None:
    p = await run(make(tap_mode, [Source(name="src", values=[1, 2]), Scale(name="s1"), Scale(name="s2", parameters={"factor": 10}),
                                  Collect(name="k1"), Collect(name="k2")],
                       [wire("src.x", "s1.a"), wire("src.x", "s2.a"), wire("s1.y", "k1.x"), wire("s2.y", "k2.x")],
                       parameters={"factor": 3}))
    assert p.components["k1"].seen == [3, 6]
    assert p.components["k2"].seen == [10, 20]
    assert p.components["s1"].parameters == {"factor": 3}


async def test_a_failing_step_stops_the_process_and_names_component_and_step(tap_mode: str) -> None:
    p = make(tap_mode, [Source(name="src", values=range(10)), Boom(name="boom", at=3), Collect(name="sink")],
             [wire("src.x", "boom.x"), wire("boom.y", "sink.x")])
    with pytest.raises(ComponentError, match=r"^component 'boom' \(engine_models\.Boom\) failed in step 3: RuntimeError: boom at 3$") as info:
        await run(p)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert info.value.component == "boom" and info.value.step == 3
    assert p.components["boom"].destroyed and p.components["sink"].destroyed
    assert p.status == "failed"


async def test_a_step_that_never_sets_an_output_names_it_and_the_stray_attribute(tap_mode: str) -> None:
    p = make(tap_mode, [Typo(name="input"), Collect(name="sink")], [wire("input.x", "sink.x")])
    with pytest.raises(
        OutputNotSetError,
        match=r"^component 'input' \(engine_models\.Typo\): step 0 ended without setting output 'x' "
        r"\(it set 'out_1', which is not an output\); set self\.x in step\(\) \(or in init\(\) to send a starting value\)$",
    ):
        await run(p)


async def test_a_receiver_that_closes_early_stops_its_endless_source(tap_mode: str) -> None:
    p = await run(make(tap_mode, [Forever(name="src"), TakeTwo(name="take")], [wire("src.x", "take.x")]))
    assert p.components["take"].seen == [1, 2]


async def test_cancelling_run_runs_destroy(tap_mode: str) -> None:
    p = make(tap_mode, [Forever(name="src"), Collect(name="sink")], [wire("src.x", "sink.x")])

    async def main() -> None:
        async with p:
            await p.run()

    task = asyncio.create_task(main())
    while not p.progress() or p.progress()["sink"] < 100:
        await asyncio.sleep(0)  # yields to the running model; no wall-clock wait
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert p.components["sink"].destroyed
    assert p.status == "stopped"  # Plugboard's word; the event log says "cancelled"


async def test_stamped_loop_records_every_step_and_sent_value() -> None:
    tap = ListTap()
    p = LocalProcess(components=[Source(name="src", values=[5, 6, 7]), Pass(name="p"), Collect(name="sink")],
                     connectors=[wire("src.x", "p.x"), wire("p.y", "sink.x")], tap=tap)
    await run(p)
    assert tap.ended == ("completed", None)
    assert [c.name for c in tap.run.components] == ["src", "p", "sink"]
    # The source's closing step is recorded but sends nothing.
    assert [s[0] for s in tap.steps(0)] == [0, 1, 2, 3]
    assert [s[0] for s in tap.steps(1)] == [0, 1, 2]
    assert tap.sent(0, 0) == [5, 6, 7] and tap.sent(1, 0) == [5, 6, 7]
    for component in range(3):
        for _, wait, start, end in tap.steps(component):
            assert wait <= start <= end
    # A receiver's step k starts after the sender's step k ended (message k's send).
    for (_, _, _, sent_at), (_, _, started, _) in zip(tap.steps(0), tap.steps(1)):
        assert sent_at <= started


async def test_stamped_loop_notes_the_channel_of_each_fanned_in_value() -> None:
    tap = ListTap()
    p = LocalProcess(components=[Source(name="s1", values=[1, 2]), Source(name="s2", values=[10]), Collect(name="sink")],
                     connectors=[wire("s1.x", "sink.x"), wire("s2.x", "sink.x")], tap=tap)
    await run(p)
    seen = p.components["sink"].seen
    channel_of = {1: 0, 2: 0, 10: 1}
    assert tap.sources(2, 0) == [channel_of[v] for v in seen]


async def test_stamped_loop_records_the_failing_step() -> None:
    tap = ListTap()
    p = LocalProcess(components=[Source(name="src", values=[1, 3]), Boom(name="boom", at=3)],
                     connectors=[wire("src.x", "boom.x")], tap=tap)
    with pytest.raises(ComponentError):
        await run(p)
    errors = tap.errors(1)
    assert [index for index, _ in errors] == [1]
    assert isinstance(errors[0][1], RuntimeError)
    assert [s[0] for s in tap.steps(1)] == [0, 1]
    assert tap.sent(1, 0) == [1]  # the failed step sent nothing
    assert tap.ended is not None and tap.ended[0] == "failed"


async def test_an_error_before_the_first_step_says_so() -> None:
    class BrokenTap(ListTap):
        def component_log(self, component: int, offset_ns: int) -> Any:
            raise RuntimeError("no log for you")

    p = LocalProcess(components=[Source(name="src", values=[1]), Collect(name="sink")],
                     connectors=[wire("src.x", "sink.x")], tap=BrokenTap())
    with pytest.raises(ComponentError, match=r"^component '(src|sink)' \(engine_models\.\w+\) failed before its first step: RuntimeError: no log for you$"):
        await run(p)


async def test_components_whose_steps_block_the_loop_take_turns(tap_mode: str) -> None:
    import time as _time

    order: list[str] = []

    class Busy(Pass):
        """Holds the event loop for 2 ms per step, as the tutorial's time.sleep does."""

        async def step(self) -> None:
            until = _time.perf_counter() + 0.002
            while _time.perf_counter() < until:
                pass
            order.append(self.name)
            self.y = self.x

    p = await run(make(tap_mode, [Source(name="src", values=range(10)), Busy(name="a"), Busy(name="b"), Collect(name="ka"), Collect(name="kb")],
                       [wire("src.x", "a.x"), wire("src.x", "b.x"), wire("a.y", "ka.x"), wire("b.y", "kb.x")]))
    assert p.components["ka"].seen == list(range(10)) == p.components["kb"].seen
    # Without turns, a would run all ten steps before b ran one.
    assert order[:4] in (["a", "b", "a", "b"], ["b", "a", "b", "a"])
