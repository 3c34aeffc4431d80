"""Whether a replayed output equals the recorded one: exactly, or within a float tolerance.

Exact means equal and of the same type, recursively (``1`` is not ``1.0``, a tuple is not a
list), with NaN equal to NaN (a recorded NaN replayed as NaN is the same result). A
:class:`Tolerance` lets floats differ by ``rel`` of the larger magnitude or ``abs``, wherever
they are: alone, in lists, tuples and dicts, complex parts, numpy float arrays and scalars.
A value recorded with the ``repr`` fallback compares with the replayed value's ``repr``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from ..recorder.codec import Unrecorded

__all__ = ["Tolerance", "first_difference", "same", "show"]

_EXACT: frozenset[type] = frozenset({int, str, bytes, bool, type(None)})


@dataclass(frozen=True, slots=True)
class Tolerance:
    """Floats ``a``, ``b`` are the same when ``|a - b| <= max(rel * max(|a|, |b|), abs)``."""

    rel: float = 0.0
    abs: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Tolerance:
        """``"REL"`` or ``"REL,ABS"`` (``1e-9``, ``1e-9,1e-12``); ``ValueError`` with what is wrong."""
        parts = [p.strip() for p in text.split(",")]
        if not 1 <= len(parts) <= 2:
            raise ValueError(f"expected REL or REL,ABS, got {text!r}")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"expected numbers REL or REL,ABS (such as 1e-9 or 1e-9,1e-12), got {text!r}") from None
        if any(not math.isfinite(v) or v < 0 for v in values):
            raise ValueError(f"tolerances must be finite and not negative, got {text!r}")
        return cls(values[0], values[1] if len(values) > 1 else 0.0)

    def close(self, a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=self.rel, abs_tol=self.abs)


def same(recorded: Any, replayed: Any, tolerance: Tolerance | None = None) -> bool:
    """Whether ``replayed`` is what was recorded (see the module's docstring)."""
    kind = type(recorded)
    if kind is type(replayed):
        if kind in _EXACT:
            return bool(recorded == replayed)
        if kind is float:
            if recorded == replayed or (recorded != recorded and replayed != replayed):
                return True
            return tolerance is not None and tolerance.close(recorded, replayed)
    return first_difference(recorded, replayed, tolerance) is None


def first_difference(recorded: Any, replayed: Any, tolerance: Tolerance | None = None, path: str = "") -> tuple[str, Any, Any] | None:
    """``(path, recorded part, replayed part)`` of the first place they differ, or ``None``."""
    kind = type(recorded)
    if kind is Unrecorded:
        text = _repr(replayed)
        return None if recorded.text == text else (path, recorded, replayed)
    if kind is not type(replayed):
        return path, recorded, replayed
    if kind in _EXACT:
        return None if recorded == replayed else (path, recorded, replayed)
    if kind is float:
        if recorded == replayed or (recorded != recorded and replayed != replayed):
            return None
        return None if tolerance is not None and tolerance.close(recorded, replayed) else (path, recorded, replayed)
    if kind is complex:
        for part in ("real", "imag"):
            found = first_difference(getattr(recorded, part), getattr(replayed, part), tolerance, f"{path}.{part}")
            if found is not None:
                return path, recorded, replayed
        return None
    if kind is list or kind is tuple:
        for i, (a, b) in enumerate(zip(recorded, replayed)):
            found = first_difference(a, b, tolerance, f"{path}[{i}]")
            if found is not None:
                return found
        if len(recorded) != len(replayed):
            return f"{path} (length)", len(recorded), len(replayed)
        return None
    if kind is dict:
        for key, a in recorded.items():
            if key not in replayed:
                return f"{path}[{key!r}] (missing in the replay)", a, None
            found = first_difference(a, replayed[key], tolerance, f"{path}[{key!r}]")
            if found is not None:
                return found
        for key in replayed:
            if key not in recorded:
                return f"{path}[{key!r}] (only in the replay)", None, replayed[key]
        return None
    numpy = sys.modules.get("numpy")
    if numpy is not None and (kind is numpy.ndarray or isinstance(recorded, numpy.generic)):
        return _numpy_difference(numpy, recorded, replayed, tolerance, path)
    try:
        equal = bool(recorded == replayed)
    except Exception:  # an __eq__ that raises, or returns something without a truth value
        equal = False
    return None if equal else (path, recorded, replayed)


def _numpy_difference(numpy: Any, recorded: Any, replayed: Any, tolerance: Tolerance | None, path: str) -> tuple[str, Any, Any] | None:
    if recorded.dtype != replayed.dtype:
        return f"{path} (dtype)", recorded.dtype, replayed.dtype
    if recorded.shape != replayed.shape:
        return f"{path} (shape)", recorded.shape, replayed.shape
    if recorded.dtype.kind in "fc":
        if tolerance is None:
            equal = numpy.isclose(recorded, replayed, rtol=0.0, atol=0.0, equal_nan=True)
        else:
            diff = numpy.abs(recorded - replayed)
            bound = numpy.maximum(tolerance.rel * numpy.maximum(numpy.abs(recorded), numpy.abs(replayed)), tolerance.abs)
            equal = (diff <= bound) | (recorded == replayed) | (numpy.isnan(recorded) & numpy.isnan(replayed))
    elif recorded.dtype.names is not None or recorded.dtype.kind == "V":
        equal = numpy.frombuffer(recorded.tobytes(), numpy.uint8) == numpy.frombuffer(replayed.tobytes(), numpy.uint8)
        if bool(numpy.all(equal)):
            return None
        return path, recorded, replayed
    else:
        equal = recorded == replayed
    equal = numpy.asarray(equal)
    if bool(equal.all()):
        return None
    if equal.ndim == 0:
        return path, recorded, replayed
    index = tuple(int(i) for i in numpy.argwhere(~equal)[0])
    at = f"{path}[{', '.join(map(str, index))}]"
    return at, recorded[index], replayed[index]


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as problem:
        return f"<{type(value).__module__}.{type(value).__qualname__} object; repr() raised {problem!r}>"


def show(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (with how long it was)."""
    text = _repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text):,} chars)"
