"""Model files that would hang, mislead or explode the loader are refused at once, located.

Recursive aliases, alias bombs and nesting past ``MAX_DEPTH`` are refused before any value
is built; ordinary aliases and merge keys keep working; what is built is what PyYAML builds,
with libyaml and without it.
"""

from __future__ import annotations

import datetime
import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from tapeflow import ConfigError
from tapeflow.engine import yamldoc
from tapeflow.engine.config import check_model, load_process
from tapeflow.engine.yamldoc import MAX_ALIAS_NODES, MAX_DEPTH, YamlSyntaxError, parse_yaml

FIXTURES = Path(__file__).parents[1] / "fixtures" / "config"


def chain_model(n: int) -> str:
    """A model of ``n`` components in a chain: an Iterator, then pass-through Sleeps, each
    ``a.y -> b.x``. The 10,000-component one is what the loader's speed is measured on:
    ``tapeflow validate`` of it ran in 4.5 s before the loader was made fast, 0.6 s after."""
    lines = [
        "tapeflow:",
        "  process:",
        "    args:",
        "      name: chain",
        "      components:",
        "      - type: cfg_parts.Iterator",
        "        args: {name: c0, iters: 3}",
    ]
    for i in range(1, n):
        lines += ["      - type: cfg_parts.Sleep", f"        args: {{name: c{i}, sleep_seconds: 0}}"]
    lines.append("      connectors:")
    for i in range(1, n):
        lines += [f"      - source: c{i - 1}.{'x' if i == 1 else 'y'}", f"        target: c{i}.x"]
    return "\n".join(lines) + "\n"


def write(folder: Path, text: str, name: str = "model.yaml") -> Path:
    shutil.copy(FIXTURES / "cfg_parts.py", folder / "cfg_parts.py")
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_process(path)
    return caught.value.lines


@pytest.fixture(params=["libyaml", "pure-python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every check holds with libyaml and with PyYAML's pure-Python parser alone."""
    if request.param == "pure-python":
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    elif getattr(yaml, "CSafeLoader", None) is None:
        pytest.skip("PyYAML is built without libyaml here")
    return str(request.param)


def laughs(levels: int) -> str:
    """The "billion laughs": each level lists the one before ten times."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(10)
def test_recursive_alias_is_refused_at_the_alias(tmp_path: Path, parser: str) -> None:
    path = write(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              components: &a [*a]
        """,
    )
    assert errors_of(path) == [f"{path}:4:23: YAML alias '*a' refers to a node that contains it; write the value out"]


@pytest.mark.timeout(10)
def test_every_recursive_alias_is_reported(tmp_path: Path, parser: str) -> None:
    path = tmp_path / "model.yaml"
    path.write_text("a: &a [1, {b: *a}]\nc: &c {d: [*c]}\ne: *a\n")
    assert errors_of(path) == [
        f"{path}:1:15: YAML alias '*a' refers to a node that contains it; write the value out",
        f"{path}:2:12: YAML alias '*c' refers to a node that contains it; write the value out",
    ]


@pytest.mark.timeout(10)
def test_billion_laughs_is_refused_at_the_alias_that_passes_the_limit(tmp_path: Path, parser: str) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(laughs(9))
    # Levels 1 to 4 add 123,340 nodes; each '*l4' adds 111,111 more, and the eighth on line 6
    # passes 1,000,000. The total counts every alias: it is reported, never built.
    assert errors_of(path) == [
        f"{path}:6:45: YAML alias '*l4' makes aliases expand to more than 1,000,000 nodes "
        "(1,234,567,880 in all); alias smaller values or write them out"
    ]


def test_expansion_just_under_the_limit_is_read(tmp_path: Path) -> None:
    # Five levels: 111,110 nodes of aliased copies, a tenth of the limit.
    source = parse_yaml(laughs(5), "model.yaml")
    assert len(source.data["l4"]) == 10
    assert source.data["l4"][0] is source.data["l3"]  # shared, as PyYAML shares them
    assert MAX_ALIAS_NODES == 1_000_000


def test_nesting_past_the_limit_is_refused(tmp_path: Path, parser: str) -> None:
    path = tmp_path / "model.yaml"
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    path.write_text(f"tapeflow: {deep}\n")
    # The mapping at the top is level 1: the 100th '[' opens level 101.
    assert errors_of(path) == [f"{path}:1:{11 + MAX_DEPTH - 1}: YAML value nested deeper than 100 levels; flatten it"]


def test_nesting_at_the_limit_is_read() -> None:
    deep = "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1)
    value = parse_yaml(f"x: {deep}\n", "model.yaml").data["x"]
    for _ in range(MAX_DEPTH - 2):
        value = value[0]
    assert value == [1]


def test_nesting_through_an_alias_is_refused_at_the_alias(tmp_path: Path, parser: str) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(f"a: &a {'[' * 80}1{']' * 80}\nb: {'[' * 30}*a{']' * 30}\n")
    assert errors_of(path) == [f"{path}:2:34: YAML alias '*a' nests a value deeper than 100 levels; flatten it"]


@pytest.mark.timeout(10)
def test_nesting_beyond_what_a_parser_reads_is_located_as_the_same_line(tmp_path: Path, parser: str) -> None:
    # libyaml stops at 1,000 levels and PyYAML's composer at the recursion limit; both are
    # reported where the nesting passes MAX_DEPTH, as a shallower document is.
    path = tmp_path / "model.yaml"
    path.write_text("x: " + "[" * 5000 + "]" * 5000 + "\n")
    assert errors_of(path) == [f"{path}:1:103: YAML value nested deeper than 100 levels; flatten it"]


def test_ordinary_aliases_and_merge_keys_build(tmp_path: Path, parser: str) -> None:
    path = write(
        tmp_path,
        """
        tapeflow:
          process:
            args:
              parameters: &shared {gain: 2}
              components:
              - type: cfg_parts.Iterator
                args: {name: src, iters: 3, parameters: *shared}
              - type: cfg_parts.Scaler
                args: &scale {name: s1, factor: 2, parameters: *shared}
              - type: cfg_parts.Scaler
                args: {<<: *scale, name: s2}
              - {type: cfg_parts.Collect, args: {name: k1}}
              - {type: cfg_parts.Collect, args: {name: k2}}
              connectors:
              - {source: src.x, target: s1.a}
              - {source: src.x, target: s2.a}
              - {source: s1.out, target: k1.value}
              - {source: s2.out, target: k2.value}
        """,
    )
    process = check_model(path)
    assert process.components["s2"].factor == 2  # type: ignore[attr-defined]
    assert process.components["s2"].own_parameters == {"gain": 2}
    assert process.parameters == {"gain": 2}


def test_merge_key_overrides_are_not_duplicate_keys(tmp_path: Path) -> None:
    source = parse_yaml("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\n", "model.yaml")
    assert source.duplicate_keys == []
    assert source.data["use"] == {"x": 1, "y": 3}


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [x, 2.5, true, null, ~, 0x1f, 1_000, .inf, 2024-01-02, 2024-01-02T03:04:05Z]\n",
        "base: &b {x: 1, y: [1, 2]}\nuse: {<<: *b, y: 3}\nboth: [*b, *b]\n",
        "s: !!set {a, b}\nbin: !!binary aGVsbG8=\nstr: !!str 12\nkeys: {1: a, 2.5: b, null: c, [1, 2]: d}\n",
        "'quoted key': \"x\\ty\"\nblock: |\n  line one\n  line two\nfolded: >\n  a\n  b\n",
    ],
)
def test_values_are_what_pyyaml_builds(text: str, parser: str) -> None:
    try:
        expected = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        with pytest.raises(YamlSyntaxError):
            parse_yaml(text, "model.yaml")
        return
    assert parse_yaml(text, "model.yaml").data == expected


def test_values_include_timestamps_as_pyyaml_does() -> None:
    assert parse_yaml("d: 2024-01-02\n", "m.yaml").data == {"d": datetime.date(2024, 1, 2)}


def test_syntax_errors_read_the_same_with_and_without_libyaml(tmp_path: Path, parser: str) -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        parse_yaml("# one\nk: {a: b: c}\n", "model.yaml")
    assert caught.value.lines == ["model.yaml:2:9: invalid YAML: expected ',' or '}', but got ':'"]


def test_undefined_alias_is_a_syntax_error(parser: str) -> None:
    with pytest.raises(YamlSyntaxError, match=re.escape("model.yaml:1:4: invalid YAML: found undefined alias 'nope'")):
        parse_yaml("a: *nope\n", "model.yaml")


def test_duplicate_keys_are_found_in_nested_and_shared_mappings(parser: str) -> None:
    source = parse_yaml("a: &a {x: 1, x: 2}\nb: [*a, {y: 1, y: 2}]\n", "model.yaml")
    assert source.duplicate_keys == [
        (1, 14, "duplicate key 'x' (first at line 1); keep only one"),
        (2, 16, "duplicate key 'y' (first at line 2); keep only one"),
    ]


def test_the_collector_is_back_on_after_reading(tmp_path: Path) -> None:
    import gc

    parse_yaml("a: 1\n", "model.yaml")
    assert gc.isenabled()
    gc.disable()
    try:
        with yamldoc.gc_paused():
            pass
        assert not gc.isenabled()  # nested: only the outermost turns it back on
    finally:
        gc.enable()


def test_ten_thousand_component_chain_validates(tmp_path: Path) -> None:
    # A correctness check on the size the speed is measured at (see chain_model); no timing.
    path = write(tmp_path, chain_model(10_000))
    process = check_model(path)
    assert len(process.components) == 10_000
    assert len(process.connectors) == 9_999
