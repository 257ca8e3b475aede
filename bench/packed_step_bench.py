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
the Triton Adafactor, fused linear CE, attention `auto`, the fused pointwise
kernels of engine/models/fused.py); every other variant
changes one switch. Figures: median tokens/s (and its ratio to the tutorial row:
the switch's effect) and MFU over the steps after the first (MFU by the trainer's
formula, runs/schema.py), peak GiB, loss at the last step. This is the ablation
table of the 16K path: attention kernel, activation offload (and its prefetch),
Triton vs PyTorch Adafactor, compiled blocks, eager pointwise ops, checkpointing
mode, fused linear CE, optimizer in backward. compile-blocks compiles every block first: a 35 s
`--timeout` cut it on the H200 (2026-12-03); give it 90.

"hf-peer" is the peer bench/finetune_16k.py runs at full depth (transformers'
LlamaForCausalLM, flex_attention over the packed documents, full checkpointing,
torch's Adafactor, a plain loop, no memory cap) at the same reduced depth and on
the same rows, so its per-layer speed sits in the same table as fgtui's switches.
`--profile` runs one more step per variant, after the timed ones and left out of
their figures, and prints where its device time goes: matmuls, attention, copies
between host and device, optimizer kernels, the rest.
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

from profiling import kernel_groups, last_step_profile, profiler_for_one_step

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
    "eager-pointwise": {"fused": False},  # RMSNorm, RoPE, GLU as eager kernel chains
    "ckpt-selective": {"memory": {"activation_checkpointing": "selective"}},
    "ckpt-none": {"memory": {"activation_checkpointing": "none"}},
    "ckpt-every-2": {"memory": {"checkpoint_every_n": 2}},
    "no-fused-ce": {"memory": {"fused_linear_ce": False}},
    "no-optim-in-bwd": {"memory": {"optimizer_in_backward": False}},
    "hf-peer": {},  # not fgtui: see run_peer
}


def total_steps(args: argparse.Namespace) -> int:
    """The timed steps, and with --profile the profiled one after them."""
    return args.steps + (1 if args.profile else 0)


def packed_rows(args: argparse.Namespace, vocab: int) -> list[dict]:
    """A row per step of random tokens cut into documents of about `--doc-len` tokens."""
    import torch

    generator = torch.Generator().manual_seed(1)
    rows = []
    for _ in range(total_steps(args)):
        cuts = torch.randperm(args.seq - 1, generator=generator)[: max(1, args.seq // args.doc_len) - 1] + 1
        rows.append(
            {
                "input_ids": torch.randint(0, vocab, (args.seq,), generator=generator).tolist(),
                "document_starts": [0, *sorted(cuts.tolist())],
            }
        )
    return rows


def dimensions(args: argparse.Namespace) -> dict[str, int]:
    """The stack's shape as both config classes name it: Llama-2-7B's layer, or a tiny one
    for --tiny, `--layers` deep."""
    hidden, heads, ffn, vocab = (4096, 32, 11008, 32000) if not args.tiny else (64, 4, 160, 512)
    return {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": ffn,
        "num_hidden_layers": args.layers,
        "num_attention_heads": heads,
        "max_position_embeddings": args.seq,
    }


def run_peer(args: argparse.Namespace) -> dict:
    """transformers' Llama on the same rows: finetune_16k.py's peer at `--layers` depth."""
    import time

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from fgtui.engine.train.flops import FlopsModel, ModelShape, attention_area, device_peak_flops

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    dims = dimensions(args)
    vocab, hidden, heads = dims["vocab_size"], dims["hidden_size"], dims["num_attention_heads"]
    # flex_attention is the peer's kernel on CUDA; on CPU (--tiny checks this code) sdpa
    # reads the same document bounds from the positions.
    attn = "flex_attention" if cuda else "sdpa"
    config = LlamaConfig(**dims, tie_word_embeddings=False, use_cache=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM._from_config(config, attn_implementation=attn, dtype=torch.bfloat16).to(device)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    optimizer = torch.optim.Adafactor(model.parameters(), lr=5e-3)
    n_matmul = sum(p.numel() for p in model.parameters()) - model.model.embed_tokens.weight.numel()
    flops = FlopsModel.from_shape(n_matmul, ModelShape(args.layers, heads, hidden // heads))
    peak = device_peak_flops(torch.cuda.get_device_name()) if cuda else None
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    speeds, mfus, losses, groups, first_s = [], [], [], None, None
    for step, row in enumerate(packed_rows(args, vocab), start=1):
        bounds = row["document_starts"] + [args.seq]
        lengths = torch.tensor([end - start for start, end in zip(bounds, bounds[1:])])
        document_ids = torch.repeat_interleave(torch.arange(len(lengths)), lengths)[None]
        positions = torch.cat([torch.arange(int(n)) for n in lengths])[None]
        input_ids = torch.tensor([row["input_ids"]], device=device)
        position_ids = positions.to(device)
        labels = input_ids.clone()
        labels[position_ids == 0] = -100  # no target across a document boundary
        profiler = profiler_for_one_step() if args.profile and step > args.steps else None
        if profiler is not None:
            profiler.__enter__()
        sync()
        began = time.perf_counter()
        loss = model(input_ids=input_ids, position_ids=position_ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        elapsed = time.perf_counter() - began
        if profiler is not None:
            profiler.__exit__(None, None, None)
            groups = kernel_groups(profiler)
            continue
        losses.append(float(loss))
        if step == 1:
            first_s = elapsed
        else:
            speeds.append(args.seq / elapsed)
            area = attention_area(input_ids, document_ids)
            mfus.append(flops.step_flops(args.seq, area) / elapsed / peak if peak else None)
    return {
        "variant": "hf-peer",
        "tokens_per_s": statistics.median(speeds or [args.seq / first_s]),
        "mfu": statistics.median(mfus) if mfus and None not in mfus else None,
        "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0,
        "first_step_s": first_s,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "groups": groups,
        "on_device": cuda,
    }


def run_variant(name: str, args: argparse.Namespace, out_dir: str) -> dict:
    import functools

    import torch

    if name == "hf-peer":
        return run_peer(args)

    from fgtui.engine.data import DataCollatorForCausalLM
    from fgtui.engine.models import CausalLMConfig, build_causal_lm
    from fgtui.engine.optim import Adafactor as PyTorchStepAdafactor
    from fgtui.engine.memory.adafactor_triton import Adafactor as TemplateAdafactor
    from fgtui.engine.train import Trainer, TrainingArguments

    change = VARIANTS[name]
    cuda = torch.cuda.is_available()
    dims = dimensions(args)
    vocab = dims["vocab_size"]
    config = CausalLMConfig(**dims, attn_implementation=change.get("attn", "auto"))
    torch.manual_seed(0)
    model = build_causal_lm(config, "cuda" if cuda else "cpu", torch.bfloat16)
    rows = packed_rows(args, vocab)
    memory = dict(TUTORIAL, **change.get("memory", {}))
    if not cuda:
        memory["activation_offload"] = False
    factory = TemplateAdafactor if change.get("optimizer") != "pytorch" else PyTorchStepAdafactor
    profile = last_step_profile(total_steps(args)) if args.profile else None
    trainer = Trainer(
        model,
        TrainingArguments(
            output_dir=out_dir,
            run_name=name,
            per_device_train_batch_size=1,
            max_steps=total_steps(args),
            logging_steps=1,
            save_strategy="no",
            dtype="bfloat16",
            max_grad_norm=None,
            memory=memory,
            compile_blocks=change.get("compile", False),
            fused_pointwise=change.get("fused", True),
            tensorboard=False,
        ),
        rows,
        data_collator=DataCollatorForCausalLM(
            SimpleNamespace(pad_token_id=0, model_max_length=None), max_length=args.seq
        ),
        optimizer_factory=functools.partial(factory, lr=1e-4, weight_decay=0.1),
        callbacks=[profile] if profile else (),
    )
    if trainer.train() != 0:
        raise RuntimeError(f"{name} did not complete")
    with open(os.path.join(out_dir, "runs", name, "metrics.jsonl")) as handle:
        train = [r for r in map(json.loads, handle) if r["type"] == "train"][: args.steps]  # not the profiled one
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
        "groups": profile.groups if profile else None,
        "on_device": cuda,
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
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one more step per variant, profiled and left out of the figures: device ms by kernel family",
    )
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
    base, profiles = None, {}
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
        command += ["--tiny"] if args.tiny else []
        command += ["--profile"] if args.profile else []
        proc = subprocess.run(command, capture_output=True, text=True)
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
        if r.get("groups"):
            profiles[name], on_device = r["groups"], r["on_device"]
    if profiles:
        unit = "device ms" if on_device else "CPU ms of the ops (no GPU)"
        families = list(next(iter(profiles.values())))
        print(f"\nthe profiled step (one after the timed ones), {unit} by kernel family, self time", flush=True)
        print(f"{'variant':18} " + " ".join(f"{f:>11}" for f in families) + f" {'total':>11}")
        for name, groups in profiles.items():
            print(f"{name:18} " + " ".join(f"{groups[f]:>11.1f}" for f in families) + f" {sum(groups.values()):>11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
