"""Where a Forgather config's run is logged, read before launch.

Forgather's templates put `logging_dir` (`<output_dir>/runs/<log name>_<time>`) in the
config's `meta`; its JSON logger and TensorBoard write there. When fgtui launches such a
config, naming its run dir after that directory makes the two one: fgtui's log stream
and Forgather's trainer_logs.json side by side, one run in the runs list. Read as data
(no call): a dry run may use it.
"""

from __future__ import annotations

import os
from typing import Any


def logging_run_name(graph: Any, output_dir: str) -> str | None:
    """The last part of meta's `logging_dir` when it is a directory of `<output_dir>/runs`,
    for a config that names Forgather objects. fgtui's own templates set a `logging_dir`
    too (a fixed `runs/log`); naming their runs after it would send every run to one dir."""
    from fgtui.engine.compat.forgather.check import forgather_calls
    from fgtui.engine.launch.launcher import config_setting

    if not forgather_calls(graph):
        return None
    logging_dir = config_setting(graph, "logging_dir")
    if not logging_dir:
        return None
    parent, name = os.path.split(os.path.normpath(logging_dir))
    runs = os.path.join(output_dir, "runs")
    if name and os.path.realpath(parent) == os.path.realpath(runs):
        return name
    return None
