"""The environment a launch gives the ranks for a config's memory switches, read as data."""

from __future__ import annotations

from fgtui.engine.errors import FgError

# The one trainer-arguments class the launcher reads as data: fgtui's own, a plain dataclass.
TRAINING_ARGUMENTS_SPEC = "fgtui.engine.train:TrainingArguments"


def launch_env(graph, current_alloc_conf: str | None = None) -> dict[str, str]:
    """Environment the launcher gives the ranks for the config's memory switches.

    Reads the config graph's `trainer_args` target as data (engine/project/static_values.py):
    nothing the config names is imported or called, so `--dry-run` runs no code of the
    project. When it is fgtui's own TrainingArguments and every value is plain data, the
    arguments are validated here (a bad switch is refused before anything is written) and
    `expandable_segments` reaches PYTORCH_CUDA_ALLOC_CONF before any rank initialises
    CUDA. Other trainers' arguments, or computed values, are left to the ranks.
    """
    from fgtui.engine.config.graph import CallNode
    from fgtui.engine.memory.switches import cuda_alloc_conf_env
    from fgtui.engine.project.static_values import static_value, unresolved_in

    node = graph.root.get("trainer_args") if isinstance(graph.root, dict) else None
    if not isinstance(node, CallNode) or node.spec != TRAINING_ARGUMENTS_SPEC or node.args:
        return {}
    kwargs = static_value(dict(node.kwargs))
    if unresolved_in(kwargs):
        return {}
    from fgtui.engine.train.args import TrainingArguments

    try:
        args = TrainingArguments(**kwargs)
    except TypeError as error:
        raise FgError(
            f"trainer_args: {error}", location=node.location, hint="fix the argument names to match TrainingArguments"
        ) from None
    return cuda_alloc_conf_env(args.memory, current_alloc_conf)
