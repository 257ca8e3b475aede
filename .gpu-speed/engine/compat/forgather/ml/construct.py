"""`forgather.ml.construct`: the make-like steps of Forgather's model and tokenizer projects.

A model project writes its generated code, config and tokenizer into the output dir
once (`build_rule`: build a target when it is missing or older than its prerequisites,
then load it) and copies the model's source modules beside them, so the output dir
loads on its own. Several processes (torchrun ranks) may build at once: a file lock
beside each target lets one build while the others wait, then all load.
"""

from __future__ import annotations

import contextlib
import fcntl
import filecmp
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from fgtui.engine.errors import FgError

_NO_VALUE = object()
EXISTS_POLICIES = ("ok", "warn", "skip", "raise")


@contextlib.contextmanager
def _locked(target: str | os.PathLike):
    """Hold an exclusive lock for `target` (a file in the temp dir named after its path, so
    the output dir holds only what the model needs)."""
    digest = hashlib.sha1(os.path.abspath(os.fspath(target)).encode()).hexdigest()[:20]
    lock_dir = Path(tempfile.gettempdir()) / "fgtui-build-locks"
    lock_dir.mkdir(exist_ok=True)
    with open(lock_dir / f"{digest}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _needs_build(target: str | os.PathLike, prerequisites: list) -> bool:
    if not os.path.exists(target):
        return True
    built = os.path.getmtime(target)
    return any(os.path.exists(p) and os.path.getmtime(p) > built for p in prerequisites)


def build_rule(
    target: str | os.PathLike,
    recipe: list[Callable] | Callable,
    loader: Callable,
    prerequisites: list[str | os.PathLike] = (),
) -> Any:
    """Run `recipe` (one callable or a list, in order) when `target` is missing or older than
    a prerequisite, then return `loader()`."""
    steps = recipe if isinstance(recipe, (list, tuple)) else [recipe]
    if not all(callable(step) for step in steps) or not callable(loader):
        raise FgError("build_rule: recipe and loader must be callables (write them as !partial)")
    with _locked(target):
        if _needs_build(target, list(prerequisites)):
            for step in steps:
                step()
    return loader()


def _may_write(path: str | os.PathLike, exists: str) -> bool:
    if exists not in EXISTS_POLICIES:
        raise FgError(f"exists must be one of {', '.join(EXISTS_POLICIES)}, not {exists!r}")
    if not os.path.isfile(path):
        return True
    if exists == "raise":
        raise FgError(
            f"{path} differs from what this config generates, and it is not overwritten",
            hint="delete the file to regenerate it, or set exists: ok / warn / skip",
        )
    if exists in ("warn", "skip"):
        print(
            f"warning: {path} differs from what this config generates"
            + ("; left as it is" if exists == "skip" else "; overwritten"),
            file=sys.stderr,
        )
    return exists != "skip"


def write_file(
    data: Any, output_file: str | os.PathLike | None = None, return_value: Any = _NO_VALUE, exists: str = "raise"
) -> Any:
    """Write `data` (text, or a callable returning it) to `output_file` unless it already holds
    exactly that; returns `return_value` when given, else the data."""
    if callable(data):
        data = data()
    if output_file is not None:
        with _locked(output_file):
            current = Path(output_file).read_text() if os.path.isfile(output_file) else None
            if current != data and _may_write(output_file, exists):
                os.makedirs(os.path.dirname(os.path.abspath(output_file)), exist_ok=True)
                Path(output_file).write_text(data)
    return data if return_value is _NO_VALUE else return_value


def copy_package_files(dest_dir: str | os.PathLike, obj: Any, exists: str = "raise") -> Any:
    """Copy the source of `obj`'s module's package siblings that are loaded (the model
    code's relative imports, found on the submodule search path) into `dest_dir`,
    keeping sub-directories; returns `obj`."""
    module_name = type(obj).__module__ if not isinstance(obj, type) else obj.__module__
    module = sys.modules.get(module_name)
    if module is None:
        raise FgError(f"copy_package_files: module {module_name} of {obj!r} is not loaded")
    package = module.__package__ or module_name
    dest = Path(dest_dir)
    with _locked(dest / ".package_files"):
        for name, loaded in sorted(sys.modules.items()):
            origin = getattr(getattr(loaded, "__spec__", None), "origin", None)
            if not name.startswith(package + ".") or not origin or not os.path.isfile(origin):
                continue
            parts = name[len(package) + 1 :].split(".")
            target = dest.joinpath(*parts[:-1], os.path.basename(origin))
            if target.exists() and filecmp.cmp(origin, target, shallow=False):
                continue
            if os.path.realpath(origin) == os.path.realpath(target):
                continue
            if _may_write(target, exists):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)
    return obj


def dependency_list(*args: Any) -> Any:
    """The first argument; the others are built first only because they are arguments
    (files written as a side effect, which the first one needs)."""
    if not args:
        raise FgError("dependency_list needs at least one argument")
    return args[0]


def load_from_config(
    project_dir: str, config_template: str | None = None, targets: str | list[str] = "", **config_kwargs: Any
) -> Any:
    """Build `targets` of a project's config (Forgather's empty target: main)."""
    from fgtui.engine.project import from_project

    return from_project(project_dir, config_template, targets or "main", **config_kwargs)


def add_special_tokens(tokenizer: Any, token_map: dict) -> Any:
    """Add special tokens (pad, bos ...) that a pretrained tokenizer lacks; returns it."""
    tokenizer.add_special_tokens(token_map)
    return tokenizer
