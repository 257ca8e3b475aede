"""Callable specs -> Python objects (used by builds only; previews never import).

module:attr.path       import module, follow attributes (torch:optim.AdamW)
path/file.py:Name      load the file as a module under a unique name
name / name.attr       a Python builtin (dict, dict.fromkeys) or a helper below
pkg.module.Name        a dotted path without ':' (the longest importable prefix)
.module:Name           relative: only meaningful inside a !meta code-generation subgraph
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import importlib.util
import operator
import os
import sys
from typing import Any, Callable

from fgtui.engine.config.aliases import apply_aliases
from fgtui.engine.errors import FgError, SourceLocation


def named_list(*items: Any) -> list:
    return list(items)


def named_tuple(*items: Any) -> tuple:
    return tuple(items)


def named_dict(*mappings: Any, **items: Any) -> dict:
    result: dict = {}
    for mapping in mappings:
        result.update(mapping)
    result.update(items)
    return result


def call(function: Callable, *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


def items(mapping: Any) -> list:
    return list(mapping.items())


def keys(mapping: Any) -> list:
    return list(mapping.keys())


def values(mapping: Any) -> list:
    return list(mapping.values())


HELPERS: dict[str, Callable] = {
    "named_list": named_list,
    "named_tuple": named_tuple,
    "named_dict": named_dict,
    "getitem": operator.getitem,
    "call": call,
    "items": items,
    "keys": keys,
    "values": values,
}


def is_file_module(module: str) -> bool:
    return module.endswith(".py") or "/" in module or os.sep in module


def generated_by_build(spec: str) -> bool:
    """An absolute `file.py:Name` spec whose file does not exist yet: the build itself writes
    it (a model project's generated code) before calling it, so it is checked when called."""
    module = spec.split(":", 1)[0] if ":" in spec else ""
    return bool(module) and is_file_module(module) and os.path.isabs(module) and not os.path.exists(module)


def resolve(spec: str, *, searchpath: list[str] | tuple = (), location: SourceLocation | None = None) -> Any:
    """Import and return the object a spec names."""
    from fgtui.engine.compat.forgather.resolve import translate  # Forgather names (and imports in project files)

    spec = translate(spec, location) or apply_aliases(spec)
    if spec.startswith("."):
        raise FgError(
            f"relative callable '{spec}' can only be used inside a !meta code-generation subgraph",
            hint="write the full module path (package.module:Name)",
            location=location,
        )
    if ":" in spec:
        module_name, attrs = spec.split(":", 1)
        module = (
            load_file_module(module_name, searchpath, location)
            if is_file_module(module_name)
            else import_module(module_name, location)
        )
        return follow(module, attrs, spec, location)
    head, _, rest = spec.partition(".")
    if hasattr(builtins, head):
        return follow(getattr(builtins, head), rest, spec, location) if rest else getattr(builtins, head)
    if spec in HELPERS:
        return HELPERS[spec]
    return import_dotted(spec, location)


def follow(obj: Any, attrs: str, spec: str, location: SourceLocation | None) -> Any:
    for attr in attrs.split(".") if attrs else ():
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise FgError(
                f"'{spec}': {getattr(obj, '__name__', type(obj).__name__)} has no attribute '{attr}'",
                hint="check the spelling of the callable",
                location=location,
            ) from None
    return obj


def import_module(name: str, location: SourceLocation | None) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise FgError(
                f"cannot import module '{name}'", hint="install it or fix the module path", location=location
            ) from None
        raise FgError(f"importing '{name}' failed: {exc}", hint="fix that module's imports", location=location) from exc
    except Exception as exc:
        raise FgError(
            f"importing '{name}' failed: {type(exc).__name__}: {exc}",
            hint="fix the error in that module",
            location=location,
        ) from exc


def import_dotted(spec: str, location: SourceLocation | None) -> Any:
    """`torch.nn.SiLU`: import the longest importable module prefix, then follow attributes."""
    parts = spec.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                continue
            raise FgError(
                f"importing '{name}' failed: {exc}", hint="fix that module's imports", location=location
            ) from exc
        return follow(module, ".".join(parts[cut:]), spec, location)
    raise FgError(
        f"unknown callable '{spec}': not a builtin, helper or importable module",
        hint="write module:Name (e.g. torch.nn:SiLU)",
        location=location,
    )


def file_module_name(path: str) -> str:
    """A module name unique to the file, so two files with the same stem do not collide."""
    digest = hashlib.sha1(path.encode()).hexdigest()[:12]
    stem = os.path.splitext(os.path.basename(path))[0]
    return f"fgtui_file_{stem}_{digest}"


def load_file_module(path: str, searchpath: list[str] | tuple, location: SourceLocation | None) -> Any:
    """Load `path` (relative: to the working directory, else to a searchpath entry) as a module.

    The `searchpath` directories become the module's package path, so the
    file can import its neighbours with `from .sibling import X`.
    """
    candidates = [path] if os.path.isabs(path) else [path] + [os.path.join(d, path) for d in searchpath]
    found = next((p for p in candidates if os.path.isfile(p)), None)
    if found is None:
        raise FgError(
            f"module file '{path}' not found",
            hint="use an absolute path, e.g. {{ joinpath(project_dir, ...) }}",
            location=location,
        )
    real = os.path.realpath(found)
    name = file_module_name(real)
    stamp = os.stat(real).st_mtime_ns
    cached = sys.modules.get(name)
    if cached is not None and getattr(cached, "__fgtui_stamp__", None) == stamp:
        return cached
    locations = [os.path.realpath(d) for d in searchpath] or [os.path.dirname(real)]
    spec = importlib.util.spec_from_file_location(name, real, submodule_search_locations=locations)
    module = importlib.util.module_from_spec(spec)
    module.__fgtui_stamp__ = stamp
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise FgError(
            f"loading '{path}' failed: {type(exc).__name__}: {exc}",
            hint="fix the error in that file",
            location=location,
        ) from exc
    return module
