"""Resource requirements of a component: CPUs, GPUs, memory and custom resources.

Quantities are numbers or Kubernetes-style strings: ``"500m"`` is 0.5, ``"512Mi"`` is
512 × 2**20, ``"2G"`` is 2 × 10**9, ``"1e3"`` is 1000.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Union

from .errors import ResourceError

__all__ = ["Quantity", "Resource", "parse_quantity"]

Quantity = Union[int, float, str]

_SUFFIXES: dict[str, float] = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}
_QUANTITY = re.compile(r"^\s*([+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]{0,2})\s*$")

# Plugboard's default CPU request: small enough that many components share one core on Ray.
DEFAULT_CPU = 0.001


def parse_quantity(value: Any, *, field: str = "quantity") -> float:
    """Turn a number or a Kubernetes quantity string into a float; refuse anything else."""
    if isinstance(value, bool):
        raise ResourceError(_bad(value, field))
    if isinstance(value, (int, float)):
        if value < 0:
            raise ResourceError(_bad(value, field))
        return float(value)
    if isinstance(value, str):
        match = _QUANTITY.match(value)
        if match and match.group(2) in _SUFFIXES:
            return float(match.group(1)) * _SUFFIXES[match.group(2)]
    raise ResourceError(_bad(value, field))


def _whole_bytes(value: Any) -> int:
    """Memory as a whole number of bytes. ``"512m"`` is 0.512 bytes (``m`` is milli), a
    common slip for ``512Mi``: refused with that fix, never rounded down to nothing."""
    amount = parse_quantity(value, field="memory")
    if amount != int(amount):
        hint = ""
        match = _QUANTITY.match(value) if isinstance(value, str) else None
        if match and match.group(2) == "m":
            number = match.group(1)
            hint = f"; did you mean '{number}Mi' ({number} MiB) or '{number}M' ({number} MB)?"
        raise ResourceError(
            f"bad resource quantity {value!r} for memory: that is {amount:g} bytes, and memory is a whole "
            f"number of bytes{hint or '; use a whole number, or a quantity such as 512Mi or 2Gi'}"
        )
    return int(amount)


def _bad(value: Any, field: str) -> str:
    return (
        f"bad resource quantity {value!r} for {field}; "
        "use a non-negative number or a Kubernetes quantity such as '500m', '512Mi', '2Gi'"
    )


class Resource:
    """What a component needs to run: ``cpu`` and ``gpu`` counts, ``memory`` in bytes, and
    ``resources`` for custom ones (``{"custom_hardware": 2}``). Every value may be a quantity
    string. Two resources compare equal when their parsed values are equal."""

    __slots__ = ("cpu", "gpu", "memory", "resources")

    def __init__(
        self,
        cpu: Quantity = DEFAULT_CPU,
        gpu: Quantity = 0,
        memory: Quantity = 0,
        resources: Mapping[str, Quantity] | None = None,
    ) -> None:
        self.cpu = parse_quantity(cpu, field="cpu")
        self.gpu = parse_quantity(gpu, field="gpu")
        self.memory = _whole_bytes(memory)
        self.resources = {
            str(k): parse_quantity(v, field=f"resources.{k}") for k, v in (resources or {}).items()
        }

    @classmethod
    def coerce(cls, value: Resource | Mapping[str, Any] | None, base: Resource | None = None) -> Resource:
        """Build a Resource from a mapping; fields not given keep ``base``'s values.

        This is how an instance's ``resources={"memory": "512Mi"}`` extends the class-level
        declaration instead of silently resetting its CPU count.
        """
        if isinstance(value, Resource):
            return value
        start = base.to_dict() if base is not None else {}
        if value is None:
            return cls(**start)
        if not isinstance(value, Mapping):
            raise ResourceError(
                f"bad resources {value!r}; use a Resource or a mapping with cpu, gpu, memory, resources"
            )
        unknown = sorted(set(value) - {"cpu", "gpu", "memory", "resources"})
        if unknown:
            raise ResourceError(
                f"unknown resource field {unknown[0]!r}; fields are: 'cpu', 'gpu', 'memory', 'resources'"
            )
        merged = {**start, **value}
        if "resources" in value and "resources" in start:
            merged["resources"] = {**start["resources"], **(value["resources"] or {})}
        return cls(**merged)

    def to_dict(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "gpu": self.gpu, "memory": self.memory, "resources": dict(self.resources)}

    def to_ray_options(self) -> dict[str, Any]:
        """The keyword arguments Ray's ``.options()`` takes for these requirements."""
        # Only what was asked for: a zero GPU count is Ray's default anyway, and an explicit
        # one reads as a request (the CPU share is always asked: Plugboard's small default).
        options: dict[str, Any] = {"num_cpus": self.cpu}
        if self.gpu:
            options["num_gpus"] = self.gpu
        if self.memory:
            options["memory"] = self.memory
        if self.resources:
            options["resources"] = dict(self.resources)
        return options

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resource) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.cpu, self.gpu, self.memory, tuple(sorted(self.resources.items()))))

    def __repr__(self) -> str:
        extra = f", resources={self.resources!r}" if self.resources else ""
        return f"Resource(cpu={self.cpu:g}, gpu={self.gpu:g}, memory={self.memory}{extra})"
