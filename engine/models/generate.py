"""Autoregressive sampling with a KV cache: greedy, temperature, top-k, top-p, stop tokens."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch

from fgtui.engine.errors import FgError


def sample_next(
    logits: torch.Tensor,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick one token per row from logits [B, V]. `temperature == 0` is greedy (argmax)."""
    if temperature < 0:
        raise FgError(f"temperature must be >= 0, got {temperature}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise FgError(f"top_p must be in (0, 1], got {top_p}")
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens ranked above it already reach top_p; the best one always stays.
        drop_sorted = (cumulative - sorted_logits.softmax(dim=-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _sampled_steps(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator | None,
    attention_mask: torch.Tensor | None = None,
) -> Iterator[torch.Tensor]:
    """The next token [B] of every row, up to `max_new_tokens` times, each fed back
    through the KV cache before the next is sampled (the caller stops when it likes).

    Left padding: positions count real tokens only, so a padded prompt sees the same
    RoPE angles as an unpadded one.
    """
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    # The model's own cache: fgtui's KVCache, or transformers' behind TransformersLM.
    cache = model.new_cache()
    out = model(input_ids, attention_mask=attention_mask, position_ids=position_ids, past_key_values=cache)
    next_positions = position_ids[:, -1:] + 1
    for step in range(max_new_tokens):
        token = sample_next(out.logits[:, -1], temperature, top_k, top_p, generator)
        yield token
        if step == max_new_tokens - 1:
            return
        attention_mask = torch.cat((attention_mask, torch.ones_like(token)[:, None]), dim=-1)
        out = model(token[:, None], attention_mask=attention_mask, position_ids=next_positions, past_key_values=cache)
        next_positions = next_positions + 1


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_token_ids: Iterable[int] | None = None,
    attention_mask: torch.Tensor | None = None,
    pad_token_id: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Continue each prompt row by up to `max_new_tokens` tokens; returns [B, T + new].

    Prompts of different lengths are left-padded with `attention_mask` marking
    real tokens. A row stops after emitting one of `stop_token_ids` (the stop
    token is kept); later positions of that row hold `pad_token_id` (default:
    the first stop token, else 0). Stops early when every row has stopped.
    """
    model.eval()
    stops = torch.tensor(sorted(set(stop_token_ids or ())), dtype=torch.long, device=input_ids.device)
    if pad_token_id is None:
        pad_token_id = int(stops[0]) if len(stops) else 0
    tokens = [input_ids]
    finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    # A finished row's later samples are replaced by padding; rows never see one another,
    # so what is fed back for it changes nothing.
    for token in _sampled_steps(model, input_ids, max_new_tokens, temperature, top_k, top_p, generator, attention_mask):
        tokens.append(torch.where(finished, torch.full_like(token, pad_token_id), token)[:, None])
        if len(stops):
            finished |= torch.isin(token, stops)
            if bool(finished.all()):
                break
    return torch.cat(tokens, dim=-1)


@torch.no_grad()
def stream_tokens(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_token_ids: Iterable[int] | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Continue one prompt [1, T], yielding each new token id as it is sampled (for
    streaming). Sampling as in `generate`; a stop token is yielded, then it ends."""
    if input_ids.shape[0] != 1:
        raise FgError(f"stream_tokens continues one prompt, got a batch of {input_ids.shape[0]}")
    model.eval()
    stops = set(stop_token_ids or ())
    for token in _sampled_steps(model, input_ids, max_new_tokens, temperature, top_k, top_p, generator):
        yield int(token)
        if int(token) in stops:
            return


class ContinuationDecoder:
    """The text that new ids add after a prompt, decoded with the prompt and cut after it.

    SentencePiece-style tokenizers (Llama-2, Mistral) drop the leading space of a
    sequence's first word, so decoding the new ids alone would glue "time" + "there"
    into "timethere". The prompt's own text is decoded once, not at every token.
    """

    def __init__(self, tokenizer: Any, prompt_ids: list[int]) -> None:
        self.tokenizer, self.prompt_ids = tokenizer, list(prompt_ids)
        self.head = tokenizer.decode(self.prompt_ids, skip_special_tokens=True)

    def __call__(self, new_ids: list[int]) -> str:
        whole = self.tokenizer.decode(self.prompt_ids + list(new_ids), skip_special_tokens=True)
        if whole.startswith(self.head):
            return whole[len(self.head) :]
        # The prompt's own text changed once followed by more tokens (a merge across the
        # boundary): the new ids alone are the honest answer.
        return self.tokenizer.decode(new_ids, skip_special_tokens=True)


def decode_continuation(tokenizer: Any, prompt_ids: list[int], new_ids: list[int]) -> str:
    """`ContinuationDecoder` for one decode."""
    return ContinuationDecoder(tokenizer, prompt_ids)(new_ids)
