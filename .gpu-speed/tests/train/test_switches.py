"""Precision, memory and speed switches, budgets and FLOPs, OOM and profiler."""

from __future__ import annotations

import math

import pytest
import torch

import tiny
from fgtui.engine.errors import FgError
from fgtui.engine.train import budget, flops


def _losses(tmp_path, name, model, **args):
    run = tiny.trainer(tmp_path / name, model, run_name="r", save_strategy="no", eval_data=False, **args)
    assert run.train() == 0
    return tiny.losses_by_step(tmp_path / name / "runs" / "r")


@pytest.mark.parametrize("make", [lambda: tiny.llama(), lambda: tiny.TinyLM()], ids=["hf", "plain"])
def test_activation_checkpointing_gives_the_same_losses(tmp_path, make):
    def model():
        m = make()
        for module in m.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        return m

    plain = _losses(tmp_path, "a", model(), max_steps=3)
    checkpointed = _losses(tmp_path, "b", model(), max_steps=3, gradient_checkpointing=True)
    assert plain.keys() == checkpointed.keys()
    assert all(abs(plain[k] - checkpointed[k]) < 1e-5 for k in plain)


@pytest.mark.parametrize(
    "args",
    [{"mixed_precision": "bf16"}, {"mixed_precision": "fp16"}, {"dtype": "bfloat16"}],
    ids=["bf16-autocast", "fp16-scaler", "pure-bf16"],
)
def test_precision_modes_train(tmp_path, args):
    losses = _losses(tmp_path, "p", tiny.llama(), max_steps=4, **args)
    assert all(math.isfinite(v) for v in losses.values())
    assert losses[4] < losses[1]


def test_mixed_precision_over_bf16_parameters_is_refused(tmp_path):
    with pytest.raises(FgError, match="needs float32 parameters"):
        tiny.trainer(tmp_path, dtype="bfloat16", mixed_precision="bf16")


def test_out_of_memory_names_the_memory_switches(tmp_path):
    class Hungry(tiny.TinyLM):
        def forward(self, *args, **kwargs):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    run = tiny.trainer(tmp_path, Hungry(), run_name="r", eval_data=False)
    with pytest.raises(FgError, match="out of memory at step 0.*gradient_checkpointing.*per_device_train_batch_size"):
        run.train()
    assert tiny.read_records(tmp_path / "runs" / "r")[-1]["exit_code"] == 2


def test_token_budget_sets_the_steps(tmp_path):
    run = tiny.trainer(
        tmp_path, run_name="r", max_steps=-1, total_tokens=5 * 4 * tiny.SEQ + 7, save_strategy="no", eval_data=False
    )
    assert run.train() == 0
    assert run.state.global_step == 5


def test_budget_arithmetic():
    step = budget.tokens_per_step(seq_len=4096, per_device_batch_size=2, grad_accum=4, world_size=2)
    assert step == 65536
    plan = budget.steps_from_tokens(7_000_000, step, warmup_tokens=1_000_000, annealing_tokens=2_000_000)
    assert (plan.total_steps, plan.warmup_steps, plan.annealing_steps) == (106, 15, 30)
    assert plan.decay_start_step == 76
    assert budget.scale_lr(5e-5, 4 * 4096, 4096) == pytest.approx(1e-4)
    with pytest.raises(FgError, match="less than one step"):
        budget.steps_from_tokens(100, step)


def test_flops_per_token_follows_6n_plus_attention():
    model = tiny.llama(hidden=32, layers=2)
    n_matmul = sum(p.numel() for p in model.parameters()) - model.model.embed_tokens.weight.numel()
    assert flops.matmul_params(model) == n_matmul
    assert flops.flops_per_token(model, 16) == 6 * n_matmul + 12 * 2 * 2 * 16 * 16
    assert flops.flops_per_token(tiny.TinyLM(), 16) is None
    assert flops.device_peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert flops.device_peak_flops("NVIDIA H100 PCIe") == 756e12
    assert flops.mfu(1e9, 100_000.0, 989e12) == pytest.approx(1e14 / 989e12)
    assert flops.mfu(1e9, 100_000.0, None) is None


def test_profiler_writes_a_trace(tmp_path):
    run = tiny.trainer(
        tmp_path, run_name="r", max_steps=4, profile=True, profile_steps=(1, 1, 1), save_strategy="no", eval_data=False
    )
    assert run.train() == 0
    assert (tmp_path / "runs" / "r" / "profile" / "trace.json").stat().st_size > 0


@pytest.mark.gpu
def test_cuda_compiled_blocks_match_eager_and_log_mfu_and_memory(tmp_path):
    eager = _losses(tmp_path, "e", tiny.llama(), max_steps=4, mixed_precision="bf16", device="cuda")
    compiled = _losses(
        tmp_path, "c", tiny.llama(), max_steps=4, mixed_precision="bf16", device="cuda", compile_blocks=True
    )
    assert all(abs(eager[k] - compiled[k]) < 2e-2 for k in eager)
    record = [r for r in tiny.read_records(tmp_path / "c" / "runs" / "r") if r["type"] == "train"][-1]
    assert record["peak_mem_gib"] is not None and record["peak_mem_gib"] > 0
    if flops.device_peak_flops(torch.cuda.get_device_name()) is not None:
        assert 0 < record["mfu"] < 1
