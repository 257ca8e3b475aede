"""Creating a run directory: the frozen config, the command, a code snapshot, git state.

Layout and file meanings: engine/runs/schema.py. Everything here is written once,
at launch, before any rank starts.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError

# Environment variables whose values are not written to command.json.
_SECRET = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|PRIVATE", re.I)
# `!tag:module.path:Name` or `!tag:./file.py:Name` references in a preprocessed config.
_CALLABLE_REF = re.compile(r"![A-Za-z_]+:([^\s:'\"]+):")
_PY_PATH = re.compile(r"[\w./-]+\.py\b")


def create_run_dir(output_dir: str | os.PathLike, run_name: str) -> Path:
    """`<output_dir>/runs/<run_name>/`, suffixed -2, -3, ... if taken."""
    runs = Path(output_dir) / "runs"
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FgError(f"cannot create {runs}: {error.strerror}",
                      hint="set output_dir to a directory you can write") from None
    if not os.access(runs, os.W_OK):
        raise FgError(f"cannot write {runs}", hint="set output_dir to a directory you can write")
    candidate, n = runs / run_name, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = runs / f"{run_name}-{n}"


def default_run_name(config_source: str | None) -> str:
    stem = Path(config_source).stem if config_source else "run"
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def safe_environment(env: dict[str, str]) -> dict[str, str]:
    return {k: ("<redacted>" if _SECRET.search(k) else v) for k, v in sorted(env.items())}


def write_launch_files(run_dir: Path, *, config_text: str, argv: list[str], env: dict[str, str],
                       config_source: str | None, devices: str | None, cwd: str) -> None:
    (run_dir / "config.yaml").write_text(config_text)
    command = {"argv": argv, "cwd": cwd, "env": safe_environment(env), "config": config_source,
               "devices": devices, "python": sys.executable}
    (run_dir / "command.json").write_text(json.dumps(command, indent=1))


def referenced_sources(config_text: str, project_dir: Path) -> list[Path]:
    """The project's own Python files a config names: `./x.py` paths and `pkg.mod`
    modules that resolve to files under `project_dir` (installed libraries are not copied)."""
    found: set[Path] = set()
    project_dir = project_dir.resolve()
    for match in _PY_PATH.finditer(config_text):
        path = (project_dir / match.group(0)).resolve()
        if path.is_file() and project_dir in path.parents:
            found.add(path)
    for match in _CALLABLE_REF.finditer(config_text):
        module = match.group(1)
        if module.endswith(".py"):
            continue
        relative = Path(*module.lstrip(".").split("."))
        for candidate in (project_dir / relative.with_suffix(".py"), project_dir / relative / "__init__.py"):
            if candidate.is_file():
                found.add(candidate.resolve())
    return sorted(found)


def snapshot_code(run_dir: Path, config_text: str, project_dir: Path) -> list[Path]:
    """Copy the referenced project sources into `run_dir/code/`, keeping relative paths."""
    copied = []
    for source in referenced_sources(config_text, project_dir):
        target = run_dir / "code" / source.relative_to(project_dir.resolve())
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        copied.append(target)
    return copied


def _git(project_dir: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(project_dir), *args], capture_output=True, text=True,
                                timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def record_git_state(run_dir: Path, project_dir: Path) -> bool:
    """`git.json` (commit, branch, dirty) and `git.diff` when the project is in git."""
    commit = _git(project_dir, "rev-parse", "HEAD")
    if commit is None:
        return False
    diff = _git(project_dir, "diff", "HEAD", "--", ".") or ""
    info: dict[str, Any] = {
        "commit": commit.strip(),
        "branch": (_git(project_dir, "rev-parse", "--abbrev-ref", "HEAD") or "").strip(),
        "dirty": bool(diff or (_git(project_dir, "status", "--porcelain", "--", ".") or "").strip()),
        "project_dir": str(project_dir),
    }
    (run_dir / "git.json").write_text(json.dumps(info, indent=1))
    (run_dir / "git.diff").write_text(diff)
    return True
