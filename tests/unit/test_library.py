"""The library components: FileReader/FileWriter round trips, their error messages, ListReader/ListWriter."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tapeflow import AsyncioConnector, ConnectorSpec, LocalProcess, UserError
from tapeflow.engine.errors import NotAvailableError
from tapeflow.engine.library import FileFormatError, FileReader, FileWriter, ListReader, ListWriter
from tapeflow.engine.library.file_formats import parse_cell

ROWS: list[dict[str, Any]] = [
    {"x": 1, "y": 0.5, "label": "a"},
    {"x": -2, "y": 2e-3, "label": "b, with comma"},
    {"x": 3, "y": None, "label": "nan"},
]
FIELDS = ["x", "y", "label"]


def wire(source: str, target: str, fields: list[str]) -> list[AsyncioConnector]:
    return [AsyncioConnector(spec=ConnectorSpec(source=f"{source}.{f}", target=f"{target}.{f}")) for f in fields]


async def run(*components: Any, fields: list[str] = FIELDS) -> None:
    src, dst = components
    # Not recorded: these tests are about the files, and some send objects msgpack cannot carry.
    process = LocalProcess(components=[src, dst], connectors=wire(src.name, dst.name, fields), tap=None)
    async with process:
        await process.run()


async def write_rows(path: Path, rows: list[dict[str, Any]] = ROWS, fields: list[str] = FIELDS) -> FileWriter:
    writer = FileWriter(name="save", path=path, field_names=fields)
    await run(ListReader(name="src", field_names=fields, rows=rows), writer, fields=fields)
    return writer


async def read_rows(path: Path, fields: list[str] = FIELDS, **kwargs: Any) -> list[dict[str, Any]]:
    sink = ListWriter(name="out", field_names=fields)
    await run(FileReader(name="load", path=path, field_names=fields, **kwargs), sink, fields=fields)
    return sink.rows


@pytest.mark.parametrize("extension", [".csv", ".csv.gz", ".jsonl", ".ndjson", ".jsonl.gz", ".parquet"])
async def test_round_trip(tmp_path: Path, extension: str) -> None:
    if extension == ".parquet":
        pytest.importorskip("pyarrow")
    path = tmp_path / f"data{extension}"
    writer = await write_rows(path)
    assert writer.describe_output() == f"wrote 3 rows to {path}"
    assert await read_rows(path) == ROWS


async def test_csv_has_header_and_plain_cells(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    await write_rows(path)
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0] == FIELDS
    assert lines[1] == ["1", "0.5", "a"]
    assert lines[3] == ["3", "", "nan"]


async def test_csv_parse_numbers_off_keeps_strings(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("x,y\n1,2.5\n")
    assert await read_rows(path, ["x", "y"], parse_numbers=False) == [{"x": "1", "y": "2.5"}]


@pytest.mark.parametrize(
    ("cell", "value"),
    [("12", 12), ("-3", -3), ("1.5", 1.5), ("2e3", 2000.0), (".5", 0.5), ("", None), ("nan", "nan"),
     ("True", "True"), ("0x1f", "0x1f"), ("1_000", "1_000"), (" 1", " 1")],
)
def test_parse_cell(cell: str, value: Any) -> None:
    assert parse_cell(cell) == value and type(parse_cell(cell)) is type(value)


async def test_reader_reads_only_the_named_fields_in_their_order(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"a": 1, "b": [1, 2], "c": "skip"}\n\n{"a": 2, "b": {"k": 3}, "c": null}\n')
    assert await read_rows(path, ["b", "a"]) == [{"b": [1, 2], "a": 1}, {"b": {"k": 3}, "a": 2}]


async def test_reader_with_no_rows_closes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("x\n")
    assert await read_rows(path, ["x"]) == []


async def test_writer_does_not_touch_the_file_before_init(tmp_path: Path) -> None:
    path = tmp_path / "keep.csv"
    path.write_text("precious\n")
    writer = FileWriter(name="save", path=path, field_names=["x"])
    # Building a process (what `tapeflow validate` does) must not truncate it either.
    LocalProcess(components=[ListReader(name="src", field_names=["x"], rows=[1]), writer],
                 connectors=wire("src", "save", ["x"]))
    assert path.read_text() == "precious\n"
    assert writer.describe_output() == f"wrote 0 rows to {path}"
    missing = tmp_path / "never.csv"
    FileWriter(name="save2", path=missing, field_names=["x"])
    assert not missing.exists()


async def test_writer_keeps_rows_written_before_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "partial.jsonl"

    def rows() -> Any:
        yield 1
        yield 2
        raise RuntimeError("boom")

    writer = FileWriter(name="save", path=path, field_names=["x"])
    with pytest.raises(Exception, match="boom"):
        await run(ListReader(name="src", field_names=["x"], rows=rows()), writer, fields=["x"])
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"x": 1}, {"x": 2}]
    assert writer.describe_output() == f"wrote 2 rows to {path}"


async def test_writer_converts_numpy_like_and_dates_for_json(tmp_path: Path) -> None:
    import datetime

    class Array:
        def tolist(self) -> list[int]:
            return [1, 2]

    path = tmp_path / "out.jsonl"
    await write_rows(path, [{"v": Array()}, {"v": datetime.date(2026, 1, 2)}], ["v"])
    assert path.read_text().splitlines() == ['{"v": [1, 2]}', '{"v": "2026-01-02"}']


# --- errors: messages are API --------------------------------------------------------


def test_unknown_extension_names_component_path_and_choices() -> None:
    with pytest.raises(FileFormatError, match=r"^component 'load' \(FileReader\): cannot read 'data\.txt': "
                       r"unsupported file type '\.txt'; supported: '\.csv\.gz', .*'\.parquet'$"):
        FileReader(name="load", path="data.txt", field_names=["x"])
    with pytest.raises(ValueError, match=r"unsupported file type '\.cvs'; did you mean '\.csv'\?"):
        FileWriter(name="save", path="out.cvs", field_names=["x"])
    with pytest.raises(UserError, match=r"unsupported file type '\(none\)'"):
        FileWriter(name="save", path="out", field_names=["x"])


def test_bad_field_names() -> None:
    with pytest.raises(FileFormatError, match=r"field_names must be a list of names, not the string 'x'; write field_names=\['x'\]"):
        FileReader(name="load", path="a.csv", field_names="x")
    with pytest.raises(FileFormatError, match=r"field 'step' clashes with an attribute of FileWriter; rename the column"):
        FileWriter(name="save", path="a.csv", field_names=["step"])
    with pytest.raises(FileFormatError, match=r"component 'load' \(FileReader\): IO: .*'two words' is not a valid name"):
        FileReader(name="load", path="a.csv", field_names=["two words"])


def test_remote_storage_is_refused() -> None:
    with pytest.raises(NotAvailableError, match=r"storage_options .* is not supported; use a local path"):
        FileReader(name="load", path="a.csv", field_names=["x"], storage_options={"anon": True})


async def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match=r"component 'load' \(FileReader\): file '.*nope\.csv' not found; check the path"):
        await read_rows(tmp_path / "nope.csv", ["x"])


async def test_missing_folder_for_writer(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match=r"folder '.*no-such-dir' does not exist; create it first"):
        await write_rows(tmp_path / "no-such-dir" / "out.csv")


async def test_csv_missing_column_in_header(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("x,z\n1,2\n")
    with pytest.raises(FileFormatError, match=r"^component 'load' \(FileReader\): .*in\.csv:1: no column 'y' in the header; columns are: 'x', 'z'$"):
        await read_rows(path, ["x", "y"])


async def test_csv_short_row_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("x,y\n1,2\n3\n")
    with pytest.raises(FileFormatError, match=r"^component 'load' \(FileReader\): .*in\.csv:3: row has no field 'y' \(1 values, the header has 2\)$"):
        await read_rows(path, ["x", "y"])


async def test_jsonl_missing_field_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"x": 1, "y": 2}\n{"x": 3}\n')
    with pytest.raises(FileFormatError, match=r"^component 'load' \(FileReader\): .*in\.jsonl:2: row has no field 'y'; fields in this row: 'x'$"):
        await read_rows(path, ["x", "y"])


async def test_jsonl_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"x": 1}\n{"x": \n')
    with pytest.raises(FileFormatError, match=r"in\.jsonl:2: invalid JSON: Expecting value \(column 7\)$"):
        await read_rows(path, ["x"])
    path.write_text("[1, 2]\n")
    with pytest.raises(FileFormatError, match=r"in\.jsonl:1: expected a JSON object per line, got list$"):
        await read_rows(path, ["x"])


async def test_parquet_missing_column(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "in.parquet"
    await write_rows(path, [{"x": 1}], ["x"])
    with pytest.raises(FileFormatError, match=r"in\.parquet: no column 'y'; columns are: 'x'$"):
        await read_rows(path, ["y"])


async def test_gz_reader_reads_compressed_csv(tmp_path: Path) -> None:
    path = tmp_path / "in.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("x\n7\n")
    assert await read_rows(path, ["x"]) == [{"x": 7}]


# --- ListReader / ListWriter -----------------------------------------------------------


async def test_list_reader_accepts_bare_values_for_one_field() -> None:
    sink = ListWriter(name="out", field_names=["x"])
    await run(ListReader(name="src", field_names=["x"], rows=[1, 2, 3]), sink, fields=["x"])
    assert sink.rows == [{"x": 1}, {"x": 2}, {"x": 3}]
    assert sink.describe_output() == "collected 3 rows in memory"


async def test_list_reader_errors() -> None:
    sink = ListWriter(name="out", field_names=["x", "y"])
    with pytest.raises(FileFormatError, match=r"component 'src' \(ListReader\): rows\[1\] has no field 'y'; give every row all of: 'x', 'y'"):
        await run(ListReader(name="src", field_names=["x", "y"], rows=[{"x": 1, "y": 2}, {"x": 1}]), sink, fields=["x", "y"])
    with pytest.raises(FileFormatError, match=r"rows\[0\] is a int, not a mapping; with several fields each row must be a dict"):
        await run(ListReader(name="src2", field_names=["x", "y"], rows=[1]), ListWriter(name="o", field_names=["x", "y"]), fields=["x", "y"])


def test_public_names() -> None:
    import tapeflow.engine.library as library

    assert sorted(library.__all__) == ["FileFormatError", "FileReader", "FileWriter", "ListReader", "ListWriter"]
