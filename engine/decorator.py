"""``@component(inputs=[...], outputs=[...])``: a component made from a function, as
Plugboard's ``plugboard.component.component`` decorator.

The function takes the inputs as keyword arguments and returns a mapping of outputs; it may
be ``async`` or not (a plain function is called on the event loop, as a step is)::

    @component(inputs=["a"], outputs=["b"])
    def double(a: int) -> dict[str, int]:
        return {"b": 2 * a}

    double(a=2)                       # still the function: {"b": 4}
    double.component(name="double")   # a Component that steps it once per input value

In a YAML model the function's import path is the component's ``type``
(``type: mymodule.double``), and the components it makes export under that path.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, ParamSpec, TypedDict, TypeVar, Unpack, cast

from .component import _RESERVED, Component
from .io import IO
from .resources import Resource

__all__ = ["ComponentFunction", "component"]

P = ParamSpec("P")
R = TypeVar("R")


class _Options(TypedDict, total=False):
    """Every component's arguments but ``name``: what ``.component(name, **options)`` takes."""

    initial_values: Mapping[str, Iterable[Any]] | None
    parameters: Mapping[str, Any] | None
    resources: Resource | Mapping[str, Any] | None


class ComponentFunction(Generic[P, R]):
    """What ``@component`` returns: the function itself when called, and a maker of
    components (``.component(name=...)``). ``component_class`` is the ``Component`` subclass
    whose step calls the function."""

    def __init__(self, func: Callable[P, R], component_class: type[Component]) -> None:
        self.func = func
        self.component_class = component_class
        functools.update_wrapper(self, func)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def component(self, name: str | None = None, **kwargs: Unpack[_Options]) -> Component:
        """A component that calls the function once per step. ``name`` defaults to the
        function's name; the other arguments are every component's (``initial_values``,
        ``parameters``, ``resources``)."""
        return self.component_class(name=name or self.func.__name__, **kwargs)

    # Plugboard 0.8 called it create_component.
    create_component = component

    def __repr__(self) -> str:
        return f"<component function {self.func.__module__}.{self.func.__qualname__}>"


def component(
    inputs: Iterable[str] = (), outputs: Iterable[str] = ()
) -> Callable[[Callable[P, R]], ComponentFunction[P, R]]:
    """Make a component type out of a function that maps inputs to a dict of outputs."""
    io = IO(inputs, outputs)

    def decorate(func: Callable[P, R]) -> ComponentFunction[P, R]:
        return ComponentFunction(func, _component_class(func, io))

    return decorate


def _component_class(func: Callable[..., Any], io: IO) -> type[Component]:
    is_async = inspect.iscoroutinefunction(func)
    inputs = io.inputs

    def _set(self: Component, returned: Any) -> None:
        if not isinstance(returned, Mapping):
            raise TypeError(
                f"component {self.name!r} ({self.class_path}): {func.__qualname__}() returned a "
                f"{type(returned).__name__}, not a mapping of outputs; return e.g. "
                f"{{{', '.join(repr(o) + ': ...' for o in io.outputs) or ''}}}"
            )
        for key, value in returned.items():
            if not isinstance(key, str) or key.startswith("_") or key in _RESERVED:
                raise ValueError(
                    f"component {self.name!r} ({self.class_path}): {func.__qualname__}() returned the key {key!r}, "
                    f"which cannot be an output; outputs are: {', '.join(repr(o) for o in io.outputs) or 'none'}"
                )
            setattr(self, key, value)

    if is_async:
        async def step(self: Component) -> None:
            state = self.__dict__
            _set(self, await func(**{port: state[port] for port in inputs}))
    else:
        async def step(self: Component) -> None:
            state = self.__dict__
            _set(self, func(**{port: state[port] for port in inputs}))

    # Named as the function, so that its path is the component's type: a YAML model names it
    # as it names any component, and export() and the log write that path.
    namespace: dict[str, Any] = {
        "io": io,
        "step": step,
        "__module__": func.__module__,
        "__qualname__": func.__qualname__,
        "__doc__": func.__doc__,
        "wrapped_function": staticmethod(func),
    }
    return cast(type[Component], type(func.__name__, (Component,), namespace))
