"""Commands on trained models: generate, convert and serve.

    fgtui generate MODEL [PROMPT ...]   continue prompts
    fgtui convert MODEL OUT             write MODEL as a clean Hugging Face directory
    fgtui serve MODEL [--port 8000]     an OpenAI-compatible HTTP API (/v1/completions, ...)

MODEL is a model directory (config.json + safetensors + tokenizer, as
checkpoints and `save_pretrained` write them), a checkpoints directory, an
output directory holding `checkpoints/`, or a project whose output_models/
hold them; the newest complete checkpoint is used, so right after `fgtui --run`
the project directory is enough (engine.train.checkpoint.find_model_dir).

A model fgtui's own decoder does not read (GPT-2, Forgather's generated model, any
other transformers causal LM) is loaded with transformers' AutoModelForCausalLM
and sampled by fgtui's loop, with the same options. Model code shipped in the
directory (config.json auto_map) is imported only with --trust-remote-code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fgtui.engine.errors import FgError

MODEL_HELP = "model, checkpoint, checkpoints, output or project directory"
DTYPES = ("float32", "bfloat16", "float16")
API_KEY_ENV = "FGTUI_API_KEY"


def register(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "generate",
        parents=[common],
        help="continue prompts with a trained model",
        description=" ".join(__doc__.split("\n\n")[2:4]).replace("\n", " "),
    )
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    parser.add_argument(
        "prompts", nargs="*", metavar="PROMPT", help="prompts to continue (default: one per line from standard input)"
    )
    parser.add_argument(
        "-n", "--max-new-tokens", type=int, default=100, metavar="N", help="tokens to add to each prompt (default 100)"
    )
    parser.add_argument("--temperature", type=float, default=0.8, help="0 is greedy (default 0.8)")
    parser.add_argument("--top-k", type=int, default=50, help="sample from the k likeliest tokens (default 50)")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling: keep this much probability")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when present)")
    parser.add_argument("--dtype", choices=DTYPES, default=None, help="weights' dtype (default: as saved)")
    _trust_flag(parser)
    parser.set_defaults(handler=run_generate)

    convert = subparsers.add_parser(
        "convert",
        parents=[common],
        help="write a model or checkpoint as a clean Hugging Face directory",
        description="Write MODEL (an fgtui checkpoint, a save_pretrained directory, or an HF Llama / "
        "Mistral / Qwen3 directory) to OUT as safetensors + config.json + tokenizer, without "
        "optimizer or trainer state, loadable by transformers' AutoModelForCausalLM when the "
        "architecture has an HF equivalent. A model fgtui's decoder does not read is loaded and written "
        "by transformers' save_pretrained (shipped model code is copied along and mapped as "
        "AutoModelForCausalLM; it needs --trust-remote-code). " + __doc__.split("\n\n")[2].replace("\n", " "),
    )
    convert.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    convert.add_argument("out", metavar="OUT", help="new directory to write (must not exist or be empty)")
    convert.add_argument("--dtype", choices=DTYPES, default=None, help="weights' dtype (default: as saved)")
    convert.add_argument("--max-shard-size", default="5GB", help="largest safetensors file (default 5GB)")
    convert.add_argument(
        "--check", action="store_true", help="load OUT with transformers and compare its logits with the source's"
    )
    _trust_flag(convert)
    convert.set_defaults(handler=run_convert)

    serve = subparsers.add_parser(
        "serve",
        parents=[common],
        help="serve a model over an OpenAI-compatible HTTP API",
        description="GET /v1/models, POST /v1/completions and /v1/chat/completions (models with a chat "
        "template), whole or streamed (stream: true). Requests that arrive together are decoded "
        "together (continuous batching). With --api-key (or FGTUI_API_KEY) every /v1 request needs "
        "'Authorization: Bearer KEY'; an address other than loopback needs a key or --insecure. "
        "Models fgtui's own decoder reads (Llama, Mistral, Qwen3) decode all sequences in one "
        "forward per step; so do other transformers models whose cache is transformers' DynamicCache and "
        "which honour a padding mask (checked at start), the others one forward per sequence per step. "
        + " ".join(__doc__.split("\n\n")[2:4]).replace("\n", " "),
    )
    serve.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--name", default=None, help="model name the API reports (default: the directory's name)")
    serve.add_argument(
        "--max-tokens", type=int, default=256, metavar="N", help="max_tokens when a request gives none (default 256)"
    )
    serve.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when present)")
    serve.add_argument("--dtype", choices=DTYPES, default=None, help="weights' dtype (default: as saved)")
    serve.add_argument(
        "--api-key",
        default=None,
        metavar="KEY",
        help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV} when set)",
    )
    serve.add_argument("--insecure", action="store_true", help="allow a non-loopback --host without an API key")
    serve.add_argument(
        "--max-batch",
        type=int,
        default=32,
        metavar="N",
        help="sequences decoded together at most (default 32); more wait their turn",
    )
    serve.add_argument(
        "--max-waiting",
        type=int,
        default=256,
        metavar="N",
        help="sequences queued beyond the batch before requests get 503 (default 256)",
    )
    serve.add_argument(
        "--idle-timeout",
        type=float,
        default=15.0,
        metavar="S",
        help="close a connection idle this many seconds between requests (default 15)",
    )
    serve.add_argument(
        "--read-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds a client has to send a request once begun, and per write (default 30)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=1024,
        metavar="N",
        help="open connections at most; more get 503 (default 1024)",
    )
    serve.add_argument(
        "--workers", type=int, default=4, metavar="N", help="threads for tokenizing requests (default 4)"
    )
    _trust_flag(serve)
    serve.set_defaults(handler=run_serve)


def _trust_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="import and run model code shipped in MODEL (config.json auto_map, e.g. Forgather's "
        "generated model): arbitrary Python, so read it first",
    )


def _load_model(args: argparse.Namespace):
    """(directory, model, tokenizer, device) for MODEL, --device, --dtype and --trust-remote-code.

    A directory fgtui's decoder does not read (GPT-2, Forgather's generated models, ...)
    is loaded with transformers behind `TransformersLM`.
    """
    import torch

    from fgtui.engine.data.tokenizer import load_tokenizer
    from fgtui.engine.models.transformers_lm import load_for_decoding
    from fgtui.engine.train.checkpoint import find_model_dir

    directory = find_model_dir(args.model)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    trust = args.trust_remote_code
    model = load_for_decoding(directory, device, args.dtype, trust_remote_code=trust)
    return directory, model, load_tokenizer(directory, trust_remote_code=trust), device


def run_generate(args: argparse.Namespace) -> int:
    if args.max_new_tokens < 1:
        raise FgError(f"--max-new-tokens must be at least 1, not {args.max_new_tokens}")
    prompts = list(args.prompts)
    if not prompts:
        if sys.stdin.isatty():
            raise FgError("no prompt given", hint='fgtui generate MODEL "Once upon a time"')
        prompts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    directory, model, tokenizer, device = _load_model(args)

    import torch

    from fgtui.engine.models.generate import decode_continuation, generate

    from fgtui.engine.models.transformers_lm import TransformersLM

    through = f" via transformers ({model.architecture})" if isinstance(model, TransformersLM) else ""
    print(f"# {directory} on {device}{through}", file=sys.stderr)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    stops = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(device)
        out = generate(
            model,
            ids,
            args.max_new_tokens,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            stop_token_ids=stops,
            generator=generator,
        )
        completion = decode_continuation(tokenizer, ids[0].tolist(), out[0, ids.shape[1] :].tolist())
        print(prompt + completion)
        if len(prompts) > 1:
            print()
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from fgtui.engine.train.checkpoint import find_model_dir

    source = find_model_dir(args.model)
    out = Path(args.out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FgError(
            f"{out} exists and is not an empty directory; nothing was written",
            hint="name a new directory for the converted model",
        )

    from transformers.utils import logging as hf_logging

    from fgtui.engine.data.tokenizer import load_tokenizer
    from fgtui.engine.models.hf_io import hf_incompatibility, load_pretrained, save_pretrained
    from fgtui.engine.models.transformers_lm import native_refusal

    # One-shot command: transformers' per-shard loading bars say nothing the result line does not.
    hf_logging.disable_progress_bar()
    if native_refusal(source) is not None:
        return _convert_with_transformers(args, source, out)
    model = load_pretrained(source, device="cpu", dtype=args.dtype)
    tokenizer = load_tokenizer(source) if (source / "tokenizer_config.json").is_file() else None
    save_pretrained(model, out, tokenizer=tokenizer, max_shard_size=args.max_shard_size)
    reason = hf_incompatibility(model)
    print(
        f"wrote {out} from {source} ({sum(p.numel() for p in model.parameters()):,} parameters, "
        f"{next(model.parameters()).dtype})"
    )
    if reason is not None:
        print(f"not loadable by transformers: {reason}; fgtui loads it", file=sys.stderr)
    elif tokenizer is None:
        print("no tokenizer beside the source model: OUT holds none either", file=sys.stderr)
    if args.check:
        if reason is not None:
            raise FgError(f"--check needs a transformers architecture: {reason}")
        difference = compare_with_transformers(model, out)
        print(f"transformers loads {out}: largest logit difference {difference:.2e}")
    return 0


def _convert_with_transformers(args: argparse.Namespace, source: Path, out: Path) -> int:
    """A model fgtui's decoder does not read: transformers loads it and writes it with its
    own save_pretrained (shipped model code is copied along, and auto_map names it as
    AutoModelForCausalLM, so OUT loads with trust_remote_code in one directory)."""
    from fgtui.engine.data.tokenizer import load_tokenizer
    from fgtui.engine.models.transformers_lm import load_transformers_lm

    wrapped = load_transformers_lm(source, "cpu", args.dtype, trust_remote_code=args.trust_remote_code)
    wrapped.model.save_pretrained(str(out), max_shard_size=args.max_shard_size)
    has_tokenizer = (source / "tokenizer_config.json").is_file()
    tokenizer = load_tokenizer(source, trust_remote_code=args.trust_remote_code) if has_tokenizer else None
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))
    parameters = sum(p.numel() for p in wrapped.parameters())
    print(
        f"wrote {out} from {source} with transformers ({wrapped.architecture}, {parameters:,} parameters, "
        f"{next(wrapped.parameters()).dtype})"
    )
    if tokenizer is None:
        print("no tokenizer beside the source model: OUT holds none either", file=sys.stderr)
    if args.check:
        difference = compare_with_transformers(wrapped, out, trust_remote_code=args.trust_remote_code)
        print(f"transformers loads {out}: largest logit difference {difference:.2e}")
    return 0


def compare_with_transformers(model, directory: Path, trust_remote_code: bool = False) -> float:
    """Largest |logit difference| between `model` and transformers' load of `directory`."""
    import torch
    from transformers import AutoModelForCausalLM

    hf_model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, trust_remote_code=trust_remote_code)
    ids = torch.randint(0, model.config.vocab_size, (1, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = model.float()(ids).logits
        theirs = hf_model(ids, return_dict=True).logits
    difference = float((ours - theirs).abs().max())
    if not difference < 1e-3:
        raise FgError(
            f"transformers' load of {directory} differs from the source: logits differ by {difference:.3g}",
            hint="report it: the export or the architecture mapping is wrong",
        )
    return difference


def run_serve(args: argparse.Namespace) -> int:
    import os

    for flag, value, low in (
        ("--max-tokens", args.max_tokens, 1),
        ("--max-batch", args.max_batch, 1),
        ("--max-waiting", args.max_waiting, 1),
        ("--max-connections", args.max_connections, 1),
        ("--workers", args.workers, 1),
        ("--idle-timeout", args.idle_timeout, 0.001),
        ("--read-timeout", args.read_timeout, 0.001),
    ):
        if not value >= low:
            raise FgError(f"{flag} must be at least {low}, not {value}")
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    if api_key is None and not args.insecure and not _is_loopback(args.host):
        raise FgError(
            f"refusing to serve on {args.host} without an API key: anyone who reaches it could use it",
            hint=f"pass --api-key KEY (or set {API_KEY_ENV}), or --insecure to serve it open",
        )
    directory, model, tokenizer, device = _load_model(args)

    from fgtui.engine.models.transformers_lm import TransformersLM
    from fgtui.engine.serve.completions import CompletionService
    from fgtui.engine.serve.http_server import make_server

    name = args.name or (directory.parent.parent.name if directory.name.startswith("checkpoint-") else directory.name)
    service = CompletionService(
        model,
        tokenizer,
        name,
        default_max_tokens=args.max_tokens,
        max_rows=args.max_batch,
        max_waiting=args.max_waiting,
    )
    try:
        server = make_server(
            service,
            args.host,
            args.port,
            api_key=api_key,
            idle_timeout=args.idle_timeout,
            read_timeout=args.read_timeout,
            max_connections=args.max_connections,
            workers=args.workers,
        )
    except OSError as error:
        service.close()
        raise FgError(
            f"cannot listen on {args.host}:{args.port}: {error.strerror}",
            hint="pick another --port (0 finds a free one)",
        ) from None
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    # Said at start: whether a transformers model's sequences share the forward or only the server.
    through = ""
    if isinstance(model, TransformersLM):
        shared = (
            "all sequences in one forward per step"
            if service.engine.decoder.batched
            else "one forward per sequence per step: its cache is not a plain DynamicCache or it ignores padding"
        )
        through = f" via transformers ({model.architecture}, {shared})"
    print(
        f"serving {name} ({directory}) on {device}{through} at http://{shown}:{port}/v1"
        f"{' (API key required)' if api_key else ''} — Ctrl-C stops",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0


def _is_loopback(host: str) -> bool:
    """True when every address `host` names is this machine's loopback."""
    import ipaddress
    import socket

    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)
