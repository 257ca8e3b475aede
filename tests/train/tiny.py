"""Tiny models, data and trainers for the trainer tests (CPU, a few thousand parameters)."""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import torch

from fgtui.engine.train.callbacks import TrainerCallback

SEQ = 16
VOCAB = 64


def llama(hidden: int = 32, layers: int = 2, seed: int = 0):
    """A transformers LlamaForCausalLM small enough to train in milliseconds."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


def fgtui_config(**overrides):
    """fgtui's own CausalLM config at the tests' tiny size (GQA: 4 heads, 2 key/value heads)."""
    from fgtui.engine.models import CausalLMConfig

    sizes = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return CausalLMConfig(**{**sizes, **overrides})


class TinyLM(torch.nn.Module):
    """A plain nn.Module with the trainer's contract: forward(**batch).loss; has dropout,
    so exact resume must restore the RNG."""

    def __init__(self, hidden: int = 16, nan_at_call: int | None = None, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = torch.nn.Embedding(VOCAB, hidden)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(hidden, hidden) for _ in range(2))
        self.drop = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(hidden, VOCAB)
        self.nan_at_call = nan_at_call
        self.calls = 0

    def forward(self, input_ids, labels=None, **_):
        self.calls += 1
        x = self.embed(input_ids)
        for layer in self.layers:
            x = x + torch.relu(layer(self.drop(x)))
        logits = self.head(x)
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1), ignore_index=-100
            )
            if self.nan_at_call is not None and self.calls >= self.nan_at_call:
                loss = loss * float("nan")
        return SimpleNamespace(loss=loss, logits=logits)


def dataset(n: int = 64, seed: int = 1) -> list[dict]:
    """Sequences with structure (each token = previous + 1 mod 8 offset) so loss can fall."""
    generator = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, VOCAB, (n,), generator=generator)
    return [{"input_ids": (start + torch.arange(SEQ)) % VOCAB} for start in starts]


def collate(examples: list[dict]) -> dict:
    ids = torch.stack([e["input_ids"] for e in examples])
    return {"input_ids": ids, "labels": ids.clone()}


def trainer(output_dir, model=None, *, lr: float = 1e-2, eval_data=True, callbacks=(), optimizer_factory=None, **args):
    from fgtui.engine.train import Trainer, TrainingArguments

    args = {
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "save_steps": 4,
        "max_steps": 8,
        "save_total_limit": None,
        **args,
    }
    model = model if model is not None else TinyLM()
    return Trainer(
        model,
        TrainingArguments(output_dir=str(output_dir), **args),
        dataset(),
        data_collator=collate,
        eval_dataset=dataset(16, seed=2) if eval_data else None,
        optimizer_factory=optimizer_factory or (lambda named: torch.optim.AdamW([p for _, p in named], lr=lr)),
        lr_scheduler_factory=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 / (1 + 0.1 * s)),
        callbacks=list(callbacks),
    )


def read_records(run_dir) -> list[dict]:
    import json

    with open(os.path.join(run_dir, "metrics.jsonl")) as handle:
        return [json.loads(line) for line in handle]


class SleepEachStep(TrainerCallback):
    """Slows a run down, so a test can act on it mid-training."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds

    def on_step_end(self, trainer, step, loss, grad_norm) -> None:
        import time

        time.sleep(self.seconds)


def losses_by_step(run_dir) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_records(run_dir) if r["type"] == "train"}


if __name__ == "__main__":
    # `python tiny.py OUTPUT_DIR RUN_NAME [key=value ...]`: a training process for the
    # kill/resume tests. Values are Python literals; `slow=S` sleeps S seconds a step,
    # `hang_save_at=N` blocks inside the save of step N (after the weights are written).
    import ast
    import dataclasses
    import time

    from fgtui.engine.train import checkpoint as ckpt
    from fgtui.engine.train.callbacks import TrainerCallback

    output_dir, run_name, *pairs = sys.argv[1:]
    options = {k: ast.literal_eval(v) for k, v in (p.split("=", 1) for p in pairs)}
    slow = options.pop("slow", 0)
    hang_at = options.pop("hang_save_at", None)

    class Slow(TrainerCallback):
        def on_train_begin(self, trainer):
            self.trainer = trainer

        def after_step(self):
            time.sleep(slow)

    if hang_at is not None:
        original = ckpt._fsync_tree

        def hanging_fsync(directory):
            if directory.name == f".tmp-checkpoint-{hang_at}":
                open(os.path.join(output_dir, "HANGING"), "w").close()
                time.sleep(600)
            original(directory)

        ckpt._fsync_tree = hanging_fsync
    run = trainer(output_dir, callbacks=[Slow()], eval_data=False, run_name=run_name, **options)
    # As the train entry does: the job id the launcher gave this process goes to the trainer.
    sys.exit(run.train(dataclasses.replace(run.standalone_run, job_id=os.environ.get("FGTUI_JOB_ID"))))
