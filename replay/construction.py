"""Building a recorded component afresh: its class imported from the recorded class path, its
constructor called with the exactly recorded arguments (``components.spec``).

Classes are looked up as ``tapeflow run`` does, with the model's folder first on the import
path: the folder of the model file (or script) named in the run's recorded command, then any
folder the caller adds. A class path of ``__main__`` (a model run as ``python model.py``) is
taken from that script, loaded under another name so its ``if __name__ == "__main__"`` part
does not run.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import inspect
import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from ..engine.component import Component
from .errors import ReplayError
from .recording import RecordedComponent

__all__ = ["build", "import_path", "model_folders", "resolve_class"]

_SCRIPT_MODULE = "_tapeflow_replay_script"
_scripts: dict[Path, ModuleType] = {}


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _command_files(command: str | None) -> list[str]:
    if not command:
        return []
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return [w for w in words if w.endswith((".yaml", ".yml", ".py"))]


def model_folders(run_info: dict[str, Any], extra: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """Where the run's component classes are looked for, first to last: ``extra``, then the
    folder of each model file or script named in the recorded command that exists here (as
    written, or beside the log)."""
    found: list[Path] = [Path(p).resolve() for p in extra]
    log_path = run_info.get("log_path")
    bases = [Path.cwd()] + ([Path(str(log_path)).parent] if log_path else [])
    for word in _command_files(run_info.get("command")):
        for base in bases:
            candidate = (base / word).resolve()
            if candidate.is_file():
                if candidate.parent not in found:
                    found.append(candidate.parent)
                break
    return found


def _scripts_in(run_info: dict[str, Any], folders: Sequence[Path]) -> list[Path]:
    log_path = run_info.get("log_path")
    bases = [Path.cwd()] + ([Path(str(log_path)).parent] if log_path else [])
    scripts = []
    for word in _command_files(run_info.get("command")):
        if word.endswith(".py"):
            for base in bases:
                candidate = (base / word).resolve()
                if candidate.is_file():
                    scripts.append(candidate)
                    break
    return scripts


@contextlib.contextmanager
def import_path(folders: Sequence[Path]) -> Iterator[None]:
    """``folders`` first on ``sys.path`` for as long as the replay runs (a step may import)."""
    entries = [str(f) for f in folders]
    sys.path[:0] = entries
    try:
        yield
    finally:
        for entry in entries:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


def resolve_class(recorded: RecordedComponent, folders: Sequence[Path]) -> type[Component]:
    """The class ``recorded.class_path`` names; ``ReplayError`` if it no longer imports."""
    module_name, _, attr = recorded.class_path.rpartition(".")
    advice = "run the replay from the model's folder, or pass --path with the folder of its module"
    module: ModuleType | None = None
    if module_name == "__main__":
        for script in _scripts_in(recorded.run.info, folders):
            module = _load_script(script, recorded)
            if hasattr(module, attr):
                break
        if module is None:
            raise ReplayError(
                f"{recorded.where}: class {recorded.class_path!r} was defined in a script run as __main__, and the "
                f"recorded command ({recorded.run.info.get('command')!r}) names no script found here; "
                "pass --path with the script's folder and move the class into a module"
            )
    else:
        try:
            module = importlib.import_module(module_name)
        except Exception as error:
            raise ReplayError(f"{recorded.where}: class {recorded.class_path!r} no longer imports ({_describe(error)}); {advice}") from error
    found = getattr(module, attr, None)
    found = getattr(found, "component_class", found)  # a @component function: its class
    if not isinstance(found, type) or not issubclass(found, Component):
        what = "is not there" if found is None else f"is a {type(found).__name__}, not a Component class"
        raise ReplayError(f"{recorded.where}: class {recorded.class_path!r} no longer imports ({attr!r} {what} in module {module_name!r}); {advice}")
    return found


def _runs_code(script: Path) -> str | None:
    """The first top-level statement of ``script`` that would do something when it is
    imported (not a definition, an import, an assignment, a docstring, or the
    ``if __name__ == "__main__":`` block); ``None`` if there is none."""
    tree = ast.parse(script.read_bytes(), str(script))
    quiet = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)
    for node in tree.body:
        if isinstance(node, quiet):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) and "__main__" in ast.unparse(node.test):
            continue
        return f"line {node.lineno}: {ast.unparse(node).splitlines()[0][:60]}"
    return None


def _load_script(script: Path, recorded: RecordedComponent) -> ModuleType:
    module = _scripts.get(script)
    if module is not None:
        return module
    try:
        doing = _runs_code(script)
    except (OSError, SyntaxError, ValueError) as error:
        raise ReplayError(f"{recorded.where}: cannot read script {script} ({_describe(error)}); move the class into a module") from error
    if doing is not None:
        raise ReplayError(
            f"{recorded.where}: class {recorded.class_path!r} is in script {script}, which runs code when imported ({doing}); "
            "put that code under if __name__ == \"__main__\":, or move the class into a module"
        )
    spec = importlib.util.spec_from_file_location(f"{_SCRIPT_MODULE}{len(_scripts)}", script)
    if spec is None or spec.loader is None:
        raise ReplayError(f"{recorded.where}: cannot load script {script}; pass --path with the folder of the component's module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[spec.name]
        raise ReplayError(f"{recorded.where}: script {script} raised on import ({_describe(error)}); fix the script") from error
    _scripts[script] = module
    return module


def _arguments(spec: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    return list(spec.get("args") or []), dict(spec.get("kwargs") or {})


def _shown(args: list[Any], kwargs: dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    text = ", ".join(parts)
    return text if len(text) <= 120 else text[:119] + "…"


def check_signature(recorded: RecordedComponent, cls: type[Component]) -> None:
    """``ReplayError`` if ``cls``'s constructor no longer takes the recorded arguments."""
    args, kwargs = _arguments(recorded.spec)
    try:
        signature = inspect.signature(cls.__init__)
    except (TypeError, ValueError):  # no signature to check: building it will tell
        return
    try:
        signature.bind(None, *args, **kwargs)
    except TypeError as error:
        raise ReplayError(_changed(recorded, error, args, kwargs)) from None


def _changed(recorded: RecordedComponent, error: BaseException, args: list[Any], kwargs: dict[str, Any]) -> str:
    return (
        f"{recorded.where}: the constructor no longer takes the recorded arguments ({error}); "
        f"recorded: {recorded.class_path.rpartition('.')[2]}({_shown(args, kwargs)}); "
        "replay with the code the run was recorded with, or record the run again"
    )


def build(recorded: RecordedComponent, cls: type[Component]) -> Component:
    """A new instance built from the recorded arguments, with the parameters it ran with."""
    args, kwargs = _arguments(recorded.spec)
    try:
        component = cls(*args, **kwargs)
    except TypeError as error:
        raise ReplayError(_changed(recorded, error, args, kwargs)) from error
    except Exception as error:
        raise ReplayError(f"{recorded.where}: the constructor raised {_describe(error)}; fix the constructor, or replay with the code the run was recorded with") from error
    # The parameters it ran with: the process's merged under its own (as Process.init does).
    component.parameters = dict(recorded.spec.get("parameters") or component.parameters)
    return component
