"""`forgather.ml.datasets`: preprocess_dataset and block_tokenize_fn are fgtui's own
(engine/data); the tokenizing map function Forgather's dataset templates name lives here."""
from __future__ import annotations

from typing import Any


def default_tokenize_map_fn(batch: dict[str, list], tokenizer: Any, feature: str, add_eos: bool = False,
                            **kwargs: Any) -> dict[str, Any]:
    """Tokenize `batch[feature]` (a batched `datasets.map`), each text followed by EOS when
    `add_eos`; `kwargs` go to the tokenizer (truncation, max_length ...)."""
    texts = batch[feature]
    if add_eos:
        texts = [text + tokenizer.eos_token for text in texts]
    return {"input_ids": tokenizer(texts, **kwargs)["input_ids"]}
