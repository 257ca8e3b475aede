"""`forgather.ml.datasets`: Forgather's dataset preprocessing on fgtui's (engine/data), and the
tokenizing map function its dataset templates name."""

from __future__ import annotations

from typing import Any


def default_tokenize_map_fn(
    batch: dict[str, list], tokenizer: Any, feature: str, add_eos: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """Tokenize `batch[feature]` (a batched `datasets.map`), each text followed by EOS when
    `add_eos`; `kwargs` go to the tokenizer (truncation, max_length ...)."""
    texts = batch[feature]
    if add_eos:
        texts = [text + tokenizer.eos_token for text in texts]
    return {"input_ids": tokenizer(texts, **kwargs)["input_ids"]}


def preprocess_dataset(
    dataset: Any,
    tokenizer: Any,
    *,
    select_range: Any = None,
    to_iterable: bool = False,
    feature: str = "text",
    shuffle: bool = False,
    num_shards: int = 256,
    desc: str = "Dataset",
    seed: int = 42,
    shuffle_buffer_size: int = 1000,
    map_fn: Any = None,
    map_kwargs: dict | None = None,
    fn_kwargs: dict | None = None,
    dataset_type: str | None = None,
    dataset_length: int | None = None,
    remove_columns: bool = True,
    shard_dataset: Any = None,
) -> Any:
    """Forgather's preprocessing on fgtui's (engine/data/preprocess.py): select, shard, shuffle,
    then map `map_fn` (Forgather's default: tokenize each record, `default_tokenize_map_fn`)
    with the tokenizer and the feature name among its keyword arguments, as Forgather calls it."""
    from fgtui.engine.data.preprocess import preprocess_dataset as fg_preprocess

    if dataset_type is not None or dataset_length is not None:
        from fgtui.engine.errors import FgError

        raise FgError(
            "preprocess_dataset: dataset_type / dataset_length are not provided by fgtui",
            hint="drop them; fgtui tells map-style from streaming datasets itself",
        )
    return fg_preprocess(
        dataset,
        tokenizer,
        select_range=select_range,
        to_iterable=to_iterable,
        feature=feature,
        shuffle=shuffle,
        seed=seed,
        num_shards=num_shards,
        desc=desc,
        map_fn=map_fn or default_tokenize_map_fn,
        map_kwargs=map_kwargs,
        fn_kwargs={"feature": feature, **(fn_kwargs or {})},
        remove_columns=remove_columns,
        shard_dataset=bool(shard_dataset) if shard_dataset is None else shard_dataset,
    )
