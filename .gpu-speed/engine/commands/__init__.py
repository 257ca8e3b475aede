"""Subcommands of `fgtui`.

`COMMAND_MODULES` maps each module in this package to the command names it
registers. A module exposes `register(subparsers, common)`, where `common` is
the parent parser holding -p/-t/--debug, and sets `handler=` on each parser
through `set_defaults`. Heavy imports (torch, datasets, textual) stay inside
handlers so that light commands start fast. `config_parser` (the parser that grows
a config's own options) and `headless` serve several of the command modules.
"""

COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "train_cmds": ("train", "control", "logs", "tb"),
    "config_cmds": ("pp", "graph", "targets", "code", "construct"),
    "project_cmds": ("ws", "project", "ls", "index", "trefs", "tlist"),
    "dataset_cmds": ("dataset",),
    "model_cmds": ("generate", "convert", "serve"),
}


def command_names() -> set[str]:
    return {name for names in COMMAND_MODULES.values() for name in names}
