"""The rows that describe a run, written once when it starts: its process, its components
(with their constructor arguments, exactly and as JSON) and its channels."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from ..engine.resources import Resource
from ..engine.tap import ComponentInfo, RunInfo
from .errors import RecordingError

__all__ = ["as_json", "component_spec", "insert_model", "pid_namespace", "versions"]


def insert_model(con: Any, run_id: str, run: RunInfo, specs: list[bytes | None]) -> None:
    """The run's components and channels, each kind in one insert of parallel lists (DuckDB
    zips ``unnest``s of one SELECT): a row-at-a-time insert took 0.6 ms a row, 6 s for 10,000
    components; this takes 35 ms, and needs no pyarrow before the first step."""
    if run.components:
        cs = run.components
        con.execute(
            "INSERT INTO components SELECT $run, unnest($id), unnest($name), unnest($class_path), unnest($args),"
            " unnest($inputs), unnest($outputs), unnest($resources), unnest($initial_values), unnest($parameters),"
            " unnest($spec)",
            {
                "run": run_id,
                "id": [c.id for c in cs],
                "name": [c.name for c in cs],
                "class_path": [c.class_path for c in cs],
                "args": [as_json(c.args) for c in cs],
                "inputs": [list(c.inputs) for c in cs],
                "outputs": [list(c.outputs) for c in cs],
                "resources": [as_json(c.resources) for c in cs],
                "initial_values": [as_json(c.initial_values) for c in cs],
                "parameters": [as_json(c.parameters) for c in cs],
                "spec": specs,
            },
        )
    if run.channels:
        chs = run.channels
        con.execute(
            "INSERT INTO channels SELECT $run, unnest($id), unnest($source_component), unnest($source_port),"
            " unnest($target_component), unnest($target_port), unnest($kind)",
            {
                "run": run_id,
                "id": [c.id for c in chs],
                "source_component": [c.source_component for c in chs],
                "source_port": [c.source_port for c in chs],
                "target_component": [c.target_component for c in chs],
                "target_port": [c.target_port for c in chs],
                "kind": [c.kind for c in chs],
            },
        )


def pid_namespace() -> str | None:
    """This process's PID namespace (``pid:[4026531836]`` on Linux), or ``None`` where there
    is no such thing: a pid means this process only to readers in the same namespace."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def as_json(value: Any) -> str:
    """``value`` as JSON for the columns people and SQL read (``components.spec`` keeps it
    exactly). Never raises: a dict key that is not a str becomes its repr, and so does any
    value JSON cannot hold (a set, a tuple-keyed dict's key, a str that is not UTF-8, a cycle)."""
    try:
        return json.dumps(_jsonable(value, set()), sort_keys=True, ensure_ascii=False)
    except (RecursionError, ValueError):  # nested deeper than the interpreter's stack allows
        return json.dumps(_text(value), ensure_ascii=False)


def _text(value: Any) -> str:
    """``repr(value)`` as UTF-8-safe text, even for a ``__repr__`` that raises."""
    try:
        text = repr(value)
    except Exception as problem:
        kind = type(value)
        text = f"<{kind.__module__}.{kind.__qualname__} object; repr() raised {type(problem).__name__}>"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _utf8(text: str) -> bool:
    """Whether ``text`` is UTF-8-able: a lone surrogate is a valid str that DuckDB refuses."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _jsonable(value: Any, open_: set[int]) -> Any:
    """``value`` made of what ``json.dumps`` writes and DuckDB's JSON type reads back."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if _utf8(value) else _text(value)
    if type(value) in (list, tuple, dict):
        if id(value) in open_:  # a container inside itself
            return _text(value)
        open_.add(id(value))
        try:
            if type(value) is dict:
                return {
                    (key if type(key) is str and _utf8(key) else _text(key)): _jsonable(item, open_)
                    for key, item in value.items()
                }
            return [_jsonable(item, open_) for item in value]
        finally:
            open_.discard(id(value))
    return _text(value)


_SPEC_ADVICE = (
    "pass msgpack-able values, record with Recorder(fallback='pickle') or fallback='repr', "
    "or run unrecorded (tap=None, --no-record)"
)


def component_spec(info: ComponentInfo, encode: Callable[[Any], bytes]) -> bytes:
    """The ``components.spec`` blob: how ``info``'s component was built, exactly (the payload
    codec): ``{"args": [...], "kwargs": {...}, "parameters": {...}, "initial_values": {...}}``.

    Raises ``RecordingError`` naming the component and the first argument ``encode`` (the
    recorder's codec, with its fallback) cannot carry."""
    spec = {
        "args": list(info.positional),
        # A Resource is stored as its dict, which every constructor takes alike (and equal).
        "kwargs": {k: v.to_dict() if isinstance(v, Resource) else v for k, v in info.args.items()},
        "parameters": dict(info.parameters),
        "initial_values": dict(info.initial_values),
    }
    try:
        return encode(spec)
    except (TypeError, ValueError, OverflowError) as problem:
        failure: BaseException = problem
    # Find the first part it cannot encode, to name it.
    parts: list[tuple[str, Any]] = [(f"positional constructor argument {i}", v) for i, v in enumerate(info.positional)]
    parts += [(f"constructor argument {k!r}", v) for k, v in info.args.items()]
    parts += [(f"parameter {k!r}", v) for k, v in info.parameters.items()]
    parts += [(f"initial values of input {k!r}", v) for k, v in info.initial_values.items()]
    what, kind, reason = "its arguments", type(spec), str(failure)
    for name, value in parts:
        try:
            encode(value)
        except (TypeError, ValueError, OverflowError) as problem:
            failure, what = problem, name
            kind = getattr(problem, "kind", type(value))
            reason = getattr(problem, "reason", str(problem))
            break
    detail = f"{kind.__module__}.{kind.__qualname__}" + (f": {reason}" if reason else "")
    raise RecordingError(
        f"component {info.name!r} ({info.class_path}): cannot record {what} ({detail}); {_SPEC_ADVICE}"
    ) from failure


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for name in ("tapeflow", "duckdb", "pyarrow", "msgpack"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
