"""The package's shape: the boundaries the design card draws."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import fgtui

ROOT = Path(fgtui.__file__).parent


def test_engine_never_imports_app():
    offenders = []
    for path in (ROOT / "engine").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("fgtui.app")]
    assert offenders == []


def test_cli_help_runs_as_a_process():
    result = subprocess.run([sys.executable, "-m", "fgtui.engine.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "usage: fgtui" in result.stdout


def test_log_stream_schema_accepts_and_rejects():
    from fgtui.engine.runs.schema import validate_record

    good = {
        "type": "train",
        "time": 1.0,
        "step": 3,
        "epoch": 0.5,
        "tokens": 4096,
        "loss": 2.5,
        "lr": 1e-3,
        "grad_norm": None,
        "tokens_per_s": 1000.0,
        "mfu": None,
        "peak_mem_gib": None,
        "step_time_s": 0.1,
    }
    assert validate_record(good) == []
    assert validate_record({**good, "tokens": "many"}) == ["'tokens' has type str"]
    assert validate_record(
        {"type": "event", "time": 1.0, "step": 0, "event": "end", "status": "exploded", "exit_code": 1}
    ) == ["unknown end status 'exploded'"]


def test_test_module_basenames_are_unique():
    # pytest's default import mode keys test modules by basename in folders
    # without __init__.py; two alike names stop the whole suite at collection.
    tests = Path(__file__).parent
    seen: dict[str, Path] = {}
    clashes = []
    for path in tests.rglob("test_*.py"):
        if (path.parent / "__init__.py").exists():
            continue
        if path.name in seen:
            clashes.append(f"{seen[path.name].relative_to(tests)} and {path.relative_to(tests)}")
        seen[path.name] = path
    assert clashes == []
