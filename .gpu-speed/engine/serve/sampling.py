"""Choosing the next token of every row at once, each row with its own settings.

Rows of one decode batch come from different requests: temperature, top-k,
top-p, presence/frequency penalties and logit bias are per-row tensors, so a
step costs a handful of batched ops however mixed the batch is. Each row draws
its uniform number from its own `random.Random` (seeded by the request's
`seed`), and one batched inverse-CDF lookup turns the numbers into tokens: a
seeded request gets the same answer whoever is served beside it, and a step
makes no per-row tensor call (a per-row `torch.multinomial` cost more than the
forward at 16 rows on CPU).

Reported log-probabilities are the model's own (log-softmax of the raw
logits), before temperature, penalties or bias: that is what scoring a text
needs, and what evaluation harnesses compare.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch


@dataclass
class RowSettings:
    """Per-row sampling settings as tensors [rows] (bias and counts [rows, vocab])."""

    temperature: torch.Tensor
    top_k: torch.Tensor
    top_p: torch.Tensor
    presence: torch.Tensor
    frequency: torch.Tensor
    bias: torch.Tensor | None
    counts: torch.Tensor | None
    generators: list[random.Random]


@dataclass
class Choice:
    tokens: list[int]
    logprobs: list[float]
    top: list[list[tuple[int, float]]] | None  # per row, the top-k (id, logprob) when asked


def choose(logits: torch.Tensor, settings: RowSettings, top_k_logprobs: int) -> Choice:
    """Pick one token per row of logits [rows, vocab]."""
    logits = logits.float()
    logprobs = torch.log_softmax(logits, dim=-1)
    scores = logits
    if settings.bias is not None:
        scores = scores + settings.bias
    if settings.counts is not None:
        counts = settings.counts
        scores = scores - settings.presence[:, None] * (counts > 0) - settings.frequency[:, None] * counts
    tokens = scores.argmax(dim=-1)
    sampled = (settings.temperature > 0).nonzero().flatten().tolist()
    if sampled:
        index = torch.tensor(sampled, device=logits.device)
        picked = _sample(
            scores.index_select(0, index),
            settings.temperature[index],
            settings.top_k[index],
            settings.top_p[index],
            [settings.generators[i] for i in sampled],
        )
        tokens = tokens.index_copy(0, index, picked)
    chosen = logprobs.gather(1, tokens[:, None]).squeeze(1)
    top = None
    if top_k_logprobs > 0:
        values, ids = logprobs.topk(min(top_k_logprobs, logprobs.shape[-1]), dim=-1)
        top = [list(zip(i, v)) for i, v in zip(ids.tolist(), values.tolist())]
    return Choice(tokens.tolist(), chosen.tolist(), top)


def _sample(
    scores: torch.Tensor,
    temperature: torch.Tensor,
    top_k: torch.Tensor,
    top_p: torch.Tensor,
    generators: list[random.Random],
) -> torch.Tensor:
    scores = scores / temperature[:, None]
    vocab = scores.shape[-1]
    if bool(((top_k > 0) & (top_k < vocab)).any()) or bool((top_p < 1).any()):
        ordered, order = scores.sort(dim=-1, descending=True)
        rank = torch.arange(vocab, device=scores.device)[None, :]
        limit = torch.where(top_k > 0, top_k, torch.full_like(top_k, vocab))
        drop = rank >= limit[:, None]
        probs = ordered.masked_fill(drop, float("-inf")).softmax(dim=-1)
        # Drop a token when those ranked above it already reach top_p; the best one always stays.
        drop |= (probs.cumsum(dim=-1) - probs) >= top_p[:, None]
        scores = scores.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), float("-inf"))
    cdf = scores.softmax(dim=-1).cumsum(dim=-1)
    uniform = torch.tensor([g.random() for g in generators], device=scores.device, dtype=cdf.dtype)
    # The first token whose cumulative probability exceeds u: never one of probability 0.
    picked = torch.searchsorted(cdf, (uniform * cdf[:, -1])[:, None], right=True).squeeze(1)
    return picked.clamp(max=scores.shape[-1] - 1)
