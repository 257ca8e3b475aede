"""`forgather.ml.tokenizer`: train a `tokenizers` tokenizer from a dataset and save it as a
transformers tokenizer (what Forgather's tokenizer projects build)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, Callable

from fgtui.engine.errors import FgError


def select_range(length: int, spec: Any) -> range:
    """Forgather's record selection: None (all), n (first n), a fraction, (start, stop[, step])
    with ints or fractions, or a range; clamped to [0, length]."""

    def position(value: Any) -> int:
        if isinstance(value, float):
            value = int(value * length)
        elif isinstance(value, int) and not isinstance(value, bool):
            value = length + value if value < 0 else value
        else:
            raise FgError(f"select_range: {value!r} is neither an int nor a float")
        return min(max(value, 0), length)

    if spec is None:
        return range(length)
    if isinstance(spec, range):
        return spec
    if isinstance(spec, (int, float)):
        return range(position(spec))
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        if not spec:
            return range(length)
        values = [position(v) for v in spec[:2]] + list(spec[2:])
        return range(*values)
    raise FgError(f"select_range: unsupported value {spec!r}")


def train_tokenizer(
    *,
    model: Any,
    normalizer: Any,
    pre_tokenizer: Any,
    post_processor: Any,
    decoder: Any,
    trainer: Any,
    dataset: Callable[[], Any],
    feature: str = "text",
    select_range: Any = None,
    args: dict | None = None,
    output_dir: str | os.PathLike | None = None,
    batch_size: int = 1000,
) -> Any:
    """Train on `dataset()[feature]` (optionally a slice of it), save to `output_dir` with
    `args` (special tokens, model_max_length ...) as a PreTrainedTokenizerFast; returns it."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    if output_dir is None:
        raise FgError("train_tokenizer needs an output_dir")
    core = Tokenizer(model)
    core.normalizer, core.pre_tokenizer = normalizer, pre_tokenizer
    core.decoder, core.post_processor = decoder, post_processor
    data = dataset() if callable(dataset) else dataset
    if select_range is not None:
        data = data.select(globals()["select_range"](len(data), select_range))
    total = len(data)
    if feature not in getattr(data, "column_names", [feature]):
        raise FgError(
            f"train_tokenizer: the dataset has no {feature!r} column",
            hint=f"columns: {', '.join(data.column_names)}; set feature:",
        )
    started = time.perf_counter()

    def batches():
        for start in range(0, total, batch_size):
            yield data[start : start + batch_size][feature]

    core.train_from_iterator(batches(), trainer=trainer, length=-(-total // batch_size))
    print(f"tokenizer trained on {total:,} records in {time.perf_counter() - started:.1f} s", flush=True)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, **(args or {}))
    tokenizer.save_pretrained(output_dir)
    return tokenizer
