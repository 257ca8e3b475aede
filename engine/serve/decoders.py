"""How the decode engine runs one kind of model: prefill a prompt, then one token per row.

`DecodeEngine` owns the rows (which sequence, its settings, its newest token);
a decoder owns the model and its keys/values, and answers the same calls for
every kind of model:

- `BatchedDecoder`, fgtui's own CausalLM: every row in flight goes through one
  forward per step, its keys/values kept right-aligned in one `BatchKVCache`.
- `PaddedBatchDecoder`, a transformers causal LM (GPT-2, Forgather's generated
  model, ...) behind `TransformersLM` whose cache is transformers' plain
  `DynamicCache` and which honours the attention mask: the rows' caches are
  joined into one, left-padded to a common length, and one forward per step
  runs every row with a mask hiding the padding and each row's own positions.
  Whether the model honours the mask is checked when the decoder is chosen
  (`padding_is_masked`: the same tokens decoded with and without left padding
  give the same logits), since remote code may ignore it.
- `RowByRowDecoder`, any other: each row keeps the model's own cache, whatever
  its type (a sliding-window or other cache, the tuples older remote code
  returns), and a step runs one batch-1 forward per row. Rows still join and
  leave at any step and each decodes exactly as it would alone, but a step
  costs as many forwards as there are rows.

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


def decoder_for(
    model: Any, max_rows: int, device: torch.device
) -> BatchedDecoder | PaddedBatchDecoder | RowByRowDecoder:
    from fgtui.engine.models.transformers_lm import TransformersLM

    if isinstance(model, TransformersLM):
        return PaddedBatchDecoder(model, device) if padding_is_masked(model, device) else RowByRowDecoder(model, device)
    return BatchedDecoder(model, max_rows, device)


def padding_is_masked(model: Any, device: torch.device) -> bool:
    """Whether `model`'s cache is transformers' plain DynamicCache and a decode step over a
    cache left-padded with noise, the padding masked out, gives the logits it gives without
    the padding. Four tokens through the model, twice; nothing is kept."""
    vocab = int(model.config.vocab_size)
    ids = (torch.arange(4, device=device)[None] * 7 + 1) % vocab
    with torch.inference_mode():
        decoder = PaddedBatchDecoder(model, device)
        prefill = decoder.prefill(ids[:, :3], scored=False)
        if not _is_plain_dynamic_cache(prefill.state.cache.past):
            return False
        decoder.add_row(prefill.state)
        alone = decoder.decode([int(ids[0, 3])], [3])
        decoder.reset()
        decoder.add_row(decoder.prefill(ids[:, :3], scored=False).state)
        decoder.pad_left(2, fill=10.0)  # loud noise: seen through an unmasked position, it shows
        padded = decoder.decode([int(ids[0, 3])], [3])
    scale = float(alone.float().abs().max()) or 1.0
    return bool(torch.allclose(alone.float(), padded.float(), rtol=1e-3, atol=1e-4 * scale))


def _is_plain_dynamic_cache(cache: Any) -> bool:
    """transformers' DynamicCache whose every layer is a full-attention DynamicLayer (keys
    and values [batch, heads, positions, dim] tensors, grown by one per step)."""
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:
        return False
    layers = getattr(cache, "layers", None)
    return (
        type(cache) is DynamicCache
        and bool(layers)
        and all(
            type(layer) is DynamicLayer and isinstance(getattr(layer, "keys", None), torch.Tensor) for layer in layers
        )
    )


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


def _prefill_alone(model: Any, ids: torch.Tensor, scored: bool, device: torch.device) -> Prefill:
    """A transformers model's prompt forward, batch 1, into a cache of its own."""
    cache = model.new_cache()
    logits = model(
        ids,
        attention_mask=torch.ones_like(ids),
        position_ids=torch.arange(ids.shape[1], device=device)[None],
        past_key_values=cache,
        logits_to_keep=0 if scored else 1,  # vocab-wide logits of every position only when scored
    ).logits[0]
    return Prefill(logits[-1:], lambda start, end: logits[start:end], _PromptCache(cache))


class PaddedBatchDecoder:
    """A transformers causal LM with a plain DynamicCache: the rows' caches joined into one,
    left-padded, one forward per step (module docstring)."""

    batched = True

    def __init__(self, model: Any, device: torch.device) -> None:
        self.model, self.device = model, device
        self.reset()

    def reset(self) -> None:
        self._cache: Any = None  # the DynamicCache of every row, [rows, heads, length, dim] per layer
        self._pad: list[int] = []  # leading positions of each row that are padding

    @property
    def _length(self) -> int:
        return int(self._cache.layers[0].keys.shape[-2]) if self._cache is not None else 0

    def prefill(self, ids: torch.Tensor, scored: bool) -> Prefill:
        return _prefill_alone(self.model, ids, scored, self.device)

    def _layers(self) -> list[Any]:
        return list(self._cache.layers)

    def add_row(self, state: _PromptCache) -> None:
        # The prompt's cache is read, never extended: the n choices of a prompt share it.
        joining = state.cache.past
        if not _is_plain_dynamic_cache(joining):
            raise RuntimeError(f"{type(joining).__name__}: not the plain DynamicCache this decoder batches")
        if self._cache is None:
            self._cache = copy.deepcopy(joining)
            self._pad = [0]
            return
        length, theirs = self._length, int(joining.layers[0].keys.shape[-2])
        if theirs > length:
            self.pad_left(theirs - length)
            length = theirs
        for ours, new in zip(self._layers(), joining.layers):
            ours.keys = torch.cat((ours.keys, _left_padded(new.keys, length)))
            ours.values = torch.cat((ours.values, _left_padded(new.values, length)))
        self._pad.append(length - theirs)

    def pad_left(self, count: int, fill: float = 0.0) -> None:
        """Every row `count` positions of padding longer, at the front: zeros, or (`fill`)
        noise of that scale, which a model that honours the mask never sees."""
        for layer in self._layers():
            layer.keys = _left_padded(layer.keys, layer.keys.shape[-2] + count, fill)
            layer.values = _left_padded(layer.values, layer.values.shape[-2] + count, fill)
        self._pad = [pad + count for pad in self._pad]

    def remove_row(self, row: int) -> int | None:
        last = len(self._pad) - 1
        if last == 0:
            self.reset()
            return None
        keep = list(range(last))
        if row != last:
            keep[row] = last  # the last row moves into the freed index
        index = torch.tensor(keep, device=self.device)
        for layer in self._layers():
            layer.keys, layer.values = layer.keys[index], layer.values[index]
        self._pad[row] = self._pad[last]
        self._pad.pop()
        return last if row != last else None

    def decode(self, last: list[int], row_len: list[int]) -> torch.Tensor:
        length = self._length
        mask = torch.ones(len(last), length + 1, dtype=torch.long, device=self.device)
        for row, pad in enumerate(self._pad):
            mask[row, :pad] = 0
        from fgtui.engine.models.transformers_lm import TransformersCache

        cache = TransformersCache(self._cache)
        out = self.model(
            torch.tensor(last, device=self.device)[:, None],
            attention_mask=mask,
            position_ids=torch.tensor(row_len, device=self.device)[:, None],
            past_key_values=cache,
        )
        if not _is_plain_dynamic_cache(cache.past) or cache.past.layers[0].keys.shape[-2] != length + 1:
            raise RuntimeError(f"{type(cache.past).__name__}: the model did not extend its DynamicCache by one")
        self._cache = cache.past
        return out.logits[:, -1]

    def after_step(self, row_len: list[int]) -> None:
        # Padding every row has is dropped: the cache is as long as its longest row.
        common = min(self._pad) if self._pad else 0
        if common:
            for layer in self._layers():
                layer.keys, layer.values = layer.keys[..., common:, :], layer.values[..., common:, :]
            self._pad = [pad - common for pad in self._pad]


def _left_padded(tensor: torch.Tensor, length: int, fill: float = 0.0) -> torch.Tensor:
    """`tensor` [batch, heads, positions, dim] with zeros (or noise of scale `fill`) in front
    up to `length` positions."""
    missing = length - tensor.shape[-2]
    if not missing:
        return tensor
    front = tensor.new_zeros((*tensor.shape[:-2], missing, tensor.shape[-1]))
    if fill:
        generator = torch.Generator(device=tensor.device).manual_seed(0)
        noise = torch.randn(front.shape, generator=generator, device=tensor.device, dtype=torch.float32)
        front = (noise * fill).to(tensor.dtype)
    return torch.cat((front, tensor), dim=-2)


class RowByRowDecoder:
    """A transformers causal LM: one batch-1 forward per row and step (module docstring)."""

    batched = False

    def __init__(self, model: Any, device: torch.device) -> None:
        self.model, self.device = model, device
        self.reset()

    def reset(self) -> None:
        self._caches: list[Any] = []

    def prefill(self, ids: torch.Tensor, scored: bool) -> Prefill:
        return _prefill_alone(self.model, ids, scored, self.device)

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
