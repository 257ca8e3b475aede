"""Autoregressive sampling with a KV cache: greedy, temperature, top-k, top-p, stop tokens."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from fgtui.engine.errors import FgError
from fgtui.engine.models.cache import KVCache


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
    batch = input_ids.shape[0]
    device = input_ids.device
    stops = torch.tensor(sorted(set(stop_token_ids or ())), dtype=torch.long, device=device)
    if pad_token_id is None:
        pad_token_id = int(stops[0]) if len(stops) else 0
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    # Left padding: positions count real tokens only, so a padded prompt sees the same RoPE angles.
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    cache = KVCache()
    out = model(input_ids, attention_mask=attention_mask, position_ids=position_ids, past_key_values=cache)
    next_positions = position_ids[:, -1:] + 1
    tokens = [input_ids]
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    for step in range(max_new_tokens):
        next_token = sample_next(out.logits[:, -1], temperature, top_k, top_p, generator)
        next_token = torch.where(finished, torch.full_like(next_token, pad_token_id), next_token)
        tokens.append(next_token[:, None])
        if len(stops):
            finished |= torch.isin(next_token, stops)
            if bool(finished.all()):
                break
        if step == max_new_tokens - 1:
            break
        attention_mask = torch.cat((attention_mask, torch.ones_like(next_token)[:, None]), dim=-1)
        out = model(next_token[:, None], attention_mask=attention_mask, position_ids=next_positions,
                    past_key_values=cache)
        next_positions = next_positions + 1
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
    streaming). Same sampling as `generate`; a stop token is yielded, then it ends."""
    if input_ids.shape[0] != 1:
        raise FgError(f"stream_tokens continues one prompt, got a batch of {input_ids.shape[0]}")
    model.eval()
    stops = set(stop_token_ids or ())
    cache = KVCache()
    position = input_ids.shape[1]
    out = model(input_ids, past_key_values=cache)
    for step in range(max_new_tokens):
        token = sample_next(out.logits[:, -1], temperature, top_k, top_p, generator)
        yield int(token)
        if int(token) in stops or step == max_new_tokens - 1:
            return
        positions = torch.tensor([[position]], device=input_ids.device)
        out = model(token[:, None], position_ids=positions, past_key_values=cache)
        position += 1


def decode_continuation(tokenizer, prompt_ids: list[int], new_ids: list[int]) -> str:
    """The text `new_ids` add after the prompt.

    Decoded together with the prompt and cut after it: SentencePiece-style tokenizers
    (Llama-2, Mistral) drop the leading space of a sequence's first word, so decoding the
    new ids alone would glue "time" + "there" into "timethere".
    """
    head = tokenizer.decode(prompt_ids, skip_special_tokens=True)
    whole = tokenizer.decode(list(prompt_ids) + list(new_ids), skip_special_tokens=True)
    if whole.startswith(head):
        return whole[len(head):]
    # The prompt's own text changed once followed by more tokens (a merge across the
    # boundary): the new ids alone are the honest answer.
    return tokenizer.decode(new_ids, skip_special_tokens=True)
