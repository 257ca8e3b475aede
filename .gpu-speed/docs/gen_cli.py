"""Write docs/cli.md from fgtui's own argparse parsers, so the reference
cannot drift from the code: tests/docs/test_cli_reference.py regenerates it
and fails when the committed file differs.

    python docs/gen_cli.py            # rewrite docs/cli.md
    python docs/gen_cli.py --check    # exit 1 when docs/cli.md is stale

The text is built from the parsers' actions rather than `format_help()`,
whose layout changes between Python versions and terminal widths.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fgtui.engine.cli import build_parser

CLI_MD = Path(__file__).with_name("cli.md")

HEADER = """\
# Command reference

Generated from fgtui's argument parsers by `python docs/gen_cli.py`; do not
edit by hand (a test regenerates it and compares).

Every command also takes the common options `-p DIR` / `--project-dir DIR`
(the project; default: the nearest one above the current directory),
`-t CFG` / `--config-template CFG` (a config name under the project's
configs, or a template file path) and `--debug` (full tracebacks), before or
after the command name.

Commands that build or train a config (`train`, `construct`, `dataset`, ...)
also take the options the config itself declares in its `[dynamic_args]`
block; they are not listed here because they differ per config:
`fgtui COMMAND --help` inside a project prints them under "config options".
"""

COMMON = {"-h", "--help", "-p", "--project-dir", "-t", "--config-template", "--debug"}


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each subcommand of `parser`, in order."""
    found = []
    for action in parser._actions:  # argparse offers no public walk of its tree
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            seen = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias
                    continue
                seen.add(id(sub))
                found.append((name, helps.get(name) or "", sub))
    return found


def _expand(text: str | None, action: argparse.Action) -> str:
    if not text or text == argparse.SUPPRESS:
        return ""
    values = {"default": action.default, "prog": "fgtui", "choices": action.choices, "dest": action.dest}
    try:
        text = text % values
    except (KeyError, TypeError, ValueError):
        pass
    return " ".join(text.split())


def _flags(action: argparse.Action) -> str:
    if action.option_strings:
        takes_value = action.nargs != 0
        if takes_value and action.choices is not None:
            value = "{" + ",".join(str(c) for c in action.choices) + "}"
        elif takes_value:
            value = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
        else:
            value = ""
        return ", ".join(f"`{flag}{' ' + value if value else ''}`" for flag in action.option_strings)
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        return "`" + (action.metavar or "{" + ",".join(str(c) for c in action.choices) + "}") + "`"
    return f"`{action.metavar or action.dest}`"


def _section(path: str, summary: str, parser: argparse.ArgumentParser) -> list[str]:
    lines = [f"## `{path}`", ""]
    description = " ".join((parser.description or summary or "").split())
    if description:
        lines += [description, ""]
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        if action.option_strings and set(action.option_strings) & COMMON and path != "fgtui":
            continue
        if action.help == argparse.SUPPRESS:
            continue
        meaning = _expand(action.help, action).replace("|", "\\|")
        rows.append(f"| {_flags(action)} | {meaning} |")
    if rows:
        lines += ["| argument | meaning |", "|---|---|", *rows, ""]
    subs = _subcommands(parser)
    if subs:
        lines += ["Subcommands: " + ", ".join(f"`{name}`" for name, _, _ in subs) + ".", ""]
    if parser.epilog:
        lines += [" ".join(parser.epilog.split()), ""]
    return lines


def render() -> str:
    parser = build_parser(None)
    lines = [HEADER]
    stack = [("fgtui", "", parser)]
    while stack:
        path, summary, current = stack.pop(0)
        lines += _section(path, summary, current)
        stack[0:0] = [(f"{path} {name}", help_, sub) for name, help_, sub in _subcommands(current)]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not CLI_MD.exists() or CLI_MD.read_text() != text:
            print(f"{CLI_MD} is stale: run python docs/gen_cli.py", file=sys.stderr)
            return 1
        return 0
    CLI_MD.write_text(text)
    print(f"wrote {CLI_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
