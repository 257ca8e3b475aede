"""Forgather's output dirs and checkpoints feed generate/convert/serve (engine/runs/forgather_checkpoints.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fgtui.engine.train.checkpoint import find_model_dir

MODEL = Path(__file__).parent / "forgather_fixture" / "forgather_model"  # config + tokenizer, Forgather's checkpoint


@pytest.fixture
def output_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project = tmp_path / "project"
    shutil.copytree(MODEL, project / "output_models" / "tiny")
    return project / "output_models" / "tiny"


def test_output_dir_checkpoint_and_project_all_find_the_checkpoint_weights(output_dir):
    checkpoint = output_dir / "checkpoints" / "checkpoint-30"
    views = [find_model_dir(p) for p in (output_dir, checkpoint, output_dir.parent.parent)]
    for view in views:
        assert (view / "config.json").resolve() == (output_dir / "config.json").resolve()
        assert (view / "model.safetensors.index.json").resolve() == (
            checkpoint / "model.safetensors.index.json"
        ).resolve()
        assert (view / "tokenizer.json").is_file()


def test_generate_and_convert_a_forgather_output_dir(output_dir, tmp_path, capsys):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, LlamaForCausalLM

    from fgtui.engine.cli import main

    assert main(["generate", str(output_dir), "The oldest", "-n", "12", "--temperature", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The oldest") and len(out.strip()) > len("The oldest")
    assert main(["convert", str(output_dir), str(tmp_path / "hf")]) == 0
    # The converted weights are Forgather's checkpoint's, and give transformers' logits.
    reference = LlamaForCausalLM(AutoConfig.from_pretrained(output_dir))
    reference.load_state_dict(
        load_file(output_dir / "checkpoints" / "checkpoint-30" / "model-00001-of-00001.safetensors"), strict=False
    )
    converted = LlamaForCausalLM.from_pretrained(tmp_path / "hf")
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    torch.testing.assert_close(converted(ids).logits, reference(ids).logits)


def test_dirs_that_are_not_forgathers_are_left_to_fgtui(tmp_path):
    from fgtui.engine.errors import FgError

    with pytest.raises(FgError, match="no model in"):
        find_model_dir(tmp_path)
