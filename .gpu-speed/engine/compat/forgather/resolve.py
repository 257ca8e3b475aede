"""Which object a `forgather...` spec or import means under fgtui.

A real Forgather installation always wins: when the `forgather` package can be
found on sys.path, specs and imports are left alone. Otherwise specs map through
`names.PROVIDED`, and a name fgtui does not provide is an error naming it (never
a silent stand-in). Called only while a config is built, never at preview.
"""

from __future__ import annotations

import functools
import importlib.machinery

from fgtui.engine.compat.forgather import names
from fgtui.engine.errors import FgError, SourceLocation


@functools.lru_cache(maxsize=1)
def real_forgather_installed() -> bool:
    # PathFinder looks at sys.path only, so the compatibility finder never answers for itself.
    return importlib.machinery.PathFinder.find_spec("forgather") is not None


def not_provided(spec: str, location: SourceLocation | None = None) -> FgError:
    return FgError(
        f"'{spec}' is a Forgather name that fgtui does not provide",
        hint="install Forgather in this environment to use its own, or replace it with an fgtui "
        "object (the names fgtui provides: engine/compat/forgather/names.py)",
        location=location,
    )


def translate(spec: str, location: SourceLocation | None = None) -> str | None:
    """The spec to import instead of `spec`, or None when `spec` is not a Forgather name.

    Also makes `import forgather...` in project files resolve (the build is about to
    import them)."""
    from fgtui.engine.compat.forgather.importer import install

    install()
    if not names.is_forgather_spec(spec):
        return None
    if real_forgather_installed():
        return spec
    target = names.lookup(spec)
    if target is None:
        raise not_provided(spec, location)
    return target
