"""The 16K tutorial's training step on packed documents, one switch at a time, at reduced depth.

    python bench/packed_step_bench.py                        # CUDA: 7B layer shape, 4 layers, 16K, all variants
    python bench/packed_step_bench.py --variants tutorial,attn-sdpa --layers 8 --steps 6
    python bench/packed_step_bench.py --tiny                 # CPU check (tiny shape, 256 tokens)

Each variant trains a Llama-2-7B-shaped stack (hidden 4096, 32 heads, FFN
11008; `--layers` of them) through fgtui's Trainer on packed rows of random
tokens (documents of about `--doc-len` tokens), in its own subprocess with a
time limit: a variant that stalls prints where it is stuck (faulthandler)
instead of holding up the others. "tutorial" is the 16k.yaml recipe (bf16,
full activation checkpointing, activation offload, optimizer in backward with
the Triton Adafactor, fused linear CE, attention `auto`); every other variant
changes one switch. Figures: median tokens/s (and its ratio to the tutorial row:
the switch's effect) and MFU over the steps after the first (MFU by the trainer's
formula, runs/schema.py), peak GiB, loss at the last step. This is the ablation
table of the 16K path: attention kernel, activation offload (and its prefetch),
Triton vs PyTorch Adafactor, compiled blocks, checkpointing mode, fused linear CE,
optimizer in backward. compile-blocks compiles every block first: a 35 s
`--timeout` cut it on the H200 (2026-12-03); give it 90.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from types import SimpleNamespace

TUTORIAL = {
    "activation_checkpointing": "full",
    "activation_offload": True,
    "optimizer_in_backward": True,
    "fused_linear_ce": True,
}
VARIANTS = {
    "tutorial": {},
    "attn-sdpa": {"attn": "sdpa"},  # packed rows through sdpa's dense mask
    "attn-flex": {"attn": "flex_attention"},  # document block masks (auto's choice without varlen)
    "no-offload": {"memory": {"activation_offload": False}},
    "offload-prefetch": {"memory": {"activation_offload_prefetch_mib": 256}},
    "adafactor-pytorch": {"optimizer": "pytorch"},
    "compile-blocks": {"compile": True},
    "ckpt-selective": {"memory": {"activation_checkpointing": "selective"}},
    "ckpt-none": {"memory": {"activation_checkpointing": "none"}},
    "ckpt-every-2": {"memory": {"checkpoint_every_n": 2}},
    "no-fused-ce": {"memory": {"fused_linear_ce": False}},
    "no-optim-in-bwd": {"memory": {"optimizer_in_backward": False}},
}


def run_variant(name: str, args: argparse.Namespace, out_dir: str) -> dict:
    import functools

    import torch

    from fgtui.engine.data import DataCollatorForCausalLM
    from fgtui.engine.models import CausalLMConfig, build_causal_lm
    from fgtui.engine.optim import Adafactor as PyTorchStepAdafactor
    from fgtui.engine.memory.adafactor_triton import Adafactor as TemplateAdafactor
    from fgtui.engine.train import Trainer, TrainingArguments

    change = VARIANTS[name]
    cuda = torch.cuda.is_available()
    hidden, heads, ffn, vocab = (4096, 32, 11008, 32000) if not args.tiny else (64, 4, 160, 512)
    config = CausalLMConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=args.layers,
        num_attention_heads=heads,
        max_position_embeddings=args.seq,
        attn_implementation=change.get("attn", "auto"),
    )
    torch.manual_seed(0)
    model = build_causal_lm(config, "cuda" if cuda else "cpu", torch.bfloat16)
    generator = torch.Generator().manual_seed(1)
    rows = []
    for _ in range(args.steps):
        cuts = torch.randperm(args.seq - 1, generator=generator)[: max(1, args.seq // args.doc_len) - 1] + 1
        rows.append(
            {
                "input_ids": torch.randint(0, vocab, (args.seq,), generator=generator).tolist(),
                "document_starts": [0, *sorted(cuts.tolist())],
            }
        )
    memory = dict(TUTORIAL, **change.get("memory", {}))
    if not cuda:
        memory["activation_offload"] = False
    factory = TemplateAdafactor if change.get("optimizer") != "pytorch" else PyTorchStepAdafactor
    trainer = Trainer(
        model,
        TrainingArguments(
            output_dir=out_dir,
            run_name=name,
            per_device_train_batch_size=1,
            max_steps=args.steps,
            logging_steps=1,
            save_strategy="no",
            dtype="bfloat16",
            max_grad_norm=None,
            memory=memory,
            compile_blocks=change.get("compile", False),
            tensorboard=False,
        ),
        rows,
        data_collator=DataCollatorForCausalLM(
            SimpleNamespace(pad_token_id=0, model_max_length=None), max_length=args.seq
        ),
        optimizer_factory=functools.partial(factory, lr=1e-4, weight_decay=0.1),
    )
    if trainer.train() != 0:
        raise RuntimeError(f"{name} did not complete")
    with open(os.path.join(out_dir, "runs", name, "metrics.jsonl")) as handle:
        train = [r for r in map(json.loads, handle) if r["type"] == "train"]
    timed = train[1:] or train
    median = lambda key: statistics.median(r[key] for r in timed) if all(r[key] is not None for r in timed) else None
    return {
        "variant": name,
        "tokens_per_s": median("tokens_per_s"),
        "mfu": median("mfu"),
        "peak_mem_gib": max((r["peak_mem_gib"] or 0) for r in train),
        "first_step_s": train[0]["step_time_s"],
        "loss_first": train[0]["loss"],
        "loss_last": train[-1]["loss"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma list of " + ", ".join(VARIANTS))
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--seq", type=int, default=16384)
    parser.add_argument("--doc-len", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120, help="seconds per variant before it is dumped and cut")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tiny:
        args.seq, args.doc_len, args.layers, args.steps = 256, 64, 2, 3
    if args.one:
        import faulthandler

        faulthandler.dump_traceback_later(max(5.0, args.timeout - 5), exit=True)
        with tempfile.TemporaryDirectory() as out_dir:
            print("RESULT " + json.dumps(run_variant(args.one, args, out_dir)), flush=True)
        return 0
    print(
        f"{'variant':18} {'tok/s':>9} {'vs tutorial':>11} {'MFU':>6} {'peak GiB':>9} {'step1 s':>8} {'loss 1 -> last':>16}",
        flush=True,
    )
    base = None
    for name in args.variants.split(","):
        command = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--layers",
            str(args.layers),
            "--seq",
            str(args.seq),
            "--doc-len",
            str(args.doc_len),
            "--steps",
            str(args.steps),
            "--timeout",
            str(args.timeout),
        ]
        proc = subprocess.run(command + (["--tiny"] if args.tiny else []), capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            tail = "\n    ".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
            print(f"{name:18} FAILED (exit {proc.returncode}):\n    {tail}", flush=True)
            continue
        r = json.loads(lines[-1][7:])
        mfu = f"{r['mfu']:.3f}" if r["mfu"] is not None else "-"
        if name == "tutorial":
            base = r["tokens_per_s"]
        ratio = f"{r['tokens_per_s'] / base:.3f}x" if base else "-"
        print(
            f"{name:18} {r['tokens_per_s']:>9,.0f} {ratio:>11} {mfu:>6} {r['peak_mem_gib']:>9.2f} {r['first_step_s']:>8.1f}"
            f" {r['loss_first']:>7.3f} -> {r['loss_last']:.3f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
