"""Longest trainable context for 7B shapes under a 24 GB-card memory cap.

For each shape (Llama-2-7B, Mistral-7B; random bf16 weights built on meta
and materialised on the GPU) the whole memory stack is switched on — full
activation checkpointing, CPU activation offload, optimizer-in-backward with
Adafactor (Triton kernel when available), fused linear cross-entropy, chunked
MLP, expandable segments — and the per-process memory is capped at
--cap-gib. Context lengths are searched between --lo and --hi on a --step
grid (binary search after measuring --lo); each length runs two optimizer
steps at batch 1 and must give a finite loss. An out-of-memory error is the
ceiling for that length, not a crash. Prints, per length tried: peak
allocated/reserved GiB, pinned host GiB, tokens/s and MFU of the second step.

MFU = (6·N_matmul·T + 12·L·d·area) / step time / peak, the PaLM/torchtitan formula
(fgtui.engine.train.flops, as the trainer logs it): N_matmul excludes the input
embedding, attention FLOPs use all query heads over area = T² for one sequence or
the sum of the documents' squared lengths for a packed row (--packed-doc-len);
recompute is not counted.

    python bench/memory_bench.py                 # H100, both shapes, < 10 min
    python bench/memory_bench.py --tiny          # CPU smoke check of the code path

Models come from transformers by default (LlamaForCausalLM /
MistralForCausalLM built from a config; no download); `--model fgtui` uses
fgtui.engine.models instead.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import time
from dataclasses import dataclass

SHAPES = {
    "llama2-7b": dict(arch="llama", vocab=32000, d=4096, layers=32, heads=32, kv_heads=32, ffn=11008, target=106_000),
    "mistral-7b": dict(arch="mistral", vocab=32000, d=4096, layers=32, heads=32, kv_heads=8, ffn=14336, target=86_000),
    "tiny": dict(arch="llama", vocab=512, d=64, layers=2, heads=4, kv_heads=2, ffn=160, target=0),
}


@dataclass
class Trial:
    length: int
    ok: bool
    note: str = ""
    loss: float = math.nan
    peak_gib: float = math.nan
    reserved_gib: float = math.nan
    host_gib: float = math.nan
    tokens_per_s: float = math.nan
    mfu: float = math.nan


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default="llama2-7b,mistral-7b")
    ap.add_argument("--cap-gib", type=float, default=23.5)
    ap.add_argument("--lo", type=int, default=16 * 1024)
    ap.add_argument("--hi", type=int, default=160 * 1024)
    ap.add_argument("--step", type=int, default=8 * 1024)
    ap.add_argument("--chunked-mlp", type=int, default=8, help="sequence chunks per MLP (0 = off)")
    ap.add_argument(
        "--whole-layer-checkpoint",
        action="store_true",
        help="checkpoint each layer whole, chunked MLP inside it (the trainer's split checkpoint is the default)",
    )
    ap.add_argument("--ce-impl", default="auto")
    ap.add_argument(
        "--time-budget-s",
        type=float,
        default=150.0,
        help="search time per shape (a length already started runs to its end)",
    )
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak (H100 SXM)")
    ap.add_argument("--no-offload", action="store_true")
    ap.add_argument(
        "--eager-pointwise", action="store_true", help="keep RMSNorm, RoPE, GLU eager (the trainer fuses them on CUDA)"
    )
    ap.add_argument("--compile-blocks", action="store_true", help="torch.compile each decoder layer (fgtui model)")
    ap.add_argument(
        "--prefetch-mib", type=int, default=0, help="offload prefetch budget in backward (0 = copy back on demand)"
    )
    ap.add_argument(
        "--snapshot-at",
        type=int,
        default=0,
        help="record allocator history at this length and print what is live at the peak",
    )
    ap.add_argument("--snapshot-out", default="", help="also write that peak report to this file")
    ap.add_argument(
        "--model",
        choices=("hf", "fgtui"),
        default="fgtui",
        help="transformers Llama/Mistral classes, or fgtui.engine.models",
    )
    ap.add_argument(
        "--packed-doc-len",
        type=int,
        default=0,
        help="pack documents of about this many tokens into each sequence (document masks,"
        " positions restarting per document; fgtui model only; 0 = one document)",
    )
    ap.add_argument(
        "--attn",
        default="auto",
        choices=("auto", "sdpa", "flex_attention", "varlen", "eager"),
        help="attention kernel of the fgtui model (auto: varlen, else flex, for packed rows on CUDA)",
    )
    ap.add_argument("--profile", action="store_true", help="profile a third step at --lo and print the top kernels")
    ap.add_argument("--tiny", action="store_true", help="tiny model on CPU, lengths 64..512: smoke check")
    args = ap.parse_args(argv)
    if args.packed_doc_len and args.model != "fgtui":
        ap.error("--packed-doc-len needs --model fgtui (transformers takes packing through position ids)")
    if args.tiny:
        args.shapes, args.lo, args.hi, args.step, args.cap_gib = "tiny", 64, 512, 64, 0.0
    return args


def build(shape: dict, device, dtype, which: str = "hf", attn: str = "auto"):
    if which == "fgtui":
        from fgtui.engine.models.build import build_causal_lm
        from fgtui.engine.models.config import CausalLMConfig

        config = CausalLMConfig(
            vocab_size=shape["vocab"],
            hidden_size=shape["d"],
            intermediate_size=shape["ffn"],
            num_hidden_layers=shape["layers"],
            num_attention_heads=shape["heads"],
            num_key_value_heads=shape["kv_heads"],
            max_position_embeddings=262144,
            model_type=shape["arch"],
            attn_implementation=attn,
        )
        return build_causal_lm(config, device, dtype)
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

    from fgtui.engine.memory.meta_init import init_on_meta, materialize

    common = dict(
        vocab_size=shape["vocab"],
        hidden_size=shape["d"],
        intermediate_size=shape["ffn"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        num_key_value_heads=shape["kv_heads"],
        max_position_embeddings=262144,
        tie_word_embeddings=False,
        attn_implementation="sdpa",
        use_cache=False,
    )
    if shape["arch"] == "mistral":
        # Full attention: the memory question is about the whole context.
        config, cls = MistralConfig(sliding_window=None, **common), MistralForCausalLM
    else:
        config, cls = LlamaConfig(**common), LlamaForCausalLM
    with init_on_meta():
        model = cls(config)
    return materialize(model, device, dtype)


def flops_model(shape: dict, n_matmul: int):
    from fgtui.engine.train.flops import FlopsModel, ModelShape

    heads = shape["heads"]
    return FlopsModel.from_shape(n_matmul, ModelShape(shape["layers"], heads, shape["d"] // heads))


def make_optimizer(model, on_cuda: bool):
    import functools

    import torch

    from fgtui.engine.memory.adafactor_triton import TritonAdafactor, triton_available
    from fgtui.engine.memory.optim_in_backward import OptimizerInBackward

    if on_cuda and triton_available():
        factory, name = functools.partial(TritonAdafactor, lr=1e-5), "Adafactor (Triton kernel)"
    else:
        factory, name = functools.partial(torch.optim.Adafactor, lr=1e-5), "Adafactor (torch.optim)"
    return OptimizerInBackward(model, factory), name


def run_shape(name: str, args, device) -> list[Trial]:
    import torch

    from fgtui.engine.memory.checkpointing import apply_activation_checkpointing
    from fgtui.engine.memory.chunked_mlp import apply_chunked_mlp
    from fgtui.engine.memory.linear_ce import LinearCrossEntropyLoss
    from fgtui.engine.memory.offload import ActivationOffload
    from fgtui.engine.train.flops import attention_area

    shape = SHAPES[name]
    on_cuda = device.type == "cuda"
    dtype = torch.bfloat16
    t0 = time.time()
    model = build(shape, device, dtype, args.model, args.attn)
    n_matmul = sum(p.numel() for n, p in model.named_parameters() if "embed_tokens" not in n)
    if args.chunked_mlp:
        apply_chunked_mlp(model, args.chunked_mlp)
    # With chunked MLPs, fgtui's layers are checkpointed in two halves (as the trainer does,
    # checkpointing.py feedforward_chunks) unless --whole-layer-checkpoint.
    split = args.chunked_mlp if args.chunked_mlp and not args.whole_layer_checkpoint else None
    apply_activation_checkpointing(model, "full", feedforward_chunks=split)
    fused_modules = 0
    if on_cuda and args.model == "fgtui" and not args.eager_pointwise:
        from fgtui.engine.models.fused import set_fused_pointwise

        fused_modules = set_fused_pointwise(model, True)
    if args.compile_blocks:
        for layer in model.model.layers:
            layer.compile()
    offload = None if args.no_offload else ActivationOffload(model, prefetch_bytes=args.prefetch_mib * 2**20)
    opt, opt_name = make_optimizer(model, on_cuda)
    loss_fn = LinearCrossEntropyLoss(model.lm_head, impl=args.ce_impl, shift=True)
    print(
        f"\n## {name} ({args.model} model): {n_matmul / 1e9:.2f}B matmul params, built in {time.time() - t0:.0f}s; "
        f"{opt_name}; CE: {loss_fn.impl_reason}; offload: "
        f"{offload.status if offload else 'off'} (prefetch {args.prefetch_mib} MiB); "
        f"chunked MLP: {args.chunked_mlp or 'off'}"
        f" ({'whole-layer' if not split else 'split'} checkpoint); compiled blocks: {args.compile_blocks}; "
        f"fused pointwise modules: {fused_modules}" + (f"; attention: {args.attn}" if args.model == "fgtui" else ""),
        flush=True,
    )

    def sync():
        if on_cuda:
            torch.cuda.synchronize()

    def trial(length: int) -> Trial:
        record = on_cuda and length == args.snapshot_at
        if record:
            torch.cuda.memory._record_memory_history(max_entries=2_000_000, stacks="all")
        try:
            return measure(length)
        finally:
            if record:
                report_peak(length)

    def report_peak(length: int) -> None:
        from memory_peak import summarize_peak

        snapshot = torch.cuda.memory._snapshot()
        torch.cuda.memory._record_memory_history(enabled=None)
        text = f"## peak at {length} tokens ({name})\n" + summarize_peak(snapshot, length)
        print(text, flush=True)
        if args.snapshot_out:
            with open(args.snapshot_out, "a") as fh:
                fh.write(text + "\n")

    def measure(length: int) -> Trial:
        gen = torch.Generator(device="cpu").manual_seed(length)
        if on_cuda:
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        try:
            losses, step_time, area = [], 0.0, length * length
            profiling = on_cuda and args.profile and length == args.lo
            for step in range(3 if profiling else 2):
                if step == 2:  # after the timed steps: the profiler's overhead stays out of them
                    profiler = torch.profiler.profile(
                        activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
                    )
                    profiler.__enter__()
                ids = torch.randint(0, shape["vocab"], (1, length), generator=gen).to(device)
                packing = {}
                if args.packed_doc_len:
                    cuts = torch.randperm(length - 1, generator=gen)[: max(1, length // args.packed_doc_len) - 1] + 1
                    starts = torch.zeros(1, length, dtype=torch.long)
                    starts[0, cuts] = 1
                    packing = {"document_ids": starts.cumsum(-1).to(device)}
                    area = attention_area(ids, starts.cumsum(-1))
                sync()
                start = time.perf_counter()
                ctx = (
                    offload
                    if offload is not None
                    else torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t)
                )
                with ctx:
                    if args.model == "fgtui":
                        hidden = model(ids, return_hidden_states=True, **packing).hidden_states
                    else:
                        hidden = model.model(input_ids=ids, use_cache=False).last_hidden_state
                    loss = loss_fn(hidden, ids)
                del hidden
                loss.backward()
                opt.step()
                opt.zero_grad()
                sync()
                if step == 2:
                    profiler.__exit__(None, None, None)
                    print(f"## profile of a third step at {length} tokens (self CUDA time, top 25)", flush=True)
                    print(profiler.key_averages().table(sort_by="self_cuda_time_total", row_limit=25), flush=True)
                    from profiling import kernel_groups

                    groups = kernel_groups(profiler)
                    print(
                        f"device ms by kernel family (sum {sum(groups.values()):.0f}): "
                        + ", ".join(f"{k} {v:.0f}" for k, v in groups.items()),
                        flush=True,
                    )
                    break
                step_time = time.perf_counter() - start
                losses.append(float(loss.detach()))
                del loss
            if not all(math.isfinite(x) for x in losses):
                return Trial(length, False, f"non-finite loss {losses}")
            tps = length / step_time
            result = Trial(
                length,
                True,
                loss=losses[-1],
                tokens_per_s=tps,
                mfu=flops_model(shape, n_matmul).step_flops(length, area) / step_time / (args.peak_tflops * 1e12),
            )
            if on_cuda:
                result.peak_gib = torch.cuda.max_memory_allocated() / 2**30
                result.reserved_gib = torch.cuda.max_memory_reserved() / 2**30
            if offload is not None and offload.active:
                result.host_gib = offload.host_bytes() / 2**30
            return result
        except torch.OutOfMemoryError:
            # Close the half-done step: drop partial grads and the norm sum.
            opt.step()
            opt.zero_grad()
            peak = torch.cuda.max_memory_allocated() / 2**30 if on_cuda else math.nan
            return Trial(length, False, "OOM", peak_gib=peak)

    grid = list(range(args.lo, args.hi + 1, args.step))
    trials = []
    deadline = time.time() + args.time_budget_s

    def run(index: int) -> bool:
        result = trial(grid[index])
        trials.append(result)
        print(format_row(result), flush=True)
        return result.ok

    if not run(0):
        return trials
    good, bad = 0, len(grid)
    # Try the target length right after the shortest one: within the time
    # budget the table then always answers "does the target fit?", and the
    # search refines from there.
    target = shape.get("target", 0)
    index = next((i for i, length in enumerate(grid) if length >= target), None) if target else None
    if index:
        if run(index):
            good = index
        else:
            bad = index
    while bad - good > 1:
        if time.time() > deadline:
            trials.append(Trial(grid[good], True, f"search stopped by the time budget; ceiling ≥ {grid[good]}"))
            print(f"   time budget reached: ceiling is at least {grid[good]} tokens", flush=True)
            break
        mid = (good + bad) // 2
        if run(mid):
            good = mid
        else:
            bad = mid
    del model, opt, offload
    gc.collect()
    if on_cuda:
        torch.cuda.empty_cache()
    return trials


HEADER = (
    f"{'tokens':>8} {'result':>6} {'loss':>7} {'peak GiB':>9} {'resv GiB':>9} {'host GiB':>9} {'tok/s':>9} {'MFU':>6}"
)


def format_row(t: Trial) -> str:
    def num(x, fmt):
        width = int(fmt.split(".")[0])
        return format(x, fmt) if math.isfinite(x) else "-".rjust(width)

    return (
        f"{t.length:>8} {('ok' if t.ok else t.note):>6} {num(t.loss, '7.3f')} {num(t.peak_gib, '9.2f')} "
        f"{num(t.reserved_gib, '9.2f')} {num(t.host_gib, '9.2f')} {num(t.tokens_per_s, '9.0f')} "
        f"{num(t.mfu, '6.3f')}"
    )


def _without_shapes(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--shapes":
            skip = True
        elif not arg.startswith("--shapes="):
            out.append(arg)
    return out


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    shapes = args.shapes.split(",")
    if len(shapes) > 1:
        # One process per shape: the next shape starts on an empty GPU whatever
        # the previous one left behind (hooks, caches, allocator segments).
        import subprocess

        rc = 0
        for name in shapes:
            rc |= subprocess.call([sys.executable, __file__, *_without_shapes(argv), "--shapes", name])
        return rc
    # The allocator reads this once, when CUDA initialises: set it before torch touches the GPU.
    from fgtui.engine.memory.switches import MemorySwitches, cuda_alloc_conf_env

    os.environ.update(
        cuda_alloc_conf_env(MemorySwitches(expandable_segments=True), os.environ.get("PYTORCH_CUDA_ALLOC_CONF"))
    )
    import torch

    if args.tiny:
        device = torch.device("cpu")
    elif not torch.cuda.is_available():
        print("memory_bench needs a CUDA device (use --tiny for a CPU smoke check)", file=sys.stderr)
        return 2
    else:
        device = torch.device("cuda")
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.cap_gib * 2**30 / total))
        print(
            f"# {torch.cuda.get_device_name(0)}, cap {args.cap_gib} GiB of {total / 2**30:.1f} GiB, "
            f"torch {torch.__version__}, PYTORCH_CUDA_ALLOC_CONF={os.environ.get('PYTORCH_CUDA_ALLOC_CONF')}"
        )
    torch.manual_seed(0)
    summary = []
    for name in args.shapes.split(","):
        if name not in SHAPES:
            print(f"unknown shape {name!r}; choose from {', '.join(SHAPES)}", file=sys.stderr)
            return 2
        print(HEADER)
        trials = run_shape(name, args, device)
        ok = [t for t in trials if t.ok and math.isfinite(t.tokens_per_s)]
        best = max((t.length for t in ok), default=0)
        at_lo = next((t for t in ok if t.length == args.lo), None)
        summary.append((name, best, SHAPES[name]["target"], at_lo))
    print(f"\n{'shape':<12} {'max tokens':>10} {'target':>8} {'met':>4} {'tok/s@lo':>9} {'MFU@lo':>7}")
    for name, best, target, at_lo in summary:
        print(
            f"{name:<12} {best:>10} {target:>8} {('yes' if best >= target else 'no'):>4} "
            f"{(f'{at_lo.tokens_per_s:9.0f}' if at_lo else '-'):>9} {(f'{at_lo.mfu:7.3f}' if at_lo else '-'):>7}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
