"""A Forgather-style training config (every object a forgather.* name) trains on fgtui's engine."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from compat_helpers import fixture_config  # noqa: E402

from fgtui.engine.compat.forgather.resolve import real_forgather_installed  # noqa: E402

pytestmark = pytest.mark.skipif(real_forgather_installed(), reason="a real Forgather is installed: it is used")


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_fixture_trains_in_process_with_forgather_callbacks(tmp_path, capsys, monkeypatch):
    from fgtui.engine.train.entry import main

    monkeypatch.delenv("FGTUI_RUN_DIR", raising=False)
    config = fixture_config(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(config, run_dir / "config.yaml")
    assert main([str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "LlamaForCausalLM, 22,688 parameters (22,688 trainable)" in out  # InfoCallback
    assert "x 1 data-parallel of 1 ranks" in out
    assert "peak memory: not measured on CPU" in out  # PeakMemory
    assert "training completed at step 8" in out
    stream = records(run_dir)
    train = [r for r in stream if r["type"] == "train"]
    assert [r["step"] for r in train] == [2, 4, 6, 8]
    assert train[-1]["loss"] < train[0]["loss"]
    # InfiniteLRScheduler: 2 warm-up steps to 3e-3, cosine over 4 down to 1e-3, then constant.
    assert train[-1]["lr"] == pytest.approx(1e-3)
    assert [r["step"] for r in stream if r["type"] == "eval"] == [4, 8]
    assert (tmp_path / "out" / "checkpoints" / "checkpoint-8" / "model.safetensors").is_file()
    assert (run_dir / "tb").is_dir()  # TBLogger turned on the log stream's TensorBoard mirror
    # JsonLogger: Forgather's trainer_logs.json in the config's logging_dir, the same figures.
    from fgtui.engine.runs.forgather_logs import is_forgather_run_dir, parse_trainer_logs

    logging_dir = tmp_path / "out" / "runs" / "log_fixture"
    entries, closed = parse_trainer_logs((logging_dir / "trainer_logs.json").read_text())
    assert closed and is_forgather_run_dir(logging_dir)
    logged = [e for e in entries if "loss" in e]
    assert [e["global_step"] for e in logged] == [2, 4, 6, 8]
    assert [e["loss"] for e in logged] == [r["loss"] for r in train]
    assert [e["learning_rate"] for e in logged] == [r["lr"] for r in train]
    assert [e["total_tokens"] for e in logged] == [r["tokens"] for r in train]
    assert [(e["global_step"], e["eval_loss"]) for e in entries if "eval_loss" in e] == [
        (r["step"], r["eval_loss"]) for r in stream if r["type"] == "eval"
    ]


def test_setup_failure_before_the_log_stream_opens_is_logged(tmp_path, capsys, monkeypatch):
    """The trainer is built, then its setup fails before opening the log stream: the run
    still gets its error and end records (what `--follow` and the monitor read)."""
    from fgtui.engine.train.entry import main

    monkeypatch.delenv("FGTUI_RUN_DIR", raising=False)
    config = fixture_config(tmp_path, replace={"per_device_train_batch_size: 8": "per_device_train_batch_size: 100000"})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(config, run_dir / "config.yaml")
    assert main([str(run_dir)]) == 2
    assert "is smaller than one batch" in capsys.readouterr().err
    stream = records(run_dir)
    assert [r.get("event") for r in stream] == ["error", "end"]
    assert "is smaller than one batch" in stream[0]["message"] and stream[1]["exit_code"] == 2


def test_compat_loss_matches_the_models_own(tmp_path):
    """CausalLoss on the logits equals transformers' loss on the same batch."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from fgtui.engine.compat.forgather.ml.loss import CausalLoss

    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=50,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
    )
    ids = torch.randint(0, 50, (2, 12))
    labels = ids.clone()
    labels[1, 8:] = -100
    out = model(input_ids=ids, labels=labels)
    assert CausalLoss()(out.logits, labels).item() == pytest.approx(out.loss.item(), rel=1e-5)


def test_trainer_argument_forgather_does_not_define_is_dropped_and_named(tmp_path, capsys, monkeypatch):
    """Forgather (dacite) drops keys its TrainingArguments lacks; so does fgtui, saying so."""
    from fgtui.engine.config import build, load_graph

    monkeypatch.delenv("FGTUI_RUN_DIR", raising=False)
    config = fixture_config(
        tmp_path,
        max_steps=2,
        replace={"    seed: 42\n": "    seed: 42\n    save_rng_state: True\n    warmup_ratio: 0.1\n"},
    )
    main = build(load_graph(config.read_text(), str(config)), "main")
    assert main.trainer.forgather_args.undefined == ["save_rng_state", "warmup_ratio"]
    assert main.train() == 0
    assert (
        "does not define (ignored, as Forgather ignores them): save_rng_state, warmup_ratio" in capsys.readouterr().out
    )


def test_checkpointing_function_of_the_config_is_named_as_not_called(tmp_path, capsys, monkeypatch):
    """fgtui checkpoints the decoder layers itself; a trainer's enable_activation_checkpoint_fn
    is not called, and the run says so."""
    from fgtui.engine.config import build, load_graph

    monkeypatch.delenv("FGTUI_RUN_DIR", raising=False)
    config = fixture_config(
        tmp_path,
        max_steps=1,
        replace={
            "    seed: 42\n": "    seed: 42\n    gradient_checkpointing: True\n",
            "    fused_loss_factory: null\n": "    fused_loss_factory: null\n"
            "    enable_activation_checkpoint_fn: !partial:builtins:print []\n",
        },
    )
    assert build(load_graph(config.read_text(), str(config)), "main").train() == 0
    out = capsys.readouterr().out
    assert "enable_activation_checkpoint_fn not called" in out and "full activation checkpointing on 2 layers" in out


@pytest.fixture
def runtime(monkeypatch):
    root = tempfile.mkdtemp(prefix="fg")  # short: AF_UNIX socket paths are limited
    monkeypatch.setenv("FGTUI_RUNTIME_DIR", os.path.join(root, "rt"))
    yield
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_fgtui_train_runs_the_forgather_config_detached(runtime, tmp_path, capsys):
    from fgtui.engine.cli import main

    config = fixture_config(tmp_path, max_steps=4)
    assert main(["-t", str(config), "train", "-d", "cpu", "--follow"]) == 0
    assert "completed at step 4" in capsys.readouterr().out
    runs = list((tmp_path / "out" / "runs").iterdir())
    assert len(runs) == 1 and [r for r in records(runs[0]) if r.get("event") == "end"][0]["status"] == "completed"
    # The run dir is the config's Forgather logging_dir: its trainer_logs.json sits beside the log stream.
    assert runs[0].name == "log_fixture" and (runs[0] / "trainer_logs.json").is_file()


def test_unprovided_name_stops_dry_run_and_launch_before_writing(runtime, tmp_path, capsys):
    from fgtui.engine.cli import main

    config = fixture_config(
        tmp_path, replace={"forgather.ml.trainer.callbacks:PeakMemory": "forgather.ml.trainer.callbacks:GradLogger"}
    )
    line = next(i for i, text in enumerate(config.read_text().splitlines(), 1) if "GradLogger" in text)
    for extra in (["--dry-run"], []):
        assert main(["-t", str(config), "train", "-d", "cpu", *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "'forgather.ml.trainer.callbacks:GradLogger'" in err[0]
        assert f"train.yaml:{line}" in err[0]
        assert not (tmp_path / "out").exists()


def test_30_steps_match_forgathers_own_losses(tmp_path, monkeypatch):
    """Same config, seed and data as Forgather's run of it: the losses agree step for step.

    Tolerance: 1e-4 relative. Measured: identical to float32 print precision (0.0) with
    Forgather 0002f125857f on torch 2.14.1 against fgtui on torch 2.13; the margin is
    for other torch builds' CPU kernels."""
    from fgtui.engine.train.entry import main

    golden = json.loads((Path(__file__).parent / "forgather_fixture" / "forgather_losses.json").read_text())["losses"]
    monkeypatch.delenv("FGTUI_RUN_DIR", raising=False)
    config = fixture_config(
        tmp_path,
        max_steps=30,
        replace={"logging_steps: 2": "logging_steps: 1", 'save_strategy: "steps"': 'save_strategy: "no"'},
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(config, run_dir / "config.yaml")
    assert main([str(run_dir)]) == 0
    ours = {r["step"]: r["loss"] for r in records(run_dir) if r["type"] == "train"}
    assert sorted(ours) == list(range(1, 31))
    for step, loss in golden.items():
        assert ours[int(step)] == pytest.approx(loss, rel=1e-4), step


@pytest.mark.parametrize(("nproc", "devices", "expected"), [("2", [], 2), ("2", ["-d", "cpu"], 1), (None, [], 1)])
def test_launch_starts_the_process_count_the_config_asks_forgather_for(
    runtime, tmp_path, capsys, monkeypatch, nproc, devices, expected
):
    """Forgather's `train` runs torchrun with the config's meta.nproc_per_node; so does fgtui
    when -d is not given (this machine: no GPU)."""
    from fgtui.engine.cli import main
    from fgtui.engine.launch import launcher

    monkeypatch.setattr(launcher, "_cuda_count", lambda: 0)
    extra = {'config_name: "Forgather fixture"': f'config_name: "Forgather fixture"\n    nproc_per_node: {nproc}'}
    config = fixture_config(tmp_path, replace=extra if nproc else None)
    assert main(["-t", str(config), "train", *devices, "--dry-run"]) == 0
    assert f"--nproc-per-node={expected}" in capsys.readouterr().out.split()


def test_launch_refuses_a_process_count_torchrun_cannot_take(runtime, tmp_path, capsys, monkeypatch):
    from fgtui.engine.cli import main
    from fgtui.engine.launch import launcher

    monkeypatch.setattr(launcher, "_cuda_count", lambda: 0)
    config = fixture_config(
        tmp_path,
        replace={'config_name: "Forgather fixture"': 'config_name: "Forgather fixture"\n    nproc_per_node: 0'},
    )
    assert main(["-t", str(config), "train", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "meta.nproc_per_node is 0" in err[0] and "-d cpu:2" in err[0]
    assert not (tmp_path / "out").exists()
