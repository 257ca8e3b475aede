"""MFU counts attention per document: a packed row's area is the sum of its documents' squared lengths."""

from __future__ import annotations

import dataclasses
import functools

import pytest
import torch

import tiny
from fgtui.engine.models import build_causal_lm
from fgtui.engine.train import Trainer, TrainingArguments
from fgtui.engine.train.flops import (
    FlopsModel,
    ModelShape,
    attention_area,
    document_ids_from_positions,
    flops_model,
    flops_per_token,
)

CONFIG = tiny.fgtui_config()
# Three documents then two padding tokens in a row of tiny.SEQ (16): 5, 6 and 3 tokens.
DOCS = torch.tensor([0] * 5 + [1] * 6 + [2] * 3 + [-1] * 2)


def test_area_of_unpacked_rows_is_rows_times_length_squared():
    ids = torch.zeros(3, 16, dtype=torch.long)
    assert attention_area(ids) == 3 * 16 * 16


def test_area_of_packed_rows_sums_squared_document_lengths_without_padding():
    ids = torch.zeros(2, 16, dtype=torch.long)
    docs = torch.stack([DOCS, torch.zeros(16, dtype=torch.long)])
    assert attention_area(ids, docs) == (25 + 36 + 9) + 256


def test_area_counts_a_document_id_reused_after_another_as_two_documents():
    # Runs, not distinct ids: a row numbered 0 0 1 1 0 0 has three documents of 2.
    docs = torch.tensor([[0, 0, 1, 1, 0, 0]])
    assert attention_area(docs, docs) == 3 * 4


def test_document_ids_from_positions_restarting_at_zero():
    positions = torch.tensor([[0, 1, 2, 0, 1, 0]])
    assert document_ids_from_positions(positions).tolist() == [[0, 0, 0, 1, 1, 2]]


def test_flops_model_matches_the_per_token_formula_for_unpacked_rows():
    model = build_causal_lm(CONFIG, device="cpu")
    counted = flops_model(model)
    n = model.num_parameters(exclude_embeddings=True)
    assert counted == FlopsModel(6.0 * n, 12.0 * 2 * 4 * 8)
    assert counted == FlopsModel.from_shape(n, ModelShape(2, 4, 8))
    ids = torch.zeros(4, 16, dtype=torch.long)
    assert counted.step_flops(ids.numel(), attention_area(ids)) == pytest.approx(ids.numel() * counted.per_token(16))
    assert flops_per_token(model, 16) == model.flops_per_token(16)


def collate_packed(examples: list[dict]) -> dict:
    ids = torch.stack([e["input_ids"] for e in examples])
    labels = ids.clone()
    labels[:, -2:] = -100
    return {"input_ids": ids, "labels": labels, "document_ids": DOCS.expand_as(ids).clone()}


def test_logged_mfu_of_packed_batches_counts_attention_per_document(tmp_path):
    torch.manual_seed(0)
    trainer = Trainer(
        build_causal_lm(CONFIG, device="cpu"),
        TrainingArguments(output_dir=str(tmp_path), max_steps=1, save_strategy="no", per_device_train_batch_size=2),
        tiny.dataset(),
        data_collator=collate_packed,
        optimizer_factory=functools.partial(torch.optim.AdamW, lr=1e-3),
    )
    trainer.setup()
    # CPU has no peak; give one so the record carries an MFU to check.
    trainer.runtime = dataclasses.replace(trainer.runtime, peak_flops=1e12)
    trainer._reset_interval()
    loss, norm, tokens, inputs, area = trainer.train_step()
    assert (inputs, area) == (2 * 16, 2 * (25 + 36 + 9))
    trainer._interval.append((trainer.state.global_step, loss, norm, tokens, inputs, area))
    trainer._flush_interval()
    record = trainer._last_status
    counted = trainer.runtime.flops
    per_document = counted.step_flops(inputs, area) / inputs * record["tokens_per_s"] / 1e12
    whole_row = counted.per_token(16) * record["tokens_per_s"] / 1e12
    assert record["mfu"] == pytest.approx(per_document)
    assert record["mfu"] < whole_row
    trainer._finish("completed", 0)
