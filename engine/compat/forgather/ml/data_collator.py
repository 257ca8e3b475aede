"""`forgather.ml.data_collator`: Forgather's collator arguments onto fgtui's DataCollatorForCausalLM
(pads to the longest row, labels = input_ids with padding ignored; packed rows keep their
document boundaries).

Forgather's options on top of that: `padding="max_length"` pads every batch to
`max_length` (the fixed shapes its pipeline configs ask for); `input_name` renames the
input key (torchtitan's loaders want "input"); `labels_name=None` returns the labels
beside the batch, as a `(batch, labels)` pair; `ignore_index` marks non-targets.

A batch without padding carries no `attention_mask`, as fgtui's collator sends none
for full rows (and Forgather's collator never returns one): an all-ones mask changes
nothing in a transformers model, but the model checks it on every forward
(`padding_mask.all()` in transformers' masking_utils), and on a GPU that read stops the
host until the device catches up.
"""

from __future__ import annotations

from typing import Any

from fgtui.engine.errors import FgError

PADDINGS = (True, "longest", "max_length")


class DataCollatorForCausalLM:
    def __init__(
        self,
        tokenizer: Any,
        truncation: bool = False,
        ignore_index: int = -100,
        input_name: str = "input_ids",
        labels_name: str | None = "labels",
        packed_sequences: bool | None = None,
        **pad_kwargs: Any,
    ) -> None:
        from fgtui.engine.data.collate import DataCollatorForCausalLM as FgCollator

        return_tensors = pad_kwargs.pop("return_tensors", "pt")
        self.padding = pad_kwargs.pop("padding", True)
        if return_tensors != "pt" or self.padding not in PADDINGS:
            raise FgError(
                "DataCollatorForCausalLM: fgtui's collator pads to the longest row or to max_length, as torch tensors",
                hint="set padding to true, longest or max_length and return_tensors to pt",
            )
        unknown = sorted(set(pad_kwargs) - {"max_length", "pad_to_multiple_of"})
        if unknown:
            raise FgError(f"DataCollatorForCausalLM: unknown padding argument(s) {', '.join(unknown)}")
        limit = _tokenizer_limit(tokenizer)
        if pad_kwargs.get("max_length") and limit and pad_kwargs["max_length"] > limit:
            raise FgError(
                f"DataCollatorForCausalLM: max_length {pad_kwargs['max_length']} is greater than the tokenizer's "
                f"model_max_length {limit}",
                hint="lower max_length, or raise the tokenizer's model_max_length",
            )
        if self.padding == "max_length" and not (pad_kwargs.get("max_length") or _tokenizer_limit(tokenizer)):
            raise FgError("DataCollatorForCausalLM: padding max_length needs max_length (the tokenizer has no limit)")
        self.fixed_length = (
            (pad_kwargs.get("max_length") or _tokenizer_limit(tokenizer)) if self.padding == "max_length" else None
        )
        self.ignore_index, self.input_name, self.labels_name = ignore_index, input_name, labels_name
        self.collator = FgCollator(tokenizer, packed_sequences=packed_sequences, truncation=truncation, **pad_kwargs)

    def __call__(self, features: list) -> Any:
        import torch

        from fgtui.engine.data.collate import IGNORE_INDEX, PAD_DOCUMENT_ID

        batch = self.collator(features)
        if self.fixed_length is not None:
            short = self.fixed_length - batch["input_ids"].shape[1]
            if short > 0:
                if "attention_mask" not in batch and "document_ids" not in batch:
                    # Full rows came without a mask; the padding added here needs one.
                    batch["attention_mask"] = torch.ones_like(batch["input_ids"])
                fill = {
                    "input_ids": self.collator.pad_token_id,
                    "labels": IGNORE_INDEX,
                    "attention_mask": 0,
                    "position_ids": 0,
                    "document_ids": PAD_DOCUMENT_ID,
                }
                batch = {
                    key: torch.nn.functional.pad(value, (0, short), value=fill[key]) for key, value in batch.items()
                }
        if self.ignore_index != IGNORE_INDEX:
            batch["labels"] = batch["labels"].masked_fill(batch["labels"] == IGNORE_INDEX, self.ignore_index)
        if self.input_name != "input_ids":
            batch[self.input_name] = batch.pop("input_ids")
        if not self.labels_name:
            return batch, batch.pop("labels")
        if self.labels_name != "labels":
            batch[self.labels_name] = batch.pop("labels")
        return batch


def _tokenizer_limit(tokenizer: Any) -> int | None:
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and limit < 10**8 else None
