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


_NOTED: set[str] = set()


def block_tokenize_fn(features: dict[str, Any], tokenizer: Any, feature: str = "text", **options: Any) -> dict:
    """fgtui's block tokenizer under Forgather's name. Forgather's takes and drops keyword
    arguments it has no use for — configs hand every map function the tokenizer options
    of their preprocess_args (truncation ...) — so these are dropped here too, and named
    once in a warning."""
    from fgtui.engine.data.block_tokenize import block_tokenize_fn as blocks

    known = _used_block_options(options)
    return blocks(features, tokenizer, feature, **{k: v for k, v in options.items() if k in known})


def _map_function(map_fn: Any, fn_kwargs: dict) -> dict:
    """map_fn and fn_kwargs for fgtui's preprocessing. Forgather's block tokenizer (a
    partial of it, as configs name it) becomes fgtui's own with the options it uses, so
    fgtui's whole-split packing and cache serve it."""
    import functools

    from fgtui.engine.data.block_tokenize import block_tokenize_fn as blocks

    bound = map_fn.keywords if isinstance(map_fn, functools.partial) else {}
    target = map_fn.func if isinstance(map_fn, functools.partial) else map_fn
    if target is not block_tokenize_fn:
        return {"map_fn": map_fn, "fn_kwargs": fn_kwargs}
    known = _used_block_options({**bound, **fn_kwargs})
    return {
        "map_fn": functools.partial(blocks, **{k: v for k, v in bound.items() if k in known}),
        "fn_kwargs": {k: v for k, v in fn_kwargs.items() if k in known or k == "feature"},
    }


def _used_block_options(options: dict) -> set:
    """The names among `options` the block tokenizer uses; the others are named once."""
    import warnings

    from fgtui.engine.data.block_tokenize import BlockOptions

    known = set(BlockOptions.__dataclass_fields__) | {"feature", "tokenizer"}
    dropped = sorted(set(options) - known)
    if dropped and not _NOTED.issuperset(dropped):
        _NOTED.update(dropped)
        warnings.warn(
            f"block_tokenize_fn does not use {', '.join(dropped)} (Forgather's ignores them too)", stacklevel=3
        )
    return known


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
        **_map_function(map_fn or default_tokenize_map_fn, {"feature": feature, **(fn_kwargs or {})}),
        map_kwargs=map_kwargs,
        remove_columns=remove_columns,
        shard_dataset=bool(shard_dataset) if shard_dataset is None else shard_dataset,
    )


def fast_load_iterable_dataset(
    path: str,
    name: str | None = None,
    split: str | None = None,
    data_files: Any = None,
    revision: str | None = None,
    force_reindex: bool = False,
    num_proc: int | None = None,
    index_dir: str | None = None,
    length_estimate: str = "dynamic",
    reset_length_on_iter: bool = False,
    **load_dataset_kwargs: Any,
) -> Any:
    """A split as an IterableDataset with one shard per Arrow file, as Forgather's fast loader
    gives it (shuffle(seed) and shard(n, i) work on those shards, map() is lazy).

    `path` is a Hub name or local dataset directory (`datasets.load_dataset`), or a directory
    written by `save_to_disk`. Forgather's loader keeps its own index of the Arrow files to
    skip `load_dataset`'s checks on later loads; here `datasets`' cache serves that purpose,
    so the index options (force_reindex, index_dir, length_estimate, reset_length_on_iter)
    have nothing to act on."""
    import os

    import datasets

    if os.path.isdir(path) and _saved_to_disk(path):
        loaded = datasets.load_from_disk(path)
        if isinstance(loaded, datasets.DatasetDict):
            if split is None:
                from fgtui.engine.errors import FgError

                raise FgError(f"fast_load_iterable_dataset: {path} holds splits {list(loaded)}; name one in split")
            loaded = loaded[split]
    else:
        loaded = datasets.load_dataset(
            path,
            name,
            split=split,
            data_files=data_files,
            revision=revision,
            num_proc=num_proc,
            **load_dataset_kwargs,
        )
    if isinstance(loaded, datasets.DatasetDict):
        return datasets.IterableDatasetDict({key: _as_iterable(value) for key, value in loaded.items()})
    return _as_iterable(loaded)


def _saved_to_disk(path: str) -> bool:
    import os

    return any(os.path.isfile(os.path.join(path, name)) for name in ("state.json", "dataset_dict.json"))


def _as_iterable(dataset: Any) -> Any:
    shards = max(1, min(len(dataset.cache_files), len(dataset))) if len(dataset) else 1
    return dataset.to_iterable_dataset(num_shards=shards)
