"""Subcommand parsers that grow the selected config's options.

`fgtui train --help` must list the options the config declares, and
`fgtui train --max-steps 10` must accept them, yet which config is meant is
only known from -p/-t, which argparse reads in the same pass. A
`ConfigArgumentParser` therefore looks at -p/-t (its own, or those given
before the subcommand) when it starts parsing, loads the config's
`dynamic_args`, adds them as options, and then parses as usual. The handler
finds the typed template variables in `args.dynamic_args` and the specs in
`args.dynamic_arg_specs`.

Usage in a command module::

    parser = add_config_command(subparsers, "train", parents=[common], help="...")
    parser.add_argument("--dry-run", action="store_true")
    parser.set_defaults(handler=run_train)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from fgtui.engine.errors import FgError
from fgtui.engine.project.dynamic_args import DynamicArg, convert_value

# Namespace attributes for config options carry this prefix so they can
# never collide with a command's own options (Forgather mixed both).
DEST_PREFIX = "dynarg."


class _BoolFlag(argparse.Action):
    """`--flag` sets True, `--no-flag` False, and `--flag false` also works,
    so both Forgather's `--compile True` spelling and plain flags parse."""

    def __init__(self, option_strings, dest, **kwargs):
        self._negatives = {s for s in option_strings if s.startswith("--no-")}
        super().__init__(option_strings, dest, nargs="?", **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string in self._negatives:
            if values is not None:
                parser.error(f"{option_string} takes no value")
            setattr(namespace, self.dest, False)
            return
        setattr(namespace, self.dest, True if values is None else values)


def _argparse_type(spec: DynamicArg) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            # A list token may itself hold several items ("1,2"): it converts
            # to a list, which _ExtendList flattens.
            value = convert_value(spec.type, text, spec.item_type)
            spec.check(value)
            return value
        except (ValueError, TypeError) as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = spec.type  # argparse names the type in its messages
    return convert


def add_to_parser(
    parser: argparse.ArgumentParser,
    specs: list[DynamicArg],
    on_conflict: Callable[[DynamicArg, str], None] | None = None,
    title: str = "config options",
) -> list[DynamicArg]:
    """Add the config's options to `parser`; return those added.

    An option that clashes with one of the command's own options is not
    added; `on_conflict(spec, message)` is told (the CLI prints a warning).
    """
    groups: dict[str | None, Any] = {}
    added: list[DynamicArg] = []
    for spec in specs:
        heading = f"{title}: {spec.group}" if spec.group else title
        group = groups.get(spec.group)
        if group is None:
            group = groups[spec.group] = parser.add_argument_group(heading)
        kwargs: dict[str, Any] = dict(
            dest=DEST_PREFIX + spec.dest,
            default=argparse.SUPPRESS,
            help=spec.help_text(),
        )
        names = list(spec.names)
        if spec.action is not None:
            kwargs["action"] = spec.action
        elif spec.type == "bool":
            kwargs.update(action=_BoolFlag, type=_argparse_type(spec), metavar="BOOL")
            names += [f"--no-{n[2:]}" for n in spec.names if n.startswith("--")]
        else:
            kwargs["type"] = _argparse_type(spec)
            if spec.metavar or spec.choices is None:  # else argparse shows the choices: {adamw,adafactor}
                kwargs["metavar"] = spec.metavar or spec.dest.upper()
            if spec.type == "list":
                kwargs["nargs"] = "+"
                kwargs["action"] = _ExtendList
            elif "nargs" in spec.extra:
                kwargs["nargs"] = spec.extra["nargs"]
            if spec.choices is not None and spec.type != "list":
                kwargs["choices"] = list(spec.choices)
        try:
            group.add_argument(*names, **kwargs)
        except argparse.ArgumentError as error:
            if on_conflict is not None:
                on_conflict(spec, str(error))
            continue
        added.append(spec)
    return added


class _ExtendList(argparse.Action):
    """Collects list items from `--x 1 2`, `--x 1,2` and a repeated `--x`."""

    def __call__(self, parser, namespace, values, option_string=None):
        items: list[Any] = []
        for value in values:
            items.extend(value if isinstance(value, list) else [value])
        current = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, (current if isinstance(current, list) else []) + items)


def values_from_namespace(namespace: argparse.Namespace, specs: list[DynamicArg]) -> dict[str, Any]:
    """The config options as Forgather passes them to the template: those given, plus
    what argparse supplies for flags not given (False for store_true, True for
    store_false); declared defaults are left to the template's own `| default()`. Every
    command reads these, so what `pp` shows is what `train` runs."""
    given = vars(namespace)
    values: dict[str, Any] = {}
    for spec in specs:
        key = DEST_PREFIX + spec.dest
        if key in given:
            values[spec.dest] = given[key]
        elif spec.action in ("store_true", "store_false"):
            values[spec.dest] = spec.action == "store_false"
    return values


def _in_project(project_dir: str | None, config: str | None) -> bool:
    import os

    from fgtui.engine.project.workspace import find_project_dir

    if project_dir:
        where = project_dir
    elif config and os.path.isfile(config):
        where = os.path.dirname(os.path.abspath(config))
    else:
        where = os.getcwd()
    return os.path.isdir(where) and find_project_dir(where) is not None


SpecLoader = Callable[[str | None, str | None], list[DynamicArg] | None]


def _default_loader(project_dir: str | None, config: str | None, markers: bool = True) -> list[DynamicArg] | None:
    from fgtui.engine.project.project import load_dynamic_args

    return load_dynamic_args(project_dir, config, markers)


class ConfigArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that adds the chosen config's `dynamic_args` first."""

    spec_loader: SpecLoader = staticmethod(_default_loader)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parent_namespace: argparse.Namespace | None = None
        self._config_specs: list[DynamicArg] | None = None
        # {option string: template variable} for the command's own options that
        # set a template variable (train's --output-dir sets `output_dir`): a config
        # option of that name and variable is the same option, not a clash.
        self.options_setting_variables: dict[str, str] = {}
        # Previews set this: a config whose options cannot be read is still shown
        # (the preview then reports what is wrong with it), as Forgather does, and
        # a lone template outside any project (which Forgather cannot open) is
        # shown without reading its options, so no YAML is parsed for it.
        self.preview = False
        # A command that renders its config without origin markers (pp) reads the
        # config's options from the same render, so the config is compiled once.
        self.origin_markers = True

    def error(self, message: str):  # type: ignore[override]
        # A refused value is one line that names the option; the long usage of a
        # config command (every config option) would bury it.
        if message.startswith("argument --"):
            self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        super().error(message)

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        arg_list = list(sys.argv[1:] if args is None else args)
        if self._config_specs is None:
            self._config_specs = self._load_specs(arg_list)
        parsed, extras = super().parse_known_args(arg_list, namespace)
        parsed.dynamic_arg_specs = self._config_specs
        parsed.dynamic_args = values_from_namespace(parsed, self._config_specs)
        return parsed, extras

    def _load_specs(self, arg_list: list[str]) -> list[DynamicArg]:
        project_dir, config = self._selected_config(arg_list)
        if self.preview and not _in_project(project_dir, config):
            return []
        try:
            loader = type(self).spec_loader
            specs = loader(project_dir, config) if self.origin_markers else loader(project_dir, config, markers=False)
        except FgError:
            if not self.preview:
                raise
            specs = []
        if specs is None:
            note = "Config options appear here when run inside a project or with -t CONFIG."
            self.epilog = f"{self.epilog}\n\n{note}" if self.epilog else note
            return []

        def warn(spec: DynamicArg, message: str) -> None:
            if all(self.options_setting_variables.get(name) == spec.dest for name in spec.names):
                return  # the command's own option already sets this variable
            print(f"fgtui: warning: config option {spec.long_name} not added: {message}", file=sys.stderr)

        return add_to_parser(self, specs, on_conflict=warn)

    def _selected_config(self, arg_list: list[str]) -> tuple[str | None, str | None]:
        # A throwaway parser reads only -p/-t; everything else is left for
        # the real pass, including --help, which must see the new options.
        peek = argparse.ArgumentParser(add_help=False)
        peek.add_argument("-p", "--project-dir", default=None)
        peek.add_argument("-t", "--config-template", default=None)
        try:
            known, _ = peek.parse_known_args(arg_list)
        except SystemExit:
            known = argparse.Namespace(project_dir=None, config_template=None)
        parent = self.parent_namespace or argparse.Namespace()
        project_dir = known.project_dir or getattr(parent, "project_dir", None)
        config = known.config_template or getattr(parent, "config_template", None)
        return project_dir, config


class _ParentAwareSubParsers(argparse._SubParsersAction):
    """Hands the main parser's namespace to a ConfigArgumentParser, so that
    `fgtui -t cfg.yaml train --help` sees the -t given before `train`."""

    def __call__(self, parser, namespace, values, option_string=None):
        chosen = self._name_parser_map.get(values[0])
        if isinstance(chosen, ConfigArgumentParser):
            chosen.parent_namespace = namespace
        super().__call__(parser, namespace, values, option_string)


def add_config_command(subparsers: argparse._SubParsersAction, name: str, **kwargs: Any) -> ConfigArgumentParser:
    """`subparsers.add_parser(name, **kwargs)`, returning a ConfigArgumentParser."""
    if not isinstance(subparsers, _ParentAwareSubParsers):
        # argparse offers no hook between the main parser's options and the
        # subparser's; swapping the action's class adds one without touching
        # how any other subcommand parses.
        subparsers.__class__ = (
            type("ParentAware" + type(subparsers).__name__, (_ParentAwareSubParsers, type(subparsers)), {})
            if type(subparsers) is not argparse._SubParsersAction
            else _ParentAwareSubParsers
        )
    saved = subparsers._parser_class
    subparsers._parser_class = ConfigArgumentParser
    try:
        parser = subparsers.add_parser(name, **kwargs)
    finally:
        subparsers._parser_class = saved
    kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
    parser.formatter_class = kwargs["formatter_class"]
    return parser  # type: ignore[return-value]
