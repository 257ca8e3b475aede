"""A tiny model behind a real socket, shared by the serve tests (and bench/serve_bench.py)."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import torch

import fgtui

CORPUS = Path(fgtui.__file__).parent / "examples" / "datasets" / "lovecraft" / "data" / "train"
CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)


def tiny_model(vocab_size: int = 300, max_positions: int = 96, seed: int = 0):
    """(model, tokenizer): a BPE tokenizer trained on two stories, a random 2-layer Llama."""
    from fgtui.engine.data.tokenizer import train_bpe_tokenizer
    from fgtui.engine.models import CausalLMConfig, build_causal_lm

    tokenizer = train_bpe_tokenizer(
        [p.read_text() for p in sorted(CORPUS.glob("*.txt"))[:2]], vocab_size=vocab_size, show_progress=False
    )
    torch.manual_seed(seed)
    config = CausalLMConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
    )
    return build_causal_lm(config).eval(), tokenizer


@contextlib.contextmanager
def running_server(service, **options):
    """A server on a free loopback port, in a thread; yields (server, base url ending in /v1)."""
    from fgtui.engine.serve.http_server import make_server

    server = make_server(service, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        thread.join(timeout=30)
        server.socket.close()


def post(url: str, body, raw: bool = False, headers: dict | None = None):
    """(status, JSON answer or raw text) of a POST; bytes bodies go as they are."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
            return response.status, text if raw else json.loads(text)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read().decode())


def greedy_text(model, tokenizer, prompt: str, n: int) -> str:
    from fgtui.engine.models.generate import decode_continuation, generate

    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    out = generate(model, ids, n, stop_token_ids=[tokenizer.eos_token_id])
    new = [t for t in out[0, ids.shape[1] :].tolist() if t != tokenizer.eos_token_id]
    return decode_continuation(tokenizer, ids[0].tolist(), new)
