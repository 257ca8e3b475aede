"""Tokenize + pack benchmark on a directory of text files.

    .venv/bin/python bench/data_bench.py [CORPUS_DIR] [--max-length 4096] [--vocab 32000] [--stride 0]

Trains (once, then reuses) a byte-level BPE of `--vocab` tokens on the corpus,
loads it one document per file, and for each packing strategy times
`preprocess_dataset` from raw text to packed blocks with the cache off. It
prints one line per strategy: blocks, the minimum possible block count,
fill (tokens placed / capacity), and seconds; then the time of a cached
re-run. Fill counts each document's own BOS/EOS as tokens (no other tokens
are ever inserted); `content fill` leaves them out.

    .venv/bin/python bench/data_bench.py --long-document 200 [--peer-mb 20]

Peak memory of preparing one single-line document of that many MB (the
corpus repeated, newlines turned into spaces): load_text_dataset then
preprocess_dataset with the cache on, each in a fresh process whose peak RSS
(ru_maxrss) is reported. The peer is the same run on a `--peer-mb` file with
piecewise encoding switched off (the whole document in one encode call, as
before), so the ratio says what the bounded pieces save.
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
    parser.add_argument(
        "--long-document",
        type=float,
        default=None,
        metavar="MB",
        help="measure peak memory on one single-line document of MB megabytes",
    )
    parser.add_argument(
        "--peer-mb",
        type=float,
        default=20.0,
        help="size of the whole-document-encode peer for --long-document (default 20)",
    )
    parser.add_argument(
        "--child", nargs=4, metavar=("FILE_DIR", "TOKENIZER", "PIECES", "MAX_LENGTH"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        return _child(*args.child)

    from fgtui.engine.data import load_text_dataset, preprocess_dataset
    from fgtui.engine.data.block_tokenize import BlockOptions, encode_documents
    from fgtui.engine.data.packing import plan_blocks

    corpus = Path(args.corpus)
    raw = load_text_dataset(corpus, {"train": "*.txt"})["train"]
    tokenizer, tok_dir = _tokenizer(args, corpus, raw)
    if args.long_document is not None:
        return _long_document(args, corpus, tok_dir)

    docs = encode_documents(raw["text"], tokenizer, BlockOptions(add_bos=False, add_eos=False))
    content = sum(map(len, docs))
    total = content + 2 * sum(1 for d in docs if d)
    floor = math.ceil(total / args.max_length)
    print(
        f"corpus: {len(raw)} documents, {sum(len(t.encode()) for t in raw['text']) / 1e6:.2f} MB, "
        f"{content:,} tokens ({total:,} with BOS/EOS), max_length {args.max_length}, stride {args.stride}, "
        f"minimum {floor} blocks"
    )

    for strategy in ("greedy", "best_fit", "first_fit"):
        kwargs = {"max_length": args.max_length, "packed": True, "packing_strategy": strategy, "stride": args.stride}
        t0 = time.perf_counter()
        blocks = preprocess_dataset(raw, tokenizer, fn_kwargs=kwargs, cache=False)
        seconds = time.perf_counter() - t0
        lengths = [len(ids) for ids in blocks["input_ids"]]
        capacity = len(lengths) * args.max_length
        starts = sum(len(s) for s in blocks["document_starts"])
        plan = plan_blocks(
            [len(d) + 2 for d in docs if d], args.max_length, packed=True, strategy=strategy, stride=args.stride
        )
        t1 = time.perf_counter()
        plan_blocks(
            [len(d) + 2 for d in docs if d], args.max_length, packed=True, strategy=strategy, stride=args.stride
        )
        pack_ms = (time.perf_counter() - t1) * 1000
        assert len(plan.blocks) == len(lengths)
        print(
            f"{strategy:9s} blocks {len(lengths):4d}  fill {sum(lengths) / capacity:.4f}  "
            f"content fill {(sum(lengths) - 2 * len(raw)) / capacity:.4f}  segments {starts:4d}  "
            f"{seconds:.2f} s (planning {pack_ms:.1f} ms)"
        )

    with tempfile.TemporaryDirectory() as cache:
        kwargs = {"max_length": args.max_length, "packed": True, "packing_strategy": "best_fit", "stride": args.stride}
        preprocess_dataset(raw, tokenizer, fn_kwargs=kwargs, cache_dir=cache)
        t0 = time.perf_counter()
        again = preprocess_dataset(raw, tokenizer, fn_kwargs=kwargs, cache_dir=cache)
        print(f"cached re-run (best_fit): {time.perf_counter() - t0:.3f} s, {len(again)} blocks")
    return 0


def _tokenizer(args, corpus: Path, raw):
    from fgtui.engine.data import default_cache_dir, load_tokenizer, train_bpe_tokenizer

    if args.tokenizer:
        return load_tokenizer(args.tokenizer), Path(args.tokenizer)
    tok_dir = default_cache_dir().parent / "bench" / f"{corpus.name}_bpe{args.vocab}"
    if (tok_dir / "tokenizer.json").exists():
        return load_tokenizer(tok_dir), tok_dir
    t0 = time.perf_counter()
    tokenizer = train_bpe_tokenizer(raw, args.vocab, save_dir=tok_dir, model_max_length=args.max_length)
    print(f"trained {args.vocab}-token BPE in {time.perf_counter() - t0:.1f} s -> {tok_dir}")
    return tokenizer, tok_dir


def _single_line_file(corpus: Path, directory: Path, megabytes: float) -> Path:
    text = " ".join(" ".join(p.read_text().split()) for p in sorted(corpus.glob("*.txt"))) + " "
    target = int(megabytes * 1e6)
    path = directory / "one_line.txt"
    with open(path, "w") as handle:
        written = 0
        while written < target:
            piece = text[: target - written]
            handle.write(piece)
            written += len(piece)
        handle.write("\n")
    return path


def _long_document(args, corpus: Path, tok_dir: Path) -> int:
    import subprocess

    print(f"one single-line document, max_length {args.max_length}, tokenizer {tok_dir.name}; peak RSS per process")
    results = {}
    for label, megabytes, pieces in (
        ("bounded pieces", args.long_document, "1"),
        ("whole-document encode (peer)", args.peer_mb, "0"),
    ):
        with tempfile.TemporaryDirectory() as work:
            data = Path(work) / "data"
            data.mkdir()
            _single_line_file(corpus, data, megabytes)
            t0 = time.perf_counter()
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(data), str(tok_dir), pieces, str(args.max_length)],
                capture_output=True,
                text=True,
                env={
                    **os.environ,
                    "FGTUI_CACHE_DIR": str(Path(work) / "cache"),
                    "HF_DATASETS_CACHE": str(Path(work) / "hf"),
                },
            )
            seconds = time.perf_counter() - t0
        if done.returncode != 0:
            print(f"{label}: failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
            continue
        blocks, peak_mb, base_mb = done.stdout.split()
        results[label] = (megabytes, float(peak_mb))
        print(
            f"{label:30s} {megabytes:6.0f} MB text  {int(blocks):7d} blocks  peak RSS {float(peak_mb):7.0f} MB "
            f"(after imports {float(base_mb):4.0f} MB)  {seconds:6.1f} s  "
            f"{float(peak_mb) / megabytes:5.2f} MB per MB of text"
        )
    if len(results) == 2:
        (mb_a, peak_a), (mb_b, peak_b) = results.values()
        print(
            f"memory per MB of text, whole-document encode / bounded pieces: {(peak_b / mb_b) / (peak_a / mb_a):.1f}x"
        )
    return 0


def _child(data_dir: str, tok_dir: str, pieces: str, max_length: str) -> int:
    import resource

    from fgtui.engine.data import block_tokenize, load_text_dataset, load_tokenizer, preprocess_dataset

    tokenizer = load_tokenizer(tok_dir)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if pieces == "0":
        block_tokenize.PIECE_CHARS = 1 << 62
    raw = load_text_dataset(data_dir, {"train": "*.txt"}, cache_dir=os.environ["HF_DATASETS_CACHE"])["train"]
    blocks = preprocess_dataset(
        raw, tokenizer, fn_kwargs={"max_length": int(max_length)}, cache_dir=os.environ["FGTUI_CACHE_DIR"]
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(len(blocks), f"{peak:.0f}", f"{base:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
