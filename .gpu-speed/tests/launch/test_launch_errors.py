"""Launch errors point at the line the user wrote, once, before anything is written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fgtui

EXAMPLES = Path(fgtui.__file__).parent / "examples"
CONFIG = Path("tutorials/tiny_llama/templates/configs/train_tiny_llama.yaml")


@pytest.fixture
def examples(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FGTUI_RUNTIME_DIR", str(tmp_path / "rt"))
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy, ignore=shutil.ignore_patterns("output_models", "output_tokenizers", "*.svg"))
    return copy


def _edit(examples: Path, old: str, new: str) -> int:
    """Replace `old` in the tiny config; returns the 1-based line of the change."""
    path = examples / CONFIG
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1


def _fgtui(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fgtui.engine.cli", *argv], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("argv", [["--run", "{project}"], ["-p", "{project}", "train", "--dry-run"]])
def test_a_yaml_error_is_reported_at_the_template_line(examples, argv):
    line = _edit(examples, '    targets: "train_dataset"', '    targets: ["train_dataset"')
    project = examples / "tutorials" / "tiny_llama"
    result = _fgtui(*[a.format(project=project) for a in argv], cwd=examples)
    assert result.returncode == 2, result.stdout + result.stderr
    first = result.stderr.splitlines()[0]
    assert f"train_tiny_llama.yaml:{line + 1}" in first or f"train_tiny_llama.yaml:{line}" in first, first
    assert not (project / "output_models").exists()


def test_an_argument_typo_is_caught_before_the_launch_writes_anything(examples):
    line = _edit(
        examples,
        "data_collator: &data_collator !singleton:fgtui.engine.data:DataCollatorForCausalLM"
        "@data_collator\n    tokenizer: *tokenizer",
        "data_collator: &data_collator !singleton:fgtui.engine.data:DataCollatorForCausalLM"
        "@data_collator\n    tokenzer: *tokenizer",
    )
    project = examples / "tutorials" / "tiny_llama"
    dry = _fgtui("-p", str(project), "train", "--dry-run", "-d", "cpu", cwd=examples)
    assert dry.returncode == 0, dry.stderr  # a dry run imports nothing the config names
    result = _fgtui("-p", str(project), "train", "-d", "cpu", cwd=examples)
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert f"{CONFIG.name}:{line}" in message and "tokenizer" in message
    assert message.count(CONFIG.name) == 1, message  # the file is named once
    assert not any((project / "output_models").rglob("runs")), "the launch left a run dir"
