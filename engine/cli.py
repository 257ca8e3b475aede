"""The `fgtui` command line (the TUI itself is opened by fgtui/entry.py).

    fgtui --run CFG           train CFG headless, following its progress
    fgtui [-p DIR] [-t CFG] COMMAND ...

Subcommands live in `engine/commands/*.py`; each module exposes
`register(subparsers, common)` and imports heavy libraries only inside its
handlers. Only the module owning the command being run is registered (argparse
spends ~1 ms per subparser), and `config_cmds` and `project_cmds` register that
command alone, so `fgtui pp` and `fgtui ls` start fast; `fgtui --help` and
unknown commands register them all. Errors caused by the user's input are
`FgError`s and print as one line (exit 2); `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys

from fgtui.engine.commands import COMMAND_MODULES
from fgtui.engine.errors import FgError


def terminal_columns() -> int:
    """`shutil.get_terminal_size().columns`, by its rules: $COLUMNS, else the
    terminal's width, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, the width found without importing shutil (and with it
    zlib, bz2 and lzma): argparse builds one for every option it is given, to check
    the option's metavar, which costs a cold `fgtui ls` a fortieth of its run."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width=None) -> None:
        if width is None:
            width = terminal_columns() - 2  # as argparse does
        super().__init__(prog, indent_increment, max_help_position, width)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with `HelpFormatter` by default; subcommands' parsers are
    of the same class (argparse's `add_subparsers` makes them so)."""

    def __init__(self, *args, formatter_class=HelpFormatter, **kwargs) -> None:
        super().__init__(*args, formatter_class=formatter_class, **kwargs)


def common_options() -> argparse.ArgumentParser:
    """Options accepted both before and after the subcommand name.

    SUPPRESS defaults let `fgtui -t a.yaml pp` and `fgtui pp -t a.yaml` both
    work without the subparser resetting what the main parser saw.
    """
    common = ArgumentParser(add_help=False)
    common.add_argument(
        "-p",
        "--project-dir",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="project directory (default: the nearest one above the current directory)",
    )
    common.add_argument(
        "-t",
        "--config-template",
        default=argparse.SUPPRESS,
        metavar="CFG",
        help="config: a name under the project's configs, or a template file path",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show full tracebacks and intermediate template text",
    )
    return common


# Main-parser options that take a value, so that the value is not taken for the command.
_VALUE_OPTIONS = frozenset({"-p", "--project-dir", "-t", "--config-template", "--run"})


def command_in(argv: list[str]) -> str | None:
    """The subcommand `argv` names, if any: its first positional token."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            return next(tokens, None)
        if token in _VALUE_OPTIONS:
            next(tokens, None)
        elif not token.startswith("-"):
            return token
    return None


def modules_for(argv: list[str] | None) -> list[str]:
    """The command modules to register: the one owning argv's command, else all."""
    command = command_in(argv) if argv is not None else None
    for module, names in COMMAND_MODULES.items():
        if command in names:
            return [module]
    return list(COMMAND_MODULES)


# Command modules whose `register` takes the command being run and adds only it (the
# others add their few parsers whatever the command).
_REGISTERS_ONE = frozenset({"config_cmds", "project_cmds"})


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The `fgtui` parser; with `argv`, only the subcommand it names is registered."""
    common = common_options()
    parser = ArgumentParser(
        prog="fgtui",
        description="A terminal workbench for configuration-driven LLM training.",
        parents=[common],
        epilog="Run `fgtui COMMAND --help` for a command's options.",
    )
    parser.add_argument(
        "--run",
        metavar="CFG",
        default=None,
        help="train CFG headless: launch it detached and follow its progress (runs the config's code: "
        "train only projects you trust)",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"fgtui {_version()}",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = modules_for(argv)
    # One module owns the command being run: it registers that command alone.
    command = command_in(argv) if argv is not None and len(modules) == 1 else None
    for name in modules:
        module = importlib.import_module(f"fgtui.engine.commands.{name}")
        if command is not None and name in _REGISTERS_ONE:
            module.register(subparsers, common, command)
        else:
            module.register(subparsers, common)
    return parser


def _version() -> str:
    from fgtui import __version__

    return __version__


def main(argv: list[str] | None = None, *, own_process: bool = False) -> int:
    """Run one command. `own_process`: the process runs this command only (the console
    script, `python -m fgtui.engine.cli`), so its garbage collector may be tuned for it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(token == "--run" or token.startswith("--run=") for token in argv):
        from fgtui.engine.commands.headless import as_train_argv

        argv = as_train_argv(argv) or argv
    debug = "--debug" in argv
    try:
        parser, args = _parse(argv, own_process)
        if args.command is None and args.run is None:
            parser.print_help()
            return 0
        if args.run is not None:
            from fgtui.engine.commands import headless

            return headless.run_headless(args)
        return int(args.handler(args) or 0)
    except FgError as error:
        return _report(error, debug)
    except (TypeError, RecursionError) as error:
        from fgtui.engine.compat.forgather.model_code import explain

        # `generate`/`convert`/`serve` of a Forgather output dir run its model code in-process.
        known = explain(error)
        if known is None:
            raise
        return _report(known, debug)
    except KeyboardInterrupt:
        print("fgtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `fgtui pp | head` closes the pipe early; that is not an error.
        sys.stderr.close()
        return 0


def _parse(argv: list[str], own_process: bool) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The parser and the parsed arguments; in a process of its own, made with the cyclic
    garbage collector paused.

    Parsing imports the command's modules and, for a config command, renders the config
    to read its options (Jinja compiling every template): many objects that live as long
    as the process, and few cycles worth collecting. Frozen afterwards, they are skipped
    by the collector's later passes and by its pass at exit, which together were 5% of a
    cold `pp` (807 -> 763 M instructions). The collector then runs as usual for the
    command (train, serve and the workbench run for long). The price: a cycle made while
    parsing that is garbage stays (about 400 objects for `pp`). A caller sharing its
    process with `main` (tests) keeps its collector as it was.
    """
    paused = own_process and gc.isenabled()
    if paused:
        gc.disable()
    try:
        parser = build_parser(argv)
        args, extras = parser.parse_known_args(argv)
        if extras:
            refuse_extras(args, extras)
        return parser, args
    finally:
        if paused:
            gc.freeze()
            gc.enable()


def refuse_extras(args: argparse.Namespace, extras: list[str]) -> None:
    """Arguments no parser took: one line naming the command, not argparse's usage
    block (which, for a config command, is the config's every option). A config
    command's options depend on the config, so the pointer is to the same command's
    --help."""
    command = getattr(args, "command", None)
    prog = f"fgtui {command}" if command else "fgtui"
    print(
        f"{prog}: error: unrecognized arguments: {' '.join(extras)}"
        f" (add --help to the same command line for the options it takes here)",
        file=sys.stderr,
    )
    sys.exit(2)


def _report(error: FgError, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exc()
    print(f"fgtui: error: {error}", file=sys.stderr)
    return error.exit_code


if __name__ == "__main__":
    sys.exit(main(own_process=True))
