"""`fgtui serve` under load: concurrent clients vs one at a time, and idle connections, same run.

    .venv/bin/python bench/serve_bench.py                          # tiny model on CPU
    .venv/bin/python bench/serve_bench.py --shape 1b --device cuda # a 1B Llama shape on the GPU
    .venv/bin/python bench/serve_bench.py --shape gpt2             # a transformers model (GPT-2 body)

The server runs as `fgtui serve` in its own process on a saved random model
(so client work never shares its interpreter); clients are asyncio keep-alive
connections speaking raw HTTP, light enough not to be the bottleneck. Every
request asks for exactly `--max-tokens` tokens (logit_bias forbids the
end-of-text token), so throughput counts the same work in both modes:

1. one at a time: one client, `--sequential` requests in a row;
2. concurrent: `--clients` clients x `--requests` requests each, all at once;
   generated tokens/s of both, their ratio (the goal: >= 4x), p50/p99 latency
   (the two alternate for `--rounds` rounds, each mode summed over its rounds);
3. `--idle` connections opened and left silent: the latency of a request
   while they are open (the goal: within 100 ms), and whether the server closes
   them all after its idle timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "serve"))


def build_model(shape: str, directory: Path, dtype: str, device: str) -> None:
    import torch

    from fgtui.engine.data.tokenizer import train_bpe_tokenizer
    from fgtui.engine.models import CausalLMConfig, build_causal_lm
    from fgtui.engine.models.hf_io import save_pretrained
    from serve_helpers import CORPUS, tiny_model

    if shape == "gpt2":  # served through transformers (engine/serve/decoders.py), not fgtui's decoder
        from transformers import AutoModelForCausalLM, GPT2Config

        tokenizer = train_bpe_tokenizer(
            [p.read_text() for p in sorted(CORPUS.glob("*.txt"))], vocab_size=2048, show_progress=False
        )
        torch.manual_seed(0)
        eos = tokenizer.eos_token_id
        shape = dict(vocab_size=len(tokenizer), n_embd=256, n_layer=4, n_head=4, n_positions=256)
        config = GPT2Config(**shape, bos_token_id=eos, eos_token_id=eos)
        model = AutoModelForCausalLM.from_config(config).to(getattr(torch, dtype))
        model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        print(f"# model: gpt2, {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, {dtype}", flush=True)
        return
    if shape == "tiny":
        model, tokenizer = tiny_model(max_positions=256)
    else:  # Llama-3.2-1B's body (16 layers, 2048 wide, GQA 32/8); the vocabulary is a small local BPE
        tokenizer = train_bpe_tokenizer(
            [p.read_text() for p in sorted(CORPUS.glob("*.txt"))], vocab_size=8192, show_progress=False
        )
        torch.manual_seed(0)
        config = CausalLMConfig(
            vocab_size=len(tokenizer),
            hidden_size=2048,
            intermediate_size=8192,
            num_hidden_layers=16,
            num_attention_heads=32,
            num_key_value_heads=8,
            max_position_embeddings=2048,
            rope_theta=500000.0,
        )
        model = build_causal_lm(config, device=device)  # initialized where it runs: seconds, not minutes
    model = model.to(getattr(torch, dtype))
    params = sum(p.numel() for p in model.parameters())
    save_pretrained(model, directory, tokenizer=tokenizer)
    print(f"# model: {shape}, {params / 1e6:.1f}M parameters, {dtype}, vocab {len(tokenizer)}", flush=True)


def start_server(directory: Path, args) -> tuple[subprocess.Popen, str, int]:
    command = [
        sys.executable,
        "-m",
        "fgtui.engine.cli",
        "serve",
        str(directory),
        "--port",
        "0",
        "--device",
        args.device,
        "--idle-timeout",
        str(args.idle_timeout),
        "--max-batch",
        str(args.clients),
        "--max-connections",
        str(args.idle + 4 * args.clients),
        "--name",
        "bench",
    ]
    # On a small shared CPU, torch's intra-op threads spin against each other and every
    # other process: one thread gives steadier figures for both modes alike.
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, env=env)
    line = process.stdout.readline()
    if " at http://" not in line:
        process.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    host_port = line.split(" at http://")[1].split("/")[0]
    host, port = host_port.rsplit(":", 1)
    return process, host, int(port)


class Client:
    """One keep-alive connection sending JSON requests and reading JSON answers."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path: str, body: dict) -> dict:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(
            next(line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        )
        answer = json.loads(await self.reader.readexactly(length))
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {answer}")
        return answer

    async def get(self, path: str) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = int(
            next(line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        )
        await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def request_body(index: int, args, eos: int | None) -> dict:
    words = "the old house stood on the hill above the town and no one went near it after dark".split()
    prompt = f"Story {index}: " + " ".join(words[: 4 + index % len(words)])
    body = {"model": "bench", "prompt": prompt, "max_tokens": args.max_tokens, "temperature": 0.8, "seed": index}
    if eos is not None:
        body["logit_bias"] = {str(eos): -100}
    return body


async def run_clients(host: str, port: int, clients: int, requests: int, args, eos) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    tokens = 0

    async def one_client(c: int) -> None:
        nonlocal tokens
        client = Client(host, port)
        try:
            for r in range(requests):
                start = time.perf_counter()
                answer = await client.post("/v1/completions", request_body(c * requests + r, args, eos))
                latencies.append(time.perf_counter() - start)
                tokens += answer["usage"]["completion_tokens"]
        finally:
            client.close()

    start = time.perf_counter()
    await asyncio.gather(*(one_client(c) for c in range(clients)))
    return time.perf_counter() - start, latencies, tokens


async def idle_connections(host: str, port: int, args, eos) -> dict:
    sockets = [socket.create_connection((host, port)) for _ in range(args.idle)]
    opened = time.perf_counter()
    try:
        await asyncio.sleep(0.2)
        probe = Client(host, port)
        models_ms, completion_ms = [], []
        for i in range(5):
            start = time.perf_counter()
            await probe.get("/v1/models")
            models_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            body = {**request_body(i, args, eos), "max_tokens": 1}
            await probe.post("/v1/completions", body)
            completion_ms.append((time.perf_counter() - start) * 1000)
        probe.close()
        closed_at = []
        deadline = opened + args.idle_timeout + 10
        for sock in sockets:
            sock.settimeout(max(0.01, deadline - time.perf_counter()))
            try:
                if sock.recv(1) == b"":
                    closed_at.append(time.perf_counter() - opened)
            except (TimeoutError, OSError):
                pass
        return {
            "models_ms": max(models_ms),
            "completion_ms": max(completion_ms),
            "closed": len(closed_at),
            "closed_after_s": max(closed_at, default=float("nan")),
        }
    finally:
        for sock in sockets:
            sock.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench(host: str, port: int, args, eos) -> None:
    warm = Client(host, port)  # first forwards (allocation, kernels) stay out of the figures
    for i in range(3):
        await warm.post("/v1/completions", request_body(i, args, eos))
    warm.close()
    # The modes alternate for --rounds rounds and each sums over its rounds, so a burst
    # of load from elsewhere on a shared machine hits both alike.
    modes = (("one at a time", 1, args.sequential), (f"{args.clients} concurrent", args.clients, args.requests))
    totals = {label: [0.0, [], 0] for label, _, _ in modes}
    for _ in range(args.rounds):
        for label, clients, requests in modes:
            wall, latencies, tokens = await run_clients(host, port, clients, requests, args, eos)
            totals[label][0] += wall
            totals[label][1].extend(latencies)
            totals[label][2] += tokens
    rows = []
    for label, (wall, latencies, tokens) in totals.items():
        rows.append(
            (
                label,
                len(latencies),
                tokens,
                wall,
                tokens / wall,
                statistics.median(latencies) * 1000,
                percentile(latencies, 0.99) * 1000,
            )
        )
    print(f"{'mode':<16}{'requests':>9}{'gen tok':>9}{'wall s':>8}{'tok/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for row in rows:
        print(f"{row[0]:<16}{row[1]:>9}{row[2]:>9}{row[3]:>8.2f}{row[4]:>9.1f}{row[5]:>9.1f}{row[6]:>9.1f}")
    ratio = rows[1][4] / rows[0][4]
    verdict = "met" if ratio >= 4 else "MISSED"
    print(f"aggregate tok/s, concurrent / one at a time: {ratio:.2f}x (goal >= 4x: {verdict})")
    idle = await idle_connections(host, port, args, eos)
    answered = max(idle["models_ms"], idle["completion_ms"])
    print(
        f"{args.idle} idle connections open: GET /v1/models worst {idle['models_ms']:.1f} ms, completion "
        f"(max_tokens 1) worst {idle['completion_ms']:.1f} ms (goal <= 100 ms: "
        f"{'met' if answered <= 100 else 'MISSED'})"
    )
    print(
        f"closed by the server after its {args.idle_timeout:g} s idle timeout: {idle['closed']}/{args.idle}, "
        f"the last at {idle['closed_after_s']:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("tiny", "1b", "gpt2"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None, help="default float32 (tiny), bfloat16 (1b)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10, help="requests per concurrent client")
    parser.add_argument("--sequential", type=int, default=20, help="requests in the one-at-a-time run")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of both modes")
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--idle-timeout", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1, help="the server's torch threads (OMP_NUM_THREADS)")
    args = parser.parse_args()
    dtype = args.dtype or ("bfloat16" if args.shape == "1b" else "float32")
    with tempfile.TemporaryDirectory(prefix="fgtui-serve-bench-") as tmp:
        directory = Path(tmp) / "model"
        build_model(args.shape, directory, dtype, args.device)
        eos = json.loads((directory / "config.json").read_text()).get("eos_token_id")
        eos = eos[0] if isinstance(eos, list) else eos
        process, host, port = start_server(directory, args)
        try:
            print(
                f"# fgtui serve on {args.device}, {args.clients} clients x {args.requests} requests, "
                f"max_tokens {args.max_tokens}, {os.cpu_count()} CPUs, server threads {args.threads}",
                flush=True,
            )
            asyncio.run(bench(host, port, args, eos))
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
