"""A truncated or garbled weight or state file is one line naming the file, exit 2, nothing
written: in generate, convert, serve and --resume."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

import fgtui
import tiny
from fgtui.engine.cli import main
from fgtui.engine.errors import FgError
from fgtui.engine.weight_files import check_safetensors

CORPUS = Path(fgtui.__file__).parent / "examples" / "datasets" / "lovecraft" / "data" / "train"


@pytest.fixture(scope="module")
def good_model(tmp_path_factory) -> Path:
    from fgtui.engine.data.tokenizer import train_bpe_tokenizer
    from fgtui.engine.models import CausalLMConfig, build_causal_lm
    from fgtui.engine.models.hf_io import save_pretrained

    directory = tmp_path_factory.mktemp("damaged") / "model"
    tokenizer = train_bpe_tokenizer(
        [p.read_text() for p in sorted(CORPUS.glob("*.txt"))[:1]], vocab_size=260, show_progress=False
    )
    config = CausalLMConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    save_pretrained(build_causal_lm(config), directory, tokenizer=tokenizer)
    return directory


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garble_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[8:40] = b"\x00\xff" * 16
    path.write_bytes(bytes(data))


DAMAGES = {"truncated": (_truncate, "past the end of the file"), "garbled": (_garble_header, "not valid JSON")}


@pytest.fixture(params=sorted(DAMAGES))
def damaged_model(request, good_model, tmp_path) -> tuple[Path, str]:
    directory = tmp_path / "model"
    shutil.copytree(good_model, directory)
    damage, message = DAMAGES[request.param]
    damage(directory / "model.safetensors")
    return directory, message


@pytest.mark.parametrize("command", ["generate", "convert", "serve"])
def test_a_damaged_model_is_one_line_and_nothing_is_written(damaged_model, command, tmp_path, capsys):
    directory, message = damaged_model
    out = tmp_path / "converted"
    argv = {
        "generate": ["generate", str(directory), "Hello", "--device", "cpu"],
        "convert": ["convert", str(directory), str(out)],
        "serve": ["serve", str(directory), "--port", "0", "--device", "cpu"],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{directory / 'model.safetensors'}: " in err and message in err
    assert not out.exists()


def test_a_header_that_promises_more_than_a_tensor_holds(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 8)
    with pytest.raises(FgError, match="holds 8 bytes, its F32 shape \\[4\\] needs 16"):
        check_safetensors(path)


@pytest.mark.parametrize("victim", ["model.safetensors", "optimizer.pt", "trainer_state.json"])
def test_resume_from_a_damaged_checkpoint_is_one_line(tmp_path, victim):
    tiny.trainer(tmp_path, max_steps=4, save_steps=4, eval_data=False).train()
    checkpoint = tmp_path / "checkpoints" / "checkpoint-4"
    _truncate(checkpoint / victim)
    resumed = tiny.trainer(tmp_path, max_steps=8, save_steps=4, eval_data=False, resume_from_checkpoint=True)
    with pytest.raises(FgError) as error:
        resumed.train()
    assert str(checkpoint / victim) in error.value.one_line()
    assert "damaged" in error.value.one_line()


def test_resume_takes_a_named_runs_own_checkpoint(tmp_path):
    from fgtui.engine.train import checkpoint as ckpt

    first = tiny.trainer(tmp_path, max_steps=8, save_steps=4, eval_data=False, run_name="long")
    first.train()
    tiny.trainer(tmp_path, max_steps=4, save_steps=4, eval_data=False, run_name="short", save_total_limit=None).train()
    root = tmp_path / "checkpoints"
    assert ckpt.checkpoint_run(root / "checkpoint-8") == "long"
    # "short" re-saved step 4 over "long"'s: that one is short's now; latest is short's too.
    assert ckpt.resolve_checkpoint(root, "latest").name == "checkpoint-4"
    assert ckpt.resolve_checkpoint(root, "long") == root / "checkpoint-8"
    assert ckpt.resolve_checkpoint(root, "short") == root / "checkpoint-4"
    with pytest.raises(FgError, match="give latest, a run's name"):
        ckpt.resolve_checkpoint(root, "nosuchrun")


def test_a_runs_checkpoints_leave_out_a_step_a_later_run_saved_over(tmp_path):
    from fgtui.engine.runs.checkpoints import run_checkpoints

    tiny.trainer(tmp_path, max_steps=8, save_steps=4, eval_data=False, run_name="long").train()
    tiny.trainer(tmp_path, max_steps=4, save_steps=4, eval_data=False, run_name="short").train()
    root = tmp_path / "checkpoints"
    assert run_checkpoints(tmp_path / "runs" / "long") == [root / "checkpoint-8"]
    assert run_checkpoints(tmp_path / "runs" / "short") == [root / "checkpoint-4"]
