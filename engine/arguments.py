"""A component's YAML ``args`` checked against its constructor before the constructor runs.

Names (with the close match), required arguments and every value against the parameter's
type hint are checked, and each problem is reported at the ``file:line:col`` of the value at
fault, so that ``iters: "ten"`` for an ``int`` is refused by ``tapeflow validate`` instead of
failing in ``init()`` with a traceback.

Values are checked, never converted: the constructor receives what the file says. A value is
checked as pydantic's strict mode checks JSON, because YAML carries JSON's types: ``"10"`` is
refused for an ``int`` (write ``10``), ``10`` is fine for a ``float``, while a string is fine
for a ``Path`` or an enum by value and a list for a tuple or a set, which YAML cannot write
otherwise. A value JSON cannot hold (a YAML timestamp) is checked in strict Python mode.

A parameter without a hint, with a hint that does not resolve (a name only imported under
``TYPE_CHECKING``) or with one pydantic cannot build a validator for, is not checked.
``**kwargs: Unpack[SomeTypedDict]`` accepts that TypedDict's keys (for a component,
``ComponentArgsDict``: name, initial_values, parameters, resources); a bare ``**kwargs``
accepts what the next constructor along the MRO accepts, since Plugboard-style components
hand their keywords on to ``super().__init__``.

pydantic is imported on first use.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .component import Component
from .errors import ResourceError
from .wiring import described
from .modelfile import Report
from .resources import Resource, parse_quantity
from .wiring import close_match, initial_values_problems, quote_list

__all__ = ["ArgumentCheck"]

# Hints whose values are checked without pydantic when the value has exactly that type: the
# common case, and cheap enough that a 10,000-component file spends no time here.
_EXACT: dict[Any, tuple[type, ...]] = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}


@dataclass(frozen=True, slots=True)
class _Params:
    """What a class's constructor accepts, gathered once per class."""

    accepted: list[str]
    required: list[str]
    open_ended: bool  # some constructor takes **kwargs that nothing names
    hints: dict[str, Any]  # resolved hints of the parameters that can be checked


@dataclass(slots=True)
class ArgumentCheck:
    """Checks component entries of one model file, caching what it learns per class."""

    _params: dict[type, _Params | None] = field(default_factory=dict)
    _adapters: dict[tuple[type, str], Any] = field(default_factory=dict)

    def check(
        self, cls: type, type_name: str, args: Mapping[str, Any], label: str, report: Report, here: tuple[str | int, ...]
    ) -> bool:
        """Report every problem with ``args`` for ``cls(**args)``; true when there is none."""
        if cls not in self._params:
            self._params[cls] = _params_of(cls)
        params = self._params[cls]
        if params is None:  # a builtin or C constructor: nothing to check against
            return True
        ok = True
        if not params.open_ended:
            for arg in args:
                if arg not in params.accepted:
                    hint = close_match(arg, params.accepted)
                    advice = f"did you mean {hint!r}? " if hint else ""
                    report(
                        (*here, arg),
                        f"{label}: unexpected argument {arg!r} for {type_name}; {advice}arguments are: {quote_list(params.accepted)}",
                        key=True,
                    )
                    ok = False
        for arg in params.required:
            if arg not in args:
                report(here, f"{label}: missing required argument {arg!r} for {type_name}; add '{arg}: ...' under args")
                ok = False
        # initial_values and resources have rules of their own (a list per input, a located
        # quantity) that say more than their hints would.
        component = issubclass(cls, Component)
        for arg, value in args.items():
            if component and arg == "initial_values":
                ok = self._initial_values_fit(cls, value, label, report, (*here, arg)) and ok
            elif component and arg == "resources":
                ok = _resources_fit(cls, value, label, report, (*here, arg)) and ok
            elif arg in params.hints:
                ok = self._value_fits(cls, arg, params.hints[arg], value, label, report, (*here, arg)) and ok
        return ok

    def _initial_values_fit(
        self, cls: type, value: Any, label: str, report: Report, here: tuple[str | int, ...]
    ) -> bool:
        if value is None:
            return True
        io = getattr(cls, "io", None)
        inputs = list(getattr(io, "inputs", []) or [])
        problems = initial_values_problems(value, inputs)
        for suffix, message in problems:
            report((*here, *suffix), f"{label}: {message}")
        return not problems

    def _value_fits(
        self, cls: type, arg: str, hint: Any, value: Any, label: str, report: Report, here: tuple[str | int, ...]
    ) -> bool:
        exact = _EXACT.get(hint) if isinstance(hint, type) else None
        if exact is not None and type(value) in exact:
            return True
        key = (cls, arg)
        if key not in self._adapters:
            self._adapters[key] = _adapter(hint)
        adapter = self._adapters[key]
        if adapter is None:
            return True
        errors = _errors(adapter, value)
        if not errors:
            return True
        for path, at_key, message in _describe_errors(errors, value):
            where = f"argument {arg!r} ({_type_text(hint)})"
            if at_key and path:
                where += " key " + "".join(f"[{step!r}]" for step in path)
            elif path:
                where += " item " + "".join(f"[{step!r}]" for step in path)
            report((*here, *path), f"{label}: {where} {message}", key=at_key)
        return False


def _params_of(cls: type) -> _Params | None:
    accepted: list[str] = []
    required: list[str] = []
    hints: dict[str, Any] = {}
    open_ended = True
    first = True
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        init = vars(klass)["__init__"]
        try:
            signature = inspect.signature(init)
        except (TypeError, ValueError):
            return None
        found = _hints_of(init, signature)
        open_ended = False
        for param in list(signature.parameters.values())[1:]:
            if param.kind is param.VAR_POSITIONAL:
                continue
            if param.kind is param.VAR_KEYWORD:
                typed = _unpacked(found.get(param.name))
                if typed is None:
                    open_ended = True
                    continue
                for name, (hint, needed) in _typed_dict_keys(typed).items():
                    if name not in accepted:
                        accepted.append(name)
                        if hint is not None:
                            hints[name] = hint
                        if first and needed:
                            required.append(name)
                continue
            if param.name in accepted:
                continue
            accepted.append(param.name)
            if param.name in found:
                hints[param.name] = found[param.name]
            if first and param.default is param.empty:
                required.append(param.name)
        first = False
        if not open_ended:
            break
    if issubclass(cls, Component) and "name" not in required:
        required.append("name")
    return _Params(accepted, required, open_ended, {k: v for k, v in hints.items() if _checkable(v)})


def _hints_of(function: Any, signature: inspect.Signature) -> dict[str, Any]:
    """The resolved hints of ``function``; one that does not resolve is left out, not fatal."""
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception:
        pass  # some hint names something not importable here: resolve the others one by one
    found: dict[str, Any] = {}
    module_globals = getattr(function, "__globals__", None)
    for name, param in signature.parameters.items():
        if param.annotation is param.empty:
            continue
        holder = types.SimpleNamespace(__annotations__={name: param.annotation})
        try:
            found[name] = typing.get_type_hints(holder, globalns=module_globals, include_extras=True)[name]
        except Exception:
            continue  # unresolvable: this parameter goes unchecked
    return found


def _unpacked(hint: Any) -> type | None:
    """The TypedDict of ``**kwargs: Unpack[TD]``, or ``None`` for any other ``**kwargs``."""
    if hint is None:
        return None
    origin = typing.get_origin(hint)
    unpack_forms: list[Any] = [typing.Unpack]
    try:
        import typing_extensions

        unpack_forms.append(typing_extensions.Unpack)
    except ImportError:  # pragma: no cover - pydantic depends on typing_extensions
        pass
    if origin not in unpack_forms:
        return None
    (inner,) = typing.get_args(hint)
    return inner if typing.is_typeddict(inner) else None


def _typed_dict_keys(typed: type) -> dict[str, tuple[Any, bool]]:
    """Each key of a TypedDict: its hint (``None`` if it does not resolve) and whether it is
    required. ``NotRequired`` is read off the resolved hint: under ``from __future__ import
    annotations`` Python 3.11 cannot see it and lists every key in ``__required_keys__``."""
    try:
        raw = typing.get_type_hints(typed, include_extras=True)
    except Exception:
        raw = {}
    required_keys: frozenset[str] = getattr(typed, "__required_keys__", frozenset())
    keys: dict[str, tuple[Any, bool]] = {}
    for name in getattr(typed, "__annotations__", {}):
        hint = raw.get(name)
        needed = name in required_keys
        if typing.get_origin(hint) in (typing.NotRequired, typing.Required):
            needed = typing.get_origin(hint) is typing.Required
            hint = typing.get_args(hint)[0]
        keys[name] = (hint, needed)
    return keys


def _checkable(hint: Any) -> bool:
    return hint is not Any and hint is not object


def _adapter(hint: Any) -> Any:
    """A pydantic TypeAdapter for ``hint``, or ``None`` where pydantic cannot check it (an
    arbitrary class, a forward reference inside a generic): such a value is left unchecked."""
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(hint)
    except Exception:
        return None


def _errors(adapter: Any, value: Any) -> list[dict[str, Any]]:
    from pydantic import ValidationError

    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = None  # a value JSON cannot hold (a YAML timestamp, !!binary): strict Python
    try:
        if text is not None:
            adapter.validate_json(text, strict=True)
        else:
            adapter.validate_python(value, strict=True)
    except ValidationError as error:
        return [dict(item) for item in error.errors()]
    except Exception:
        return []  # the validator itself cannot run (an undefined forward reference): unchecked
    return []


_MISSING = object()

# pydantic's error types where a YAML scalar was refused for a scalar type: "10" for an int.
_SCALAR_TYPES = {"int_type": int, "float_type": float, "bool_type": bool}


def _describe_errors(errors: list[dict[str, Any]], value: Any) -> list[tuple[tuple[Any, ...], bool, str]]:
    """One ``(path in the value, at a mapping key, 'is …; advice')`` per place at fault.

    pydantic's ``loc`` also names union members (``'int'``, ``'list[int]'``) that are not in
    the data: those steps are dropped. Errors whose loc fits the data wholly are reported; if
    none does, those at the place of the first. Several errors at one place (one per union
    member) make one line.
    """
    mapped = [(*_data_path(error["loc"], value), error) for error in errors]
    chosen = [m for m in mapped if m[1]] or [m for m in mapped if m[0] == mapped[0][0]]
    by_path: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    at_key: dict[tuple[Any, ...], bool] = {}
    for path, _whole, is_key, error in chosen:
        by_path.setdefault(path, []).append(error)
        at_key[path] = at_key.get(path, False) or is_key
    lines = []
    for path, group in by_path.items():
        found = path[-1] if at_key[path] and path else _value_at(value, path)
        lines.append((path, at_key[path], f"is {described(found, yaml=True)}; {_advice(group, found)}"))
    return lines


def _data_path(loc: Sequence[Any], value: Any) -> tuple[tuple[Any, ...], bool, bool]:
    """pydantic's loc as a path into ``value``: (path, whether every step was in the data,
    whether the error is about a mapping key)."""
    path: list[Any] = []
    node = value
    whole = True
    is_key = False
    for step in loc:
        if step == "[key]":
            is_key = True
            continue
        if isinstance(node, Mapping):
            key = next((k for k in node if k == step or str(k) == str(step)), _MISSING)
            if key is not _MISSING:
                path.append(key)
                node = node[key]
                continue
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            path.append(step)
            node = node[step]
            continue
        whole = False
    return tuple(path), whole, is_key


def _value_at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _advice(errors: list[dict[str, Any]], found: Any) -> str:
    if isinstance(found, str):
        for error in errors:
            wanted = _SCALAR_TYPES.get(error["type"])
            literal = _literal_for(found, wanted) if wanted is not None else None
            if literal is not None:
                return f"write {literal} without quotes (YAML values are not converted)"
    messages = list(dict.fromkeys(_yaml_words(str(error["msg"])) for error in errors))
    prefix = "Input should be "
    if all(m.startswith(prefix) for m in messages):
        return "input should be " + " or ".join(m[len(prefix) :] for m in messages)
    return "; ".join(m[:1].lower() + m[1:] for m in messages)


# pydantic names JSON's types (the values are checked as JSON); a model file is YAML.
_YAML_WORDS = {"an object": "a mapping", "a valid dictionary": "a mapping", "a valid array": "a list", "a valid list": "a list"}


def _yaml_words(message: str) -> str:
    for json_word, yaml_word in _YAML_WORDS.items():
        message = message.replace(json_word, yaml_word)
    return message


def _literal_for(text: str, wanted: type) -> str | None:
    """How ``text`` is written as a YAML ``wanted`` value, if it reads as one."""
    stripped = text.strip()
    if wanted is bool:
        return stripped.lower() if stripped.lower() in ("true", "false") else None
    try:
        number = int(stripped) if wanted is int else float(stripped)
    except ValueError:
        return None
    return str(number) if wanted is int else stripped


def _type_text(hint: Any) -> str:
    """``hint`` as a reader would write it: ``int``, ``Sequence[str]``, ``str | PathLike[str]``."""
    if typing.get_origin(hint) is typing.Annotated:
        return _type_text(typing.get_args(hint)[0])
    if hint is type(None):
        return "None"
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__qualname__
    text = repr(hint)
    for module in ("typing.", "collections.abc.", "pathlib.", "os."):
        text = text.replace(module, "")
    return text


def _resources_fit(cls: type, value: Any, label: str, report: Report, here: tuple[str | int, ...]) -> bool:
    """Parse resources up front so that a bad quantity points at its own line."""
    base = getattr(cls, "resources", None)
    try:
        Resource.coerce(value, base=base if isinstance(base, Resource) else None)
        return True
    except ResourceError as error:
        where, at_key = _bad_resource_path(value, here)
        report(where, f"{label}: {error}", key=at_key)
        return False


def _bad_resource_path(value: Any, here: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], bool]:
    """Where the first bad entry of a resources mapping is, and whether to point at its key
    (an unknown field) rather than its value (a bad quantity)."""
    if not isinstance(value, Mapping):
        return here, False
    for key, item in value.items():
        if key not in ("cpu", "gpu", "memory", "resources"):
            return (*here, str(key)), True
        if key == "resources" and isinstance(item, Mapping):
            for name, quantity in item.items():
                if not _parses(quantity):
                    return (*here, "resources", str(name)), False
        elif key != "resources" and not _parses(item):
            return (*here, str(key)), False
    return here, False


def _parses(quantity: Any) -> bool:
    try:
        parse_quantity(quantity)
    except ResourceError:
        return False
    return True
