"""`fgtui generate` and `fgtui convert`: a trained model, found from a model, checkpoint,
output or project directory, continues prompts or is written as a clean HF directory."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

import fgtui
from fgtui.engine.cli import main
from fgtui.engine.train.checkpoint import find_model_dir as resolve_model_dir
from fgtui.engine.errors import FgError

CORPUS = Path(fgtui.__file__).parent / "examples" / "datasets" / "lovecraft" / "data" / "train"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from fgtui.engine.data.tokenizer import train_bpe_tokenizer
    from fgtui.engine.models import CausalLMConfig, build_causal_lm
    from fgtui.engine.models.hf_io import save_pretrained

    directory = tmp_path_factory.mktemp("gen") / "model"
    tokenizer = train_bpe_tokenizer(
        [p.read_text() for p in sorted(CORPUS.glob("*.txt"))[:2]], vocab_size=300, show_progress=False
    )
    torch.manual_seed(0)
    config = CausalLMConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    save_pretrained(build_causal_lm(config), directory, tokenizer=tokenizer)
    return directory


def test_greedy_continuation_matches_the_model(model_dir, capsys):
    from fgtui.engine.data.tokenizer import load_tokenizer
    from fgtui.engine.models.generate import generate
    from fgtui.engine.models.hf_io import load_pretrained

    assert main(["generate", str(model_dir), "The old house", "-n", "12", "--temperature", "0", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    tokenizer = load_tokenizer(model_dir)
    ids = tokenizer("The old house", return_tensors="pt")["input_ids"]
    expected = generate(load_pretrained(model_dir), ids, 12, stop_token_ids=[tokenizer.eos_token_id])
    assert printed == "The old house" + tokenizer.decode(expected[0, ids.shape[1] :], skip_special_tokens=True) + "\n"


def test_model_directory_is_found_from_checkpoints_output_and_project(model_dir, tmp_path):
    import shutil

    project = tmp_path / "proj"
    checkpoints = project / "output_models" / "m" / "checkpoints"
    for step in (5, 10):
        shutil.copytree(model_dir, checkpoints / f"checkpoint-{step}")
        (checkpoints / f"checkpoint-{step}" / "manifest.json").write_text("{}")
        time.sleep(0.01)
    latest = resolve_model_dir(str(checkpoints))
    assert latest == checkpoints / "checkpoint-10"  # the highest complete step
    assert resolve_model_dir(str(checkpoints.parent)) == latest
    assert resolve_model_dir(str(project)) == latest
    assert resolve_model_dir(str(model_dir)) == model_dir
    with pytest.raises(FgError, match="no model in"):
        resolve_model_dir(str(tmp_path / "proj" / "output_models"))
    with pytest.raises(FgError, match="not a directory"):
        resolve_model_dir(str(tmp_path / "missing"))


def test_bad_input_is_one_line(model_dir, capsys):
    assert main(["generate", str(model_dir), "x", "-n", "0"]) == 2
    assert "--max-new-tokens must be at least 1" in capsys.readouterr().err


def _checkpoint_like(model_dir: Path, root: Path) -> Path:
    """`model_dir` laid out as a trainer checkpoint, with optimizer state beside the weights."""
    import shutil

    checkpoint = root / "out" / "checkpoints" / "checkpoint-7"
    shutil.copytree(model_dir, checkpoint)
    (checkpoint / "manifest.json").write_text("{}")
    torch.save({"state": {}}, checkpoint / "optimizer.pt")
    return checkpoint


def test_convert_writes_a_clean_transformers_directory(model_dir, tmp_path, capsys):
    from safetensors.torch import load_file

    _checkpoint_like(model_dir, tmp_path)
    out = tmp_path / "export"
    assert main(["convert", str(tmp_path / "out"), str(out), "--check"]) == 0
    printed = capsys.readouterr().out
    assert "checkpoint-7" in printed and "largest logit difference" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert main(["convert", str(model_dir), str(tmp_path / "bf16"), "--dtype", "bfloat16"]) == 0
    assert {t.dtype for t in load_file(tmp_path / "bf16" / "model.safetensors").values()} == {torch.bfloat16}


def test_convert_never_overwrites(model_dir, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["convert", str(model_dir), str(out)]) == 2
    assert "nothing was written" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"


def test_the_check_catches_an_export_that_differs(model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    from fgtui.engine.commands.model_cmds import compare_with_transformers
    from fgtui.engine.models.hf_io import load_pretrained

    out = tmp_path / "export"
    assert main(["convert", str(model_dir), str(out)]) == 0
    model = load_pretrained(model_dir)
    assert compare_with_transformers(model, out) < 1e-3
    tensors = load_file(out / "model.safetensors")
    name = next(n for n in tensors if "mlp" in n)
    tensors[name] = tensors[name] + 0.5
    save_file(tensors, out / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(FgError, match="differs from the source"):
        compare_with_transformers(model, out)


def test_convert_prints_no_progress_bars(model_dir, tmp_path, capsys):
    """transformers' tqdm bars (weight loading in --check) are noise in a one-shot command."""
    _checkpoint_like(model_dir, tmp_path)
    assert main(["convert", str(tmp_path / "out"), str(tmp_path / "export"), "--check"]) == 0
    captured = capsys.readouterr()
    assert "%|" not in captured.err and "it/s" not in captured.err, captured.err
