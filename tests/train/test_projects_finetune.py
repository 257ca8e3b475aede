"""projects/lm_training_project.yaml, projects/finetune(_v2).yaml and the tutorial-004
example at examples/finetune/lovecraft, with a tiny model saved in a fixture."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fgtui
import tiny

EXAMPLE = Path(fgtui.__file__).parent / "examples" / "finetune" / "lovecraft"
DATASET = Path(fgtui.__file__).parent / "examples" / "datasets" / "lovecraft"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A random 2-layer fgtui Llama with a 512-token BPE tokenizer, saved with save_pretrained."""
    import torch

    from fgtui.engine.data.tokenizer import train_bpe_tokenizer
    from fgtui.engine.models import CausalLMConfig, build_causal_lm
    from fgtui.engine.models.hf_io import save_pretrained

    directory = tmp_path_factory.mktemp("models") / "tiny_lovecraft"
    texts = [p.read_text() for p in sorted((DATASET / "data" / "train").glob("*.txt"))[:3]]
    tokenizer = train_bpe_tokenizer(texts, vocab_size=512, show_progress=False)
    torch.manual_seed(0)
    config = CausalLMConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    save_pretrained(build_causal_lm(config), directory, tokenizer=tokenizer)
    return directory


def render(project: Path, config: str | None, variables: dict):
    from fgtui.engine.project.project import Project

    return Project.open(project).render(config, variables)


def build_target(rendered, target: str):
    from fgtui.engine.config import build, load_graph

    return build(load_graph(rendered.text, rendered.source), target)


def test_token_budget_lr_scaling_and_wsd_trigger(model_dir):
    rendered = render(
        EXAMPLE,
        None,
        {
            "model_id_or_path": str(model_dir),
            "seq_len": 512,
            "batch_size": 2,
            "total_tokens": 1,
            "annealing_tokens": 0.25,
            "warmup_tokens": 0.05,
        },
    )
    args = build_target(rendered, "trainer_args")
    tokens_per_step = 512 * 2
    assert args.max_steps == 1_000_000 // tokens_per_step
    assert args.memory.activation_checkpointing == "full"  # --gradient-checkpointing, default on
    assert args.memory.optimizer_in_backward and args.memory.activation_offload
    assert args.memory.fused_linear_ce is True
    assert args.max_grad_norm is None  # fuse-optim-with-backward cannot clip globally
    assert args.output_dir == str(model_dir)
    assert "decay_start_step: %d" % (args.max_steps - 250_000 // tokens_per_step) in rendered.text
    assert "lr: %r" % (5.0e-5 * (tokens_per_step / 4096) ** 0.5) in rendered.text
    assert "max_length: 512" in rendered.text


def test_fine_tune_defaults_to_bf16_adafactor_and_takes_the_memory_flags(model_dir):
    from fgtui.engine.optim import Adafactor

    rendered = render(
        EXAMPLE, "16k.yaml", {"model_id_or_path": str(model_dir), "memory_cap_gib": 23.5, "expandable_segments": True}
    )
    args = build_target(rendered, "trainer_args")
    assert args.dtype == "bfloat16"
    assert args.memory.cuda_memory_cap_gib == 23.5 and args.memory.expandable_segments
    assert args.memory.activation_offload and args.memory.activation_offload_prefetch_mib == 256
    # The default is the Triton-where-it-fits chooser; a CPU parameter gets the PyTorch step.
    assert "fgtui.engine.memory.adafactor_triton:Adafactor" in rendered.text
    optimizer = build_target(rendered, "optimizer")([torch_parameter()])
    assert isinstance(optimizer, Adafactor)
    # The tokenizer was saved with model_max_length 2048: 16K blocks must reach the model whole.
    assert build_target(rendered, "data_collator").max_length == 16384
    rendered = render(
        EXAMPLE, "16k.yaml", {"model_id_or_path": str(model_dir), "optimizer": "adamw", "dtype": "float32"}
    )
    assert build_target(rendered, "trainer_args").dtype == "float32"
    assert type(build_target(rendered, "optimizer")([torch_parameter()])).__name__ == "AdamW"


def torch_parameter():
    import torch

    return torch.nn.Parameter(torch.zeros(4, 4))


def test_16k_sibling_and_start_annealing(model_dir):
    rendered = render(
        EXAMPLE, "16k.yaml", {"model_id_or_path": str(model_dir), "warmup_tokens": 0.1, "start_annealing": True}
    )
    assert "max_length: 16384" in rendered.text
    warmup = int(0.1e6 / 16384)
    assert f"decay_start_step: {warmup}" in rendered.text


def test_fine_tune_without_a_model_is_a_one_line_error(tmp_path):
    from fgtui.engine.errors import FgError

    rendered = render(EXAMPLE, None, {})
    with pytest.raises(FgError, match="no model to fine-tune"):
        build_target(rendered, "model")
    rendered = render(EXAMPLE, None, {"model_id_or_path": str(tmp_path)})
    with pytest.raises(FgError, match="not a model directory"):
        build_target(rendered, "model")


def _cli(*argv: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fgtui.engine.cli", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_train_dry_run_of_the_example(model_dir):
    done = _cli("-p", str(EXAMPLE), "train", "--dry-run", "-M", str(model_dir), "--max-steps", "3", cwd=EXAMPLE)
    assert done.returncode == 0, done.stderr
    assert "torchrun" in done.stdout or "fgtui.engine.train.entry" in done.stdout


@pytest.mark.slow
def test_three_step_cpu_run_of_the_example(tmp_path, model_dir):
    # A copy of the example, so the run writes nothing into the repository; a
    # config in it pins the tiny model and a 3-step budget, since --run takes no options.
    project = tmp_path / "finetune_lovecraft"
    shutil.copytree(EXAMPLE, project)
    shutil.copytree(EXAMPLE.parent.parent / "forgather_workspace", tmp_path / "forgather_workspace")
    (project / "templates" / "configs" / "smoke.yaml").write_text(f"""-- extends 'project.yaml'

[config_metadata]
    == super()
    -- set ns.config_name = "Smoke"
    -- set ns.model_id_or_path = "{model_dir}"
    -- set ns.dataset_proj = "{DATASET}"
    -- set ns.seq_len = 128
    -- set ns.max_steps = 3
    -- set ns.eval_steps = 3
    -- set ns.eval_max_new_tokens = 8
    -- set ns.save_strategy = "no"

[globals]
    == super()
    -- set ns.output_dir = "{tmp_path / "out"}"
""")
    done = _cli("-p", str(project), "--run", "smoke.yaml", cwd=project, env={"CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stdout + done.stderr
    runs = list((tmp_path / "out" / "runs").iterdir())
    records = tiny.read_records(runs[0])
    train = [r for r in records if r["type"] == "train"]
    assert [r["step"] for r in train] == [1, 2, 3] or train[-1]["step"] == 3
    assert any(r["type"] == "sample" and r["text"] for r in records)
    assert records[-1]["status"] == "completed"


def test_one_output_dir_moves_run_dirs_and_checkpoints(model_dir, tmp_path):
    from fgtui.engine.config import build, load_graph
    from fgtui.engine.launch.launcher import launch_run

    out = tmp_path / "elsewhere"
    launched = launch_run(
        str(EXAMPLE),
        variables={"model_id_or_path": str(model_dir), "max_steps": 3},
        devices="cpu",
        dry_run=True,
        output_dir=str(out),
    )
    assert launched.command[-1].startswith(str(out / "runs") + "/")
    args = build(load_graph(launched.config_text, "<launch>"), "trainer_args")
    assert args.output_dir == str(out)  # checkpoints go to <output_dir>/checkpoints, next to runs/
    done = _cli("-p", str(EXAMPLE), "train", "--dry-run", "-M", str(model_dir), "--output-dir", str(out), cwd=EXAMPLE)
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
    assert str(out / "runs") in done.stdout
