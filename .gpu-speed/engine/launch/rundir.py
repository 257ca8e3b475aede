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
from fgtui.engine.launch.permissions import OWNER_ONLY, RunPermissions

# Environment variables that shape a run, recorded with their values in command.json;
# every other variable is recorded by name only (a DATABASE_URL or GH_PAT is nobody's business).
_SHAPING_PREFIXES = (
    "CUDA_",
    "NCCL_",
    "TORCH_",
    "TORCHELASTIC_",
    "PYTORCH_",
    "OMP_",
    "MKL_",
    "KMP_",
    "SLURM_",
    "MASTER_",
    "FGTUI_",
    "HF_",
    "TRANSFORMERS_",
    "TOKENIZERS_",
    "GLOO_",
    "TRITON_",
    "NVIDIA_",
    "CUBLAS_",
    "CUDNN_",
)
_SHAPING_NAMES = frozenset(
    {
        "WORLD_SIZE",
        "RANK",
        "LOCAL_RANK",
        "LOCAL_WORLD_SIZE",
        "PATH",
        "PYTHONPATH",
        "PYTHONHASHSEED",
        "LD_LIBRARY_PATH",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
        "LANG",
        "LC_ALL",
        "TZ",
        "HOSTNAME",
    }
)
# Even a shaping variable's value is left out when its name says it is a secret (HF_TOKEN).
_SECRET = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|PRIVATE|AUTH|PAT$|_PW$|KEY$", re.I)
# `!tag:module.path:Name` or `!tag:./file.py:Name` references in a preprocessed config.
_CALLABLE_REF = re.compile(r"![A-Za-z_]+:([^\s:'\"]+):")
_PY_PATH = re.compile(r"[\w./-]+\.py\b")


def create_run_dir(output_dir: str | os.PathLike, run_name: str, permissions: RunPermissions = OWNER_ONLY) -> Path:
    """`<output_dir>/runs/<run_name>/`, suffixed -2, -3, ... if taken; new dirs get
    `permissions`' mode (owner-only unless the user shares runs with their group)."""
    runs = Path(output_dir) / "runs"
    try:
        permissions.mkdir(Path(output_dir), parents=True, exist_ok=True)
        permissions.mkdir(runs, exist_ok=True)
    except OSError as error:
        raise FgError(
            f"cannot create {runs}: {error.strerror}", hint="set output_dir to a directory you can write"
        ) from None
    if not os.access(runs, os.W_OK):
        raise FgError(f"cannot write {runs}", hint="set output_dir to a directory you can write")
    candidate, n = runs / run_name, 1
    while True:
        try:
            permissions.mkdir(candidate)
            return candidate
        except FileExistsError:
            n += 1
            candidate = runs / f"{run_name}-{n}"


def default_run_name(config_source: str | None) -> str:
    stem = Path(config_source).stem if config_source else "run"
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def safe_environment(env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """(values of the variables that shape a run, names of all the others)."""
    values, names = {}, []
    for key in sorted(env):
        shaping = key.startswith(_SHAPING_PREFIXES) or key in _SHAPING_NAMES
        if shaping and not _SECRET.search(key):
            values[key] = env[key]
        else:
            names.append(key)
    return values, names


def write_launch_files(
    run_dir: Path,
    *,
    config_text: str,
    argv: list[str],
    env: dict[str, str],
    config_source: str | None,
    devices: str | None,
    cwd: str,
    permissions: RunPermissions = OWNER_ONLY,
) -> None:
    permissions.write_text(run_dir / "config.yaml", config_text)
    values, names = safe_environment(env)
    command = {
        "argv": argv,
        "cwd": cwd,
        "env": values,
        "env_names": names,
        "config": config_source,
        "devices": devices,
        "python": sys.executable,
    }
    permissions.write_text(run_dir / "command.json", json.dumps(command, indent=1))


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


def snapshot_code(
    run_dir: Path, config_text: str, project_dir: Path, permissions: RunPermissions = OWNER_ONLY
) -> list[Path]:
    """Copy the referenced project sources into `run_dir/code/`, keeping relative paths."""
    copied = []
    for source in referenced_sources(config_text, project_dir):
        target = run_dir / "code" / source.relative_to(project_dir.resolve())
        for parent in reversed(target.relative_to(run_dir).parents[:-1]):
            permissions.mkdir(run_dir / parent, exist_ok=True)
        shutil.copyfile(source, target)  # inside the run dir, whose mode already keeps others out
        os.chmod(target, permissions.file_mode)
        copied.append(target)
    return copied


def _git(project_dir: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(project_dir), *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def record_git_state(run_dir: Path, project_dir: Path, permissions: RunPermissions = OWNER_ONLY) -> bool:
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
    permissions.write_text(run_dir / "git.json", json.dumps(info, indent=1))
    permissions.write_text(run_dir / "git.diff", diff)
    return True
