"""Tokenize + pack benchmark on a directory of text files.

    .venv/bin/python bench/data_bench.py [CORPUS_DIR] [--max-length 4096] [--vocab 32000] [--stride 0]

Trains (once, then reuses) a byte-level BPE of `--vocab` tokens on the corpus,
loads it one document per file, and for each packing strategy times
`preprocess_dataset` from raw text to packed blocks with the cache off. It
prints one line per strategy: blocks, the minimum possible block count,
fill (tokens placed / capacity), and seconds; then the time of a cached
re-run. Fill counts each document's own BOS/EOS as tokens (no other tokens
are ever inserted); `content fill` leaves them out.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default="/work/shared/corpora/lovecraft")
    parser.add_argument("--max-length", type=int, default=4096)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--stride", type=int, default=0)
    parser.add_argument("--tokenizer", help="use this tokenizer directory instead of training one")
    args = parser.parse_args(argv)

    from fgtui.engine.data import (
        default_cache_dir, load_text_dataset, load_tokenizer, preprocess_dataset, train_bpe_tokenizer,
    )
    from fgtui.engine.data.block_tokenize import BlockOptions, encode_documents
    from fgtui.engine.data.packing import plan_blocks

    corpus = Path(args.corpus)
    raw = load_text_dataset(corpus, {"train": "*.txt"})["train"]
    if args.tokenizer:
        tokenizer = load_tokenizer(args.tokenizer)
    else:
        tok_dir = default_cache_dir().parent / "bench" / f"{corpus.name}_bpe{args.vocab}"
        if (tok_dir / "tokenizer.json").exists():
            tokenizer = load_tokenizer(tok_dir)
        else:
            t0 = time.perf_counter()
            tokenizer = train_bpe_tokenizer(raw, args.vocab, save_dir=tok_dir, model_max_length=args.max_length)
            print(f"trained {args.vocab}-token BPE in {time.perf_counter() - t0:.1f} s -> {tok_dir}")

    docs = encode_documents(raw["text"], tokenizer, BlockOptions(add_bos=False, add_eos=False))
    content = sum(map(len, docs))
    total = content + 2 * sum(1 for d in docs if d)
    floor = math.ceil(total / args.max_length)
    print(f"corpus: {len(raw)} documents, {sum(len(t.encode()) for t in raw['text']) / 1e6:.2f} MB, "
          f"{content:,} tokens ({total:,} with BOS/EOS), max_length {args.max_length}, stride {args.stride}, "
          f"minimum {floor} blocks")

    for strategy in ("greedy", "best_fit", "first_fit"):
        kwargs = {"max_length": args.max_length, "packed": True, "packing_strategy": strategy,
                  "stride": args.stride}
        t0 = time.perf_counter()
        blocks = preprocess_dataset(raw, tokenizer, fn_kwargs=kwargs, cache=False)
        seconds = time.perf_counter() - t0
        lengths = [len(ids) for ids in blocks["input_ids"]]
        capacity = len(lengths) * args.max_length
        starts = sum(len(s) for s in blocks["document_starts"])
        plan = plan_blocks([len(d) + 2 for d in docs if d], args.max_length, packed=True,
                           strategy=strategy, stride=args.stride)
        t1 = time.perf_counter()
        plan_blocks([len(d) + 2 for d in docs if d], args.max_length, packed=True, strategy=strategy,
                    stride=args.stride)
        pack_ms = (time.perf_counter() - t1) * 1000
        assert len(plan.blocks) == len(lengths)
        print(f"{strategy:9s} blocks {len(lengths):4d}  fill {sum(lengths) / capacity:.4f}  "
              f"content fill {(sum(lengths) - 2 * len(raw)) / capacity:.4f}  segments {starts:4d}  "
              f"{seconds:.2f} s (planning {pack_ms:.1f} ms)")

    with tempfile.TemporaryDirectory() as cache:
        kwargs = {"max_length": args.max_length, "packed": True, "packing_strategy": "best_fit",
                  "stride": args.stride}
        preprocess_dataset(raw, tokenizer, fn_kwargs=kwargs, cache_dir=cache)
        t0 = time.perf_counter()
        again = preprocess_dataset(raw, tokenizer, fn_kwargs=kwargs, cache_dir=cache)
        print(f"cached re-run (best_fit): {time.perf_counter() - t0:.3f} s, {len(again)} blocks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
