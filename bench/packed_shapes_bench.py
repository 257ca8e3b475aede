"""Packed rows of changing lengths: per-step time, recompiles, and first-call results against a repeat.

    python bench/packed_shapes_bench.py                       # CUDA: 7B layer shape, 2 layers, tutorial lengths
    python bench/packed_shapes_bench.py --mode plain --layers 4
    python bench/packed_shapes_bench.py --tiny                # CPU check of the bench itself

Tutorial 004's 16k.yaml packs whole stories (best_fit), so its rows are not all
16384 tokens long: one epoch of the example corpus is six rows of 14475, 16384,
16282, 16254, 16161 and 11938 tokens (documents as listed in LENGTHS). Each new
length can make torch.compile build the attention kernel again. This bench runs
those rows twice through fgtui's model (forward, fused linear CE, backward; no
optimizer step, so the weights never change) and prints, per row, the step time
and the loss and a gradient norm of the first pass and of the repeat. A compile
that changed the numbers would show as a first-pass loss unlike its repeat. The
`reference` column is the same loss computed document by document (each document
alone through sdpa's causal kernel, no packing, no block mask): a packed loss
unlike it means the packed attention path computes something else.

--mode picks the training switches: `tutorial` (full checkpointing + activation
offload, as 16k.yaml), `plain` (neither).
"""

from __future__ import annotations

import argparse
import sys
import time

# row length: document lengths (one tutorial epoch, the order the trainer drew at seed 0)
LENGTHS = {
    14475: [7041, 3769, 3094, 571],
    16384: [3088, 2762, 10534],
    16282: [9934, 4239, 1658, 451],
    16254: [14835, 1419],
    16161: [11798, 4363],
    11938: [11938],
}


def per_document_loss(model, ids, docs: list[int]) -> float:
    """The packed row's mean next-token loss, each document run alone (no packing)."""
    import torch

    total, count, start = 0.0, 0, 0
    with torch.no_grad():
        for n in docs:
            piece = ids[:, start : start + n]
            if n > 1:
                loss = model(piece, labels=piece).loss
                total += float(loss) * (n - 1)
                count += n - 1
            start += n
    return total / max(1, count)


def main(argv: list[str] | None = None) -> int:
    import torch

    from fgtui.engine.memory.checkpointing import apply_activation_checkpointing
    from fgtui.engine.memory.linear_ce import LinearCrossEntropyLoss
    from fgtui.engine.memory.offload import ActivationOffload
    from fgtui.engine.models import CausalLMConfig, build_causal_lm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("tutorial", "plain"), default="tutorial")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--compile-blocks", action="store_true", help="torch.compile each decoder layer too")
    parser.add_argument("--flex-dynamic", action="store_true", help="compile flex_attention with dynamic=True")
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.flex_dynamic and torch.cuda.is_available():
        from torch.nn.attention.flex_attention import flex_attention

        from fgtui.engine.models import attention

        attention._flex_kernels["cuda"] = torch.compile(flex_attention, dynamic=True)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    lengths = dict(LENGTHS)
    hidden, heads, ffn, vocab = 4096, 32, 11008, 32000
    if args.tiny:
        lengths = {k // 64: [max(1, d // 64) for d in v] for k, v in LENGTHS.items()}
        lengths = {sum(v): v for v in lengths.values()}
        hidden, heads, ffn, vocab = 64, 4, 160, 512
    config = CausalLMConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=args.layers,
        num_attention_heads=heads,
        max_position_embeddings=max(lengths),
        attn_implementation="auto",
    )
    torch.manual_seed(0)
    model = build_causal_lm(config, device, torch.bfloat16 if cuda else torch.float32)
    model.train()
    if args.mode == "tutorial":
        apply_activation_checkpointing(model, "full")
    if args.compile_blocks:
        for layer in model.model.layers:
            layer.compile()
    offload = ActivationOffload(model) if args.mode == "tutorial" and cuda else None
    loss_fn = LinearCrossEntropyLoss(model.lm_head, impl="auto", shift=True)
    probe = model.model.layers[0].self_attn.q_proj.weight
    print(
        f"device {torch.cuda.get_device_name() if cuda else 'cpu'}, torch {torch.__version__}, mode {args.mode},"
        f" {args.layers} layers, compile blocks {args.compile_blocks}, flex dynamic {args.flex_dynamic}",
        flush=True,
    )
    print(
        f"{'pass':>4} {'length':>7} {'docs':>5} {'step s':>7} {'loss':>10} {'grad norm':>12} {'reference':>10}",
        flush=True,
    )
    results: dict[tuple[int, int], tuple[float, float]] = {}
    for pass_no in (1, 2):
        for length, docs in lengths.items():
            generator = torch.Generator().manual_seed(length)
            ids = torch.randint(0, vocab, (1, length), generator=generator).to(device)
            document_ids = torch.cat([torch.full((n,), i) for i, n in enumerate(docs)])[None].to(device)
            position_ids = torch.cat([torch.arange(n) for n in docs])[None].to(device)
            labels = ids.clone()
            labels[position_ids == 0] = -100
            if cuda:
                torch.cuda.synchronize()
            began = time.perf_counter()
            with offload if offload is not None else torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
                out = model(ids, position_ids=position_ids, document_ids=document_ids, return_hidden_states=True)
                loss = loss_fn(out.hidden_states, labels)
            loss.backward()
            norm = float(probe.grad.float().norm())
            model.zero_grad(set_to_none=True)
            if cuda:
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - began
            results[pass_no, length] = (float(loss.detach()), norm)
            reference = per_document_loss(model, ids, docs) if pass_no == 1 else float("nan")
            print(
                f"{pass_no:>4} {length:>7} {len(docs):>5} {elapsed:>7.2f} {results[pass_no, length][0]:>10.5f}"
                f" {norm:>12.6g} {reference:>10.5f}",
                flush=True,
            )
    worst_loss = max(abs(results[1, n][0] - results[2, n][0]) for n in lengths)
    worst_norm = max(abs(results[1, n][1] / results[2, n][1] - 1) for n in lengths)
    print(f"first pass vs repeat: max |loss diff| {worst_loss:.3g}, max grad-norm rel diff {worst_norm:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
