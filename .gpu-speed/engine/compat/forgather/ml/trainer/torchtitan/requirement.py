"""torchtitan is an optional dependency of these names, as in Forgather: a clear error
when a config needs it and it is not installed."""

from __future__ import annotations

import importlib
from types import ModuleType

from fgtui.engine.errors import FgError


def torchtitan_module(module: str, needed_by: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] == "torchtitan":
            raise FgError(
                f"forgather.ml.trainer.torchtitan {needed_by} needs torchtitan, which is not installed",
                hint="pip install torchtitan (the configs naming it train with torchtitan's Trainer)",
            ) from None
        raise
