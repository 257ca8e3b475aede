"""The functions and filters every template sees.

Paths, environment, time, platform directories, `toyaml`, and `raise` /
`assert` for template-level checks. Nothing here imports an ML library;
platformdirs is imported only when one of its directories is asked for.
`project_dir` and `workspace_root` are added by the project layer.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing `typing` (`fgtui ls` does not need it)
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, Callable

# Not imported from jinja2 here: `fgtui ls` reads plain templates without Jinja
# (config/static_render.py) and calls these functions without loading it.
_NO_DEFAULT = object()


def _is_undefined(value: Any) -> bool:
    jinja2 = sys.modules.get("jinja2")  # only a render through Jinja makes Undefined values
    return jinja2 is not None and isinstance(value, jinja2.Undefined)


TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
FILE_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"


class TemplateAssertion(Exception):
    """Raised by the `raise` and `assert` template functions; reported as an FgError."""


def _reject_undefined(args: tuple) -> None:
    # os.path on an Undefined fails with an unhelpful TypeError; name the variable instead.
    for arg in args:
        if _is_undefined(arg):
            arg._fail_with_undefined_error()


def joinpath(*parts: str) -> str:
    """os.path.join that names an undefined argument instead of failing obscurely."""
    _reject_undefined(parts)
    return os.path.join(*parts)


def normpath(path: str) -> str:
    _reject_undefined((path,))
    return os.path.normpath(path)


def now() -> "datetime":
    from datetime import datetime  # not at import: `fgtui ls` reads templates without the clock

    return datetime.now()


def utcnow() -> "datetime":
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def raise_error(message: str) -> None:
    raise TemplateAssertion(str(message))


def assert_true(condition: Any, message: str = "assertion failed") -> str:
    if not condition:
        raise TemplateAssertion(str(message))
    return ""


def _platform_dir(name: str) -> Callable[..., str]:
    def directory(*args: Any, **kwargs: Any) -> str:
        import platformdirs

        return getattr(platformdirs, name)(*args, **kwargs)

    directory.__name__ = name
    return directory


def forgather_config_dir() -> str:
    """Forgather's own config directory, for templates written for Forgather."""
    import getpass  # not at import: `fgtui ls` rarely calls this

    return _platform_dir("user_config_dir")("forgather", getpass.getuser())


def toyaml(value: Any, default: Any = _NO_DEFAULT) -> str:
    """Render a value as inline YAML: `{a: [1, 2]}`, `null`, `True`, `1.0e-05`.

    An undefined value takes `default`; without one it is an error.
    """
    if _is_undefined(value):
        if default is _NO_DEFAULT:
            return value._fail_with_undefined_error()
        value = default
    if isinstance(value, (bool, int)):
        return str(value)
    if value is None:
        return "null"
    from fgtui.engine.config.yaml_module import import_yaml

    yaml = import_yaml()

    if hasattr(yaml, "CSafeDumper"):
        # libyaml's emitter is ~3x faster (`ls` calls this ~10 times per config);
        # it spells "no line width limit" -1 and omits the `...` end marker.
        text = yaml.dump(value, Dumper=yaml.CSafeDumper, default_flow_style=True, allow_unicode=True, width=-1).strip()
    else:
        text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=float("inf")).strip()
    if text.endswith("\n..."):
        text = text[:-4]
    elif text.endswith("..."):
        text = text[:-3]
    return text.strip()


def default_globals() -> dict[str, Any]:
    """A fresh copy of the globals of every template."""
    return {
        "isotime": lambda: now().isoformat(timespec="seconds"),
        "utcisotime": lambda: utcnow().isoformat(timespec="seconds"),
        "filetime": lambda: now().strftime(FILE_TIME_FORMAT),
        "utcfiletime": lambda: utcnow().strftime(FILE_TIME_FORMAT),
        "now": now,
        "utcnow": utcnow,
        "joinpath": joinpath,
        "normpath": normpath,
        "abspath": os.path.abspath,
        "relpath": os.path.relpath,
        "dirname": os.path.dirname,
        "basename": os.path.basename,
        "splitext": os.path.splitext,
        "getcwd": os.getcwd,
        "user_home_dir": lambda: os.path.expanduser("~"),
        "getenv": os.environ.get,
        "modname_from_path": lambda path: os.path.splitext(os.path.basename(path))[0],
        "raise": raise_error,
        "assert": assert_true,
        "repr": repr,
        "forgather_config_dir": forgather_config_dir,
        "user_data_dir": _platform_dir("user_data_dir"),
        "user_cache_dir": _platform_dir("user_cache_dir"),
        "user_config_dir": _platform_dir("user_config_dir"),
        "site_data_dir": _platform_dir("site_data_dir"),
        "site_config_dir": _platform_dir("site_config_dir"),
    }


def default_filters() -> dict[str, Callable[..., Any]]:
    return {"toyaml": toyaml}
