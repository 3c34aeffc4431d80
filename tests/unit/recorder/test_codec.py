import datetime as dt
import sys
from typing import Any
from decimal import Decimal

import pytest

from tapeflow.recorder.codec import Unrecorded, decode, encoder

VALUES = [
    0, -1, 2**63 - 1, 2**64 - 1, 2**70, -(2**70), 1.5, float("inf"), "text", "", b"\x00bytes", None, True, False,
    [1, "a", None], (1, 2), (), [(1, [2, (3,)])], {"a": 1, "b": [1, 2]}, {1: "int key", (1, 2): "tuple key"},
    {1, 2, 3}, frozenset({"a"}), 1 + 2j, Decimal("1.10"), Decimal("-0"),
    dt.datetime(2024, 5, 6, 7, 8, 9, 123456), dt.datetime(2024, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
    dt.date(2020, 2, 29), dt.time(23, 59, 1, 5), dt.timedelta(days=-1, seconds=5, microseconds=7),
    {"nested": {"when": dt.date(2021, 1, 1), "big": [2**80]}},
]


def same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)  # type: ignore[attr-defined,index]
    return a == b


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_round_trip_is_exact(value: object) -> None:
    assert same(decode(encoder()(value)), value)


class Opaque:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque)

    def __repr__(self) -> str:
        return "Opaque()"


def test_unknown_type_is_refused_without_a_fallback() -> None:
    with pytest.raises(TypeError, match=r"cannot record payload of type .*Opaque"):
        encoder()(Opaque())


def test_pickle_fallback_round_trips() -> None:
    assert decode(encoder("pickle")([Opaque()])) == [Opaque()]


def test_repr_fallback_keeps_the_text() -> None:
    assert decode(encoder("repr")({"x": Opaque()})) == {"x": Unrecorded("Opaque()")}


def test_numpy_arrays_and_scalars_round_trip() -> None:
    np = pytest.importorskip("numpy")
    for value in (np.arange(12, dtype=np.int32).reshape(3, 4), np.array([1.5, np.nan]), np.zeros((0, 2)), np.asfortranarray(np.ones((2, 3)))):
        back = decode(encoder()(value))
        assert type(back) is np.ndarray and back.dtype == value.dtype and back.shape == value.shape
        np.testing.assert_array_equal(back, value)
    for scalar in (np.float32(1.25), np.int64(-7), np.bool_(True)):
        back = decode(encoder()(scalar))
        assert type(back) is type(scalar) and back == scalar


# --- recheck / unchanged: telling cheaply and exactly that a value sent again is unchanged -----
def changes() -> list[tuple[str, Any, Any]]:
    """(what, make, change in place) where the changed value packs to other bytes, though it
    may compare equal to what it was: each must be told apart from the value as encoded."""
    return [
        ("int -> equal float", lambda: {"a": 1, "b": "x"}, lambda v: v.__setitem__("a", 1.0)),
        ("int -> equal bool", lambda: [1, 2], lambda v: v.__setitem__(0, True)),
        ("0.0 -> -0.0", lambda: {"a": 0.0}, lambda v: v.__setitem__("a", -0.0)),
        ("key order", lambda: {"a": 1, "b": 2}, lambda v: v.__setitem__("a", v.pop("a"))),
        ("str -> equal str subclass", lambda: ["s"], lambda v: v.__setitem__(0, type("S", (str,), {})("s"))),
        ("bytes -> equal bytearray", lambda: [b"ab"], lambda v: v.__setitem__(0, bytearray(b"ab"))),
        ("nested list", lambda: {"a": [1, [2]]}, lambda v: v["a"][1].append(3)),
        ("value in a set", lambda: [{1, 2}], lambda v: v[0].add(3)),
        # A dict of scalars is checked by its version tag where the interpreter keeps one.
        ("dict: item deleted", lambda: {"a": 1, "b": "x"}, lambda v: v.__delitem__("b")),
        ("dict: item popped", lambda: {"a": 1, "b": "x"}, lambda v: v.pop("a")),
        ("dict: last item popped", lambda: {"a": 1, "b": "x"}, lambda v: v.popitem()),
        ("dict: updated", lambda: {"a": 1}, lambda v: v.update(a=2)),
        ("dict: merged into", lambda: {"a": 1}, lambda v: v.__ior__({"b": None})),
        ("dict: default set", lambda: {"a": 1}, lambda v: v.setdefault("b", True)),
        ("dict: cleared", lambda: {"a": 1}, lambda v: v.clear()),
        ("dict: bytes -> equal bytearray", lambda: {"a": b"ab"}, lambda v: v.__setitem__("a", bytearray(b"ab"))),
        ("dict: str -> equal str subclass", lambda: {"a": "s"}, lambda v: v.__setitem__("a", type("S", (str,), {})("s"))),
    ]


@pytest.mark.parametrize(("what", "make", "change"), changes(), ids=[c[0] for c in changes()])
def test_a_value_changed_in_place_is_never_told_unchanged(what: str, make: Any, change: Any) -> None:
    enc = encoder(None if "subclass" not in what else "repr")
    value = make()
    blob = enc(value)
    check = enc.recheck(value, blob)
    assert check is None or enc.unchanged(value, blob, check)  # before: unchanged (or not checkable)
    change(value)
    assert enc(value) != blob
    assert check is None or not enc.unchanged(value, blob, check)


def test_a_dict_of_scalars_is_checked_by_its_version_tag_and_any_other_dict_by_packing(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPython 3.11-3.13 keep a dict version tag; tapeflow reads it once it has seen every kind
    of change change it. Where the tag cannot be trusted, a dict is packed again."""
    from tapeflow.recorder import codec

    if sys.implementation.name == "cpython" and sys.version_info < (3, 14):
        assert codec.dict_version() is not None
    enc = encoder()
    flat, nested = {"a": 1, "b": "x", "c": 0.5, "d": None, "e": b"z", "f": True}, {"a": [1]}
    if codec.dict_version() is not None:
        assert type(enc.recheck(flat, enc(flat))) is codec.DictVersion
    assert type(enc.recheck(nested, enc(nested))) is not codec.DictVersion
    monkeypatch.setattr(codec, "_read_version", None)  # an interpreter without the tag
    monkeypatch.setattr(codec, "_version_tried", True)
    del flat["e"]  # (bytes in it: only encoding it again can tell)
    check = enc.recheck(flat, enc(flat))
    assert check is not None and type(check) is not codec.DictVersion and enc.unchanged(flat, enc(flat), check)
    flat["a"] = 1.0
    assert not enc.unchanged(flat, enc({**flat, "a": 1}), check)


def test_recheck_covers_arrays_and_flat_containers_and_refuses_bytes_in_lists() -> None:
    np = pytest.importorskip("numpy")
    enc = encoder()
    for value in ({"a": 1, "b": "x", "c": 0.5}, [1.5] * 40, (1, [2]), np.arange(10.0), np.zeros((3, 4), np.int16)):
        check = enc.recheck(value, enc(value))
        assert check is not None and enc.unchanged(value, enc(value), check)
    assert enc.recheck([b"\xc4"], enc([b"\xc4"])) is None  # a bin the codec must search for every time
    fortran = np.zeros((3, 4), order="F")
    assert enc.recheck(fortran, enc(fortran)) is None


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.__setitem__(3, 7.0),
        lambda a: a.__setitem__(9, -0.0),  # from 0.0: equal, other bytes
        lambda a: setattr(a, "shape", (2, 5)),
        lambda a: setattr(a, "dtype", "<i8"),  # the same bytes, read as another type
    ],
    ids=["item", "signed zero", "shape", "dtype"],
)
def test_an_array_changed_in_place_is_never_told_unchanged(change: Any) -> None:
    np = pytest.importorskip("numpy")
    enc = encoder()
    array = np.arange(10.0)
    array[9] = 0.0
    blob = enc(array)
    check = enc.recheck(array, blob)
    change(array)
    assert enc(array) != blob and not enc.unchanged(array, blob, check)
