"""`fgtui generate MODEL [PROMPT ...]`: continue prompts with a trained model.

MODEL is a model directory (config.json + safetensors + tokenizer, as
checkpoints and `save_pretrained` write them), a checkpoints directory, an
output directory holding `checkpoints/`, or a project whose output_models/
hold them; the newest complete checkpoint is used, so right after `fgtui --run`
the project directory is enough.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fgtui.engine.errors import FgError


def register(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("generate", parents=[common], help="continue prompts with a trained model",
                                   description=__doc__.split("\n\n")[1].replace("\n", " "))
    parser.add_argument("model", metavar="MODEL", help="model, checkpoint, checkpoints or output directory")
    parser.add_argument("prompts", nargs="*", metavar="PROMPT",
                        help="prompts to continue (default: one per line from standard input)")
    parser.add_argument("-n", "--max-new-tokens", type=int, default=100, metavar="N",
                        help="tokens to add to each prompt (default 100)")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 is greedy (default 0.8)")
    parser.add_argument("--top-k", type=int, default=50, help="sample from the k likeliest tokens (default 50)")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling: keep this much probability")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when present)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None,
                        help="weights' dtype (default: as saved)")
    parser.set_defaults(handler=run_generate)


def resolve_model_dir(given: str) -> Path:
    """The directory to load for MODEL (see the module docstring)."""
    from fgtui.engine.train.checkpoint import latest_checkpoint

    path = Path(given).expanduser()
    if not path.is_dir():
        raise FgError(f"{given} is not a directory", hint="give a model, checkpoint or output directory")
    if (path / "config.json").is_file():
        return path
    # The directory itself, an output dir, or a project (its output_models/<model>/checkpoints).
    found = [latest for checkpoints in (path, path / "checkpoints", *path.glob("output_models/*/checkpoints"))
             if checkpoints.is_dir() and (latest := latest_checkpoint(checkpoints)) is not None]
    if found:
        return max(found, key=lambda checkpoint: checkpoint.stat().st_mtime)
    raise FgError(f"no model in {given}: neither a config.json nor a complete checkpoint",
                  hint="train first (fgtui --run ...), or give the directory save_pretrained wrote")


def run_generate(args: argparse.Namespace) -> int:
    if args.max_new_tokens < 1:
        raise FgError(f"--max-new-tokens must be at least 1, not {args.max_new_tokens}")
    prompts = list(args.prompts)
    if not prompts:
        if sys.stdin.isatty():
            raise FgError("no prompt given", hint='fgtui generate MODEL "Once upon a time"')
        prompts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    directory = resolve_model_dir(args.model)

    import torch

    from fgtui.engine.data.tokenizer import load_tokenizer
    from fgtui.engine.models.generate import generate
    from fgtui.engine.models.hf_io import load_pretrained

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = load_pretrained(directory, device=device, dtype=args.dtype)
    tokenizer = load_tokenizer(directory)
    print(f"# {directory} on {device}", file=sys.stderr)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    stops = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(device)
        out = generate(model, ids, args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                       top_p=args.top_p, stop_token_ids=stops, generator=generator)
        completion = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        print(prompt + completion)
        if len(prompts) > 1:
            print()
    return 0
