import datetime as dt
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
