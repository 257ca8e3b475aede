"""`forgather.ml.data_collator`: Forgather's collator arguments onto fgtui's DataCollatorForCausalLM
(pads to the longest row, labels = input_ids with padding ignored; packed rows keep their
document boundaries)."""

from __future__ import annotations

from typing import Any

from fgtui.engine.errors import FgError


def DataCollatorForCausalLM(
    tokenizer: Any,
    truncation: bool = False,
    ignore_index: int = -100,
    input_name: str = "input_ids",
    labels_name: str | None = "labels",
    packed_sequences: bool | None = None,
    **pad_kwargs: Any,
) -> Any:
    from fgtui.engine.data.collate import DataCollatorForCausalLM as FgCollator

    if ignore_index != -100 or input_name != "input_ids" or labels_name != "labels":
        raise FgError(
            "DataCollatorForCausalLM: fgtui's collator uses input_ids/labels and ignore index -100",
            hint="drop ignore_index, input_name and labels_name from the collator",
        )
    return_tensors = pad_kwargs.pop("return_tensors", "pt")
    padding = pad_kwargs.pop("padding", True)
    if return_tensors != "pt" or padding not in (True, "longest"):
        raise FgError(
            "DataCollatorForCausalLM: fgtui's collator pads to the longest row and returns torch tensors",
            hint="drop return_tensors and padding, or set them to pt and longest",
        )
    unknown = sorted(set(pad_kwargs) - {"max_length", "pad_to_multiple_of"})
    if unknown:
        raise FgError(f"DataCollatorForCausalLM: unknown padding argument(s) {', '.join(unknown)}")
    return FgCollator(tokenizer, packed_sequences=packed_sequences, truncation=truncation, **pad_kwargs)
