"""One rank of the multi-process parallelism tests (started by torchrun, CPU + gloo).

`python -m torch.distributed.run --nproc-per-node 2 parallel_worker.py OUTPUT_DIR [key=value ...]`
trains the tiny fgtui CausalLM of `model()` with those TrainingArguments (Python
literals); `check_tp_forward=True` first compares tensor-parallel logits with the
unsharded model's.
"""

from __future__ import annotations

import ast
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))

import tiny  # noqa: E402


def model(seed: int = 0):
    """4 layers (2 pipeline ranks x 2 interleaved stages), heads and MLP divisible by 2."""
    from fgtui.engine.models.build import build_causal_lm
    from fgtui.engine.models.config import CausalLMConfig

    torch.manual_seed(seed)
    config = CausalLMConfig(
        vocab_size=tiny.VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return build_causal_lm(config)


def trainer(output_dir: str, **args):
    from fgtui.engine.train import Trainer, TrainingArguments

    args = {
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "save_steps": 2,
        "max_steps": 4,
        "save_total_limit": None,
        "tensorboard": False,
        **args,
    }
    return Trainer(
        model(),
        TrainingArguments(output_dir=output_dir, **args),
        tiny.dataset(),
        data_collator=tiny.collate,
        eval_dataset=tiny.dataset(8, seed=2),
        optimizer_factory=lambda named: torch.optim.AdamW([p for _, p in named], lr=1e-2),
    )


def device_type() -> str:
    return "cuda" if OPTIONS.get("device") is None and torch.cuda.is_available() else "cpu"


OPTIONS: dict = {}


def check_tp_forward() -> None:
    """Tensor-parallel logits equal the unsharded model's on the same input."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    from fgtui.engine.train.parallelize import apply_tp

    device = device_type()
    if device == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    reference = model().to(device)
    ids = torch.stack([e["input_ids"] for e in tiny.dataset(2)]).to(device)
    expected = reference(ids).logits
    dist.init_process_group("nccl" if device == "cuda" else "gloo")
    sharded = model().to(device)
    apply_tp(sharded, init_device_mesh(device, (dist.get_world_size(),)))
    got = sharded(ids).logits
    error = (got - expected).abs().max().item()
    assert error < (1e-4 if device == "cuda" else 1e-5), (
        f"tensor-parallel logits differ from the unsharded model's by {error}"
    )
    print(f"tp forward max abs error {error:.2e}", flush=True)


if __name__ == "__main__":
    output_dir, *pairs = sys.argv[1:]
    options = {k: ast.literal_eval(v) for k, v in (p.split("=", 1) for p in pairs)}
    OPTIONS.update(options)
    if options.pop("check_tp_forward", False):
        check_tp_forward()
    sys.exit(trainer(output_dir, **options).train())
