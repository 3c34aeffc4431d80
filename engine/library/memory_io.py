"""``ListReader`` and ``ListWriter``: in-memory sources and sinks for tests and notebooks.

The same shape as ``FileReader``/``FileWriter`` (one port per field, one row per step) with
a Python list instead of a file, so that a component test is ten lines and needs no
temporary files::

    source = ListReader(name="src", field_names=["x"], rows=[1, 2, 3])
    sink = ListWriter(name="out", field_names=["y"])
    ...  # wire src.x -> scale.a -> out.y, run
    assert sink.rows == [{"y": 2}, {"y": 4}, {"y": 6}]

Plugboard has no such component; its own tests build ad-hoc ones each time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Unpack

from ..component import Component, ComponentArgsDict
from ..io import IO
from .file_io import FileFormatError, _fields, _ports, _where

__all__ = ["ListReader", "ListWriter"]


class ListReader(Component):
    """Emits ``rows`` one per step, then closes.

    Each row is a mapping holding every field; with a single field, a row may also be the
    bare value (``rows=[1, 2, 3]``). Rows are read lazily, so a generator works too.
    """

    io = IO()  # the ports are the field names, set per instance

    def __init__(
        self, field_names: Sequence[str], rows: Iterable[Any], **kwargs: Unpack[ComponentArgsDict]
    ) -> None:
        super().__init__(**kwargs)
        self._fields = _fields(self, field_names)
        self.io = _ports(self, IO(outputs=self._fields))  # per-instance ports: the fields decide them
        self._source = rows
        self._rows: Iterator[Any] | None = None
        self._index = 0

    async def init(self) -> None:
        self._rows = iter(self._source)

    async def step(self) -> None:
        assert self._rows is not None, "init() runs before step()"
        row = next(self._rows, _DONE)
        if row is _DONE:
            await self.io.close()
            return
        state = self.__dict__
        if isinstance(row, Mapping):
            for field in self._fields:
                if field not in row:
                    raise FileFormatError(
                        f"{_where(self)}: rows[{self._index}] has no field {field!r}; "
                        f"give every row all of: {', '.join(repr(f) for f in self._fields)}"
                    )
                state[field] = row[field]
        elif len(self._fields) == 1:
            state[self._fields[0]] = row
        else:
            raise FileFormatError(
                f"{_where(self)}: rows[{self._index}] is a {type(row).__name__}, not a mapping; "
                "with several fields each row must be a dict"
            )
        self._index += 1


class ListWriter(Component):
    """Collects one ``dict`` per step in ``rows`` (``{field: value}``)."""

    io = IO()  # the ports are the field names, set per instance

    def __init__(self, field_names: Sequence[str], **kwargs: Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._fields = _fields(self, field_names)
        self.io = _ports(self, IO(inputs=self._fields))  # per-instance ports: the fields decide them
        self.rows: list[dict[str, Any]] = []

    async def init(self) -> None:
        # A process may be built once and run again; each run collects afresh.
        self.rows = []

    async def step(self) -> None:
        state = self.__dict__
        self.rows.append({field: state[field] for field in self._fields})

    def describe_output(self) -> str:
        return f"collected {len(self.rows)} row{'' if len(self.rows) == 1 else 's'} in memory"


_DONE: Any = object()
