"""block_tokenize_fn and preprocess_dataset on real text."""

from __future__ import annotations

import logging

import pytest

from fgtui.engine.data import block_tokenize_fn, preprocess_dataset
from fgtui.engine.errors import FgError


def _docs(tokenizer, texts):
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    return [[bos, *tokenizer(t, add_special_tokens=False)["input_ids"], eos] for t in texts]


def test_unpacked_blocks_and_stride_overlap(tokenizer, corpus_texts):
    out = block_tokenize_fn({"text": corpus_texts}, tokenizer, max_length=128, stride=16)
    docs = _docs(tokenizer, corpus_texts)
    assert len(out["input_ids"]) == len(out["document_starts"])
    assert all(len(b) <= 128 for b in out["input_ids"])
    assert all(s == [0] for s in out["document_starts"])
    rows = iter(out["input_ids"])
    for doc in docs:
        first = next(rows)
        assert first == doc[:128]
        assert first[0] == tokenizer.bos_token_id
        covered = len(first)
        prev = first
        while covered < len(doc):
            row = next(rows)
            assert row[:16] == prev[-16:], "consecutive windows must overlap by stride"
            assert row[0] != tokenizer.bos_token_id or doc[covered - 16] == tokenizer.bos_token_id
            assert row == doc[covered - 16 : covered - 16 + 128]
            covered = covered - 16 + len(row)
            prev = row
        assert prev[-1] == tokenizer.eos_token_id
    assert next(rows, None) is None


@pytest.mark.parametrize("strategy", ["greedy", "best_fit", "first_fit"])
def test_packed_blocks_keep_every_token_once(tokenizer, corpus_texts, strategy):
    out = block_tokenize_fn({"text": corpus_texts}, tokenizer, max_length=256, packed=True, packing_strategy=strategy)
    docs = _docs(tokenizer, corpus_texts)
    assert all(len(b) <= 256 for b in out["input_ids"])
    # Split every block at its document starts and glue the pieces back per document.
    pieces = []
    for ids, starts in zip(out["input_ids"], out["document_starts"]):
        assert starts[0] == 0 and starts == sorted(set(starts))
        for a, b in zip(starts, [*starts[1:], len(ids)]):
            pieces.append(ids[a:b])
    bos = tokenizer.bos_token_id
    assert sum(p[0] == bos for p in pieces) == len(docs), "a BOS was inserted or lost"
    assert sorted(t for p in pieces for t in p) == sorted(t for d in docs for t in d)
    if strategy != "greedy":
        short = [d for d in docs if len(d) <= 256]
        for doc in short:
            assert doc in pieces, "a document that fits a block was split"


def test_whole_split_packing_matches_one_big_batch(tokenizer, raw_splits, cache_dir):
    train = raw_splits["train"]
    kwargs = dict(max_length=200, packed=True, packing_strategy="best_fit", stride=8)
    packed = preprocess_dataset(train, tokenizer, fn_kwargs=kwargs, cache_dir=cache_dir)
    ref = block_tokenize_fn(train[:], tokenizer, **kwargs)
    assert packed["input_ids"] == ref["input_ids"]
    assert packed["document_starts"] == ref["document_starts"]


def test_partial_map_fn_merges_under_preprocess_args(tokenizer, raw_splits, cache_dir):
    import functools

    fn = functools.partial(block_tokenize_fn, max_length=4096, stride=0)
    out = preprocess_dataset(
        raw_splits["train"], tokenizer, map_fn=fn, fn_kwargs={"max_length": 64}, cache_dir=cache_dir
    )
    assert max(len(r) for r in out["input_ids"]) == 64


def test_cache_second_run_loads_from_disk(tokenizer, raw_splits, cache_dir, caplog):
    kwargs = dict(max_length=128, packed=True)
    first = preprocess_dataset(raw_splits["train"], tokenizer, fn_kwargs=kwargs, cache_dir=cache_dir)
    with caplog.at_level(logging.INFO, logger="fgtui.engine.data.preprocess"):
        second = preprocess_dataset(raw_splits["train"], tokenizer, fn_kwargs=kwargs, cache_dir=cache_dir)
    assert "from cache" in caplog.text
    assert second["input_ids"] == first["input_ids"]
    changed = preprocess_dataset(
        raw_splits["train"], tokenizer, fn_kwargs={**kwargs, "max_length": 100}, cache_dir=cache_dir
    )
    assert max(map(len, changed["input_ids"])) == 100
    assert len(list(cache_dir.iterdir())) == 2


def test_select_shuffle_shard_and_iterable(tokenizer, raw_splits, cache_dir):
    train = raw_splits["train"]
    assert (
        len(
            preprocess_dataset(train, tokenizer, select_range=2, fn_kwargs={"max_length": 100_000}, cache_dir=cache_dir)
        )
        == 2
    )
    halves = [
        preprocess_dataset(
            train,
            tokenizer,
            shard_dataset={"num_shards": 2, "index": i},
            fn_kwargs={"max_length": 100_000},
            cache_dir=cache_dir,
        )
        for i in range(2)
    ]
    assert sum(map(len, halves)) == len(train)
    it = preprocess_dataset(train, tokenizer, to_iterable=True, fn_kwargs={"max_length": 64}, cache_dir=cache_dir)
    rows = list(it)
    assert rows and all(len(r["input_ids"]) <= 64 for r in rows)
    streamed = preprocess_dataset(train.to_iterable_dataset(), tokenizer, fn_kwargs={"max_length": 64})
    assert sorted(map(len, (r["input_ids"] for r in streamed))) == sorted(map(len, (r["input_ids"] for r in rows)))


def test_truncations_are_counted_and_reported(tokenizer, raw_splits, cache_dir, caplog):
    with caplog.at_level(logging.WARNING):
        out = preprocess_dataset(
            raw_splits["train"], tokenizer, fn_kwargs={"max_length": 300, "overflow": False}, cache=False
        )
    long_docs = sum(
        len(tokenizer(t, add_special_tokens=False)["input_ids"]) + 2 > 300 for t in raw_splits["train"]["text"]
    )
    assert long_docs > 0
    assert f"{long_docs} document(s) longer than max_length=300 were truncated" in caplog.text
    assert len(out) == len(raw_splits["train"])


def test_bad_options(tokenizer, corpus_texts):
    with pytest.raises(FgError, match="no room for text"):
        block_tokenize_fn({"text": corpus_texts}, tokenizer, max_length=2)
    with pytest.raises(FgError, match="stride"):
        block_tokenize_fn({"text": corpus_texts}, tokenizer, max_length=16, stride=16)
    with pytest.raises(FgError, match="packing_strategy"):
        block_tokenize_fn({"text": corpus_texts}, tokenizer, packed=True, packing_strategy="worst")
    with pytest.raises(FgError, match="no column"):
        block_tokenize_fn({"body": corpus_texts}, tokenizer)


def test_min_len_max_len_and_truncate_at(tokenizer):
    texts = ["a", "alpha beta gamma delta " * 20, "keep this END drop this"]
    out = block_tokenize_fn({"text": texts}, tokenizer, max_length=512, min_len=5, max_len=50, truncate_at="END")
    decoded = [tokenizer.decode(ids, skip_special_tokens=True) for ids in out["input_ids"]]
    assert decoded == ["keep this "]
