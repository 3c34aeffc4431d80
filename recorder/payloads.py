"""Payloads stored once: which sent values are new, their encoding, and their references.

A value is encoded and stored once however often it is sent: fan-out shares a port's value
among its channels, and the same object sent on by pass-through stages is found by identity
(immutable values; a value that can change was encoded at send, and the recorder hands out
the same encoded object while its encoding is unchanged). A payload of ``INLINE_MAX`` bytes or
less stays inline in its message row, where it costs less than a reference; a column of ints
(or of floats) always does. Everything per value is Arrow kernels but one ``id()`` each.
"""

from __future__ import annotations

import bisect
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ..engine.tap import Drained
from .arrow import EMPTY_INT64, INT64, arange
from .collector import Encoded
from .errors import RecordingError

__all__ = ["EMPTY_REFS", "INLINE_MAX", "PayloadError", "PayloadStore", "Unencodable", "empty_payloads", "payload_columns", "payload_refs"]

# A payload this small (an encoded int is 9 bytes) stays in its message row: a reference and
# a row in ``payloads`` would cost more than the bytes saved by storing it once.
INLINE_MAX = 32


class Unencodable(Exception):
    """Internal: a value no encoding can carry, and the (component, step) of each sender."""

    def __init__(self, error: PayloadError, senders: list[tuple[int, int]]) -> None:
        super().__init__(str(error))
        self.error, self.senders = error, senders


def payload_refs(inline: Any, ref: Any) -> Any:
    return pa.StructArray.from_arrays([inline, ref], names=["inline", "ref"])


EMPTY_REFS: Any = payload_refs(pa.array([], pa.binary()), EMPTY_INT64)


def empty_payloads() -> Any:
    return pa.table({"id": pa.array([], INT64), "data": pa.array([], pa.binary())})


class PayloadError(RecordingError):
    """A sent value the codec cannot carry: the ``index``-th of the values being encoded."""

    def __init__(self, label: str, index: int, problem: str, advice: str) -> None:
        self.label, self.index, self.problem, self.advice = label, index, problem, advice
        super().__init__(f"channel {label!r}: {problem}; {advice}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickles with its message as it stands (``at_step`` rewrites it), so an error that
        # crossed from another process reads the same.
        return _payload_error, (self.label, self.index, self.problem, self.advice, self.args), self.__dict__

    def at_step(self, step: int) -> PayloadError:
        """The same failure, its message naming the sender's step."""
        error = PayloadError(self.label, self.index, self.problem, self.advice)
        error.args = (f"channel {self.label!r}, step {step}: {self.problem}; {self.advice}",)
        error.__cause__ = self.__cause__
        return error


def _payload_error(label: str, index: int, problem: str, advice: str, args: tuple[Any, ...]) -> PayloadError:
    error = PayloadError(label, index, problem, advice)
    error.args = args
    return error


def payload_columns(refs: Any) -> dict[str, Any]:
    inline, ref = refs.flatten()
    return {"payload": inline, "payload_id": ref}


class PayloadStore:
    """Hands out payload ids for one run. ``encode_all(values, component, port)`` encodes a
    list into an Arrow binary column (raising :class:`PayloadError`); ``fixed(values)`` does
    the same in bulk for a column of ints or floats, else returns ``None``."""

    def __init__(self, encode_all: Callable[[list[Any], int, int], Any], fixed: Callable[[list[Any]], Any]) -> None:
        self.encode_all = encode_all
        self.fixed = fixed
        # Identity of recently sent objects -> their payload: the objects of the last two
        # batches are held so their ids cannot be reused meanwhile. (A value encoded at send,
        # an ``Encoded``, carries its payload id itself, however long ago it was stored.)
        self.recent: deque[tuple[Any, Any, list[Any]]] = deque(maxlen=2)
        self.next_payload = 0
        self.stored = empty_payloads()  # (id, data) of the last batch's new payloads

    def refs(self, drained: Sequence[Drained], sent_counts: dict[tuple[int, int], int], cut_at: dict[int, int]) -> list[list[Any]]:
        """Per part and port, the sent values as ``{inline, ref}`` (``None``: nothing sent);
        ``sent_counts``: each output's values before this batch (the step of its next value);
        ``cut_at``: senders whose record ends before that step. New payloads are left in
        ``stored`` for the writer. Raises :class:`Unencodable` for a value no encoding carries."""
        result: list[list[Any]] = [[None] * len(part.outputs) for part in drained]
        by_identity: list[tuple[int, int, int, int, int]] = []  # (part, port, start, count, first step)
        objects: list[Any] = []
        position = dict(sent_counts)  # step of the next value
        for pi, part in enumerate(drained):
            cid = part.component
            for port, values in enumerate(part.outputs):
                first = position[(cid, port)]
                position[(cid, port)] = first + len(values)
                limit = cut_at.get(cid)
                if limit is not None:
                    values = values[: max(0, limit - first)]
                if not values:
                    continue
                fixed = self.fixed(values)
                if fixed is not None:
                    result[pi][port] = payload_refs(fixed, pa.nulls(len(values), INT64))
                    continue
                by_identity.append((pi, port, len(objects), len(values), first))
                objects.extend(values)
        self.stored = empty_payloads()
        if not objects:
            return result

        ids = pa.array(array("q", map(id, objects)), INT64)
        unique = pc.unique(ids)
        # Encoded values stored in an earlier batch, whatever the window above still holds.
        carried = {id(o): o.payload_id for o in objects if type(o) is Encoded and o.payload_id >= 0}
        carried_ids = pa.array(array("q", carried), INT64)
        carried_refs = payload_refs(pa.nulls(len(carried), pa.binary()), pa.array(array("q", carried.values()), INT64))
        known_ids = pa.concat_arrays([pa.array([], INT64), *(r[0] for r in self.recent), carried_ids])
        new_ids = pc.filter(unique, pc.is_null(pc.index_in(unique, value_set=known_ids)))
        new_first = pc.index_in(new_ids, value_set=ids).to_pylist()  # ascending
        blobs = self._encode_new(objects, new_first, by_identity, drained, ids)
        payload_ids = arange(self.next_payload, len(new_first))
        self.next_payload += len(new_first)
        small = pc.less_equal(pc.binary_length(blobs), INLINE_MAX)
        stored = pc.invert(small)
        self.stored = pa.table({"id": pc.filter(payload_ids, stored), "data": pc.filter(blobs, stored)})
        new_refs = payload_refs(pc.if_else(small, blobs, pa.nulls(len(blobs), pa.binary())), pc.if_else(small, pa.nulls(len(blobs), INT64), payload_ids))

        for k, payload_id, kept in zip(new_first, payload_ids.to_pylist(), stored.to_pylist(), strict=True):
            if kept and type(objects[k]) is Encoded:
                objects[k].payload_id = payload_id
        catalog_ids = pa.concat_arrays([known_ids, new_ids])
        catalog = pa.concat_arrays([*(r[1] for r in self.recent), carried_refs, new_refs])
        refs = catalog.take(pc.index_in(ids, value_set=catalog_ids))
        for pi, port, start, count, _first in by_identity:
            result[pi][port] = refs.slice(start, count)
        mine = pc.index_in(unique, value_set=catalog_ids)
        self.recent.append((unique, catalog.take(mine), objects))
        return result

    def _encode_new(self, objects: list[Any], first: list[int], groups: list[tuple[int, int, int, int, int]], drained: Sequence[Drained], ids: Any) -> Any:
        """Encode the objects not seen before, grouped by the port that sent each first."""
        chunks: list[Any] = []
        i = 0
        for pi, port, start, count, _step in groups:
            j = bisect.bisect_left(first, start + count, lo=i)
            if j > i:
                cid = drained[pi].component
                values = [objects[k] for k in first[i:j]]
                try:
                    chunks.append(self.encode_all(values, cid, port))
                except PayloadError as error:
                    culprit = ids[first[i + error.index]]
                    raise Unencodable(error, self._senders_of(culprit, ids, groups, drained)) from error
            i = j
        return pa.concat_arrays(chunks) if chunks else pa.array([], pa.binary())

    @staticmethod
    def _senders_of(culprit: Any, ids: Any, groups: list[tuple[int, int, int, int, int]], drained: Sequence[Drained]) -> list[tuple[int, int]]:
        """(component, step) of every sender's first send of the object ``culprit``."""
        found: dict[int, int] = {}
        for k in pc.indices_nonzero(pc.equal(ids, culprit)).to_pylist():
            for pi, _port, start, count, first in groups:
                if start <= k < start + count:
                    cid, step = drained[pi].component, first + k - start
                    found[cid] = min(step, found.get(cid, step))
        return sorted(found.items())
