"""The ``Component`` base class users subclass, as in Plugboard's component API."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, ClassVar, NotRequired, TypedDict

from .io import IO, merged
from .resources import Resource

__all__ = ["Component", "ComponentArgsDict", "Status", "set_status"]


class Status(StrEnum):
    """Where a component or a process is in its life, with Plugboard's values.

    ``CREATED`` (built), ``INIT`` (``init()`` done), ``RUNNING``, ``WAITING`` (between two
    ``Process.step()`` calls), and the three ends: ``COMPLETED``, ``FAILED``, ``STOPPED``
    (cancelled, interrupted, or ended because another component failed). A ``StrEnum``:
    ``process.status == "completed"`` holds.
    """

    CREATED = "created"
    INIT = "init"
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def is_terminal(self) -> bool:
        """Whether this status is an end: completed, failed or stopped."""
        return self in (Status.COMPLETED, Status.FAILED, Status.STOPPED)


class ComponentArgsDict(TypedDict):
    """The keyword arguments every component accepts (``**kwargs: Unpack[ComponentArgsDict]``)."""

    name: str
    initial_values: NotRequired[Mapping[str, Iterable[Any]] | None]
    parameters: NotRequired[Mapping[str, Any] | None]
    resources: NotRequired[Resource | Mapping[str, Any] | None]


# Attribute names the engine or the base class owns; a port with one of these names would
# overwrite it (or be overwritten), so IO declarations that use them are refused.
_RESERVED = frozenset(
    {
        "name", "io", "parameters", "initial_values", "resources", "init", "step", "destroy", "exports",
        "status", "export",
    }
)


def set_status(component: Component, status: Status) -> None:
    """The process's way to set a component's ``status`` (read-only to the component)."""
    component.__dict__["_tapeflow_status"] = status


class Component:
    """A step function with declared inputs and outputs.

    Subclasses declare ``io = IO(inputs=[...], outputs=[...])`` and ``async def step()``;
    they read inputs as attributes (``self.x``) and set outputs as attributes (``self.y = …``).
    ``init()`` runs before the first step and ``destroy()`` after the last, also on failure.
    A component with no inputs steps until it calls ``await self.io.close()``.
    """

    io: IO = IO()
    resources: Resource = Resource()
    exports: ClassVar[list[str] | None] = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Component:
        self = super().__new__(cls)
        # Kept so a recorder can store how the component was built (its class path and args)
        # without asking every subclass to forward its own arguments.
        self.__dict__["_tapeflow_args"] = dict(kwargs)
        self.__dict__["_tapeflow_positional"] = args
        return self

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("io")
        if isinstance(declared, IO):
            clash = sorted(_RESERVED & set(declared.inputs + declared.outputs))
            if clash:
                raise ValueError(
                    f"{cls.__name__}: port name {clash[0]!r} is reserved by Component; "
                    "rename the port"
                )
            # A subclass adds its ports to its bases' (Plugboard merges them too): bases first.
            bases = [b.io for b in cls.__bases__ if issubclass(b, Component) and isinstance(b.io, IO)]
            try:
                cls.io = merged(bases, declared)
            except ValueError as error:
                raise ValueError(f"{cls.__name__}: {str(error).removeprefix('IO: ')} (with the ports it inherits)") from None
        own_exports = cls.__dict__.get("exports")
        if own_exports is not None:
            inherited = [e for b in cls.__bases__ if issubclass(b, Component) for e in (b.exports or [])]
            cls.exports = list(dict.fromkeys([*inherited, *own_exports]))
        if "resources" in cls.__dict__ and not isinstance(cls.__dict__["resources"], Resource):
            cls.resources = Resource.coerce(cls.__dict__["resources"])

    def __init__(
        self,
        *,
        name: str,
        initial_values: Mapping[str, Iterable[Any]] | None = None,
        parameters: Mapping[str, Any] | None = None,
        resources: Resource | Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}")
        self.name = name
        self.io = type(self).io.copy()
        self.io.owner = f"component {name!r} ({self.class_path})"
        # Anything but a list (a str, a number) is reported with every other wiring problem
        # when the process is built (check_wiring); here it must only not crash.
        given = initial_values if isinstance(initial_values, Mapping) else {}
        self.initial_values: dict[str, list[Any]] = {
            port: list(values) if isinstance(values, Iterable) else [values] for port, values in given.items()
        }
        self.own_parameters: dict[str, Any] = dict(parameters or {})
        # The process merges its own parameters under these when it starts.
        self.parameters: dict[str, Any] = dict(self.own_parameters)
        class_resources = type(self).resources
        self.resources = Resource.coerce(resources, base=class_resources) if resources is not None else class_resources

    @property
    def status(self) -> Status:
        """Where this component is in its run (Plugboard's values), set by its process:
        ``created``, ``init``, ``running``, ``waiting`` (between two ``Process.step()``
        calls), then ``completed``, ``failed`` or ``stopped``. Read-only, as in Plugboard."""
        status: Status = self.__dict__.get("_tapeflow_status", Status.CREATED)
        return status

    @property
    def class_path(self) -> str:
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}"

    @property
    def init_args(self) -> dict[str, Any]:
        """The keyword arguments this component was constructed with."""
        return dict(self.__dict__.get("_tapeflow_args", {}))

    @property
    def init_positional(self) -> tuple[Any, ...]:
        """The positional arguments this component was constructed with."""
        return tuple(self.__dict__.get("_tapeflow_positional", ()))

    def export(self) -> dict[str, Any]:
        """``{"type": class path, "args": {...}}``: how to build this component again, as a
        component entry of a YAML model holds it (Plugboard's ``Component.export()``).

        ``args`` are the arguments of the outermost constructor call, positional ones under
        their parameter names; a ``Resource`` becomes a mapping."""
        from .export import export_component

        return export_component(self)

    async def init(self) -> None:
        """Runs once before the first step."""

    async def step(self) -> None:
        """Runs once per set of input values (or repeatedly, for a component with no inputs)."""

    async def destroy(self) -> None:
        """Runs once after the last step, also when the process failed."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.__dict__.get('name')!r})"
