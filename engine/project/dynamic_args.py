"""Command-line options that configs declare (`dynamic_args`).

A config's `dynamic_args` target is a list (usually a `!dlist`, so children
can add to it) of mappings::

    dynamic_args: !dlist
        max_steps:
            names: "--max-steps"
            type: int
            default: 1000
            help: "Stop after this many optimizer steps"

Fields: `names` (one option string or a list), `type` (int, float, str,
bool, path, list, json), `help`, `choices`, `default`, `action`
(store_true / store_false, for bools), `group` (a heading in --help),
`required`, `min`, `max`, `dest`, `metavar`, `item_type` (for lists).

As in Forgather, an option the user does not give is not passed to the
template (flags excepted: argparse passes their implied False/True), so the
template's own `| default()` decides, and `pp` renders exactly what `train`
will run. The declared `default` is what `--help` and the launch form show;
fgtui's templates declare it from the value the template computes
(`default: {{ ns.seq_len }}`), so the two cannot drift.

Values arrive typed: `--lr 3e-4` is a float, `--layers 1 2 3` with
`item_type: int` a list of ints, `--rope '{"type": "yarn"}'` a dict.
"""

from __future__ import annotations

import json
import os
from typing import Any

from fgtui.engine.errors import FgError
from fgtui.engine.record import FrozenRecord

TYPES = ("int", "float", "str", "bool", "path", "list", "json")
_FIELDS = frozenset(
    {
        "names",
        "type",
        "help",
        "choices",
        "default",
        "action",
        "group",
        "required",
        "min",
        "max",
        "dest",
        "metavar",
        "item_type",
        "nargs",
    }
)
_NO_DEFAULT = object()


class DynamicArg(FrozenRecord):
    """One command-line option declared by a config."""

    names: tuple[str, ...]
    dest: str
    type: str
    help: str
    choices: tuple[Any, ...] | None
    default: Any
    action: str | None
    group: str | None
    required: bool
    minimum: float | None
    maximum: float | None
    metavar: str | None
    item_type: str
    extra: dict  # shown, not compared
    _shown = (
        "names", "dest", "type", "help", "choices", "default", "action", "group", "required",
        "minimum", "maximum", "metavar", "item_type", "extra",
    )  # fmt: skip
    _fields = _shown[:-1]

    def __init__(
        self,
        names: tuple[str, ...],
        dest: str,
        type: str = "str",  # noqa: A002 - the option's field name
        help: str = "",  # noqa: A002
        choices: tuple[Any, ...] | None = None,
        default: Any = _NO_DEFAULT,
        action: str | None = None,
        group: str | None = None,
        required: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        metavar: str | None = None,
        item_type: str = "str",
        extra: dict | None = None,
    ) -> None:
        self._set(
            names=names, dest=dest, type=type, help=help, choices=choices, default=default, action=action,
            group=group, required=required, minimum=minimum, maximum=maximum, metavar=metavar,
            item_type=item_type, extra={} if extra is None else extra,
        )  # fmt: skip

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    @property
    def long_name(self) -> str:
        return next((n for n in self.names if n.startswith("--")), self.names[0])

    def convert(self, text: Any) -> Any:
        """Turn one command-line string (or a declared default) into a typed value."""
        value = convert_value(self.type, text, self.item_type)
        self.check(value)
        return value

    def check(self, value: Any) -> None:
        """Raise ValueError when `value` breaks the declared choices or bounds."""
        items = value if isinstance(value, list) and self.type == "list" else [value]
        for item in items:
            if self.choices is not None and item not in self.choices:
                shown = ", ".join(str(c) for c in self.choices)
                raise ValueError(f"{item!r} is not one of: {shown}")
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                if self.minimum is not None and item < self.minimum:
                    raise ValueError(f"{item} is below the minimum {self.minimum}")
                if self.maximum is not None and item > self.maximum:
                    raise ValueError(f"{item} is above the maximum {self.maximum}")

    def default_value(self) -> Any:
        """The declared default, typed; `store_true` flags default to False."""
        if self.has_default:
            return None if self.default is None else self.convert(self.default)
        if self.action == "store_true":
            return False
        if self.action == "store_false":
            return True
        raise LookupError(self.dest)

    def help_text(self) -> str:
        """The help line, with the default the template will really use."""
        text = self.help or ""
        if self.action in ("store_true", "store_false"):
            return text
        if self.has_default:
            suffix = f"(default: {_show(self.default)})"
        elif "default_note" in self.extra:
            suffix = f"(default: {self.extra['default_note']})"
        else:
            suffix = "(default: set by the template)"
        if self.required:
            suffix = "(required)"
        return f"{text} {suffix}".strip()


def _show(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


_TRUE = {"true", "1", "yes", "on", "y"}
_FALSE = {"false", "0", "no", "off", "n"}


def parse_bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    lowered = str(text).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (use true/false, yes/no, 1/0)")


def convert_value(type_name: str, text: Any, item_type: str = "str") -> Any:
    if type_name == "list":
        if isinstance(text, (list, tuple)):
            items = list(text)
        else:
            # One argument may carry several items ("1,2,3") as well as
            # several arguments carrying one each (nargs="+").
            items = [part.strip() for part in str(text).split(",") if part.strip()]
        return [convert_value(item_type, item) for item in items]
    if not isinstance(text, str):
        if type_name == "float" and isinstance(text, int) and not isinstance(text, bool):
            return float(text)
        if type_name == "path":
            return os.path.expanduser(str(text))
        return text
    if type_name == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
    if type_name == "float":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if type_name == "bool":
        return parse_bool(text)
    if type_name == "path":
        return os.path.expanduser(text)
    if type_name == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    return text


def dest_from_names(names: tuple[str, ...]) -> str:
    long = next((n for n in names if n.startswith("--")), None)
    name = long[2:] if long else names[0].lstrip("-")
    return name.replace("-", "_")


def parse_specs(raw: Any, source: str = "dynamic_args") -> list[DynamicArg]:
    """Validate the built `dynamic_args` target into `DynamicArg`s.

    Malformed entries are the user's mistake and raise `FgError` naming the
    option, so a typo in a template is caught when it is written rather
    than when the option is first used.
    """
    if raw is None:
        return []
    if isinstance(raw, dict):
        raw = list(raw.values())
    if not isinstance(raw, (list, tuple)):
        raise FgError(f"{source}: dynamic_args must be a list, not {type(raw).__name__}")
    specs: list[DynamicArg] = []
    seen: dict[str, str] = {}
    for index, entry in enumerate(raw):
        if entry is None:
            continue
        spec = _parse_one(entry, f"{source}: dynamic_args[{index}]")
        for name in spec.names:
            if name in seen:
                raise FgError(
                    f"{source}: option {name} is declared twice",
                    hint="override the entry under the same key in a child template instead",
                )
            seen[name] = spec.dest
        specs.append(spec)
    return specs


def _parse_one(entry: Any, where: str) -> DynamicArg:
    if not isinstance(entry, dict):
        raise FgError(f"{where}: expected a mapping with 'names', got {entry!r}")
    unknown = set(entry) - _FIELDS - {"default_note"}
    if unknown:
        raise FgError(
            f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}",
            hint=f"known fields: {', '.join(sorted(_FIELDS))}",
        )
    names = entry.get("names")
    if isinstance(names, str):
        names = [names]
    if not names or not all(isinstance(n, str) and n.startswith("-") for n in names):
        raise FgError(f"{where}: 'names' must be option strings like \"--max-steps\", got {names!r}")
    names = tuple(n.strip() for n in names)
    type_name = entry.get("type", "str")
    if type_name not in TYPES:
        raise FgError(f"{where} ({names[0]}): unknown type {type_name!r}", hint=f"use one of {', '.join(TYPES)}")
    action = entry.get("action")
    if action not in (None, "store_true", "store_false"):
        raise FgError(f"{where} ({names[0]}): unsupported action {action!r}", hint="use store_true or store_false")
    if action is not None:
        type_name = "bool"
    item_type = entry.get("item_type", "str")
    if item_type not in TYPES or item_type in ("list", "json"):
        raise FgError(f"{where} ({names[0]}): bad item_type {item_type!r}")
    choices = entry.get("choices")
    spec = DynamicArg(
        names=names,
        dest=str(entry.get("dest") or dest_from_names(names)),
        type=type_name,
        help=str(entry.get("help") or ""),
        choices=tuple(choices) if choices is not None else None,
        default=entry["default"] if "default" in entry else _NO_DEFAULT,
        action=action,
        group=entry.get("group"),
        required=bool(entry.get("required", False)),
        minimum=entry.get("min"),
        maximum=entry.get("max"),
        metavar=entry.get("metavar"),
        item_type=item_type,
        extra={k: entry[k] for k in ("nargs", "default_note") if k in entry},
    )
    if spec.has_default and spec.default is not None:
        try:
            spec.default_value()
        except (ValueError, TypeError) as error:
            raise FgError(f"{where} ({names[0]}): default {spec.default!r} is invalid: {error}") from None
    return spec


def parse_values(specs: list[DynamicArg], given: dict[str, Any]) -> dict[str, Any]:
    """Typed template variables from `{dest: value}` (e.g. the app's launch
    form, whose fields are strings): unknown names are an error, missing
    ones take the declared default."""
    by_dest = {spec.dest: spec for spec in specs}
    unknown = sorted(set(given) - set(by_dest))
    if unknown:
        from difflib import get_close_matches

        name = unknown[0]
        close = get_close_matches(name, list(by_dest), n=1)
        raise FgError(
            f"unknown option {name!r} for this config",
            hint=f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(by_dest)) or 'none'}",
        )
    values: dict[str, Any] = {}
    for spec in specs:
        if spec.dest in given and given[spec.dest] is not None:
            try:
                value = spec.convert(given[spec.dest])
            except (ValueError, TypeError) as error:
                raise FgError(f"{spec.long_name}: {error}") from None
            if spec.action is None and spec.has_default and value == spec.default_value():
                continue  # a form field left at its shown default: the template decides, as on the CLI
            values[spec.dest] = value
        elif spec.action is not None:
            values[spec.dest] = spec.default_value()  # a flag not set, as argparse would pass it
    return values


def check_required(specs: list[DynamicArg], values: dict[str, Any]) -> None:
    """Raise when a `required` option has no value. Called by actions (train,
    construct), not by previews, so `pp` works before the value is known."""
    missing = [spec.long_name for spec in specs if spec.required and values.get(spec.dest) is None]
    if missing:
        raise FgError(
            f"missing required option{'s' if len(missing) > 1 else ''}: {', '.join(missing)}",
            hint="see --help for this config's options",
        )
