"""The decode engine: sequences joining and leaving a running batch decode exactly as alone."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from serve_helpers import tiny_model

from fgtui.engine.models.generate import generate
from fgtui.engine.serve.engine import DecodeEngine, Failed, Finished, Token
from fgtui.engine.serve.requests import SequenceParams


@pytest.fixture(scope="module")
def model_and_tokenizer():
    return tiny_model(max_positions=256)


class Collector:
    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.finished: str | None = None
        self.done = threading.Event()

    def __call__(self, event) -> None:
        if isinstance(event, Token):
            self.tokens.append(event.token)
        elif isinstance(event, (Finished, Failed)):
            self.finished = event.reason if isinstance(event, Finished) else event.message
            self.done.set()


def _greedy(model, ids: list[int], n: int) -> list[int]:
    out = generate(model, torch.tensor([ids]), n)
    return out[0, len(ids) :].tolist()


def _submit(engine, ids, **params) -> tuple[Collector, object]:
    collector = Collector()
    sequence = engine.submit(ids, [SequenceParams(**{"temperature": 0.0, **params})], [collector])[0]
    return collector, sequence


def _wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.002)
    assert condition()


def test_rows_joining_mid_flight_decode_as_alone(model_and_tokenizer):
    model, _ = model_and_tokenizer
    engine = DecodeEngine(model, eos_token_id=None, max_rows=8)
    try:
        torch.manual_seed(1)
        short, long, other = ([int(t) for t in torch.randint(0, 300, (n,))] for n in (5, 70, 12))
        first, _ = _submit(engine, short, max_tokens=60)
        _wait_until(lambda: len(first.tokens) >= 5)
        second, _ = _submit(engine, long, max_tokens=30)  # longer than the batch so far: rows shift right
        third, _ = _submit(engine, other, max_tokens=3)
        for collector in (first, second, third):
            assert collector.done.wait(60)
        assert first.tokens == _greedy(model, short, 60)
        assert second.tokens == _greedy(model, long, 30)
        assert third.tokens == _greedy(model, other, 3)
        assert first.finished == second.finished == "length"
        assert engine.peak_rows >= 2
    finally:
        engine.close()


def test_columns_no_row_uses_are_trimmed(model_and_tokenizer, monkeypatch):
    from fgtui.engine.serve.batch_cache import BatchKVCache

    model, _ = model_and_tokenizer
    drops = []
    relayout = BatchKVCache._relayout
    monkeypatch.setattr(
        BatchKVCache,
        "_relayout",
        lambda self, capacity, drop, shift: drops.append(drop) or relayout(self, capacity, drop, shift),
    )
    engine = DecodeEngine(model, eos_token_id=None, max_rows=4)
    try:
        torch.manual_seed(2)
        long, short = ([int(t) for t in torch.randint(0, 300, (n,))] for n in (150, 4))
        leaving, _ = _submit(engine, long, max_tokens=2)
        staying, _ = _submit(engine, short, max_tokens=60)
        assert staying.done.wait(60) and leaving.done.wait(60)
        assert staying.tokens == _greedy(model, short, 60)
        assert any(drop > 100 for drop in drops)  # the long prompt's columns went when it left
    finally:
        engine.close()


def test_seeded_sampling_does_not_depend_on_the_neighbours(model_and_tokenizer):
    model, _ = model_and_tokenizer
    engine = DecodeEngine(model, eos_token_id=None, max_rows=8)
    try:
        ids = [5, 17, 42, 8]
        alone, _ = _submit(engine, ids, max_tokens=20, temperature=1.0, top_p=0.9, top_k=50, seed=7)
        assert alone.done.wait(60)
        neighbours = [_submit(engine, [3, 4, 5, i], max_tokens=30, temperature=0.7)[0] for i in range(5)]
        crowded, _ = _submit(engine, ids, max_tokens=20, temperature=1.0, top_p=0.9, top_k=50, seed=7)
        assert crowded.done.wait(60) and all(n.done.wait(60) for n in neighbours)
        assert crowded.tokens == alone.tokens
    finally:
        engine.close()


def test_cancelled_and_stopped_sequences_leave_at_once(model_and_tokenizer):
    model, _ = model_and_tokenizer
    engine = DecodeEngine(model, eos_token_id=None, max_rows=2)
    try:
        blockers = [_submit(engine, [1, 2, 3], max_tokens=200) for _ in range(2)]
        waiting, waiting_sequence = _submit(engine, [4, 5], max_tokens=5)
        waiting_sequence.cancel()  # cancelled before it ever got a row
        assert waiting.done.wait(30) and waiting.finished == "cancelled" and waiting.tokens == []
        for collector, sequence in blockers:
            sequence.cancel()
            assert collector.done.wait(30) and collector.finished == "cancelled"
            assert len(collector.tokens) < 200
        _wait_until(lambda: engine.active == 0)
        eos = _greedy(model, [9, 9, 9], 4)[3]
        engine.eos_token_id = eos
        stopped, _ = _submit(engine, [9, 9, 9], max_tokens=10)
        assert stopped.done.wait(30) and stopped.finished == "stop"
        assert stopped.tokens == _greedy(model, [9, 9, 9], 3)  # the end-of-text token is not sent
    finally:
        engine.close()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batched_decoding_on_the_gpu_matches_one_at_a_time():
    model = tiny_model(max_positions=256)[0].cuda()
    engine = DecodeEngine(model, eos_token_id=None, max_rows=8)
    try:
        torch.manual_seed(3)
        prompts = [[int(t) for t in torch.randint(0, 300, (n,))] for n in (3, 40, 9, 17, 60)]
        collectors = []
        for prompt in prompts:
            collectors.append(_submit(engine, prompt, max_tokens=24)[0])
            time.sleep(0.005)  # staggered: later ones join a running batch
        for collector, prompt in zip(collectors, prompts):
            assert collector.done.wait(60)
            alone = generate(model, torch.tensor([prompt], device="cuda"), 24)
            assert collector.tokens == alone[0, len(prompt) :].tolist()
        assert engine.peak_rows >= 2
    finally:
        engine.close()


def test_sampling_draws_tokens_at_their_probabilities():
    import random

    from fgtui.engine.serve.sampling import RowSettings, choose

    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, float("-inf")]]).repeat(4000, 1)
    rows = logits.shape[0]
    settings = RowSettings(
        torch.ones(rows),
        torch.zeros(rows, dtype=torch.long),
        torch.ones(rows),
        torch.zeros(rows),
        torch.zeros(rows),
        None,
        None,
        [random.Random(i) for i in range(rows)],
    )
    counts = torch.bincount(torch.tensor(choose(logits, settings, 0).tokens), minlength=5).float() / rows
    assert counts[4] == 0  # never a token of probability 0
    assert torch.allclose(counts[:4], logits[0, :4].softmax(-1), atol=0.03)
    settings.top_k = torch.full((rows,), 2)  # top-k 2 keeps the two likeliest, renormalized
    counts = torch.bincount(torch.tensor(choose(logits, settings, 0).tokens), minlength=5).float() / rows
    assert counts[2:].sum() == 0 and torch.allclose(counts[:2], logits[0, :2].softmax(-1), atol=0.03)
