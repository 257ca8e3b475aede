"""Forgather names -> fgtui names, so Forgather templates run unchanged.

Data only. `SPEC_ALIASES` maps whole specs; `MODULE_ALIASES` maps a module
(or a dotted prefix of one) wherever it appears in a spec. The longest
matching module prefix wins.
"""

from __future__ import annotations

SPEC_ALIASES: dict[str, str] = {
    "forgather:from_project": "fgtui.engine.project:from_project",
    "forgather.project:from_project": "fgtui.engine.project:from_project",
}

MODULE_ALIASES: dict[str, str] = {
    "forgather.ml.datasets": "fgtui.engine.data",
    "forgather.ml.dataset": "fgtui.engine.data",
    "forgather.ml.data_collator": "fgtui.engine.data",
    "forgather.ml.optim": "fgtui.engine.optim",
    "forgather.ml.trainer": "fgtui.engine.train",
    "forgather.ml.trainer.callbacks": "fgtui.engine.train",
}


def apply_aliases(spec: str) -> str:
    """The fgtui spelling of a spec (unchanged when no alias applies)."""
    if spec in SPEC_ALIASES:
        return SPEC_ALIASES[spec]
    module, colon, attrs = spec.partition(":")
    parts = module.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in MODULE_ALIASES:
            module = ".".join([MODULE_ALIASES[prefix], *parts[cut:]])
            return module + colon + attrs
    return spec
