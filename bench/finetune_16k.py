"""Tutorial 004's 16K config, as a user runs it, on a 7B model under a 24 GB-card cap.

    python bench/finetune_16k.py                    # CUDA: Llama-2-7B shape, 16K, 20 steps, 23.5 GiB cap,
                                                    # then the transformers packed-flex peer (uncapped)
    python bench/finetune_16k.py --shape mistral-7b --no-peer
    python bench/finetune_16k.py --set activation_offloading=false --set compile=true   # switches
    python bench/finetune_16k.py --tiny             # CPU check of the whole path (tiny model, 256 tokens)

Makes a model directory with random bf16 weights in the shape asked (no
download) and a BPE tokenizer trained on the example corpus, then runs the
tutorial's command through the CLI,

    fgtui -p examples/finetune/lovecraft train -t 16k.yaml -M DIR --max-steps 20 \\
        --logging-steps 1 --save-strategy no --expandable-segments --memory-cap-gib 23.5 --follow

with the project's own switches (bf16 + Adafactor, full activation checkpointing,
optimizer in backward, CPU activation offload, fused linear cross-entropy; the
attention kernel left to `auto`, i.e. the varlen flash kernel for its packed
blocks where torch has one, else flex_attention document masks), and prints what its log stream recorded: per step loss,
tokens/s, MFU and peak GiB. `--set NAME=VALUE` passes `--NAME VALUE` to the
command (ablations: `--set attn_implementation=sdpa`).

The peer (CUDA, unless --no-peer) is a plain training loop over transformers'
LlamaForCausalLM with the same weights, the same packed 16K blocks (documents
told apart through position ids, flex_attention document masks), full
activation checkpointing and torch's Adafactor, with no memory cap. Its
tokens/s and MFU use the trainer's formula (fgtui.engine.train.flops: 6N per token
plus 12·L·H·d per attended pair, pairs = the sum of the block's squared document
lengths; see fgtui.engine.runs.schema), so the two rows compare directly.
Its first step compiles transformers' flex masks: on the H200 with torch 2.11 it
had printed no step after 190 s (2026-12-03), so give the whole bench 8 minutes or
more; the fgtui run alone takes about 3 (model creation included).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "examples" / "finetune" / "lovecraft"
CORPUS = ROOT / "examples" / "datasets" / "lovecraft" / "data" / "train"
SHAPES = {
    # name: (vocab, hidden, layers, heads, kv_heads, ffn)
    "llama2-7b": (32000, 4096, 32, 32, 32, 11008),
    "mistral-7b": (32000, 4096, 32, 32, 8, 14336),
    "tiny": (512, 64, 2, 4, 2, 160),
}


def make_model_dir(directory: Path, shape: str, max_positions: int) -> None:
    """Random bf16 weights of `shape` and a BPE tokenizer of the corpus, saved as a model directory."""
    import torch

    from fgtui.engine.data.tokenizer import train_bpe_tokenizer
    from fgtui.engine.models import CausalLMConfig, build_causal_lm
    from fgtui.engine.models.hf_io import save_pretrained

    vocab, hidden, layers, heads, kv_heads, ffn = SHAPES[shape]
    texts = [path.read_text() for path in sorted(CORPUS.glob("*.txt"))]
    tokenizer = train_bpe_tokenizer(texts, vocab_size=vocab, show_progress=False)
    config = CausalLMConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    model = build_causal_lm(config, device, torch.bfloat16)
    save_pretrained(model, directory, tokenizer=tokenizer)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()  # the runs that follow are separate processes; give them the card


def run_tutorial_command(model_dir: Path, out_dir: Path, args: argparse.Namespace) -> int:
    command = [
        sys.executable,
        "-m",
        "fgtui.engine.cli",
        "-p",
        str(PROJECT),
        "train",
        "-t",
        "16k.yaml",
        "-M",
        str(model_dir),
        "--max-steps",
        str(args.steps),
        "--logging-steps",
        "1",
        "--save-strategy",
        "no",
        "--seq-len",
        str(args.seq_len),
        "--output-dir",
        str(out_dir),
        "--follow",
    ]
    for setting in args.set:
        name, _, value = setting.partition("=")
        command += ["--" + name.replace("_", "-"), value]
    if args.tiny:
        command += ["-d", "cpu"]
    else:
        command += ["-d", "0", "--expandable-segments", "--memory-cap-gib", str(args.cap_gib)]
    print("$ fgtui " + " ".join(command[3:]), flush=True)
    # PYTHONFAULTHANDLER: a run cut at --timeout dumps every rank's Python stack to its stdout.log.
    follow = subprocess.Popen(command, cwd=PROJECT, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    try:
        return follow.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        stop_stalled_run(out_dir, args.timeout)
        follow.kill()
        return 124


def stop_stalled_run(out_dir: Path, timeout: float) -> None:
    """Abort the detached job (SIGABRT: stacks to stdout.log), then show where it was."""
    import signal

    from fgtui.engine.launch.jobs import JobRecord

    run_dir = sorted((out_dir / "runs").iterdir())[-1]
    record = JobRecord.read(run_dir)
    print(f"\nthe run did not finish in {timeout:.0f} s; aborting job {record.job_id} (pgid {record.pgid})", flush=True)
    for sig, pause in ((signal.SIGABRT, 5), (signal.SIGKILL, 1)):
        try:
            os.killpg(record.pgid, sig)
        except ProcessLookupError:
            break
        time.sleep(pause)
    lines = (run_dir / "stdout.log").read_text(errors="replace").splitlines()
    print("\n".join(["--- stdout.log (last 150 lines) ---", *lines[-150:], "---"]), flush=True)


def packed_blocks(tokenizer, seq_len: int, count: int) -> list[tuple[list[int], list[int]]]:
    """Greedy packing of the corpus into `count` rows of `seq_len` tokens: (input_ids, position_ids),
    positions restarting at 0 at each document (the form transformers reads document bounds from)."""
    rows, ids, positions = [], [], []
    while len(rows) < count:
        for path in sorted(CORPUS.glob("*.txt")):
            doc = tokenizer(path.read_text())["input_ids"] + [tokenizer.eos_token_id or 0]
            while doc:
                take = doc[: seq_len - len(ids)]
                ids += take
                positions += list(range(len(take)))
                doc = doc[len(take) :]
                if len(ids) == seq_len:
                    rows.append((ids, positions))
                    ids, positions = [], []
                    if len(rows) == count:
                        return rows
    return rows


def run_transformers_peer(model_dir: Path, args: argparse.Namespace) -> None:
    """transformers' Llama on the same packed blocks: flex_attention, full checkpointing, torch Adafactor."""
    import statistics

    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from fgtui.engine.train.flops import (
        FlopsModel,
        ModelShape,
        attention_area,
        device_peak_flops,
        document_ids_from_positions,
    )

    config = LlamaConfig.from_pretrained(model_dir)
    config._attn_implementation = "flex_attention"
    model = LlamaForCausalLM.from_pretrained(
        model_dir, config=config, dtype=torch.bfloat16, attn_implementation="flex_attention"
    ).cuda()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    model.train()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    optimizer = torch.optim.Adafactor(model.parameters(), lr=args.peer_lr)
    rows = packed_blocks(tokenizer, args.seq_len, args.steps)
    cfg = model.config
    n_matmul = sum(p.numel() for p in model.parameters()) - model.model.embed_tokens.weight.numel()
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    flops = FlopsModel.from_shape(n_matmul, ModelShape(cfg.num_hidden_layers, cfg.num_attention_heads, head_dim))
    peak = device_peak_flops(torch.cuda.get_device_name())
    torch.cuda.reset_peak_memory_stats()
    print(
        f"\ntransformers {__import__('transformers').__version__} peer: LlamaForCausalLM, flex_attention on packed"
        f" documents, full checkpointing, torch Adafactor lr {args.peer_lr}, no memory cap",
        flush=True,
    )
    print(f"{'step':>5} {'loss':>8} {'tokens/s':>10} {'MFU':>6} {'peak GiB':>9} {'step s':>7}")
    speeds, mfus = [], []
    for step, (ids, positions) in enumerate(rows, start=1):
        input_ids = torch.tensor([ids], device="cuda")
        position_ids = torch.tensor([positions], device="cuda")
        labels = input_ids.clone()
        labels[position_ids == 0] = -100  # no target across a document boundary
        torch.cuda.synchronize()
        began = time.perf_counter()
        loss = model(input_ids=input_ids, position_ids=position_ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - began
        tokens_per_s = args.seq_len / elapsed
        area = attention_area(input_ids, document_ids_from_positions(position_ids))
        mfu = flops.step_flops(args.seq_len, area) / elapsed / peak if peak else None
        if step > 1:
            speeds.append(tokens_per_s)
            mfus.append(mfu)
        print(
            f"{step:>5} {loss.item():>8.4f} {tokens_per_s:>10.0f} {mfu or 0:>6.3f} "
            f"{torch.cuda.max_memory_allocated() / 2**30:>9.2f} {elapsed:>7.2f}",
            flush=True,
        )
    if speeds:
        median = statistics.median(speeds)
        print(
            f"peer median after step 1: {median:,.0f} tokens/s, MFU {statistics.median(mfus):.3f}"
            if peak
            else f"peer median after step 1: {median:,.0f} tokens/s"
        )


def report(out_dir: Path) -> None:
    if not (out_dir / "runs").is_dir():
        print("no run directory was written")
        return
    runs = sorted((out_dir / "runs").iterdir())
    metrics = runs[-1] / "metrics.jsonl"
    records = (
        [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()] if metrics.exists() else []
    )
    if not records:
        print(f"run {runs[-1]}: no records")
        return
    start = next((r for r in records if r["type"] == "event" and r.get("event") == "start"), {})
    print(f"\nrun {runs[-1]}  device {start.get('device')}  params {start.get('n_params', 0) / 1e9:.2f}B")
    print(f"{'step':>5} {'loss':>8} {'tokens/s':>10} {'MFU':>6} {'peak GiB':>9} {'step s':>7}")
    for r in records:
        if r["type"] == "train":
            mfu = f"{r['mfu']:.3f}" if r.get("mfu") is not None else "-"
            peak = f"{r['peak_mem_gib']:.2f}" if r.get("peak_mem_gib") is not None else "-"
            print(
                f"{r['step']:>5} {r['loss']:>8.4f} {r['tokens_per_s']:>10.0f} {mfu:>6} {peak:>9} "
                f"{r['step_time_s']:>7.2f}"
            )
    end = records[-1]
    print(f"end: {end.get('event')} {end.get('status', '')}")
    train = [r for r in records if r["type"] == "train"]
    if len(train) > 1:
        import statistics

        speeds = [r["tokens_per_s"] for r in train[1:]]
        mfus = [r["mfu"] for r in train[1:] if r.get("mfu") is not None]
        peaks = [r["peak_mem_gib"] for r in train if r.get("peak_mem_gib") is not None]
        print(
            f"fgtui median after step 1: {statistics.median(speeds):,.0f} tokens/s"
            + (f", MFU {statistics.median(mfus):.3f}" if mfus else "")
            + (f", max peak {max(peaks):.2f} GiB" if peaks else "")
            + f"; loss step 1 {train[0]['loss']:.4f} -> step {train[-1]['step']} {train[-1]['loss']:.4f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=[s for s in SHAPES if s != "tiny"], default="llama2-7b")
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU, 256 tokens: checks the path")
    parser.add_argument("--seq-len", type=int, default=None, help="default 16384 (256 with --tiny)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pass --NAME VALUE to the tutorial command (repeatable)",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the transformers peer")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds before a stalled tutorial run is aborted and its stacks shown",
    )
    parser.add_argument("--peer-only", action="store_true", help="only the transformers peer")
    parser.add_argument(
        "--peer-lr",
        type=float,
        default=5e-3,
        help="torch Adafactor's lr for the peer; torch scales it by each weight's RMS, so 5e-3 on"
        " 0.02-RMS weights is the tutorial's 1e-4 absolute step at 16K",
    )
    parser.add_argument("--cap-gib", type=float, default=23.5)
    parser.add_argument("--model-dir", type=Path, default=None, help="reuse or create the model here")
    parser.add_argument("--keep-log", type=Path, default=None, help="copy the run's stdout.log here")
    args = parser.parse_args(argv)
    args.seq_len = args.seq_len or (256 if args.tiny else 16384)
    shape = "tiny" if args.tiny else args.shape
    with tempfile.TemporaryDirectory(prefix="fgtui-16k-") as scratch:
        model_dir = args.model_dir or Path(scratch) / shape
        if not (model_dir / "config.json").exists():
            began = time.perf_counter()
            make_model_dir(model_dir, shape, max(args.seq_len, 4096))
            print(f"made {model_dir} ({shape}, random bf16 weights) in {time.perf_counter() - began:.0f} s", flush=True)
        status = 0
        if not args.peer_only:
            out_dir = Path(scratch) / "out"
            status = run_tutorial_command(model_dir, out_dir, args)
            report(out_dir)
            if args.keep_log and (out_dir / "runs").is_dir():
                import shutil

                shutil.copy(sorted((out_dir / "runs").iterdir())[-1] / "stdout.log", args.keep_log)
        if not args.tiny and not args.no_peer:
            run_transformers_peer(model_dir, args)
    return status


if __name__ == "__main__":
    sys.exit(main())
