"""Small Arrow helpers the recorder's matching and payload storage share."""

from __future__ import annotations

from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

__all__ = ["EMPTY_INT32", "EMPTY_INT64", "INT32", "INT64", "arange", "ints"]

INT64 = pa.int64()
INT32 = pa.int32()
# Arrow arrays never change, so every empty window shares these (a model of 10,000
# components starts with tens of thousands of them).
EMPTY_INT64 = pa.array([], INT64)
EMPTY_INT32 = pa.array([], INT32)


def ints(values: Any) -> Any:
    """An ``array('q')`` as an Arrow int64 array, sharing its buffer (no per-int conversion)."""
    return pa.Array.from_buffers(INT64, len(values), [None, pa.py_buffer(values)])


_COUNTING: list[Any] = [pa.array([], INT64)]


def arange(first: int, n: int) -> Any:
    """``first, first + 1, …`` (n values) from a cached 0..N column: one vectorised add."""
    counting = _COUNTING[0]
    if len(counting) < n:
        counting = _COUNTING[0] = pa.array(range(max(n, 1 << 16)), INT64)
    return pc.add(counting.slice(0, n), pa.scalar(first, INT64))
