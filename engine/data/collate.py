"""Batches for causal language modelling.

`DataCollatorForCausalLM` turns rows of `input_ids` (and, for packed blocks,
`document_starts`) into the tensors the model's `forward(**batch)` takes:

- `input_ids` [B, T] long; `labels` [B, T] long, aligned with `input_ids`
  (the model shifts). -100 marks tokens that are not targets: padding, and in
  packed rows the first token of every document after the first, so no
  document is trained to predict across a boundary.
- padded mode: `attention_mask` [B, T] (1 = real token), when a row is padded.
  A batch of full rows has none: a missing mask means every token to fgtui's
  and transformers' models alike, while an all-ones mask is tested on the
  device every forward (`mask.all()`), a read that stops the host until the
  device catches up. Here, on the host, the row lengths already say it.
- packed mode: `position_ids` [B, T] restarting at 0 at each document start
  (or running on across the row with `position_ids_per_document=False`),
  and `document_ids` [B, T] numbering the documents of each row from 0
  (padding is -1), from which the model builds its document masks.
"""

from __future__ import annotations

import warnings

from collections.abc import Mapping, Sequence
from typing import Any

from fgtui.engine.errors import FgError

IGNORE_INDEX = -100
PAD_DOCUMENT_ID = -1


class DataCollatorForCausalLM:
    """Pad (or pack-aware pad) a list of tokenized rows into a batch.

    `packed_sequences=None` decides per batch: packed when the rows carry
    `document_starts`. Rows longer than `max_length` (default: the
    tokenizer's `model_max_length` when it is a real limit) are truncated,
    or rejected when `truncation=False`. `pad_to_multiple_of` rounds the
    padded length up (tensor-core friendly shapes). In packed rows attention
    never crosses a document boundary; `position_ids_per_document=False` keeps
    the row's running positions instead of restarting them per document.
    """

    def __init__(
        self,
        tokenizer,
        packed_sequences: bool | None = None,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        truncation: bool = True,
        position_ids_per_document: bool = True,
    ) -> None:
        self.tokenizer = tokenizer
        self.position_ids_per_document = position_ids_per_document
        self.packed_sequences = packed_sequences
        # Whether the limit is the tokenizer's and not the caller's: a tokenizer
        # saved with model_max_length 2048 would otherwise cut 16K blocks unseen.
        self.limit_from_tokenizer = max_length is None
        if max_length is None:
            limit = getattr(tokenizer, "model_max_length", None)
            # HF uses a huge sentinel (1e30) for "no limit".
            max_length = limit if isinstance(limit, int) and limit < 10**8 else None
        self.max_length = max_length
        self._warned_truncation = False
        self.pad_to_multiple_of = pad_to_multiple_of
        self.truncation = truncation
        self.pad_token_id = tokenizer.pad_token_id
        if self.pad_token_id is None:
            raise FgError(
                "the tokenizer has no pad token",
                hint="load it with fgtui.engine.data.load_tokenizer, which sets one",
            )

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        import torch

        if not features:
            raise ValueError("cannot collate an empty list of rows")
        packed = self.packed_sequences
        if packed is None:
            packed = "document_starts" in features[0]
        rows = [self._row(f, packed) for f in features]
        length = max(len(ids) for ids, _, _ in rows)
        if self.pad_to_multiple_of:
            m = self.pad_to_multiple_of
            length = -(-length // m) * m
            if self.max_length is not None and self.truncation:
                length = min(length, max(self.max_length, max(len(ids) for ids, _, _ in rows)))
        batch_size = len(rows)
        input_ids = torch.full((batch_size, length), self.pad_token_id, dtype=torch.long)
        labels = torch.full((batch_size, length), IGNORE_INDEX, dtype=torch.long)
        if packed:
            position_ids = torch.zeros((batch_size, length), dtype=torch.long)
            document_ids = torch.full((batch_size, length), PAD_DOCUMENT_ID, dtype=torch.long)
        else:
            attention_mask = torch.zeros((batch_size, length), dtype=torch.long)
        for b, (ids, row_labels, starts) in enumerate(rows):
            n = len(ids)
            input_ids[b, :n] = torch.as_tensor(ids, dtype=torch.long)
            labels[b, :n] = torch.as_tensor(row_labels, dtype=torch.long)
            if packed:
                bounds = [*starts, n]
                for doc, (start, end) in enumerate(zip(bounds, bounds[1:])):
                    position_ids[b, start:end] = (
                        torch.arange(end - start) if self.position_ids_per_document else torch.arange(start, end)
                    )
                    document_ids[b, start:end] = doc
                    if start > 0:
                        labels[b, start] = IGNORE_INDEX
            else:
                attention_mask[b, :n] = 1
        batch = {"input_ids": input_ids, "labels": labels}
        if packed:
            batch["position_ids"] = position_ids
            batch["document_ids"] = document_ids
        elif any(len(ids) < length for ids, _, _ in rows):
            batch["attention_mask"] = attention_mask
        return batch

    def _row(self, feature: Mapping[str, Any], packed: bool) -> tuple[list[int], list[int], list[int]]:
        ids = _as_list(feature["input_ids"])
        labels = _as_list(feature["labels"]) if "labels" in feature else list(ids)
        if len(labels) != len(ids):
            raise FgError(f"a row has {len(ids)} input_ids but {len(labels)} labels")
        starts: list[int] = []
        if packed:
            if "document_starts" not in feature:
                raise FgError(
                    "packed_sequences=True but a row has no document_starts",
                    hint="pack with block_tokenize_fn(packed=True), or set packed_sequences=False",
                )
            starts = sorted(set(_as_list(feature["document_starts"])) | {0})
        if self.max_length is not None and len(ids) > self.max_length:
            if not self.truncation:
                raise FgError(
                    f"a row of {len(ids)} tokens is longer than max_length={self.max_length}",
                    hint="raise max_length, enable truncation, or block-tokenize to max_length",
                )
            if self.limit_from_tokenizer and not self._warned_truncation:
                self._warned_truncation = True
                warnings.warn(
                    f"rows of {len(ids)} tokens are cut to the tokenizer's model_max_length "
                    f"{self.max_length}; pass max_length to DataCollatorForCausalLM to keep them",
                    stacklevel=3,
                )
            ids, labels = ids[: self.max_length], labels[: self.max_length]
        if packed:
            starts = [s for s in starts if s < len(ids)] or [0]
        return ids, labels, starts


def _as_list(values: Any) -> list[int]:
    if hasattr(values, "tolist"):
        return values.tolist()
    return list(values)
