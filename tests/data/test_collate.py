"""DataCollatorForCausalLM: masks, position ids and document ids."""

from __future__ import annotations

import pytest
import torch

from fgtui.engine.data import DataCollatorForCausalLM, block_tokenize_fn
from fgtui.engine.errors import FgError


def test_padded_batch(tokenizer):
    collate = DataCollatorForCausalLM(tokenizer, pad_to_multiple_of=8)
    batch = collate([{"input_ids": [5, 6, 7]}, {"input_ids": [8, 9, 10, 11, 12]}])
    pad = tokenizer.pad_token_id
    assert set(batch) == {"input_ids", "labels", "attention_mask"}
    assert batch["input_ids"].shape == (2, 8) and batch["input_ids"].dtype == torch.long
    assert batch["input_ids"][0].tolist() == [5, 6, 7] + [pad] * 5
    assert batch["labels"][0].tolist() == [5, 6, 7] + [-100] * 5
    assert batch["attention_mask"][1].tolist() == [1] * 5 + [0] * 3


def test_a_batch_of_full_rows_has_no_mask(tokenizer):
    """No row padded: no attention_mask (a missing mask is all ones to the models, and an
    all-ones mask would be tested on the device every forward); one short row brings it back."""
    collate = DataCollatorForCausalLM(tokenizer)
    full = collate([{"input_ids": [5, 6, 7]}, {"input_ids": [8, 9, 10]}])
    assert set(full) == {"input_ids", "labels"}
    short = collate([{"input_ids": [5, 6, 7]}, {"input_ids": [8, 9]}])
    assert short["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


def test_packed_batch_positions_documents_and_labels(tokenizer):
    collate = DataCollatorForCausalLM(tokenizer)
    rows = [
        {"input_ids": [1, 10, 11, 2, 1, 20, 2], "document_starts": [0, 4]},
        {"input_ids": [30, 31, 2, 1, 40], "document_starts": [0, 3]},
    ]
    batch = collate(rows)
    assert set(batch) == {"input_ids", "labels", "position_ids", "document_ids"}
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1, 2], [0, 1, 2, 0, 1, 0, 0]]
    assert batch["document_ids"].tolist() == [[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, -1, -1]]
    # The first token of each later document is not a target of the previous one.
    assert batch["labels"].tolist() == [[1, 10, 11, 2, -100, 20, 2], [30, 31, 2, -100, 40, -100, -100]]


def test_packed_batches_from_real_blocks(tokenizer, corpus_texts):
    out = block_tokenize_fn({"text": corpus_texts}, tokenizer, max_length=128, packed=True, packing_strategy="best_fit")
    rows = [{"input_ids": i, "document_starts": s} for i, s in zip(out["input_ids"], out["document_starts"])]
    batch = DataCollatorForCausalLM(tokenizer)(rows)
    for b, row in enumerate(rows):
        n = len(row["input_ids"])
        starts = row["document_starts"]
        assert (batch["position_ids"][b, starts] == 0).all()
        assert int(batch["document_ids"][b, :n].max()) == len(starts) - 1
        masked = (batch["labels"][b, :n] == -100).nonzero().flatten().tolist()
        assert masked == [s for s in starts if s > 0]


def test_auto_mode_truncation_and_errors(tokenizer):
    collate = DataCollatorForCausalLM(tokenizer, max_length=4)
    batch = collate([{"input_ids": [1, 2, 3, 4, 5, 6], "document_starts": [0, 5]}])
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4]]
    assert batch["document_ids"].tolist() == [[0, 0, 0, 0]]
    strict = DataCollatorForCausalLM(tokenizer, max_length=4, truncation=False)
    with pytest.raises(FgError, match="longer than max_length"):
        strict([{"input_ids": [1, 2, 3, 4, 5]}])
    with pytest.raises(FgError, match="document_starts"):
        DataCollatorForCausalLM(tokenizer, packed_sequences=True)([{"input_ids": [1, 2]}])


def test_truncation_by_the_tokenizers_limit_is_said(tokenizer):
    import copy
    import warnings

    limited = copy.deepcopy(tokenizer)
    limited.model_max_length = 4
    collate = DataCollatorForCausalLM(limited)
    with pytest.warns(UserWarning, match="model_max_length 4"):
        batch = collate([{"input_ids": [1, 2, 3, 4, 5, 6]}])
    assert batch["input_ids"].shape[-1] == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        collate([{"input_ids": [1, 2, 3, 4, 5, 6]}])  # said once per collator
        DataCollatorForCausalLM(limited, max_length=4)([{"input_ids": [1, 2, 3, 4, 5, 6]}])  # asked for


def test_packed_positions_can_run_on_across_documents(tokenizer):
    collate = DataCollatorForCausalLM(tokenizer, position_ids_per_document=False)
    batch = collate([{"input_ids": [1, 10, 11, 2, 1, 20, 2], "document_starts": [0, 4]}])
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 5, 6]]
    assert batch["document_ids"].tolist() == [[0, 0, 0, 0, 1, 1, 1]]  # attention still stays inside documents
