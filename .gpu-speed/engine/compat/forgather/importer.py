"""`import forgather...` in a project's Python files, when Forgather itself is not installed.

A meta-path finder makes `forgather` and its sub-packages modules whose attributes
are the objects `names.PROVIDED` lists; only module paths that lead to a provided
name exist. Installed by the build (construct/train), never by previews.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any

from fgtui.engine.compat.forgather import names


def provided_modules() -> set[str]:
    """Every Forgather module path that holds, or leads to, a provided name."""
    found: set[str] = set()
    for key in names.PROVIDED:
        parts = key.split(":", 1)[0].split(".")
        found.update(".".join(parts[:cut]) for cut in range(1, len(parts) + 1))
    return found


def load_target(target: str) -> Any:
    module, attrs = target.split(":", 1)
    value: Any = importlib.import_module(module)
    for attr in attrs.split("."):
        value = getattr(value, attr)
    return value


class CompatModule(types.ModuleType):
    """A Forgather module; its names are looked up in the table when first used."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        target = names.PROVIDED.get(f"{self.__name__}:{attr}")
        if target is None:
            raise AttributeError(
                f"'{self.__name__}.{attr}' is a Forgather name that fgtui does not provide "
                "(install Forgather, or see engine/compat/forgather/names.py)"
            )
        value = load_target(target)
        setattr(self, attr, value)
        return value

    def __dir__(self) -> list[str]:
        return sorted(names.module_names(self.__name__))


class ForgatherFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self) -> None:
        self.modules = provided_modules()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self.modules:
            return None
        from fgtui.engine.compat.forgather.resolve import real_forgather_installed

        if real_forgather_installed():
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: Any) -> types.ModuleType:
        module = CompatModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__doc__ = f"fgtui's stand-in for {module.__name__} (engine/compat/forgather)"


def _override(method: Any) -> Any:
    """typing.override (Python 3.12): marks a method as overriding; no other effect."""
    try:
        method.__override__ = True
    except (AttributeError, TypeError):
        pass
    return method


def install() -> None:
    """Put the finder on sys.meta_path once (after the standard finders: a real Forgather wins).

    Forgather needs Python 3.12, and the model sources it generates import
    `typing.override`; on older Pythons that one name is supplied."""
    if not any(isinstance(finder, ForgatherFinder) for finder in sys.meta_path):
        sys.meta_path.append(ForgatherFinder())
    import typing

    if not hasattr(typing, "override"):
        typing.override = _override
