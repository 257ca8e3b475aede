"""`preprocess_dataset`: a raw split in, a training-ready split out.

For the block tokenizer on a map-style split that fits in memory, the whole
split is tokenized (a `datasets.map`, so `num_proc` works), planned at once by
`engine.data.packing` -- packing sees every document, not one map batch --
and the blocks are gathered with numpy straight from the Arrow buffers. The
result is cached on disk (`engine.data.cache`), so a second run is a
memory-mapped load. Streaming (iterable) splits and custom map functions go
through `datasets.map` as they are.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any, Callable

from fgtui.engine.data import cache as cache_mod
from fgtui.engine.data.block_tokenize import BlockOptions, block_tokenize_fn, encode_documents
from fgtui.engine.data.packing import finalize, plan_blocks
from fgtui.engine.data.progress import datasets_bars, progress_bar
from fgtui.engine.data.sources import select_range as apply_select_range
from fgtui.engine.data.sources import shard_for_rank
from fgtui.engine.errors import FgError

log = logging.getLogger(__name__)

# The in-memory path holds the tokens twice as int32 (documents and blocks);
# byte-level tokenizers emit at most one token per byte of text.
_BYTES_PER_TEXT_BYTE = 8


def preprocess_dataset(
    dataset,
    tokenizer=None,
    select_range: Any = None,
    to_iterable: bool = False,
    feature: str = "text",
    shuffle: bool = False,
    seed: int = 42,
    num_shards: int = 256,
    map_fn: Callable | None = None,
    map_kwargs: dict[str, Any] | None = None,
    fn_kwargs: dict[str, Any] | None = None,
    remove_columns: bool = True,
    shard_dataset: bool | dict[str, int] = False,
    desc: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int | None = None,
    cache: bool = True,
):
    """Select, shard, shuffle and block-tokenize one split.

    - `select_range`: rows to keep (see `sources.select_range`).
    - `shard_dataset`: True takes this rank's share (RANK/WORLD_SIZE); a dict
      ``{num_shards, index}`` names the shard.
    - `shuffle`: shuffle documents (with `seed`) before tokenizing.
    - `map_fn`: default `block_tokenize_fn`; a `functools.partial` of it (as
      templates write it) has its keywords merged under `fn_kwargs`, so a
      training project's `preprocess_args` override the dataset's defaults.
    - `to_iterable`: return an `IterableDataset` with `num_shards` shards.
    - `cache` / `cache_dir`: where packed splits are kept (default
      `default_cache_dir()`).
    """
    import datasets

    if isinstance(dataset, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        raise FgError(
            f"preprocess_dataset got a dataset dict with splits {', '.join(dataset)}",
            hint="pass one split, e.g. dataset_dict['train']",
        )
    iterable = isinstance(dataset, datasets.IterableDataset)
    if select_range is not None:
        if iterable:
            if not isinstance(select_range, int) or isinstance(select_range, bool):
                raise FgError("a streaming dataset only takes an int select_range (the first N examples)")
            dataset = dataset.take(select_range)
        else:
            dataset = apply_select_range(dataset, select_range)
    if shard_dataset:
        if isinstance(shard_dataset, dict):
            dataset = shard_for_rank(dataset, shard_dataset.get("index"), shard_dataset.get("num_shards"))
        else:
            dataset = shard_for_rank(dataset)
    if shuffle:
        dataset = dataset.shuffle(seed=seed)

    fn, options = _split_map_fn(map_fn, fn_kwargs)
    map_kwargs = dict(map_kwargs or {})
    if fn is not block_tokenize_fn:
        result = _map_custom(dataset, fn, options, tokenizer, map_kwargs, remove_columns, desc, num_proc, iterable)
    else:
        feature = options.pop("feature", feature)
        block_options = BlockOptions.from_kwargs(options)
        if tokenizer is None:
            raise FgError("block tokenizing needs a tokenizer", hint="pass -T TOKENIZER or set tokenizer in the config")
        block_options.check(tokenizer)
        if iterable or not _fits_in_memory(dataset, feature):
            if not iterable:
                log.warning(
                    "split too large to pack in memory: packing within map batches of %s",
                    map_kwargs.get("batch_size", 1000),
                )
            result = _map_blocks(dataset, tokenizer, feature, block_options, map_kwargs, desc, num_proc)
        else:
            result = _cached_pack(
                dataset,
                tokenizer,
                feature,
                block_options,
                desc,
                num_proc,
                Path(cache_dir) if cache_dir else cache_mod.default_cache_dir(),
                cache,
            )
    if to_iterable and isinstance(result, datasets.Dataset):
        result = result.to_iterable_dataset(num_shards=min(num_shards, max(1, len(result))))
    return result


def _split_map_fn(map_fn, fn_kwargs) -> tuple[Callable, dict[str, Any]]:
    """The function to map and its keyword arguments, with a partial's
    keywords under the explicit `fn_kwargs`."""
    options: dict[str, Any] = {}
    fn = map_fn or block_tokenize_fn
    while isinstance(fn, functools.partial):
        if fn.args:
            raise FgError("map_fn partials may bind keyword arguments only")
        options = {**fn.keywords, **options}
        fn = fn.func
    options.update(fn_kwargs or {})
    return fn, options


def _fits_in_memory(dataset, feature: str) -> bool:
    try:
        text_bytes = dataset.data.column(feature).nbytes
    except (KeyError, AttributeError):
        return True  # the feature check later reports a missing column
    try:
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return True
    # Blocks are stored as Arrow lists with 32-bit offsets.
    return text_bytes < 2**31 and text_bytes * _BYTES_PER_TEXT_BYTE < ram // 2


def _check_feature(dataset, feature: str) -> None:
    names = dataset.column_names
    if names is not None and feature not in names:
        raise FgError(
            f"the dataset has no column {feature!r} (columns: {', '.join(names)})",
            hint="set feature= to the column holding the text",
        )


def _map_custom(dataset, fn, options, tokenizer, map_kwargs, remove_columns, desc, num_proc, iterable):
    kwargs = dict(options)
    if tokenizer is not None:
        kwargs.setdefault("tokenizer", tokenizer)
    map_kwargs.setdefault("batched", True)
    if remove_columns and dataset.column_names:
        map_kwargs.setdefault("remove_columns", dataset.column_names)
    if not iterable:
        map_kwargs.setdefault("desc", desc)
        map_kwargs.setdefault("num_proc", num_proc)
    with datasets_bars():
        return dataset.map(fn, fn_kwargs=kwargs, **map_kwargs)


def _map_blocks(dataset, tokenizer, feature, options: BlockOptions, map_kwargs, desc, num_proc):
    """Per-batch block tokenizing: for streaming splits and very large ones."""
    _check_feature(dataset, feature)
    kwargs = {k: getattr(options, k) for k in options.__dataclass_fields__}
    map_kwargs = {"batched": True, "batch_size": 1000, **map_kwargs}
    if dataset.column_names:
        map_kwargs.setdefault("remove_columns", dataset.column_names)
    import datasets

    if not isinstance(dataset, datasets.IterableDataset):
        map_kwargs.setdefault("desc", desc or "Block tokenizing")
        map_kwargs.setdefault("num_proc", num_proc)
    with datasets_bars():
        return dataset.map(
            block_tokenize_fn, fn_kwargs={"tokenizer": tokenizer, "feature": feature, **kwargs}, **map_kwargs
        )


def _encode_batch(batch, tokenizer, feature, options):
    return {"input_ids": encode_documents(batch[feature], tokenizer, options)}


def _cached_pack(dataset, tokenizer, feature, options: BlockOptions, desc, num_proc, cache_dir: Path, use_cache: bool):
    from fgtui.engine.data.tokenizer import tokenizer_identity

    _check_feature(dataset, feature)
    key = cache_mod.cache_key(
        source=dataset._fingerprint,
        rows=len(dataset),
        feature=feature,
        tokenizer=tokenizer_identity(tokenizer),
        options=vars(options),
    )
    if use_cache:
        hit = cache_mod.load_cached(cache_dir, key)
        if hit is not None:
            log.info("%s: loaded %d blocks from cache %s", desc or "dataset", len(hit), cache_dir / key)
            return hit
    blocks, stats = pack_table(dataset, tokenizer, feature, options, desc=desc, num_proc=num_proc)
    if stats["blocks"] == 0 and len(dataset) > 0:
        # Said here: an empty split used to surface as an IndexError deep inside datasets.
        raise FgError(
            f"{desc or 'the split'}: its {len(dataset)} example(s) gave no blocks",
            hint="the texts are empty, or every document is shorter than min_len or longer than max_len",
        )
    if stats["truncated"]:
        log.warning(
            "%s: %d document(s) longer than max_length=%d were truncated (overflow=False)",
            desc or "dataset",
            stats["truncated"],
            options.max_length,
        )
    log.info(
        "%s: %d documents -> %d blocks of %d, fill %.4f",
        desc or "dataset",
        stats["documents"],
        stats["blocks"],
        options.max_length,
        stats["fill"],
    )
    if not use_cache:
        return _in_memory(blocks)
    return cache_mod.store(cache_dir, key, blocks, {"options": vars(options), "stats": stats})


_GATHER_TOKENS = 1 << 22


def _gather(values, source, seg_len, out_start):
    """The segments' tokens laid end to end (int32), built a few million tokens at
    a time: a single int64 index over every token took 3x the blocks' own size."""
    import numpy as np

    total = int(out_start[-1])
    if total == len(values) and np.array_equal(source, out_start[:-1]):
        return values  # every token, in order (no stride, nothing reordered): no copy
    out = np.empty(total, dtype=np.int32)
    first = 0
    while first < len(seg_len):
        # Enough segments for about _GATHER_TOKENS tokens, at least one.
        last = max(first + 1, int(np.searchsorted(out_start, out_start[first] + _GATHER_TOKENS, side="right")) - 1)
        last = min(last, len(seg_len))
        lo, hi = int(out_start[first]), int(out_start[last])
        index = np.repeat(source[first:last] - out_start[first:last], seg_len[first:last])
        index += np.arange(lo, hi, dtype=np.int64)
        out[lo:hi] = values[index]
        first = last
    return out


def _in_memory(table):
    import datasets

    return datasets.Dataset(datasets.table.InMemoryTable(table))


def pack_split(
    dataset, tokenizer, feature: str, options: BlockOptions, *, desc: str | None = None, num_proc: int | None = None
):
    """Tokenize and pack a whole map-style split in memory (no cache).

    Returns the blocks as a `datasets.Dataset` with `input_ids` and
    `document_starts`, and a stats dict (documents, blocks, tokens, fill,
    truncated)."""
    table, stats = pack_table(dataset, tokenizer, feature, options, desc=desc, num_proc=num_proc)
    return _in_memory(table), stats


def pack_table(
    dataset, tokenizer, feature: str, options: BlockOptions, *, desc: str | None = None, num_proc: int | None = None
):
    """`pack_split`'s blocks as a pyarrow Table (the cache writes it as it is)."""
    import datasets
    import numpy as np
    import pyarrow as pa

    label = desc or "Tokenizing"
    if num_proc is not None and num_proc > 1:
        # Several processes through datasets.map (for slow Python tokenizers;
        # the Rust ones already use every core in-process).
        with datasets_bars():
            encoded = dataset.map(
                _encode_batch,
                batched=True,
                batch_size=1000,
                remove_columns=dataset.column_names,
                fn_kwargs={"tokenizer": tokenizer, "feature": feature, "options": options},
                features=datasets.Features({"input_ids": datasets.Sequence(datasets.Value("int32"))}),
                keep_in_memory=True,
                num_proc=num_proc,
                desc=f"{label}: tokenize",
            )
        column = encoded.data.column("input_ids").combine_chunks()
        doc_offsets = column.offsets.to_numpy().astype(np.int64)
        values = column.values.to_numpy(zero_copy_only=False)
        del encoded, column
    else:
        from fgtui.engine.data.split_encode import encode_split

        with progress_bar(f"{label}: tokenize", total=len(dataset)) as advance:
            values, doc_offsets = encode_split(dataset, tokenizer, feature, options, advance)
    lengths = np.diff(doc_offsets).tolist()

    with progress_bar(f"{label}: pack", total=len(lengths)) as advance:
        plan = plan_blocks(
            lengths,
            options.max_length,
            packed=options.packed,
            strategy=options.packing_strategy,
            overflow=options.overflow,
            stride=options.stride,
            min_fragment=options.min_fragment,
            progress=advance,
        )
    plan = finalize(plan, min_len=options.min_len, shuffle_output=options.shuffle_output, seed=options.seed)

    segments = [seg for block in plan.blocks for seg in block]
    seg_doc = np.fromiter((s.doc for s in segments), dtype=np.int64, count=len(segments))
    seg_start = np.fromiter((s.start for s in segments), dtype=np.int64, count=len(segments))
    seg_len = np.fromiter((s.end - s.start for s in segments), dtype=np.int64, count=len(segments))
    per_block = np.fromiter((len(b) for b in plan.blocks), dtype=np.int64, count=len(plan.blocks))

    out_start = np.concatenate([[0], np.cumsum(seg_len)])  # where each segment lands in the flat output
    total = int(out_start[-1])
    source = doc_offsets[seg_doc] + seg_start
    block_values = _gather(values, source, seg_len, out_start)
    del values  # the blocks' own copy, when there is one, is all that is kept

    seg_block_first = np.concatenate([[0], np.cumsum(per_block)])  # first segment of each block
    block_offsets = out_start[seg_block_first]
    starts_in_block = out_start[:-1] - np.repeat(block_offsets[:-1], per_block)

    table = pa.table(
        {
            "input_ids": pa.ListArray.from_arrays(
                pa.array(block_offsets, pa.int64()).cast(pa.int32()), pa.array(block_values, pa.int32())
            ),
            "document_starts": pa.ListArray.from_arrays(
                pa.array(seg_block_first, pa.int64()).cast(pa.int32()),
                pa.array(starts_in_block, pa.int64()).cast(pa.int32()),
            ),
        }
    )
    stats = {
        "documents": sum(1 for n in lengths if n),
        "blocks": len(plan.blocks),
        "tokens": total,
        "fill": total / (len(plan.blocks) * options.max_length) if plan.blocks else 0.0,
        "truncated": plan.truncated,
    }
    return table, stats
