"""Payload codec: msgpack, with extension types for what msgpack cannot carry natively.

Round trips are exact: ``decode(encode(x)) == x`` with the same type, recursively. msgpack
carries ``None``, ``bool``, ``int`` (64-bit), ``float``, ``str``, ``bytes``, ``list`` and
``dict`` itself; everything else below is an extension type (code, then the ext's bytes):

====  ====================  =========================================================
code  Python type           ext data
====  ====================  =========================================================
1     ``tuple``             msgpack array of the items (so tuples stay tuples)
2     ``set``               msgpack array of the items
3     ``frozenset``         msgpack array of the items
4     ``complex``           msgpack ``[real, imag]``
5     ``decimal.Decimal``   UTF-8 ``str(value)``
6     ``datetime``          msgpack ``[isoformat, utcoffset seconds or nil]``
7     ``date``              UTF-8 ISO date
8     ``time``              UTF-8 ISO time (with offset if aware)
9     ``timedelta``         msgpack ``[days, seconds, microseconds]``
10    ``int`` > 64 bits     UTF-8 decimal digits
11    ``numpy.ndarray``     msgpack ``[dtype, shape, C-order bytes]``
12    numpy scalar          msgpack ``[dtype, bytes]`` (``numpy.void`` structured scalars too)
13    pickle fallback       ``pickle.dumps`` bytes (only with ``fallback="pickle"``)
14    repr fallback         UTF-8 ``repr(value)`` (``fallback="repr"``); decodes to :class:`Unrecorded`,
                          which encodes back to it
15    ``bytearray``         its bytes
16    ``pathlib`` path      msgpack ``[class name, str(path) as UTF-8 with surrogateescape]``
====  ====================  =========================================================

A numpy ``dtype`` is ``dtype.str`` (``"<f8"``) for a plain dtype; a structured one is a map
``{names, formats, offsets, itemsize, aligned[, titles]}`` whose formats are dtypes again
(``[dtype, shape]`` for a subarray field), so names, offsets, padding and nesting come back
equal. Refused (``EncodeError``, a ``TypeError``): ``memoryview`` unless ``fallback="repr"``
(a view of another object's memory, which the log cannot keep: send ``bytes(view)`` or the
object it views), numpy arrays and scalars whose dtype holds Python objects unless a
fallback takes them (their bytes are pointers), and any other type without a fallback.

msgpack packs ``bytearray`` and ``memoryview`` as bins, like ``bytes``, without asking the
``default`` hook, also inside lists and dicts: an encoding that holds a bin's first byte is
searched for them after packing (see ``_Encoder.__call__``), and re-encoded if one is there.

Aware datetimes keep their instant and UTC offset; a ``zoneinfo`` zone comes back as a fixed
offset (equal, but ``tzinfo`` differs). numpy is used only if the payload is a numpy object,
so this module never imports numpy itself; decoding code 11/12 imports it.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import pickle
import sys
from decimal import Decimal
from collections.abc import Callable
from typing import Any, Literal

import msgpack  # type: ignore[import-untyped]

__all__ = ["EncodeError", "Fallback", "Unrecorded", "decode", "encoder"]

Fallback = Literal["pickle", "repr"] | None

(
    TUPLE, SET, FROZENSET, COMPLEX, DECIMAL, DATETIME, DATE, TIME, TIMEDELTA, BIGINT, NDARRAY, NPSCALAR, PICKLE, REPR,
    BYTEARRAY, PATH,
) = range(1, 17)

# The bytes that start a msgpack bin (bin 8, 16, 32), and per first byte of an encoding what
# it starts: 1 a map or an array (whose items msgpack packed itself), 2 a bin, 0 the rest.
_BIN8, _BIN16, _BIN32 = 0xC4, 0xC5, 0xC6
_SHAPE = bytes(1 if b >> 4 in (0x8, 0x9) or b in (0xDC, 0xDD, 0xDE, 0xDF) else 2 if _BIN8 <= b <= _BIN32 else 0 for b in range(256))
# pathlib's own classes (a subclass of one is a type the codec does not know).
_PATHS = {cls.__name__: cls for cls in (pathlib.PurePosixPath, pathlib.PureWindowsPath, pathlib.PosixPath, pathlib.WindowsPath)}
_NUMBERS9 = b"\xcb\xcf\xd3"  # float 64, uint 64, int 64: a marker and 8 bytes
_MEMORYVIEW_ADVICE = "a view of another object's memory, which the log cannot keep: send bytes(view) or the object it views"


class EncodeError(TypeError):
    """A value the codec refuses; ``kind`` is the type refused (the innermost one)."""

    def __init__(self, kind: type, reason: str = "") -> None:
        self.kind = kind
        self.reason = reason
        text = f"cannot record payload of type {kind.__module__}.{kind.__qualname__}"
        super().__init__(f"{text} ({reason})" if reason else text)


class Unrecorded:
    """A payload recorded only as its ``repr`` (``fallback="repr"``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unrecorded) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Unrecorded({self.text})"


def _pack_plain(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def _dtype_spec(dtype: Any) -> Any:
    """What ``_dtype`` rebuilds ``dtype`` from, exactly (``dtype.descr`` loses alignment and
    cannot say overlapping fields)."""
    if dtype.fields is None:
        if dtype.subdtype is not None:  # a subarray field's format: ('<i2', (2, 3))
            base, shape = dtype.subdtype
            return [_dtype_spec(base), list(shape)]
        return dtype.str
    fields = [dtype.fields[name] for name in dtype.names]
    spec = {
        "names": list(dtype.names),
        "formats": [_dtype_spec(field[0]) for field in fields],
        "offsets": [field[1] for field in fields],
        "itemsize": dtype.itemsize,
        "aligned": bool(dtype.isalignedstruct),
    }
    if any(len(field) > 2 for field in fields):
        spec["titles"] = [field[2] if len(field) > 2 else None for field in fields]
    return spec


def _dtype(spec: Any) -> Any:
    import numpy

    if isinstance(spec, str):
        return numpy.dtype(spec)
    if isinstance(spec, list):
        return numpy.dtype((_dtype(spec[0]), tuple(spec[1])))
    aligned = spec.pop("aligned", False)
    spec["formats"] = [_dtype(f) for f in spec["formats"]]
    return numpy.dtype(spec, align=aligned)


def _may_hold_bin(blob: bytes) -> bool:
    """Whether the encoding of a list can hold a bytearray or memoryview, which msgpack packs
    as a bin without asking the hook: it holds a bin's first byte. (``_Encoder.__call__``
    inlines this test for any value.)"""
    if len(blob) < 259:  # too short for a bin 16: msgpack writes the smallest header that fits
        return _BIN8 in blob
    return _BIN8 in blob or _BIN16 in blob or _BIN32 in blob


def _numbers9(value: list[Any], blob: bytes) -> bool:
    """Whether ``blob``, the encoding of the list ``value``, is n 9-byte numbers. A list of
    floats (or of ints from 2**32 up: timestamps) is the commonest payload whose bytes hold
    0xc4-0xc6 by chance, in its numbers' bytes. If its encoding is as long as n 9-byte items
    and every 9th byte starts a float64, uint64 or int64, that is what each item is: one
    strided copy instead of a type() call per item."""
    n = len(value)
    return len(blob) == 9 * n + (1 if n < 16 else 3 if n < 65536 else 5) and not blob[-9 * n :: 9].translate(None, _NUMBERS9)


def _holds_buffer(value: Any, blob: bytes | None) -> bool:
    """Whether a bytearray or memoryview is in ``value`` where msgpack packed it as a bin
    (itself, or in its lists and dicts; tuples, sets and the rest went through ``_Default``,
    which checks their items). ``blob``: ``value``'s encoding, or ``None``."""
    kind = type(value)
    if kind is list:
        if blob is not None and _numbers9(value, blob):
            return False
        items: Any = value
        kinds = set(map(type, value))
    elif kind is dict:
        items = value.values()
        kinds = set(map(type, items))
        kinds.update(map(type, value))  # a read-only memoryview can be a key
    else:
        return kind is bytearray or kind is memoryview
    if bytearray in kinds or memoryview in kinds:
        return True
    if list in kinds or dict in kinds:
        keys = value if kind is dict else ()
        return any(_holds_buffer(item, None) for item in (*keys, *items) if type(item) is list or type(item) is dict)
    return False


class _Default:
    """msgpack's ``default`` hook: turns one non-native object into an ExtType."""

    def __init__(self, fallback: Fallback) -> None:
        self.fallback = fallback
        self.pack = msgpack.Packer(default=self, strict_types=True, use_bin_type=True, autoreset=True).pack

    def nested(self, value: Any) -> bytes:
        """``value`` encoded from inside the hook, exactly as ``_Encoder`` does at the top."""
        # A fresh packer: the hook runs inside ``self.pack``, whose buffer is in use.
        try:
            blob: bytes = msgpack.packb(value, default=self, strict_types=True, use_bin_type=True)
        except (OverflowError, BufferError):
            return self.exact(value)
        if _may_hold_bin(blob) and _holds_buffer(value, blob):  # value: a list
            return self.exact(value)
        return blob

    def exact(self, value: Any) -> bytes:
        """``value`` with what msgpack would pack natively but wrongly (ints beyond 64 bits,
        bytearray, memoryview) made extension types first: the slow path."""
        return msgpack.packb(self.widen(value), default=self, strict_types=True, use_bin_type=True)  # type: ignore[no-any-return]

    def widen(self, value: Any) -> Any:
        kind = type(value)
        if kind is int and not -(1 << 63) <= value < (1 << 64):
            return msgpack.ExtType(BIGINT, str(value).encode())
        if kind is list:
            return [self.widen(v) for v in value]
        if kind is dict:
            return {self.widen(k): self.widen(v) for k, v in value.items()}
        if kind is bytearray:
            return msgpack.ExtType(BYTEARRAY, bytes(value))
        if kind is memoryview:
            return self.unknown(value, _MEMORYVIEW_ADVICE, pickle_it=False)
        return value  # tuples, sets, …: the hook encodes their items through ``nested``

    def unknown(self, obj: Any, reason: str = "", *, pickle_it: bool = True) -> Any:
        """What the fallback makes of ``obj``, or the refusal."""
        if self.fallback == "pickle" and pickle_it:
            try:
                return msgpack.ExtType(PICKLE, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
            except Exception as problem:  # PicklingError, AttributeError (a lambda), TypeError
                raise EncodeError(type(obj), f"fallback='pickle' cannot pickle it: {problem}") from problem
        if self.fallback == "repr":
            try:
                text = repr(obj)
            except Exception as problem:  # a broken __repr__ must not lose the run
                text = f"<{type(obj).__module__}.{type(obj).__qualname__} object; repr() raised {problem!r}>"
            return msgpack.ExtType(REPR, text.encode("utf-8", "backslashreplace"))
        raise EncodeError(type(obj), reason)

    def __call__(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is tuple:
            return msgpack.ExtType(TUPLE, self.nested(list(obj)))
        if kind is set:
            return msgpack.ExtType(SET, self.nested(list(obj)))
        if kind is frozenset:
            return msgpack.ExtType(FROZENSET, self.nested(list(obj)))
        if kind is complex:
            return msgpack.ExtType(COMPLEX, _pack_plain([obj.real, obj.imag]))
        if kind is Decimal:
            return msgpack.ExtType(DECIMAL, str(obj).encode())
        if kind is dt.datetime:
            offset = obj.utcoffset()
            naive = obj.replace(tzinfo=None).isoformat()
            return msgpack.ExtType(DATETIME, _pack_plain([naive, None if offset is None else offset.total_seconds()]))
        if kind is dt.date:
            return msgpack.ExtType(DATE, obj.isoformat().encode())
        if kind is dt.time:
            return msgpack.ExtType(TIME, obj.isoformat().encode())
        if kind is dt.timedelta:
            return msgpack.ExtType(TIMEDELTA, _pack_plain([obj.days, obj.seconds, obj.microseconds]))
        if kind is int:  # only reached for ints msgpack cannot hold (see encode)
            return msgpack.ExtType(BIGINT, str(obj).encode())
        if _PATHS.get(kind.__name__) is kind:  # a path made from undecodable bytes holds surrogates
            return msgpack.ExtType(PATH, _pack_plain([kind.__name__, str(obj).encode("utf-8", "surrogateescape")]))
        if kind is Unrecorded:  # read back from a log, sent again: recorded as it was
            return msgpack.ExtType(REPR, obj.text.encode("utf-8", "backslashreplace"))
        numpy = sys.modules.get("numpy")
        if numpy is not None and (kind is numpy.ndarray or isinstance(obj, numpy.generic)):
            if obj.dtype.hasobject:  # its bytes are pointers to Python objects
                return self.unknown(obj, f"dtype {obj.dtype} holds Python objects: convert it to a typed array or a list")
            if kind is numpy.ndarray:
                data = numpy.ascontiguousarray(obj).tobytes()
                return msgpack.ExtType(NDARRAY, _pack_plain([_dtype_spec(obj.dtype), list(obj.shape), data]))
            return msgpack.ExtType(NPSCALAR, _pack_plain([_dtype_spec(obj.dtype), obj.tobytes()]))
        return self.unknown(obj)


class _Encoder:
    def __init__(self, fallback: Fallback) -> None:
        self._default = _Default(fallback)
        self._pack = self._default.pack
        # For batches of ints, floats, str, bytes: the packer itself, no Python frame per item
        # (0.11 against 0.26 µs per payload, bench/recording.py); it raises on a too-big int.
        self.fast = msgpack.Packer(strict_types=True, use_bin_type=True, autoreset=True).pack

    def __call__(self, value: Any) -> bytes:
        try:
            blob: bytes = self._pack(value)
        except (OverflowError, BufferError):  # a too-big int; a memoryview not C-contiguous
            return self._default.exact(value)
        # msgpack packs a bytearray or memoryview as a bin, as it packs bytes, without asking
        # the hook: only an encoding that holds a bin's first byte can hold one, and only then
        # is the value searched. A short encoding costs one memchr more (timeit of
        # encoder(None) on a 20-key dict of ints and strs: 0.60 against 0.56 µs before).
        if len(blob) < 259:  # too short for a bin 16: msgpack writes the smallest header that fits
            suspect = _BIN8 in blob
        else:  # an ext (a numpy array, a tuple) needs no search: _Default checked its items
            suspect = _SHAPE[blob[0]] != 0 and (_BIN8 in blob or _BIN16 in blob or _BIN32 in blob)
        if suspect:
            shape = _SHAPE[blob[0]]
            if shape == 1 and _holds_buffer(value, blob) or shape == 2 and type(value) is not bytes:
                return self._default.exact(value)
        return blob


    # --- telling cheaply that a value sent again is unchanged -------------------------------
    def recheck(self, value: Any, blob: bytes) -> Any:
        """What :meth:`unchanged` needs to tell, cheaper than encoding and exactly, that
        ``value`` (just encoded as ``blob``) still encodes to ``blob``; ``None``: only encoding
        it again can tell. Made once per value; the snapshot cache keeps it beside ``blob``.

        - a C-contiguous numpy array: its dtype object and shape; its bytes are then compared
          in place with the end of ``blob``, where the encoding holds them (one ``memcmp``
          instead of three copies of the data);
        - a list or dict with no ``bytes``, ``bytearray`` or ``memoryview`` where msgpack packs
          them itself (its lists and dicts): packing it again without the search for those.
          Packing is exact for such a value when it gives ``blob`` again: the same bytes are
          the same structure, so the value holds no bin there either; what msgpack hands the
          hook (tuples, sets, ints beyond 64 bits raise) is checked inside;
        - anything else that msgpack hands the hook at the top (a tuple, a set, a datetime):
          packing it again, the hook checks its items.

        - a dict whose keys and values are all ``str``, ``int``, ``float``, ``bool``, ``None``
          or ``bytes`` (nothing in it can change but the dict itself), on an interpreter that
          keeps CPython's dict version tag (:func:`dict_version`): the tag, which changes with
          every change to the dict (0.1 against 0.6 µs for 20 keys).

        Any other dict or list is packed again because nothing cheaper is exact in Python:
        ``==`` against a shallow copy (0.15 against 0.6 µs for 20 keys) says equal for 1, 1.0
        and True, for 0.0 and -0.0, for ``"s"`` and a str subclass, for ``b"ab"`` and
        ``bytearray(b"ab")`` and for two key orders, each recorded differently; an identity
        test per item (``map(operator.is_, …)``) costs as much as packing.
        """
        kind = type(value)
        if kind is dict:
            version = dict_version()
            if version is not None:
                # The tag first, then ``blob`` made again: a change by another thread since
                # ``blob`` was made shows in one or the other.
                tag = version(value)
                kinds = set(map(type, value.values()))
                kinds.update(map(type, value))
                if kinds <= _SCALARS and self._pack(value) == blob:
                    return DictVersion(tag)
        if kind is list or kind is dict:
            if not _may_hold_bin(blob) or kind is list and _numbers9(value, blob) or not _holds_bytes(value):
                return _PACKED
            return None
        numpy = sys.modules.get("numpy")
        if numpy is not None and kind is numpy.ndarray:
            if value.dtype.hasobject or not value.flags.c_contiguous:
                return None
            return (value.dtype, value.shape)
        if _SHAPE[blob[0]] == 0:  # an ext: the hook checks what it holds
            return _PACKED
        return None

    def unchanged(self, value: Any, blob: bytes, check: Any) -> bool:
        """Whether ``value`` still encodes to ``blob``, given ``check = recheck(value, blob)``
        made when it did (``value`` is the same object: the caller holds it)."""
        if type(check) is DictVersion:
            return _read_version(value) == check.tag  # type: ignore[misc]  # made only when it is set
        if check is _PACKED:
            try:
                return bool(self._pack(value) == blob)
            except Exception:  # changed into something else: the full encoder will say what
                return False
        dtype, shape = check
        try:
            return value.dtype is dtype and value.shape == shape and blob.endswith(value)  # type: ignore[no-any-return]
        except (ValueError, BufferError, TypeError):  # no longer C-contiguous
            return False


_PACKED = object()  # recheck(): pack again and compare
_SCALARS = frozenset((str, int, float, bool, type(None), bytes))


class DictVersion:
    """recheck(): a dict's version tag when it was encoded (compared with
    ``dict_version()(value) == check.tag``, which the recorder's hot path inlines)."""

    __slots__ = ("tag",)

    def __init__(self, tag: int) -> None:
        self.tag = tag


class VersionReader:
    """``reader(d)``: the version tag of dict ``d``; ``reader.at(id(d) + reader.offset).value``
    is the same, for a hot path that has ``id(d)`` already."""

    __slots__ = ("at", "offset")

    def __init__(self, at: Any, offset: int) -> None:
        self.at = at  # ctypes.c_uint64.from_address
        self.offset = offset  # of the tag in a dict object: after ob_refcnt, ob_type, ma_used

    def __call__(self, d: dict[Any, Any]) -> int:
        return self.at(id(d) + self.offset).value  # type: ignore[no-any-return]


_read_version: VersionReader | None = None
_version_tried = False


def dict_version() -> VersionReader | None:
    """A function ``dict -> int`` reading CPython's version tag of a dict (PEP 509), or
    ``None`` where this interpreter does not keep one that changes with every change.

    CPython 3.11-3.13 keep in each dict, after its size, a 64-bit tag that takes a new value
    whenever the dict is changed in any way (an item set to another object, added, removed,
    the dict cleared): for a dict of immutable items, an unchanged tag means an unchanged
    dict. The tag is private (PEP 699 deprecates it), so it is read with ``ctypes`` at that
    offset, and trusted only after every kind of change to a probe dict has been seen to
    change it and a read without one has not."""
    global _read_version, _version_tried
    if _version_tried:
        return _read_version
    _version_tried = True
    if sys.implementation.name != "cpython":
        return None
    try:
        import ctypes
    except ImportError:
        return None
    read = VersionReader(ctypes.c_uint64.from_address, object.__basicsize__ + ctypes.sizeof(ctypes.c_ssize_t))
    probe: dict[Any, Any] = {"a": 1, "b": 2.0, "c": "x"}
    changes: tuple[Callable[[dict[Any, Any]], Any], ...] = (
        lambda d: d.__setitem__("a", 2), lambda d: d.__setitem__("a", 2.0), lambda d: d.__setitem__("n", 1),
        lambda d: d.__delitem__("n"), lambda d: d.pop("b"), lambda d: d.update(b=5), lambda d: d.setdefault("z", 1),
        lambda d: d.popitem(), lambda d: d.__ior__({"q": 1}), lambda d: d.clear(),
    )
    for change in changes:
        before = read(probe)
        if read(probe) != before:
            return None
        change(probe)
        if read(probe) == before:
            return None
    _read_version = read
    return read


def _holds_bytes(value: Any) -> bool:
    """Whether ``bytes``, ``bytearray`` or ``memoryview`` is in ``value`` or its lists and dicts
    (keys too), where msgpack packs them as bins itself."""
    kind = type(value)
    if kind is list:
        items: Any = value
        kinds = set(map(type, value))
    elif kind is dict:
        items = value.values()
        kinds = set(map(type, items))
        kinds.update(map(type, value))
    else:
        return kind is bytes or kind is bytearray or kind is memoryview
    if bytes in kinds or bytearray in kinds or memoryview in kinds:
        return True
    if list in kinds or dict in kinds:
        keys = value if kind is dict else ()
        return any(_holds_bytes(item) for item in (*keys, *items) if type(item) is list or type(item) is dict)
    return False


_encoders: dict[Fallback, _Encoder] = {}


def encoder(fallback: Fallback = None) -> _Encoder:
    """A callable ``value -> bytes``; raises ``EncodeError`` (a ``TypeError``) for what it
    cannot carry, ``ValueError`` for a str that is not UTF-8 (a lone surrogate)."""
    enc = _encoders.get(fallback)
    if enc is None:
        enc = _encoders[fallback] = _Encoder(fallback)
    return enc


def _array(dtype_spec: Any, shape: list[int], raw: bytes) -> Any:
    import numpy

    dtype = _dtype(dtype_spec)
    if not raw:  # no items, or items of no bytes (frombuffer refuses itemsize 0)
        return numpy.zeros(shape, dtype=dtype)
    return numpy.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _ext_hook(code: int, data: bytes) -> Any:
    if code == TUPLE:
        return tuple(decode(data))
    if code == SET:
        return set(decode(data))
    if code == FROZENSET:
        return frozenset(decode(data))
    if code == COMPLEX:
        real, imag = msgpack.unpackb(data)
        return complex(real, imag)
    if code == DECIMAL:
        return Decimal(data.decode())
    if code == DATETIME:
        naive, offset = msgpack.unpackb(data)
        value = dt.datetime.fromisoformat(naive)
        if offset is not None:
            value = value.replace(tzinfo=dt.timezone(dt.timedelta(seconds=offset)))
        return value
    if code == DATE:
        return dt.date.fromisoformat(data.decode())
    if code == TIME:
        return dt.time.fromisoformat(data.decode())
    if code == TIMEDELTA:
        days, seconds, micros = msgpack.unpackb(data)
        return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
    if code == BIGINT:
        return int(data.decode())
    if code == NDARRAY:
        dtype, shape, raw = msgpack.unpackb(data)
        return _array(dtype, shape, raw)
    if code == NPSCALAR:
        dtype, raw = msgpack.unpackb(data)
        return _array(dtype, [], raw)[()]
    if code == PICKLE:
        return pickle.loads(data)
    if code == REPR:
        return Unrecorded(data.decode())
    if code == BYTEARRAY:
        return bytearray(data)
    if code == PATH:
        name, raw = msgpack.unpackb(data)
        text = raw.decode("utf-8", "surrogateescape")
        try:
            return _PATHS[name](text)
        except (NotImplementedError, OSError):  # a WindowsPath read on POSIX (or back): its pure kin
            return (pathlib.PureWindowsPath if "Windows" in name else pathlib.PurePosixPath)(text)
    return msgpack.ExtType(code, data)


def decode(data: bytes) -> Any:
    """The payload ``data`` was encoded from."""
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)
