"""Training throughput: fgtui's decoder + Trainer vs transformers' LlamaForCausalLM, same loop and optimizer.

    .venv/bin/python bench/train_bench.py                 # CUDA: 124M @ 1024 x 32, 1.1B @ 4096 x 4
    .venv/bin/python bench/train_bench.py --tiny          # CPU check: a tiny shape, a few steps
    .venv/bin/python bench/train_bench.py --sizes 124m --variants fgtui-compile,hf-compile --json out.jsonl
    .venv/bin/python bench/train_bench.py --sizes 124m --variants fgtui-wholecompile+fused-ce,hf-wholecompile
    .venv/bin/python bench/train_bench.py --ablation [--tiny]   # one memory switch at a time vs plain

Both models run through the same `Trainer` hot loop (AdamW, fused on CUDA; bf16
autocast over fp32 weights on CUDA, fp32 on CPU; `--precision` to choose) on random token
ids, so the difference is the model. "compile" compiles each decoder block
(regional compile); "wholecompile" compiles the whole model as one graph
(`module.compile()`), transformers' strongest configuration. Each variant runs in its own subprocess (clean allocator,
OOM isolated). The first logging interval is warm-up (compile included) and is
dropped; the figures are medians over the remaining intervals, as logged by the
trainer itself (tokens/s, MFU from 6N + attention FLOPs, peak memory).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

SIZES = {
    # name: (vocab, hidden, layers, heads, kv_heads, ffn, seq, micro_batch)
    "124m": (32768, 768, 12, 12, 12, 2048, 1024, 32),
    "1.1b": (32000, 2048, 22, 32, 4, 5632, 4096, 4),
    "tiny": (256, 64, 2, 4, 2, 128, 64, 4),
}
VARIANTS = (
    "fgtui-compile",
    "hf-compile",
    "fgtui-wholecompile",
    "hf-wholecompile",
    "fgtui-eager",
    "hf-eager",
    "fgtui-compile+fused-ce",
    "fgtui-wholecompile+fused-ce",
    "fgtui-compile+eager-pointwise",
)
# "+fused-ce": fgtui's fused linear cross-entropy at the LM head (the logits are never
# materialised whole), a trainer switch transformers' loop does not have.
# "+eager-pointwise": the trainer's fused pointwise kernels off; under compiled blocks that
# leaves only the loss eager (the blocks' own pointwise ops are compiled either way).
EXTRAS = {"fused-ce": {"memory": {"fused_linear_ce": True}}, "eager-pointwise": {"fused_pointwise": False}}
# --ablation: each memory switch alone on fgtui's eager model, against "plain".
# All run without global clipping, which optimizer-in-backward cannot do, so the
# loss after 20 steps is comparable (it should match plain within noise).
ABLATION = {
    "plain": {},
    "ckpt-full": {"activation_checkpointing": "full"},
    "ckpt-selective": {"activation_checkpointing": "selective"},
    "offload": {"activation_offload": True},
    "optim-in-backward": {"optimizer_in_backward": True},
    "fused-ce": {"fused_linear_ce": True},
    "chunked-mlp": {"chunked_mlp": 4},
}


def build_model(kind: str, size: str):
    import torch

    vocab, hidden, layers, heads, kv, ffn, seq, _ = SIZES[size]
    torch.manual_seed(0)
    if kind == "fgtui":
        from fgtui.engine.models import CausalLMConfig, build_causal_lm

        config = CausalLMConfig(
            vocab_size=vocab,
            hidden_size=hidden,
            intermediate_size=ffn,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv,
            max_position_embeddings=seq,
            attn_implementation="sdpa",
        )
        return build_causal_lm(config)
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        max_position_embeddings=seq,
        tie_word_embeddings=False,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config)


class RandomTokens:
    """Uniform random token ids; throughput does not depend on the content."""

    def __init__(self, n: int, seq: int, vocab: int) -> None:
        import torch

        self.data = torch.randint(0, vocab, (n, seq), generator=torch.Generator().manual_seed(1))

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.data[i]}


def collate(examples: list[dict]) -> dict:
    import torch

    ids = torch.stack([e["input_ids"] for e in examples])
    return {"input_ids": ids, "labels": ids}


def run_variant(
    variant: str, size: str, precision: str, interval: int, intervals: int, out_dir: str, profile: bool = False
) -> dict:
    """Train one variant in this process; return its figures. With `profile`, one more
    interval runs after the timed ones, its last step under the profiler and the
    interval left out of the figures."""
    import functools

    import torch

    from fgtui.engine.train import Trainer, TrainingArguments

    memory = ABLATION.get(variant)
    base, _, extra = variant.partition("+")
    kind, mode = ("fgtui", "eager") if memory is not None else base.split("-")
    if extra:
        memory = EXTRAS[extra].get("memory")
    extra_args = {k: v for k, v in EXTRAS.get(extra, {}).items() if k != "memory"}
    vocab, _, _, _, _, _, seq, micro_batch = SIZES[size]
    cuda = torch.cuda.is_available()
    steps = interval * (intervals + 1 + (1 if profile else 0))
    model = build_model(kind, size)
    if mode == "wholecompile":
        model.compile()
    args = TrainingArguments(
        output_dir=out_dir,
        run_name=variant,
        per_device_train_batch_size=micro_batch,
        max_steps=steps,
        logging_steps=interval,
        save_strategy="no",
        seed=0,
        compile_blocks=mode == "compile",
        mixed_precision="bf16" if precision == "amp" else None,
        dtype="bfloat16" if precision == "bf16" else "float32",
        tensorboard=False,
        memory=memory,
        **extra_args,
        max_grad_norm=None if variant in ABLATION else 1.0,
    )
    profiler = None
    if profile:
        from profiling import last_step_profile

        profiler = last_step_profile(steps)
    clocks = timed_clocks(interval, interval * (intervals + 1)) if cuda else None
    fused = {"fused": True} if cuda else {}
    # A partial takes a list of parameters or of param groups: optimizer-in-backward
    # calls it once per parameter with a one-group list.
    trainer = Trainer(
        model,
        args,
        RandomTokens(steps * micro_batch, seq, vocab),
        data_collator=collate,
        optimizer_factory=functools.partial(torch.optim.AdamW, lr=3e-4, **fused),
        callbacks=[c for c in (profiler, clocks) if c is not None],
    )
    if trainer.train() != 0:
        raise RuntimeError(f"{variant} did not complete")
    with open(os.path.join(out_dir, "runs", variant, "metrics.jsonl")) as handle:
        train = [r for r in map(json.loads, handle) if r["type"] == "train"][1 : intervals + 1]
    med = lambda key: statistics.median(r[key] for r in train) if all(r[key] is not None for r in train) else None
    return {
        "variant": variant,
        "size": size,
        "precision": precision,
        "seq": seq,
        "micro_batch": micro_batch,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "tokens_per_s": med("tokens_per_s"),
        "mfu": med("mfu"),
        "step_time_s": med("step_time_s"),
        "peak_mem_gib": med("peak_mem_gib"),
        "loss": train[-1]["loss"],
        "n_params": trainer.runtime.n_params,
        "flops_per_token": trainer.runtime.flops_token,
        "torch": torch.__version__,
        "profile_ms": profiler.groups if profiler else None,
        "top_kernels_ms": profiler.top if profiler else None,
        "gpu": clocks.figures if clocks else None,
        "gpu_missing": clocks.sampler.missing if clocks else None,
    }


def timed_clocks(first: int, last: int):
    """A trainer callback sampling the GPU's clock and power over the timed steps
    (after step `first`, the warm-up interval, through step `last`): gpu_telemetry.py."""
    from gpu_telemetry import ClockSampler

    from fgtui.engine.train.callbacks import TrainerCallback

    class TimedClocks(TrainerCallback):
        def __init__(self) -> None:
            self.sampler, self.figures = ClockSampler(), None

        def on_step_end(self, trainer, step, loss, grad_norm) -> None:
            if step == first:
                self.sampler.start()
            elif step == last:
                self.figures = self.sampler.stop()

        def on_train_end(self, trainer, status) -> None:
            self.sampler.stop()

    return TimedClocks()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shape on CPU, for checking the bench")
    parser.add_argument("--sizes", default="124m,1.1b", help="comma list of " + ", ".join(SIZES))
    parser.add_argument(
        "--variants",
        default=None,
        help="comma list of " + ", ".join(VARIANTS) + " (default: all; eager only with --tiny)",
    )
    parser.add_argument(
        "--precision",
        choices=("amp", "bf16", "fp32"),
        default=None,
        help="amp: bf16 autocast over fp32 weights; bf16: pure bf16 weights; fp32: neither"
        " (default: amp on CUDA, fp32 on CPU, where bf16 autocast measures the CPU's"
        " bf16 casts rather than the model)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs per variant, alternating variants so machine load hits all alike;"
        " the median is reported (default: 3 with --tiny, else 1)",
    )
    parser.add_argument("--interval", type=int, default=10, help="steps per logging interval")
    parser.add_argument("--intervals", type=int, default=3, help="timed intervals after the warm-up one")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile one more step per variant (left out of its figures) and print where its device time goes",
    )
    parser.add_argument("--json", default=None, help="append one JSON line per variant here")
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="one memory switch at a time vs plain: Δ tokens/s, Δ peak GiB, Δ loss after 20 steps",
    )
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one variant
    args = parser.parse_args(argv)
    if args.precision is None:
        import torch

        args.precision = "amp" if torch.cuda.is_available() else "fp32"
    repeats = args.repeats or (3 if args.tiny else 1)
    sizes = ["tiny"] if args.tiny else args.sizes.split(",")
    if args.variants:
        variants = args.variants.split(",")
    else:
        # Inductor's CPU compile of even a tiny model takes minutes on a small box.
        variants = ["fgtui-eager", "hf-eager"] if args.tiny else list(VARIANTS)
    if args.ablation:
        variants = list(ABLATION)
        args.interval, args.intervals = 5, 3  # 20 steps, the first 5 are warm-up
    elif args.tiny:
        args.interval, args.intervals = min(args.interval, 3), min(args.intervals, 2)
    if args.one:
        variant, size = args.one.split("@")
        with tempfile.TemporaryDirectory() as out_dir:
            print(
                "RESULT "
                + json.dumps(
                    run_variant(variant, size, args.precision, args.interval, args.intervals, out_dir, args.profile)
                ),
                flush=True,
            )
        return 0
    results = []
    for size in sizes:
        runs: dict[str, list[dict]] = {variant: [] for variant in variants}
        for repeat in range(repeats):
            order = variants if repeat % 2 == 0 else variants[::-1]
            for variant in order:
                result = _run_one(variant, size, args)
                if result is not None:
                    runs[variant].append(result)
                    # Each run as it ends: a bench cut short still leaves its figures.
                    print(f"  run {repeat + 1}/{repeats}: {_row(result)}", flush=True)
        for variant in variants:
            if not runs[variant]:
                print(f"{size:5} {variant:27} FAILED", flush=True)
                results.append({"variant": variant, "size": size, "failed": True})
                continue
            # The run with the median throughput stands for the variant.
            ranked = sorted(runs[variant], key=lambda r: r["tokens_per_s"])
            result = ranked[len(ranked) // 2]
            result["repeats"] = len(ranked)
            results.append(result)
            print(_row(result), flush=True)
            if result["device"] != "cpu":
                from gpu_telemetry import describe

                print("    " + describe(result["gpu"], result["gpu_missing"]), flush=True)
            if result.get("profile_ms"):
                _print_profile(result)
            if args.json:
                with open(args.json, "a") as handle:
                    handle.write(json.dumps(result) + "\n")
    if args.ablation:
        _ablation_table(results)
    else:
        _summary(results)
    return 0


def _run_one(variant: str, size: str, args: argparse.Namespace) -> dict | None:
    """One variant in a fresh subprocess (clean allocator, OOM isolated); None if it failed."""
    command = [
        sys.executable,
        __file__,
        "--one",
        f"{variant}@{size}",
        "--precision",
        args.precision,
        "--interval",
        str(args.interval),
        "--intervals",
        str(args.intervals),
        *(["--profile"] if args.profile else []),
    ]
    proc = subprocess.run(command, capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        print(f"{size:5} {variant:27} FAILED: {' | '.join(tail)}", flush=True)
        return None
    return json.loads(lines[-1][7:])


def _ablation_table(results: list[dict]) -> None:
    """Each switch against plain, per size: Δ tokens/s (%), Δ peak GiB, Δ loss after 20 steps."""
    for size in dict.fromkeys(r["size"] for r in results):
        done = {r["variant"]: r for r in results if r["size"] == size and not r.get("failed")}
        base = done.get("plain")
        if base is None:
            print(f"{size}: plain failed, no deltas")
            continue
        print(f"\n{size} ({base['device']}): vs plain {base['tokens_per_s']:,.0f} tok/s, loss {base['loss']:.4f}")
        print(f"{'switch':18} {'Δ tok/s':>9} {'Δ peak GiB':>11} {'Δ loss@20':>10}")
        for name in ABLATION:
            if name == "plain":
                continue
            r = done.get(name)
            if r is None:
                print(f"{name:18} {'failed':>9}")
                continue
            speed = 100 * (r["tokens_per_s"] / base["tokens_per_s"] - 1)
            mem = (
                f"{r['peak_mem_gib'] - base['peak_mem_gib']:+.2f}"
                if r["peak_mem_gib"] is not None and base["peak_mem_gib"] is not None
                else "-"
            )
            print(f"{name:18} {speed:+8.1f}% {mem:>11} {r['loss'] - base['loss']:+10.2e}")


def _row(r: dict) -> str:
    mfu = f"{r['mfu']:.3f}" if r["mfu"] is not None else "  -  "
    mem = f"{r['peak_mem_gib']:.1f}" if r["peak_mem_gib"] is not None else "-"
    return (
        f"{r['size']:5} {r['variant']:27} {r['tokens_per_s']:>12,.0f} tok/s  mfu {mfu}"
        f"  step {r['step_time_s'] * 1000:8.1f} ms  peak {mem:>5} GiB  loss {r['loss']:.3f}"
    )


def _print_profile(r: dict) -> None:
    """Device milliseconds of the profiled step: by kernel family, then the top kernels."""
    groups = r["profile_ms"]
    total = sum(groups.values())
    step = r["step_time_s"] * 1000
    # The profiled step is an extra one, not a timed one: the two figures need not add up.
    print(f"    profiled step: {total:.1f} ms of device time (timed steps: {step:.1f} ms each)")
    print("    " + ", ".join(f"{name} {ms:.1f}" for name, ms in groups.items()))
    for name, ms in r["top_kernels_ms"]:
        print(f"    {ms:8.2f} ms  {name}")


def _summary(results: list[dict]) -> None:
    done = {(r["size"], r["variant"]): r for r in results if not r.get("failed")}
    for size in dict.fromkeys(r["size"] for r in results):
        for mode in ("compile", "eager"):
            ours, theirs = done.get((size, f"fgtui-{mode}")), done.get((size, f"hf-{mode}"))
            if ours and theirs:
                print(f"{size}: fgtui/{mode} is {ours['tokens_per_s'] / theirs['tokens_per_s']:.2f}x hf/{mode}")
        ours = [r for (s, v), r in done.items() if s == size and v.startswith("fgtui-")]
        theirs = [r for (s, v), r in done.items() if s == size and v.startswith("hf-")]
        if ours and theirs:
            best_ours = max(ours, key=lambda r: r["tokens_per_s"])
            best_theirs = max(theirs, key=lambda r: r["tokens_per_s"])
            print(
                f"{size}: best fgtui ({best_ours['variant']}) vs best transformers ({best_theirs['variant']})"
                f" = {best_ours['tokens_per_s'] / best_theirs['tokens_per_s']:.2f}x (target >= 1.2x at 124m);"
                f" fgtui MFU {best_ours['mfu']}"
            )


if __name__ == "__main__":
    sys.exit(main())
