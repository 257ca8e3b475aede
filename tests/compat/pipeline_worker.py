"""One rank of the Forgather-splitter pipeline test (torchrun, CPU + gloo), or the
one-process reference without torchrun:

    python pipeline_worker.py OUTPUT_DIR [pipeline]

Trains a model laid out as Forgather's CasualLM (input_encoder, layer_stack.layers.N,
layer_stack.layer_norm, lm_head; a stage copy runs with the parts it lacks set to None)
for 4 steps with fgtui's Trainer. With `pipeline` it runs on 2 ranks, cut by the
compatibility layer's create_manual_causal_lm_splitter through the trainer's
pipeline_splitter hook; every stage asserts it was handed the mask the model's
get_attn_mask_fn makes, as Forgather's pipeline trainer hands it.
"""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "train"))

import tiny  # noqa: E402

HIDDEN, LAYERS = 16, 4


class Stack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleDict({str(i): nn.Linear(HIDDEN, HIDDEN) for i in range(LAYERS)})
        self.layer_norm = nn.LayerNorm(HIDDEN)


class Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.input_encoder = nn.Embedding(tiny.VOCAB, HIDDEN)
        self.layer_stack = Stack()


class CasualLMShaped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.config = SimpleNamespace(num_hidden_layers=LAYERS)
        self.causal_lm = Inner()
        self.lm_head = nn.Linear(HIDDEN, tiny.VOCAB)

    @staticmethod
    def mask(input_ids: torch.Tensor) -> torch.Tensor:
        return torch.ones(*input_ids.shape, 1)

    def get_attn_mask_fn(self):
        return self.mask

    def forward(self, input_ids, attention_mask=None, labels=None, **_):
        inner = self.causal_lm
        if attention_mask is None:  # one process: the model makes its own mask
            attention_mask = self.mask(input_ids)
        x = inner.input_encoder(input_ids) if inner.input_encoder is not None else input_ids
        assert attention_mask.shape == (*x.shape[:2], 1), "each stage gets its micro-batch's mask"
        stack = inner.layer_stack
        if stack is not None:
            for layer in stack.layers.values():
                x = x + torch.tanh(layer(x)) * attention_mask
            if stack.layer_norm is not None:
                x = stack.layer_norm(x)
        if self.lm_head is None:
            return x
        logits = self.lm_head(x)
        if labels is None:
            return logits
        loss = nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, tiny.VOCAB), labels[:, 1:].reshape(-1), ignore_index=-100
        )
        return SimpleNamespace(loss=loss, logits=logits)


def trainer(output_dir: str, pipeline: bool):
    from fgtui.engine.compat.forgather.ml.trainer.pipeline import create_manual_causal_lm_splitter, forgather_splitter
    from fgtui.engine.train import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=output_dir,
        run_name="run",
        device="cpu",
        per_device_train_batch_size=4,
        logging_steps=1,
        save_steps=4,
        max_steps=4,
        tensorboard=False,
        **({"pipeline_parallel_size": 2, "pipeline_microbatches": 2} if pipeline else {}),
    )
    trainer = Trainer(
        CasualLMShaped(),
        args,
        tiny.dataset(),
        data_collator=tiny.collate,
        optimizer_factory=lambda named: torch.optim.AdamW([p for _, p in named], lr=1e-2),
    )
    if pipeline:
        trainer.pipeline_splitter = forgather_splitter(create_manual_causal_lm_splitter())
    return trainer


if __name__ == "__main__":
    output_dir, *rest = sys.argv[1:]
    sys.exit(trainer(output_dir, pipeline=rest == ["pipeline"]).train())
