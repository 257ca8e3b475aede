"""The `fgtui` console script: the TUI or the command line.

`fgtui` alone, or `fgtui PATH`, opens the workbench (fgtui.app); anything
else is a command for fgtui.engine.cli. The choice lives here, above both
packages, because the engine must never import the app.
"""

from __future__ import annotations

import os
import sys


def wants_workbench(argv: list[str]) -> bool:
    from fgtui.engine.commands import command_names

    if not argv:
        return True
    return len(argv) == 1 and not argv[0].startswith("-") and argv[0] not in command_names() and os.path.exists(argv[0])


def not_a_command_nor_directory(argv: list[str]) -> str | None:
    """The one-line error for `fgtui WORD` when WORD is neither a command nor a
    directory: a mistyped path reads as one, not as argparse's list of commands."""
    if len(argv) != 1 or argv[0].startswith("-") or os.path.exists(argv[0]):
        return None
    from fgtui.engine.commands import command_names

    word = argv[0]
    if word in command_names():
        return None
    if os.sep in word or word.startswith((".", "~")):
        parent = os.path.dirname(os.path.normpath(word)) or "."
        hint = f" ({parent} exists)" if os.path.isdir(parent) else ""
        return f"fgtui: error: no such directory: {word}{hint}"
    return (
        f"fgtui: error: {word!r} is neither a command nor a directory (commands: {', '.join(sorted(command_names()))})"
    )


def main(argv: list[str] | None = None) -> int:
    own_process = argv is None  # the console script; a caller passing argv may share its process
    argv = list(sys.argv[1:] if argv is None else argv)
    problem = not_a_command_nor_directory(argv)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    if wants_workbench(argv):
        from fgtui.app.main import run_workbench

        return run_workbench(argv[0] if argv else None)
    from fgtui.engine.cli import main as cli_main

    return cli_main(argv, own_process=own_process)


if __name__ == "__main__":
    sys.exit(main())
