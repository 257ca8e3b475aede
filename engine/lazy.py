"""Lazy package exports: names a package offers, imported from their modules on first use.

Packages whose users only sometimes need their heavy parts (`fgtui pp` needs Jinja but
not the builder; listing needs no torch) export through this, so `import
fgtui.engine.data` loads neither torch nor `datasets` until a name that needs them is used.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing `typing` (`fgtui ls` does not need it)
if TYPE_CHECKING:
    from typing import Any, Callable


def lazy_exports(
    package: str, exports: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package`, for `exports` (name -> submodule
    under the package). A name, once imported, is cached in `namespace` (the package's globals)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        loaded = importlib.import_module(f"{package}.{module}")
        # Importing a submodule binds its name in the package (`build`, the module, where
        # `build` the function is exported): bind every name it exports now, so an export
        # always wins over a submodule of the same name whichever was asked for first.
        for exported, home in exports.items():
            if home == module:
                namespace[exported] = getattr(loaded, exported)
        return namespace[name]

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
