"""Each memory switch through the real Trainer on a tiny fgtui model: same losses as the plain path."""

from __future__ import annotations

import functools

import pytest
import torch

import tiny
from fgtui.engine.errors import FgError
from fgtui.engine.memory.switches import MemorySwitches
from fgtui.engine.models import build_causal_lm
from fgtui.engine.train import Trainer, TrainingArguments


def model(device: str = "cpu"):
    torch.manual_seed(7)  # the trainer re-seeds with args.seed before a meta model is materialised
    return build_causal_lm(tiny.fgtui_config(), device=device)


def collate_masked(examples: list[dict]) -> dict:
    """Labels with a few ignored positions, a different number per row, so token
    weighting differs between a per-token mean and a mean of means."""
    ids = torch.stack([e["input_ids"] for e in examples])
    labels = ids.clone()
    for row in range(labels.shape[0]):
        labels[row, : 1 + (int(ids[row, 0]) % 5)] = -100
    return {"input_ids": ids, "labels": labels}


def run(tmp_path, name, net, *, steps: int = 4, **args) -> dict[int, float]:
    args = {
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "max_steps": steps,
        "save_strategy": "no",
        "max_grad_norm": None,
        "run_name": "r",
        "seed": 7,
        **args,
    }
    trainer = Trainer(
        net,
        TrainingArguments(output_dir=str(tmp_path / name), **args),
        tiny.dataset(),
        data_collator=collate_masked,
        optimizer_factory=functools.partial(torch.optim.AdamW, lr=1e-2),
        lr_scheduler_factory=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 / (1 + s)),
    )
    assert trainer.train() == 0
    return tiny.losses_by_step(tmp_path / name / "runs" / "r")


def grad_norms(tmp_path, name) -> list[float]:
    return [r["grad_norm"] for r in tiny.read_records(tmp_path / name / "runs" / "r") if r["type"] == "train"]


def assert_close(a: dict[int, float], b: dict[int, float], tol: float = 2e-5) -> None:
    assert a.keys() == b.keys() and len(a) >= 3
    assert all(abs(a[k] - b[k]) < tol for k in a), (a, b)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    path = tmp_path_factory.mktemp("plain")
    return run(path, "p", model()), grad_norms(path, "p")


@pytest.mark.parametrize(
    "memory",
    [
        {"activation_checkpointing": "full"},
        {"activation_checkpointing": "selective"},
        {"activation_checkpointing": "full", "checkpoint_every_n": 2},
        {"fused_linear_ce": True},
        {"fused_linear_ce": "ours"},
        {"chunked_mlp": 4},
        {"optimizer_in_backward": True},
        {"activation_offload": True},
        {"expandable_segments": True},
    ],
    ids=lambda m: "-".join(f"{k}={v}" for k, v in m.items()),
)
def test_each_switch_gives_the_plain_losses(tmp_path, plain, memory):
    losses = run(tmp_path, "s", model(), memory=memory)
    assert_close(plain[0], losses)
    # Both paths log the total gradient norm, including optimizer-in-backward's.
    assert grad_norms(tmp_path, "s") == pytest.approx(plain[1], rel=1e-4)


def test_meta_init_materialises_the_same_model(tmp_path, plain):
    losses = run(tmp_path, "m", model(device="meta"), memory={"meta_init": True})
    assert_close(plain[0], losses)


def test_forgather_names_turn_the_switches_on(tmp_path, plain):
    args = TrainingArguments(
        output_dir=str(tmp_path),
        gradient_checkpointing=True,
        max_grad_norm=None,
        fuse_optim_with_backward=True,
        enable_activation_offloading=True,
    )
    assert args.memory.activation_checkpointing == "full"
    assert args.memory.optimizer_in_backward and args.memory.activation_offload
    losses = run(tmp_path, "f", model(), gradient_checkpointing=True, fuse_optim_with_backward=True)
    assert_close(plain[0], losses)


def test_offload_forced_on_cpu_moves_activations_and_keeps_losses(tmp_path, plain, monkeypatch):
    from fgtui.engine.memory.offload import ActivationOffload

    made = []

    def forced(self, net):
        made.append(ActivationOffload(net, force=True, min_bytes=0))
        return made[-1]

    monkeypatch.setattr(MemorySwitches, "make_offload", forced)
    losses = run(tmp_path, "o", model(), memory={"activation_offload": True, "activation_checkpointing": "full"})
    assert_close(plain[0], losses)
    assert made[0].stats["offloaded_tensors"] > 0


def test_fused_ce_weights_tokens_like_the_plain_path_under_accumulation(tmp_path):
    plain = run(tmp_path, "a", model(), per_device_train_batch_size=2, gradient_accumulation_steps=2)
    fused = run(
        tmp_path,
        "b",
        model(),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        memory={"fused_linear_ce": True},
    )
    assert_close(plain, fused)


def test_fused_ce_is_used_in_evaluation(tmp_path):
    trainer = Trainer(
        model(),
        TrainingArguments(output_dir=str(tmp_path), max_steps=1, save_strategy="no", memory={"fused_linear_ce": True}),
        tiny.dataset(),
        data_collator=collate_masked,
        eval_dataset=tiny.dataset(8, seed=3),
        optimizer_factory=functools.partial(torch.optim.AdamW, lr=1e-3),
    )
    trainer.setup()
    trainer._reset_interval()
    batch = collate_masked(tiny.dataset(8, seed=3))
    with torch.no_grad():
        expected = trainer.model(**batch).loss.item()
    calls = []
    original = trainer.runtime.loss_fn.forward
    trainer.runtime.loss_fn.forward = lambda *a: calls.append(1) or original(*a)
    assert trainer.evaluate() == pytest.approx(expected, rel=1e-5)
    assert calls
    trainer._finish("completed", 0)


def test_optimizer_in_backward_resumes_exactly(tmp_path):
    whole = run(tmp_path, "w", model(), steps=4, memory={"optimizer_in_backward": True})
    run(tmp_path, "h", model(), steps=2, save_strategy="steps", save_steps=2, memory={"optimizer_in_backward": True})
    resumed = run(
        tmp_path,
        "h",
        model(),
        steps=4,
        save_strategy="steps",
        save_steps=2,
        resume_from_checkpoint="latest",
        memory={"optimizer_in_backward": True},
    )
    assert resumed.keys() >= {3, 4}
    assert abs(resumed[3] - whole[3]) < 1e-6 and abs(resumed[4] - whole[4]) < 1e-6


@pytest.mark.parametrize(
    "args, message",
    [
        (
            {"memory": {"optimizer_in_backward": True}, "gradient_accumulation_steps": 2, "max_grad_norm": None},
            "gradient_accumulation_steps=2",
        ),
        ({"memory": {"optimizer_in_backward": True}, "max_grad_norm": 1.0}, "global max_grad_norm"),
        ({"fuse_optim_with_backward": True}, "global max_grad_norm"),
        ({"memory": {"optimizer_in_backward": True}, "max_grad_norm": None, "mixed_precision": "fp16"}, "fp16"),
        ({"memory": {"activation_checkpointing": "some"}}, "activation_checkpointing must be"),
        ({"memory": {"checkpoint_every_n": 2}}, "activation_checkpointing is none"),
        ({"memory": {"activaton_offload": True}}, "unknown memory switch"),
        ({"memory": "full"}, "mapping of memory switches"),
    ],
)
def test_impossible_combinations_are_refused_at_config_time(tmp_path, args, message):
    with pytest.raises(FgError, match=message):
        TrainingArguments(output_dir=str(tmp_path), **args)


def test_meta_model_without_meta_init_is_refused(tmp_path):
    trainer = Trainer(
        model(device="meta"),
        TrainingArguments(output_dir=str(tmp_path), max_steps=1),
        tiny.dataset(),
        data_collator=collate_masked,
        optimizer_factory=torch.optim.AdamW,
    )
    with pytest.raises(FgError, match="meta_init is off"):
        trainer.setup()


def test_fused_ce_needs_a_model_that_can_skip_its_head(tmp_path):
    trainer = Trainer(
        tiny.TinyLM(),
        TrainingArguments(output_dir=str(tmp_path), max_steps=1, memory={"fused_linear_ce": True}),
        tiny.dataset(),
        data_collator=collate_masked,
        optimizer_factory=torch.optim.AdamW,
    )
    with pytest.raises(FgError, match="return_hidden_states"):
        trainer.setup()
