"""Config inspection: pp, graph, targets, code, construct.

    fgtui -t CFG pp                      the rendered YAML
    fgtui -t CFG graph [--format F]      the node graph (yaml, repr or python)
    fgtui -t CFG targets                 the top-level targets
    fgtui -t CFG code [--target T]       Python that builds T
    fgtui -t CFG construct [--target T] [--call] [--format text|json]

pp, graph, targets and code import no module the config names; only
construct builds (and so imports) anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fgtui.engine.errors import FgError


def _add_var_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--var",
        action="append",
        metavar="NAME=VALUE",
        help="set a template variable (repeatable; VALUE is read as a YAML scalar)",
    )


def _add_preview_command(subparsers: argparse._SubParsersAction, name: str, **kwargs: Any):
    """A preview that takes the config's own options (`fgtui pp --max-steps 5`), as in
    Forgather, and still shows a config whose options cannot be read."""
    from fgtui.engine.commands.config_parser import add_config_command

    parser = add_config_command(subparsers, name, **kwargs)
    parser.preview = True
    return parser


def register(
    subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser, command: str | None = None
) -> None:
    """Add the subcommands; with `command`, only that one (the command being run, whose
    parser alone argparse then builds)."""
    if command in (None, "pp"):
        pp = _add_preview_command(subparsers, "pp", parents=[common], help="print the preprocessed (rendered) config")
        # pp prints text only: no line map to build (see TemplateEnvironment's `markers`).
        pp.origin_markers = False
        _add_var_option(pp)
        pp.set_defaults(handler=run_pp)

    if command in (None, "graph"):
        graph = _add_preview_command(subparsers, "graph", parents=[common], help="print the parsed node graph")
        graph.add_argument("--format", choices=("yaml", "repr", "python"), default="yaml")
        _add_var_option(graph)
        graph.set_defaults(handler=run_graph)

    if command in (None, "targets"):
        targets = subparsers.add_parser("targets", parents=[common], help="list the config's targets")
        _add_var_option(targets)
        targets.set_defaults(handler=run_targets)

    if command in (None, "code"):
        code = _add_preview_command(subparsers, "code", parents=[common], help="print Python that builds a target")
        code.add_argument("--target", default="main")
        _add_var_option(code)
        code.set_defaults(handler=run_code)

    if command in (None, "construct"):
        from fgtui.engine.commands.config_parser import add_config_command

        # construct takes the config's own dynamic args (`--dataset-path ...`), as train does.
        construct = add_config_command(
            subparsers,
            "construct",
            parents=[common],
            help="build a target and print it",
            description="Build a target and print it. Unlike listing, previewing and "
            "--help, this runs the config's code: build only projects you trust.",
        )
        construct.add_argument("--target", default="main")
        construct.add_argument("--call", action="store_true", help="call the built target and print the result")
        construct.add_argument("--format", choices=("text", "json"), default="text")
        _add_var_option(construct)
        construct.set_defaults(handler=run_construct)


def parse_variables(assignments: list[str] | None) -> dict[str, Any]:
    """`--var name=value` pairs; each value is read as a YAML scalar (1, 1e-3, true, text)."""
    variables: dict[str, Any] = {}
    for item in assignments or []:
        name, eq, text = item.partition("=")
        if not eq or not name.strip().isidentifier():
            raise FgError(f"bad --var '{item}'", hint="write --var NAME=VALUE, e.g. --var lr=3e-4")
        from fgtui.engine.config.yaml_module import import_yaml

        yaml = import_yaml()

        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        if isinstance(value, str):
            value = _python_number(value)
        variables[name.strip()] = value
    return variables


def _python_number(text: str) -> Any:
    """`3e-4` is a string to YAML 1.1 but a number to anyone typing an option."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _render(args: argparse.Namespace, markers: bool = True):
    from fgtui.engine.project.selection import resolve_config

    # The config's options as the parser read them (config_parser.values_from_namespace);
    # `--var` assignments override them.
    variables = {**getattr(args, "dynamic_args", {}), **parse_variables(getattr(args, "var", None))}
    env, name, variables = resolve_config(
        getattr(args, "project_dir", None), getattr(args, "config_template", None), variables, markers=markers
    )
    rendered = env.render(name, variables)
    for warning in rendered.warnings:
        print(f"fgtui: warning: {warning}", file=sys.stderr)
    if getattr(args, "debug", False):
        for template in rendered.files_by_name:
            print(f"--- {template} (after line syntax) ---", file=sys.stderr)
            print(env.translated_source(template), file=sys.stderr)
    return rendered, variables


def _graph(args: argparse.Namespace):
    from fgtui.engine.config.loader import load_rendered

    rendered, variables = _render(args)
    graph = load_rendered(rendered)
    for warning in graph.warnings:
        print(f"fgtui: warning: {warning}", file=sys.stderr)
    return graph, variables


def run_pp(args: argparse.Namespace) -> int:
    rendered, _ = _render(args, markers=False)
    received = getattr(args, "dynamic_args", {})
    if received:  # Forgather's pp starts with this line; kept so the two print the same text
        sys.stdout.write(f"# Dynamic arguments received: {received}\n\n")
    sys.stdout.write(rendered.text if rendered.text.endswith("\n") else rendered.text + "\n")
    return 0


def run_graph(args: argparse.Namespace) -> int:
    from fgtui.engine.config import generate_code, graph_repr, graph_to_yaml

    graph, _ = _graph(args)
    if args.format == "yaml":
        text = graph_to_yaml(graph)
    elif args.format == "repr":
        text = graph_repr(graph)
    else:
        text = generate_code(graph, None)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def run_targets(args: argparse.Namespace) -> int:
    graph, _ = _graph(args)
    # One name a line, then an empty line: Forgather's output, byte for byte.
    print("".join(f"{target}\n" for target in graph.targets))
    return 0


def run_code(args: argparse.Namespace) -> int:
    from fgtui.engine.config import generate_code

    graph, _ = _graph(args)
    sys.stdout.write(generate_code(graph, args.target))
    return 0


def run_construct(args: argparse.Namespace) -> int:
    from fgtui.engine.config import build

    graph, variables = _graph(args)
    result = build(graph, args.target, context=variables, call=args.call)
    if args.format == "json":
        if not is_json(result):
            raise FgError(
                f"target '{args.target}' is a {type(result).__name__}, not made of JSON types", hint="use --format text"
            )
        print(json.dumps(result, indent=2))
    else:
        import pprint

        print(pprint.pformat(result, sort_dicts=False))
    return 0


def is_json(value: Any) -> bool:
    """Is `value` made only of JSON types (dict with str keys, list, str, number, bool, None)?"""
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, (list, tuple)):
        return all(is_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and is_json(item) for key, item in value.items())
    return False
