"""``FileReader`` and ``FileWriter``: a model's first source and last sink, as in Plugboard.

``FileReader(name="load", path="in.csv", field_names=["x", "y"])`` has one output per field
and steps once per row; ``FileWriter(name="save", path="out.csv", field_names=["x"])`` has
one input per field and writes one row per step. The format follows the extension; see
``file_formats`` for what each format reads and writes (CSV numbers come back as numbers).

Neither touches its file before ``init()``: ``tapeflow validate`` builds a model's components
without running them, and building must never truncate an output (Plugboard's FileWriter
does, which loses the previous run's results). The writer closes its file in ``destroy()``,
which also runs when the process fails, so a failed run keeps the rows written so far.

File I/O runs on the event loop: reads and writes are buffered, so one row rarely touches the
disk, and a hop to a thread per row would cost more than the I/O it hides.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Unpack

from ..component import _RESERVED, Component, ComponentArgsDict
from ..errors import IOStreamClosedError, NotAvailableError, UserError
from ..io import IO
from .file_formats import (
    READ_FORMATS,
    FormatProblem,
    RowWriter,
    format_of,
    open_rows,
    open_writer,
    parquet_available,
)

__all__ = ["FileFormatError", "FileReader", "FileWriter"]


class FileFormatError(UserError, ValueError):
    """A file a library component reads or writes has an unsupported type or wrong content.

    A ``UserError`` (the CLI prints one line and exits 2): the fix is in the user's file or
    model, not in tapeflow. Also a ``ValueError``, as Plugboard raises for the same mistakes.
    """


def _where(component: Component) -> str:
    return f"component {component.name!r} ({type(component).__name__})"


def _ports(component: Component, io: IO) -> IO:
    """``io`` as the component's own ports (its messages name the component)."""
    io.owner = component.io.owner
    return io


def _fields(component: Component, field_names: Iterable[str]) -> tuple[str, ...]:
    if isinstance(field_names, str):
        raise FileFormatError(
            f"{_where(component)}: field_names must be a list of names, not the string "
            f"{field_names!r}; write field_names=[{field_names!r}]"
        )
    fields = tuple(field_names)
    if not fields:
        raise FileFormatError(f"{_where(component)}: field_names is empty; name at least one field")
    for field in fields:
        # A field becomes an attribute of the component; one that names a method or an engine
        # attribute (``step``, ``name``) would overwrite it.
        if isinstance(field, str) and (hasattr(type(component), field) or field in _RESERVED):
            raise FileFormatError(
                f"{_where(component)}: field {field!r} clashes with an attribute of {type(component).__name__}; "
                "rename the column"
            )
        if isinstance(field, str) and field.startswith("_"):
            # The component keeps its own state in underscore attributes.
            raise FileFormatError(
                f"{_where(component)}: field {field!r} starts with '_', which is reserved; rename the column"
            )
    try:
        # IO checks that each name is an identifier and declared once; same rules both ways.
        return IO(inputs=fields).inputs
    except (TypeError, ValueError) as error:
        raise FileFormatError(f"{_where(component)}: {error}") from None


def _check_format(component: Component, path: Path, verb: str) -> str:
    extension = format_of(path)
    if extension is None:
        suffix = "".join(path.suffixes).lower() or "(none)"
        close = difflib.get_close_matches(suffix, READ_FORMATS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        supported = ", ".join(repr(e) for e in READ_FORMATS)
        raise FileFormatError(
            f"{_where(component)}: cannot {verb} {str(path)!r}: unsupported file type {suffix!r}; "
            f"{hint}supported: {supported}"
        )
    if extension == ".parquet" and not parquet_available():
        raise NotAvailableError(
            f"{_where(component)}: {verb}ing {str(path)!r} needs pyarrow, which is not installed; "
            "pip install pyarrow"
        )
    return extension


def _check_storage(component: Component, storage_options: dict[str, Any] | None) -> None:
    if storage_options:
        raise NotAvailableError(
            f"{_where(component)}: storage_options (fsspec remote storage) is not supported; "
            "use a local path"
        )


class FileReader(Component):
    """Emits the rows of a file, one row per step, one output per field; closes at the end.

    ``path``: a ``.csv``, ``.csv.gz``, ``.jsonl``/``.ndjson`` (optionally ``.gz``) or
    ``.parquet`` file (Parquet needs pyarrow). ``field_names``: the columns to emit, which
    become the output ports. ``parse_numbers`` (CSV only): read numeric cells as ``int`` or
    ``float`` and empty cells as ``None`` (default, as Plugboard's pandas-based reader does);
    ``False`` keeps every cell a ``str``. ``chunk_size`` and ``storage_options`` are accepted
    so Plugboard models load unchanged: rows are streamed anyway, and only local files are
    supported.
    """

    io = IO()  # the ports are the field names, set per instance

    def __init__(
        self,
        path: str | os.PathLike[str],
        field_names: Sequence[str],
        parse_numbers: bool = True,
        chunk_size: int | None = None,
        storage_options: dict[str, Any] | None = None,
        **kwargs: Unpack[ComponentArgsDict],
    ) -> None:
        super().__init__(**kwargs)
        self._path = Path(path)
        self._fields = _fields(self, field_names)
        self.io = _ports(self, IO(outputs=self._fields))  # per-instance ports: the fields decide them
        self._format = _check_format(self, self._path, "read")
        _check_storage(self, storage_options)
        self._parse_numbers = parse_numbers
        self._rows: Iterator[dict[str, Any]] | None = None
        self._close: Callable[[], None] | None = None
        self._count = 0

    async def init(self) -> None:
        if not self._path.is_file():
            raise FileFormatError(
                f"{_where(self)}: file {str(self._path)!r} not found; check the path "
                f"(a relative path is read from {os.getcwd()!r})"
            )
        try:
            self._rows, self._close = open_rows(
                self._path, self._format, self._fields, parse_numbers=self._parse_numbers
            )
        except FormatProblem as problem:
            raise FileFormatError(f"{_where(self)}: {problem}") from None

    async def step(self) -> None:
        assert self._rows is not None, "init() runs before step()"
        try:
            row = next(self._rows, None)
        except FormatProblem as problem:
            raise FileFormatError(f"{_where(self)}: {problem}") from None
        if row is None:
            if self.io.finished:  # stepped by hand past the end: as Plugboard, a closed error
                raise IOStreamClosedError(
                    f"{_where(self)}: stepped past the last row of {str(self._path)!r} ({_rows_text(self._count)} read); "
                    "stop stepping it (catch IOStreamClosedError to end a loop that steps it by hand)"
                )
            await self.io.close()
            return
        self.__dict__.update(row)
        self._count += 1

    async def destroy(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def describe_output(self) -> str:
        return f"read {_rows_text(self._count)} from {self._path}"


class FileWriter(Component):
    """Writes one row per step, one input per field, to a ``.csv`` (with a header row),
    ``.jsonl``/``.ndjson`` (optionally ``.gz``) or ``.parquet`` file.

    The file is created (and an existing one truncated) in ``init()``, never when the
    component is built, and flushed and closed in ``destroy()``. ``describe_output()`` says
    what was written, for the CLI's summary. ``chunk_size`` and ``storage_options`` are
    accepted so Plugboard models load unchanged; only local files are supported.
    """

    io = IO()  # the ports are the field names, set per instance

    def __init__(
        self,
        path: str | os.PathLike[str],
        field_names: Sequence[str],
        chunk_size: int | None = None,
        storage_options: dict[str, Any] | None = None,
        **kwargs: Unpack[ComponentArgsDict],
    ) -> None:
        super().__init__(**kwargs)
        self._path = Path(path)
        self._fields = _fields(self, field_names)
        self.io = _ports(self, IO(inputs=self._fields))  # per-instance ports: the fields decide them
        self._format = _check_format(self, self._path, "write")
        _check_storage(self, storage_options)
        self._writer: RowWriter | None = None
        self._written = 0

    async def init(self) -> None:
        parent = self._path.parent
        if not parent.is_dir():
            raise FileFormatError(
                f"{_where(self)}: cannot write {str(self._path)!r}: folder {str(parent)!r} does not exist; "
                "create it first"
            )
        self._writer = open_writer(self._path, self._format, self._fields)

    async def step(self) -> None:
        assert self._writer is not None, "init() runs before step()"
        state = self.__dict__
        self._writer.write([state[f] for f in self._fields])

    async def destroy(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            self._written = writer.rows
            writer.close()

    @property
    def rows_written(self) -> int:
        """Rows written so far (final once the process has been destroyed)."""
        return self._writer.rows if self._writer is not None else self._written

    def describe_output(self) -> str:
        """``"wrote 20 rows to ray.csv"``: the CLI prints this in its summary."""
        return f"wrote {_rows_text(self.rows_written)} to {self._path}"


def _rows_text(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"
