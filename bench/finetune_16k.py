"""Tutorial 004's 16K config, as a user runs it, on a 7B model under a 24 GB-card cap.

    python bench/finetune_16k.py                    # CUDA: Llama-2-7B shape, 16K, 3 steps, 23.5 GiB cap
    python bench/finetune_16k.py --shape mistral-7b
    python bench/finetune_16k.py --tiny             # CPU check of the whole path (tiny model, 256 tokens)

Makes a model directory with random bf16 weights in the shape asked (no
download) and a BPE tokenizer trained on the example corpus, then runs the
tutorial's command through the CLI,

    fgtui -p examples/finetune/lovecraft train -t 16k.yaml -M DIR --max-steps 3 \\
        --logging-steps 1 --save-strategy no --attn-implementation sdpa --expandable-segments \\
        --memory-cap-gib 23.5 --follow

with the project's own switches (bf16 + Adafactor, full activation checkpointing,
optimizer in backward, CPU activation offload, fused linear cross-entropy), and
prints what its log stream recorded: per step loss, tokens/s, MFU and peak GiB.
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
    config = CausalLMConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
                            num_attention_heads=heads, num_key_value_heads=kv_heads,
                            max_position_embeddings=max_positions)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    model = build_causal_lm(config, device, torch.bfloat16)
    save_pretrained(model, directory, tokenizer=tokenizer)


def run_tutorial_command(model_dir: Path, out_dir: Path, args: argparse.Namespace) -> int:
    command = [sys.executable, "-m", "fgtui.engine.cli", "-p", str(PROJECT), "train", "-t", "16k.yaml",
               "-M", str(model_dir), "--max-steps", str(args.steps), "--logging-steps", "1", "--save-strategy", "no",
               "--attn-implementation", "sdpa", "--seq-len", str(args.seq_len), "--output-dir", str(out_dir),
               "--follow"]
    if args.tiny:
        command += ["-d", "cpu"]
    else:
        command += ["-d", "0", "--expandable-segments", "--memory-cap-gib", str(args.cap_gib)]
    print("$ fgtui " + " ".join(command[3:]), flush=True)
    return subprocess.run(command, cwd=PROJECT).returncode


def report(out_dir: Path) -> None:
    runs = sorted((out_dir / "runs").iterdir())
    records = [json.loads(line) for line in (runs[-1] / "metrics.jsonl").read_text().splitlines() if line.strip()]
    start = next((r for r in records if r["type"] == "event" and r.get("event") == "start"), {})
    print(f"\nrun {runs[-1]}  device {start.get('device')}  params {start.get('n_params', 0) / 1e9:.2f}B")
    print(f"{'step':>5} {'loss':>8} {'tokens/s':>10} {'MFU':>6} {'peak GiB':>9} {'step s':>7}")
    for r in records:
        if r["type"] == "train":
            mfu = f"{r['mfu']:.3f}" if r.get("mfu") is not None else "-"
            peak = f"{r['peak_mem_gib']:.2f}" if r.get("peak_mem_gib") is not None else "-"
            print(f"{r['step']:>5} {r['loss']:>8.4f} {r['tokens_per_s']:>10.0f} {mfu:>6} {peak:>9} "
                  f"{r['step_time_s']:>7.2f}")
    end = records[-1]
    print(f"end: {end.get('event')} {end.get('status', '')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=[s for s in SHAPES if s != "tiny"], default="llama2-7b")
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU, 256 tokens: checks the path")
    parser.add_argument("--seq-len", type=int, default=None, help="default 16384 (256 with --tiny)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cap-gib", type=float, default=23.5)
    parser.add_argument("--model-dir", type=Path, default=None, help="reuse or create the model here")
    args = parser.parse_args(argv)
    args.seq_len = args.seq_len or (256 if args.tiny else 16384)
    shape = "tiny" if args.tiny else args.shape
    with tempfile.TemporaryDirectory(prefix="fgtui-16k-") as scratch:
        model_dir = args.model_dir or Path(scratch) / shape
        if not (model_dir / "config.json").exists():
            began = time.perf_counter()
            make_model_dir(model_dir, shape, max(args.seq_len, 4096))
            print(f"made {model_dir} ({shape}, random bf16 weights) in {time.perf_counter() - began:.0f} s",
                  flush=True)
        out_dir = Path(scratch) / "out"
        status = run_tutorial_command(model_dir, out_dir, args)
        report(out_dir)
    return status


if __name__ == "__main__":
    sys.exit(main())
