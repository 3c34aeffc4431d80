"""Row-at-a-time readers and writers for the file formats of ``FileReader`` and ``FileWriter``.

One job: turn a file into rows (``dict`` of field name to value) and rows into a file, one
row at a time, so a million-row file costs one row of memory. The components in
``file_io`` own the component side (ports, init/destroy, messages naming the component).

Formats, chosen by the file's extension (case-insensitive):

- ``.csv`` and ``.csv.gz``: a header row, then one row per line. Plugboard reads CSV through
  pandas, so numbers come back as numbers there; to match that without pandas, a cell that is
  a plain decimal integer (``-12``) is read as ``int``, a plain decimal number (``1.5``,
  ``2e3``) as ``float``, an empty cell as ``None``, and anything else stays a ``str``
  (``"nan"``, ``"True"``, ``"0x1f"`` are strings). ``parse_numbers=False`` keeps every cell a
  ``str``. Writing turns ``None`` into an empty cell and everything else into ``str(value)``.
- ``.jsonl`` and ``.ndjson`` (also ``.gz``): one JSON object per line; blank lines are skipped.
  Writing uses ``json.dumps``; numpy-like values (anything with ``tolist()``) and dates are
  converted, anything else that JSON cannot hold is an error.
- ``.parquet``: only when pyarrow is installed; it is imported when a file is opened, never at
  ``import tapeflow``. Read in record batches; written in one go when the file is closed
  (Parquet needs the column types of the whole file, so the writer keeps the rows until then).

Errors raised here carry ``file:line`` only; the component adds its own name in front.
"""

from __future__ import annotations

import csv
import datetime
import gzip
import importlib.util
import json
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO as TextStream
from typing import Any, Final

__all__ = [
    "READ_FORMATS",
    "WRITE_FORMATS",
    "FormatProblem",
    "RowWriter",
    "format_of",
    "open_rows",
    "open_writer",
    "parse_cell",
]

# Longest first, so that ".csv.gz" wins over ".gz".
READ_FORMATS: Final = (".csv.gz", ".jsonl.gz", ".ndjson.gz", ".csv", ".jsonl", ".ndjson", ".parquet")
WRITE_FORMATS: Final = READ_FORMATS

_INT: Final = re.compile(r"[+-]?\d+")
_FLOAT: Final = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")

# Rows handed over per pyarrow record batch: large enough that the per-batch cost vanishes,
# small enough that a wide file does not sit in memory whole.
_PARQUET_BATCH: Final = 4096


class FormatProblem(Exception):
    """A file's content is not what its format or the requested fields need.

    ``where`` is ``"file:line"`` (or ``"file"``), ``what`` the rest of the message; the
    component turns this into a ``UserError`` that names itself.
    """

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}")
        self.where = where
        self.what = what


def format_of(path: str | Path) -> str | None:
    """The supported extension ``path`` ends with (``".csv.gz"``), or ``None``."""
    name = Path(path).name.lower()
    for extension in READ_FORMATS:
        if name.endswith(extension):
            return extension
    return None


def parquet_available() -> bool:
    # find_spec looks for pyarrow without importing it: importing pyarrow costs ~0.2 s.
    return importlib.util.find_spec("pyarrow") is not None


def parse_cell(text: str) -> Any:
    """A CSV cell as a Python value: ``int``, ``float``, ``None`` for empty, else the ``str``."""
    if not text:
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def _open_text(path: Path, extension: str, writing: bool) -> TextStream[str]:
    # Literal modes on each branch: the type stubs only know gzip's text mode from a literal.
    if extension.endswith(".gz"):
        if writing:
            return gzip.open(path, "wt", encoding="utf-8", newline="")
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, "w" if writing else "r", encoding="utf-8", newline="")

# ---------------------------------------------------------------------------- reading


def open_rows(
    path: Path, extension: str, fields: Sequence[str], *, parse_numbers: bool = True
) -> tuple[Iterator[dict[str, Any]], Callable[[], None]]:
    """Open ``path`` and return (rows holding exactly ``fields``, a function that closes it).

    Problems with the header (a missing column) are raised here; problems with a row are
    raised when the iterator reaches it.
    """
    if extension == ".parquet":
        return _parquet_rows(path, fields)
    stream = _open_text(path, extension, writing=False)
    try:
        if extension.startswith(".csv"):
            rows = _csv_rows(stream, str(path), fields, parse_numbers)
        else:
            rows = _jsonl_rows(stream, str(path), fields)
    except BaseException:
        stream.close()
        raise
    return rows, stream.close


def _csv_rows(
    stream: TextStream[str], name: str, fields: Sequence[str], parse_numbers: bool
) -> Iterator[dict[str, Any]]:
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise FormatProblem(f"{name}:1", "the file is empty; a CSV file needs a header row")
    missing = [f for f in fields if f not in header]
    if missing:
        raise FormatProblem(
            f"{name}:1", f"no column {missing[0]!r} in the header; columns are: {_listed(header)}"
        )
    columns = [(f, header.index(f)) for f in fields]
    convert: Callable[[str], Any] = parse_cell if parse_numbers else str
    return _csv_body(reader, name, columns, len(header), convert)


def _csv_body(
    reader: Any, name: str, columns: list[tuple[str, int]], width: int, convert: Callable[[str], Any]
) -> Iterator[dict[str, Any]]:
    for cells in reader:
        if not cells:
            continue  # csv yields [] for a blank line
        if len(cells) < width:
            for field, index in columns:
                if index >= len(cells):
                    raise FormatProblem(
                        f"{name}:{reader.line_num}",
                        f"row has no field {field!r} ({len(cells)} values, the header has {width})",
                    )
        yield {f: convert(cells[i]) for f, i in columns}


def _jsonl_rows(stream: TextStream[str], name: str, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
    for line_no, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.rstrip("\r\n"))  # so a column in the message is on this line
        except json.JSONDecodeError as error:
            raise FormatProblem(f"{name}:{line_no}", f"invalid JSON: {error.msg} (column {error.colno})") from None
        if not isinstance(record, dict):
            raise FormatProblem(
                f"{name}:{line_no}", f"expected a JSON object per line, got {type(record).__name__}"
            )
        for f in fields:
            if f not in record:
                raise FormatProblem(
                    f"{name}:{line_no}", f"row has no field {f!r}; fields in this row: {_listed(record)}"
                )
        yield {f: record[f] for f in fields}


def _parquet_rows(path: Path, fields: Sequence[str]) -> tuple[Iterator[dict[str, Any]], Callable[[], None]]:
    import pyarrow.parquet as pq  # only a Parquet file pays for importing pyarrow

    parquet = pq.ParquetFile(path)
    names = list(parquet.schema_arrow.names)
    missing = [f for f in fields if f not in names]
    if missing:
        parquet.close()
        raise FormatProblem(str(path), f"no column {missing[0]!r}; columns are: {_listed(names)}")

    def rows() -> Iterator[dict[str, Any]]:
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH, columns=list(fields)):
            yield from batch.to_pylist()

    return rows(), parquet.close


def _listed(names: Any) -> str:
    every = [repr(n) for n in names]
    if not every:
        return "(none)"
    # A wide file would bury the message; the first twenty columns are enough to spot a typo.
    return ", ".join(every[:20]) + (", …" if len(every) > 20 else "")


# ---------------------------------------------------------------------------- writing


class RowWriter:
    """Writes rows of ``fields`` to one file; ``write`` per row, ``close`` once."""

    __slots__ = ("fields", "rows")

    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = tuple(fields)
        self.rows = 0

    def write(self, values: Sequence[Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _CsvWriter(RowWriter):
    __slots__ = ("_stream", "_writer")

    def __init__(self, stream: TextStream[str], fields: Sequence[str]) -> None:
        super().__init__(fields)
        self._stream = stream
        self._writer = csv.writer(stream)
        self._writer.writerow(self.fields)

    def write(self, values: Sequence[Any]) -> None:
        # csv writes None as an empty cell, which the reader turns back into None.
        self._writer.writerow(values)
        self.rows += 1

    def close(self) -> None:
        self._stream.close()


class _JsonlWriter(RowWriter):
    __slots__ = ("_stream",)

    def __init__(self, stream: TextStream[str], fields: Sequence[str]) -> None:
        super().__init__(fields)
        self._stream = stream

    def write(self, values: Sequence[Any]) -> None:
        self._stream.write(json.dumps(dict(zip(self.fields, values)), default=_jsonable, ensure_ascii=False))
        self._stream.write("\n")
        self.rows += 1

    def close(self) -> None:
        self._stream.close()


class _ParquetWriter(RowWriter):
    __slots__ = ("_path", "_columns")

    def __init__(self, path: Path, fields: Sequence[str]) -> None:
        super().__init__(fields)
        self._path = path
        self._columns: list[list[Any]] = [[] for _ in self.fields]
        # Create (and so truncate) the file now, as the text formats do, so a failure to open
        # it shows at init and not after the whole run.
        path.write_bytes(b"")

    def write(self, values: Sequence[Any]) -> None:
        for column, value in zip(self._columns, values):
            column.append(value)
        self.rows += 1

    def close(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(dict(zip(self.fields, self._columns)))
        pq.write_table(table, self._path)
        self._columns = []


def _jsonable(value: Any) -> Any:
    # numpy scalars and arrays (and pandas' too) have tolist(); checked by duck type so that
    # numpy need not be imported.
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"a value of type {type(value).__name__} cannot be written as JSON; convert it in step() first")


def open_writer(path: Path, extension: str, fields: Sequence[str]) -> RowWriter:
    """Create (truncating) ``path`` and return a writer; the CSV header is written at once."""
    if extension == ".parquet":
        return _ParquetWriter(path, fields)
    stream = _open_text(path, extension, writing=True)
    if extension.startswith(".csv"):
        return _CsvWriter(stream, fields)
    return _JsonlWriter(stream, fields)

