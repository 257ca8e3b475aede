"""DDP, FSDP2, tensor parallel and pipeline runs on 2 CPU ranks (gloo) give the losses
and gradient norms of one process on the same global batch; their checkpoints are
whole models that transformers loads, and resume into the sharded model."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))

import parallel_worker  # noqa: E402
import tiny  # noqa: E402

WORKER = os.path.join(os.path.dirname(__file__), "parallel_worker.py")


def metrics(run_dir) -> dict[int, tuple[float, float]]:
    return {r["step"]: (r["loss"], r["grad_norm"]) for r in tiny.read_records(run_dir) if r["type"] == "train"}


def launch(output_dir, device="cpu", **options) -> dict[int, tuple[float, float]]:
    """Train on 2 ranks through torchrun (on CPU unless `device` is None: one GPU a rank);
    returns {step: (loss, grad_norm)}."""
    options["device"] = device
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        WORKER,
        str(output_dir),
        "run_name='run'",
        *(f"{k}={v!r}" for k, v in options.items()),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return metrics(output_dir / "runs" / "run")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One process, global batch 4: the figures every layout must reproduce."""
    out = tmp_path_factory.mktemp("single")
    assert parallel_worker.trainer(str(out), run_name="run", device="cpu").train() == 0
    return out, metrics(out / "runs" / "run")


def assert_same(got, expected, steps=(1, 2, 3, 4), tolerance=2e-5):
    for step in steps:
        assert got[step][0] == pytest.approx(expected[step][0], abs=tolerance), f"loss at step {step}"
        assert got[step][1] == pytest.approx(expected[step][1], rel=5 * tolerance), f"grad norm at step {step}"


def test_ddp_matches_one_process(reference, tmp_path):
    assert_same(launch(tmp_path, per_device_train_batch_size=2), reference[1])


def test_fsdp2_matches_saves_whole_model_and_resumes(reference, tmp_path):
    from transformers import LlamaForCausalLM

    first = tmp_path / "first"
    assert_same(launch(first, per_device_train_batch_size=2, data_parallel="fsdp2"), reference[1])
    # The gathered checkpoint is an ordinary HF directory with the one-process weights.
    saved = LlamaForCausalLM.from_pretrained(first / "checkpoints" / "checkpoint-4").state_dict()
    single = LlamaForCausalLM.from_pretrained(reference[0] / "checkpoints" / "checkpoint-4").state_dict()
    assert saved.keys() == single.keys()
    for name in saved:
        torch.testing.assert_close(saved[name], single[name], atol=1e-5, rtol=1e-4, msg=name)
    resumed = launch(
        tmp_path / "second",
        per_device_train_batch_size=2,
        data_parallel="fsdp2",
        resume_from_checkpoint=str(first / "checkpoints" / "checkpoint-2"),
    )
    assert min(resumed) == 3
    assert_same(resumed, reference[1], steps=(3, 4))


def test_tensor_parallel_forward_and_losses(reference, tmp_path):
    assert_same(launch(tmp_path, tensor_parallel_size=2, check_tp_forward=True), reference[1])


def test_pipeline_1f1b_then_gpipe_resume(reference, tmp_path):
    first = tmp_path / "first"
    assert_same(launch(first, pipeline_parallel_size=2, pipeline_microbatches=2), reference[1])
    resumed = launch(
        tmp_path / "second",
        pipeline_parallel_size=2,
        pipeline_microbatches=4,
        pipeline_schedule="gpipe",
        resume_from_checkpoint=str(first / "checkpoints" / "checkpoint-2"),
    )
    assert_same(resumed, reference[1], steps=(3, 4))


def test_pipeline_interleaved_with_accumulation(reference, tmp_path):
    got = launch(
        tmp_path,
        pipeline_parallel_size=2,
        pipeline_schedule="interleaved_1f1b",
        pipeline_microbatches=2,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
    )
    assert_same(got, reference[1])


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
@pytest.mark.parametrize(
    "options",
    [
        {"per_device_train_batch_size": 2},
        {"per_device_train_batch_size": 2, "data_parallel": "fsdp2"},
        {"tensor_parallel_size": 2, "check_tp_forward": True},
        {"pipeline_parallel_size": 2, "pipeline_microbatches": 2},
        {"pipeline_parallel_size": 2, "pipeline_schedule": "interleaved_1f1b", "pipeline_microbatches": 2},
    ],
    ids=["ddp", "fsdp2", "tp", "pipeline", "interleaved"],
)
def test_two_gpus_nccl(tmp_path, options):
    """The same layouts over NCCL on 2 GPUs match one GPU (float32, looser: kernels differ)."""
    single = tmp_path / "single"
    assert parallel_worker.trainer(str(single), run_name="run", device="cuda:0").train() == 0
    assert_same(launch(tmp_path / "multi", device=None, **options), metrics(single / "runs" / "run"), tolerance=2e-4)
