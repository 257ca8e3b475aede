"""Parallel layout checks, layer splitting, TP divisibility, meta skeletons, grad-norm clipping:
the single-process parts of engine/train/{mesh,pipeline,parallelize,dist_checkpoint}.py."""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import pytest
import torch

from fgtui.engine.errors import FgError
from fgtui.engine.train.args import TrainingArguments
from fgtui.engine.train.mesh import plan_parallelism

sys.path.insert(0, os.path.dirname(__file__))

import parallel_worker  # noqa: E402


def args(**kw):
    return TrainingArguments(output_dir="/tmp/unused", max_steps=1, **kw)


def test_default_is_ddp_over_all_ranks():
    plan = plan_parallelism(args(), 4)
    assert (plan.data_parallel, plan.dp, plan.tp, plan.pp) == ("ddp", 4, 1, 1)
    assert plan_parallelism(args(), 1).data_parallel == "none"


def test_fsdp_with_tensor_parallel_is_2d():
    plan = plan_parallelism(args(data_parallel="fsdp2", tensor_parallel_size=2), 8)
    assert (plan.dp, plan.tp, plan.sharded) == (4, 2, True)


@pytest.mark.parametrize(
    "kw, world, words",
    [
        ({"tensor_parallel_size": 3}, 4, "does not divide"),
        ({"data_parallel": "none"}, 2, "data_parallel is none"),
        ({"tensor_parallel_size": 2}, 4, "ddp cannot be combined with tensor parallel"),
        ({"pipeline_parallel_size": 2, "tensor_parallel_size": 2}, 4, "pipeline parallel is supported alone"),
        ({"pipeline_parallel_size": 2, "data_parallel": "fsdp2"}, 2, "fsdp2 cannot be combined with pipeline"),
    ],
)
def test_unsupported_layouts_are_refused(kw, world, words):
    with pytest.raises(FgError, match=words):
        plan_parallelism(args(**kw), world)


@pytest.mark.parametrize(
    "kw",
    [
        {"data_parallel": "zero3"},
        {"pipeline_schedule": "zb"},
        {"tensor_parallel_size": 0},
        {"pipeline_microbatches": 0},
        {"fsdp_param_dtype": "bfloat16"},
        {"data_parallel": "fsdp2", "fsdp_reduce_dtype": "fp8"},
    ],
)
def test_bad_parallel_arguments_are_refused(kw):
    with pytest.raises(FgError):
        args(**kw)


def test_split_layers_covers_every_layer_once():
    from fgtui.engine.train.pipeline import split_layers

    assert split_layers(7, 3) == [(0, 3), (3, 5), (5, 7)]
    assert split_layers(4, 4) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    with pytest.raises(FgError, match="at least as many decoder layers"):
        split_layers(2, 4)


def test_tensor_parallel_needs_divisible_heads():
    from fgtui.engine.train.parallelize import apply_tp

    with pytest.raises(FgError, match="num_attention_heads 4, num_key_value_heads 2"):
        apply_tp(parallel_worker.model(), SimpleNamespace(size=lambda: 3))


def test_meta_skeleton_copies_nothing_and_keeps_ties():
    from fgtui.engine.models.build import build_causal_lm
    from fgtui.engine.models.config import CausalLMConfig
    from fgtui.engine.train.dist_checkpoint import meta_skeleton

    model = build_causal_lm(
        CausalLMConfig(
            vocab_size=64,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            tie_word_embeddings=True,
        )
    )
    skeleton = meta_skeleton(model)
    assert all(p.device.type == "meta" for p in skeleton.parameters())
    assert skeleton.lm_head.weight is skeleton.model.embed_tokens.weight
    assert {k: v.shape for k, v in skeleton.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_clip_grad_norm_matches_torch_on_plain_tensors():
    from fgtui.engine.train.parallelize import clip_grad_norm

    grads = [torch.randn(5, 3), torch.randn(7)]
    ours = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    theirs = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for a, b, g in zip(ours, theirs, grads):
        a.grad, b.grad = g.clone(), g.clone()
    norm = clip_grad_norm(ours, 0.5)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 0.5)
    torch.testing.assert_close(norm, expected)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad)
