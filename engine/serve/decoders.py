"""How the decode engine runs one kind of model: prefill a prompt, then one token per row.

`DecodeEngine` owns the rows (which sequence, its settings, its newest token);
a decoder owns the model and its keys/values, and answers the same calls for
every kind of model:

- `BatchedDecoder`, fgtui's own CausalLM: every row in flight goes through one
  forward per step, its keys/values kept right-aligned in one `BatchKVCache`.
- `RowByRowDecoder`, any other transformers causal LM (GPT-2, Forgather's
  generated model, ...) behind `TransformersLM`: each row keeps the model's own
  cache, whatever its type (transformers' `Cache`, or the tuples older remote
  code returns), and a step runs one batch-1 forward per row. Rows still join
  and leave at any step and each decodes exactly as it would alone, but a step
  costs as many forwards as there are rows: concurrent requests share the
  server, not the forward. Batching those rows would need each model's cache
  padded, masked and re-aligned as rows come and go, which transformers gives
  no common interface for.

Rows leave as in `BatchKVCache.remove_row`: the last row moves into the freed
index, so the engine's per-row columns move the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from fgtui.engine.models.cache import KVCache
from fgtui.engine.serve.batch_cache import BatchKVCache


@dataclass
class Prefill:
    """A prompt run through the model once: its next-token logits [1, vocab], the logits
    after prompt positions [start, end) on demand (prompt scoring), and the state a row
    starts from (shared by the n choices of the prompt)."""

    last: torch.Tensor
    logits_between: Callable[[int, int], torch.Tensor]
    state: Any


def decoder_for(model: Any, max_rows: int, device: torch.device) -> BatchedDecoder | RowByRowDecoder:
    from fgtui.engine.models.transformers_lm import TransformersLM

    if isinstance(model, TransformersLM):
        return RowByRowDecoder(model, device)
    return BatchedDecoder(model, max_rows, device)


class BatchedDecoder:
    """fgtui's CausalLM: one forward per step for all rows (see batch_cache.py)."""

    batched = True

    def __init__(self, model: Any, max_rows: int, device: torch.device) -> None:
        self.model, self.max_rows, self.device = model, max_rows, device
        self.reset()

    def reset(self) -> None:
        self._cache = BatchKVCache(self.max_rows, self.device)

    def prefill(self, ids: torch.Tensor, scored: bool) -> Prefill:
        cache = KVCache()
        hidden = self.model(ids, past_key_values=cache, return_hidden_states=True).hidden_states[0]
        head = self.model.lm_head
        return Prefill(head(hidden[-1:]), lambda start, end: head(hidden[start:end]), cache)

    def add_row(self, state: KVCache) -> None:
        self._cache.add_row(state)

    def remove_row(self, row: int) -> int | None:
        return self._cache.remove_row(row)

    def decode(self, last: list[int], row_len: list[int]) -> torch.Tensor:
        tokens = torch.tensor(last, device=self.device)[:, None]
        positions = torch.tensor(row_len, device=self.device)[:, None]
        mask = self._cache.step_mask()
        out = self.model(tokens, attention_mask=mask, position_ids=positions, past_key_values=self._cache)
        self._cache.advance(1)
        return out.logits[:, -1]

    def after_step(self, row_len: list[int]) -> None:
        if row_len:
            self._cache.trim(min(self._cache.length - n for n in row_len))


@dataclass
class _PromptCache:
    cache: Any
    taken: bool = False


class RowByRowDecoder:
    """A transformers causal LM: one batch-1 forward per row and step (module docstring)."""

    batched = False

    def __init__(self, model: Any, device: torch.device) -> None:
        self.model, self.device = model, device
        self.reset()

    def reset(self) -> None:
        self._caches: list[Any] = []

    def prefill(self, ids: torch.Tensor, scored: bool) -> Prefill:
        cache = self.model.new_cache()
        logits = self.model(
            ids,
            attention_mask=torch.ones_like(ids),
            position_ids=torch.arange(ids.shape[1], device=self.device)[None],
            past_key_values=cache,
            logits_to_keep=0 if scored else 1,  # vocab-wide logits of every position only when scored
        ).logits[0]
        return Prefill(logits[-1:], lambda start, end: logits[start:end], _PromptCache(cache))

    def add_row(self, state: _PromptCache) -> None:
        # The forward extends a cache in place: the first row takes the prompt's, each
        # further choice of the same prompt its own copy.
        self._caches.append(state.cache if not state.taken else copy.deepcopy(state.cache))
        state.taken = True

    def remove_row(self, row: int) -> int | None:
        last = len(self._caches) - 1
        moved = None
        if row != last:
            self._caches[row] = self._caches[last]
            moved = last
        self._caches.pop()
        return moved

    def decode(self, last: list[int], row_len: list[int]) -> torch.Tensor:
        logits = []
        for token, length, cache in zip(last, row_len, self._caches):
            out = self.model(
                torch.tensor([[token]], device=self.device),
                attention_mask=torch.ones(1, length + 1, dtype=torch.long, device=self.device),
                position_ids=torch.tensor([[length]], device=self.device),
                past_key_values=cache,
            )
            logits.append(out.logits[:, -1])
        return torch.cat(logits)

    def after_step(self, row_len: list[int]) -> None:
        pass
