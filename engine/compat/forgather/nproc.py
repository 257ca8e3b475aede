"""How many processes a Forgather config asks for, read before launch.

Forgather's `train` starts torchrun with `--nproc-per-node` set to the config's
`meta.nproc_per_node` (its templates default to 1; its pipeline and DDP examples set 2).
fgtui starts a Forgather config with the same count when `-d` is not given, so the run
is the one Forgather would make; `-d` still picks. Read as data: a dry run may use it.
"""

from __future__ import annotations

from typing import Any

from fgtui.engine.errors import FgError

# torchrun's own words for "one process per GPU" (and, for auto, per CPU without GPUs).
_PER_DEVICE = ("gpu", "auto")


def forgather_nproc(graph: Any, cuda_count: int) -> int | None:
    """The process count a Forgather config's meta names, or None for a config that names
    no Forgather objects or sets none."""
    from fgtui.engine.compat.forgather.check import forgather_calls
    from fgtui.engine.project.static_values import static_value

    root = graph.root
    if not isinstance(root, dict) or "meta" not in root or not forgather_calls(graph):
        return None
    meta = static_value(root["meta"])
    value = meta.get("nproc_per_node") if isinstance(meta, dict) else None
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if value in _PER_DEVICE and cuda_count:
        return cuda_count
    raise FgError(
        f"the config's meta.nproc_per_node is {value!r}: Forgather passes it to torchrun, which "
        + ("finds no GPU to count here" if value in _PER_DEVICE else "takes a positive number"),
        hint="set ns.nproc_per_node to a process count, or give -d (e.g. -d cpu:2)",
    )
