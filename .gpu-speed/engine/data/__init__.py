"""Datasets, tokenizers, block tokenizing and packing, collators, histograms.

Templates name these as `fgtui.engine.data:preprocess_dataset` and so on.
Names resolve lazily, so `import fgtui.engine.data` loads neither torch nor
`datasets` until something that needs them is used.
"""

from __future__ import annotations

from fgtui.engine.lazy import lazy_exports

_EXPORTS = {
    # packing core (pure Python)
    "plan_blocks": "packing",
    "pack_documents": "packing",
    "PackPlan": "packing",
    "PackedBlocks": "packing",
    "Segment": "packing",
    # block tokenizer and split preprocessing
    "block_tokenize_fn": "block_tokenize",
    "BlockOptions": "block_tokenize",
    "preprocess_dataset": "preprocess",
    "pack_split": "preprocess",
    # sources
    "load_text_dataset": "sources",
    "load_json_dataset": "sources",
    "load_parquet_dataset": "sources",
    "load_hub_dataset": "sources",
    "mix_datasets": "sources",
    "shard_for_rank": "sources",
    "select_range": "sources",
    # tokenizers
    "train_bpe_tokenizer": "tokenizer",
    "load_tokenizer": "tokenizer",
    # batches
    "DataCollatorForCausalLM": "collate",
    # inspection
    "length_histogram": "histogram",
    "HistogramStats": "histogram",
    "write_histogram_svg": "histogram",
    "format_histogram": "histogram",
    # cache
    "default_cache_dir": "cache",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
