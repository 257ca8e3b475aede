"""Forward+backward time of the fgtui decoder vs `transformers.LlamaForCausalLM`, same shape, same run.

    .venv/bin/python bench/model_bench.py [--device cpu] [--steps 20] [--threads 1]

Both models get identical weights (the HF model loads the fgtui state dict)
and the same batches; the loss of the first batch is printed for each as a
correctness check. Runs alternate between the two models so that machine
noise hits both alike; the median step time is reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def small_config(args):
    from fgtui.engine.models import CausalLMConfig

    return CausalLMConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=args.hidden * 8 // 3 // 64 * 64,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        max_position_embeddings=args.seq,
        attn_implementation="sdpa",
    )


def hf_twin(config, state_dict, device, dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    data = config.to_hf_dict()
    data.pop("architectures"), data.pop("model_type")
    model = LlamaForCausalLM(LlamaConfig(**data, attn_implementation="sdpa"))
    model.load_state_dict(state_dict, strict=False)
    return model.to(device=device, dtype=dtype).train()


def step(model, ids, hf: bool) -> float:
    model.zero_grad(set_to_none=True)
    loss = model(input_ids=ids, labels=ids).loss if hf else model(ids, labels=ids).loss
    loss.backward()
    return loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from fgtui.engine.models import build_causal_lm, resolve_dtype

    dtype = resolve_dtype(args.dtype)
    config = small_config(args)
    torch.manual_seed(0)
    ours = build_causal_lm(config, device=args.device, dtype=dtype).train()
    theirs = hf_twin(config, ours.state_dict(), args.device, dtype)
    g = torch.Generator().manual_seed(0)
    batches = [
        torch.randint(0, args.vocab, (args.batch, args.seq), generator=g).to(args.device)
        for _ in range(args.steps + args.warmup)
    ]
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    times: dict[str, list[float]] = {"fgtui": [], "transformers": []}
    first_loss = {}
    for i, ids in enumerate(batches):
        for name, model in (
            (("fgtui", ours), ("transformers", theirs)) if i % 2 else (("transformers", theirs), ("fgtui", ours))
        ):
            sync()
            start = time.perf_counter()
            loss = step(model, ids, hf=name == "transformers")
            sync()
            if i == 0:
                first_loss[name] = loss
            if i >= args.warmup:
                times[name].append(time.perf_counter() - start)
    tokens = args.batch * args.seq
    print(
        f"shape: hidden {args.hidden}, layers {args.layers}, heads {args.heads}/{args.kv_heads}, vocab {args.vocab}, "
        f"batch {args.batch}x{args.seq}, {args.dtype} on {args.device}, {args.threads} thread(s), "
        f"{ours.num_parameters() / 1e6:.1f}M params"
    )
    print(f"{'model':14s} {'median ms':>10s} {'min ms':>8s} {'tokens/s':>10s} {'loss@0':>8s}")
    for name, series in times.items():
        median = statistics.median(series)
        print(
            f"{name:14s} {median * 1e3:10.1f} {min(series) * 1e3:8.1f} {tokens / median:10.0f} {first_loss[name]:8.4f}"
        )
    ratio = statistics.median(times["fgtui"]) / statistics.median(times["transformers"])
    best = min(times["fgtui"]) / min(times["transformers"])
    print(f"fgtui / transformers step time: median {ratio:.3f}, best {best:.3f}")


if __name__ == "__main__":
    main()
