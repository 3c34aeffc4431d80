"""Every type the codec's docstring table lists round-trips with its type; what it refuses is
refused with its message. The table is the contract: a row without a case here fails."""

from __future__ import annotations

import datetime as dt
import os
import re
from decimal import Decimal
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest

from recorded_models import Collect, Pass, Source, wire
from tapeflow import IO, Component, LocalProcess
from tapeflow.recorder import Recorder, RecordingError, open_log
from tapeflow.recorder import codec
from tapeflow.recorder.codec import EncodeError, Fallback, Unrecorded, decode, encoder

MEMORYVIEW = re.escape(
    "cannot record payload of type builtins.memoryview (a view of another object's memory, "
    "which the log cannot keep: send bytes(view) or the object it views)"
)


class Opaque:
    """Known to no codec row: only a fallback records it."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "Opaque()"


def table_codes() -> set[int]:
    """The ext codes the codec's docstring table documents."""
    doc = codec.__doc__ or ""
    return {int(m.group(1)) for m in re.finditer(r"^(\d+)\s{2,}\S", doc, re.MULTILINE)}


def ext_codes(blob: bytes) -> set[int]:
    """The ext codes an encoding uses, also inside tuples and sets."""
    seen: set[int] = set()

    def hook(code: int, data: bytes) -> None:
        seen.add(code)
        if code in (codec.TUPLE, codec.SET, codec.FROZENSET):
            msgpack.unpackb(data, ext_hook=hook, strict_map_key=False)

    msgpack.unpackb(blob, ext_hook=hook, strict_map_key=False)
    return seen


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same type all the way down (numpy: dtype and data too)."""
    if type(a) is not type(b):
        return False
    np = pytest.importorskip("numpy") if type(a).__module__ == "numpy" else None
    if np is not None and isinstance(a, np.ndarray | np.generic):
        return bool(_dtype_same(a.dtype, b.dtype) and np.shape(a) == np.shape(b) and _data_same(np, a, b))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        keys_same = list(a) == list(b) and all(type(x) is type(y) for x, y in zip(a, b))
        return keys_same and all(same(a[k], b[k]) for k in a)
    if isinstance(a, set | frozenset):
        return a == b and sorted(map(repr, map(type, a))) == sorted(map(repr, map(type, b)))
    return bool(a == b)


def _data_same(np: Any, a: Any, b: Any) -> bool:
    """Equal data, field by field: a structured dtype's padding bytes are not data."""
    if a.dtype.names is None:
        return bool(np.array_equal(a, b))
    return all(_data_same(np, a[name], b[name]) for name in a.dtype.names)


def _dtype_same(a: Any, b: Any) -> bool:
    """Equal dtypes with the same names, offsets, item size and alignment flag, recursively
    (``==`` alone overlooks the flag)."""
    return bool(a == b and a.isalignedstruct == b.isalignedstruct and _layout(a) == _layout(b))


def _layout(dtype: Any) -> Any:
    if dtype.fields is None:
        return (dtype.str, dtype.shape, _layout(dtype.base) if dtype.subdtype else None)
    return (dtype.itemsize, [(n, dtype.fields[n][1], _layout(dtype.fields[n][0]), dtype.fields[n][2:]) for n in dtype.names])


# (id, value, fallback): one or more per table row, and msgpack's own types.
PLAIN: list[tuple[str, Any, Fallback]] = [
    ("None", None, None), ("bool", True, None), ("int", -(2**63), None), ("uint64", 2**64 - 1, None), ("float", 1.5, None),
    ("str", "naïve ✓", None), ("bytes", b"\x00\xc4raw", None), ("list", [1, "a", None, [b"x"]], None),
    ("dict", {"a": 1, 2: "int key", b"k": [1.5]}, None),
    ("1 tuple", (1, (2, "three"), ()), None), ("1 tuple key", {(1, 2): "tuple key"}, None),
    ("2 set", {1, "two", (3,)}, None), ("3 frozenset", frozenset({"a", 1}), None),
    ("4 complex", 1 - 2.5j, None), ("5 Decimal", Decimal("-1.10"), None),
    ("6 datetime naive", dt.datetime(2024, 5, 6, 7, 8, 9, 123456), None),
    ("6 datetime aware", dt.datetime(2024, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=-3, minutes=-30))), None),
    ("7 date", dt.date(2020, 2, 29), None), ("8 time", dt.time(23, 59, 1, 5), None),
    ("8 time aware", dt.time(1, 2, tzinfo=dt.timezone.utc), None), ("9 timedelta", dt.timedelta(days=-1, seconds=5, microseconds=7), None),
    ("10 bigint", [2**70, -(2**70)], None), ("10 bigint in a set", {2**70}, None), ("10 bigint in a tuple", (2**64, [2**65]), None),
    ("13 pickle", [Opaque(), {"k": Opaque()}], "pickle"),
    ("14 repr", Unrecorded("Opaque()"), None),  # what fallback="repr" reads back as: an Unrecorded
    ("15 bytearray", bytearray(b"\x00\xff"), None), ("15 empty bytearray", bytearray(), None),
    ("15 bytearray in a list", [b"bytes", bytearray(b"ba"), 1.5], None),
    ("15 bytearray in a dict", {"k": {"deeper": [bytearray(b"x")]}, b"bytes key": b"bytes"}, None),
    ("15 bytearray in a tuple", (bytearray(b"t"), b"t"), None),
    ("15 bytearray among floats", [1.5, bytearray(b"1234567"), 2.5],  None),  # 9 bytes, as a float is
    ("15 bytearray among big ints", [2**40, bytearray(b"1234567")] * 20, None),
    ("15 bytearray with a bigint", [2**70, bytearray(b"b")], None),
    ("15 bytearray, bin 16", [bytearray(300)], None), ("15 bytearray, bin 32", {"k": bytearray(70_000)}, None),
    ("16 Path", Path("/tmp/x.csv"), None), ("16 relative Path", [Path("a") / "b"], None),
    ("16 Path from undecodable bytes", Path(os.fsdecode(b"/tmp/\xff")), None),
    ("16 PureWindowsPath", PureWindowsPath("C:\\data\\in.csv"), None), ("16 PurePosixPath", PurePosixPath("/x"), None),
]


def numpy_values() -> dict[str, Any]:
    np = pytest.importorskip("numpy")
    point = np.dtype([("x", "<f4"), ("y", "<f4")])
    nested = np.dtype([("id", ">i8"), ("pos", point), ("m", "<i2", (2, 3)), ("tag", "S3")])
    aligned = np.dtype([("a", "u1"), ("b", "<f8")], align=True)
    titled = np.dtype({"names": ["a", "b"], "formats": ["<i4", "<f8"], "titles": ["Alpha", None]})
    padded = np.dtype({"names": ["a", "b"], "formats": ["<i4", "<i2"], "offsets": [8, 0], "itemsize": 16})
    records = np.zeros(3, nested)
    records["id"] = [1, -2, 3]
    records["pos"]["x"] = [0.5, 1.5, 2.5]
    records["m"][1] = [[1, 2, 3], [4, 5, 6]]
    records["tag"] = [b"a", b"bc", b"def"]
    plain = np.zeros(2, np.dtype([("a", "<i4"), ("b", "<f8")]))
    plain["a"], plain["b"] = [1, 2], [0.25, -1.0]
    return dict([
        ("11 ndarray", np.arange(12, dtype=np.int32).reshape(3, 4)),
        ("11 ndarray fortran", np.asfortranarray(np.ones((2, 3)))),
        ("11 ndarray 0-d", np.array(3.5)), ("11 ndarray empty", np.zeros((0, 2))),
        ("11 ndarray datetime64", np.array(["2024-01-02"], dtype="M8[ns]")),
        ("11 structured", plain), ("11 structured nested", records),
        ("11 structured aligned", np.ones(2, aligned)), ("11 structured titled", np.ones(2, titled)),
        ("11 structured padded, out of order", np.ones(2, padded)), ("11 structured empty", np.zeros(0, nested)),
        ("11 structured in a list", [plain, {"r": records}]),
        ("12 scalar float32", np.float32(1.25)), ("12 scalar int64", np.int64(-7)), ("12 scalar bool", np.bool_(True)),
        ("12 scalar str", np.str_("ab")), ("12 void", plain[1]), ("12 void nested", records[1]),
    ])


NUMPY_CASES = [
    "11 ndarray", "11 ndarray fortran", "11 ndarray 0-d", "11 ndarray empty", "11 ndarray datetime64", "11 structured",
    "11 structured nested", "11 structured aligned", "11 structured titled", "11 structured padded, out of order",
    "11 structured empty", "11 structured in a list", "12 scalar float32", "12 scalar int64", "12 scalar bool",
    "12 scalar str", "12 void", "12 void nested",
]


def check(value: Any, fallback: Fallback = None) -> None:
    back = decode(encoder(fallback)(value))
    assert same(back, value), f"{value!r} came back as {back!r}"


@pytest.mark.parametrize(("value", "fallback"), [(v, f) for _, v, f in PLAIN], ids=[i for i, _, _ in PLAIN])
def test_round_trip_keeps_value_and_type(value: Any, fallback: Fallback) -> None:
    check(value, fallback)


@pytest.mark.parametrize("name", NUMPY_CASES)
def test_numpy_round_trip_keeps_dtype_and_data(name: str) -> None:
    check(numpy_values()[name])


def test_every_numpy_case_is_run() -> None:
    assert list(numpy_values()) == NUMPY_CASES


def test_repr_fallback_reads_back_as_unrecorded() -> None:
    back = decode(encoder("repr")({"x": Opaque(), "view": memoryview(b"m")}))
    assert back["x"] == Unrecorded("Opaque()")
    assert type(back["view"]) is Unrecorded and back["view"].text.startswith("<memory at 0x")


def test_every_documented_code_has_a_case() -> None:
    np = pytest.importorskip("numpy")
    covered: set[int] = set()
    for _, value, fallback in PLAIN:
        covered |= ext_codes(encoder(fallback)(value))
    for value in numpy_values().values():
        covered |= ext_codes(encoder()(value))
    covered |= ext_codes(encoder("repr")(Opaque()))
    documented = table_codes()
    assert documented == set(range(1, 17))
    assert documented <= covered, f"codes documented but never tested: {sorted(documented - covered)}"
    assert np is not None


def test_structured_dtype_keeps_names_offsets_and_itemsize() -> None:
    np = pytest.importorskip("numpy")
    dtype = np.dtype({"names": ["b", "a"], "formats": ["<f8", [("p", "<i2"), ("q", "u1")]], "offsets": [8, 0], "itemsize": 24})
    back = decode(encoder()(np.zeros(4, dtype)))
    assert back.dtype == dtype and back.dtype.names == ("b", "a") and back.dtype.itemsize == 24
    assert [back.dtype.fields[n][1] for n in back.dtype.names] == [8, 0]
    assert back.dtype["a"].names == ("p", "q")


def test_old_numpy_encodings_still_decode() -> None:
    """Logs written before structured dtypes were kept: ``[dtype.str, shape, bytes]``."""
    np = pytest.importorskip("numpy")
    array = msgpack.ExtType(codec.NDARRAY, msgpack.packb(["<i4", [2], np.array([1, 2], "<i4").tobytes()]))
    scalar = msgpack.ExtType(codec.NPSCALAR, msgpack.packb(["<f4", np.float32(2.5).tobytes()]))
    back = decode(msgpack.packb([array, scalar]))
    assert same(back, [np.array([1, 2], "<i4"), np.float32(2.5)])


@pytest.mark.parametrize(
    "value",
    [memoryview(b"ab"), [1, memoryview(b"ab")], {"k": memoryview(bytearray(3))}, {memoryview(b"key"): 1},
     (memoryview(b"t"),), [[1.5, memoryview(b"1234567")]], memoryview(bytearray(400))],
    ids=["top", "in a list", "in a dict", "as a dict key", "in a tuple", "among floats", "bin 16"],
)
@pytest.mark.parametrize("fallback", [None, "pickle"])
def test_memoryview_is_refused(value: Any, fallback: Fallback) -> None:
    with pytest.raises(EncodeError, match=f"^{MEMORYVIEW}$"):
        encoder(fallback)(value)


def test_non_contiguous_memoryview_is_refused() -> None:
    np = pytest.importorskip("numpy")
    view = memoryview(np.arange(12).reshape(3, 4)[:, ::2])
    with pytest.raises(EncodeError, match=f"^{MEMORYVIEW}$"):
        encoder()([view])


def test_object_arrays_are_refused() -> None:
    np = pytest.importorskip("numpy")
    with pytest.raises(EncodeError, match=re.escape(
        "cannot record payload of type numpy.ndarray (dtype object holds Python objects: convert it to a typed array or a list)"
    )):
        encoder()({"a": np.array([1, "x"], dtype=object)})
    with pytest.raises(EncodeError, match=re.escape(
        "cannot record payload of type numpy.ndarray (dtype [('a', 'O'), ('b', '<i4')] holds Python objects: "
    )):
        encoder()(np.zeros(2, [("a", "O"), ("b", "<i4")]))
    with pytest.raises(EncodeError, match=re.escape("cannot record payload of type numpy.void (dtype [('a', 'O')] holds")):
        encoder()(np.zeros(1, [("a", "O")])[0])
    back = decode(encoder("pickle")(np.array([1, "x"], dtype=object)))  # the fallback still takes them
    assert back.dtype == object and list(back) == [1, "x"]


def test_unknown_types_are_refused_and_the_refusal_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=rf"^cannot record payload of type {__name__}\.Opaque$"):
        encoder()([1, {"k": Opaque()}])


def test_a_pickle_fallback_that_cannot_pickle_says_so() -> None:
    with pytest.raises(EncodeError, match=r"^cannot record payload of type builtins\.function \(fallback='pickle' cannot pickle it: "):
        encoder("pickle")([lambda: None])


def test_a_str_that_is_not_utf8_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="surrogates not allowed"):
        encoder()({"k": "\udc80"})


class SendsView(Component):
    """Sends a memoryview made in its step (as an argument, it would fail the run at start)."""

    io = IO(outputs=["x"])

    async def step(self) -> None:
        self.x = [memoryview(b"m")]


async def test_a_recorded_run_reads_back_bytearrays_and_structured_arrays(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    records = np.zeros(2, [("a", "<i4"), ("b", [("c", "<f8")])])
    records["a"] = [7, 8]
    sent = [bytearray(b"top"), [bytearray(b"in"), b"bytes"], {"r": records}, records[1], [0.1 * i for i in range(30)]]
    recorder = Recorder(tmp_path / "log.duckdb")
    async with LocalProcess([Source(name="src", values=sent), Pass(name="p"), Collect(name="sink")],
                            [wire("src.x", "p.x"), wire("p.y", "sink.x")], tap=recorder) as process:
        await process.run()
    with open_log(tmp_path / "log.duckdb") as log:
        back = log.run(recorder.run_id).payloads("p.y -> sink.x")
    assert same(back, sent)


async def test_a_memoryview_payload_fails_the_run_naming_the_channel(tmp_path: Path) -> None:
    process = LocalProcess([SendsView(name="src"), Pass(name="p"), Collect(name="sink")],
                           [wire("src.x", "p.x"), wire("p.y", "sink.x")], tap=Recorder(tmp_path / "log.duckdb"))
    with pytest.raises(RecordingError, match=rf"^channel 'src.x -> p.x', step 0: {MEMORYVIEW}; send msgpack-able values"):
        async with process:
            await process.run()


def test_a_windows_path_read_on_posix_comes_back_pure() -> None:
    if os.name == "nt":
        pytest.skip("WindowsPath is concrete here")
    blob = msgpack.packb(msgpack.ExtType(codec.PATH, msgpack.packb(["WindowsPath", "C:\\data".encode()])))
    back = decode(blob)
    assert type(back) is PureWindowsPath and back == PureWindowsPath("C:\\data")
