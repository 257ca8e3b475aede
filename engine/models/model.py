"""The decoder stack and the causal LM head, with HF Llama parameter names.

    model.embed_tokens, model.layers.{i}.(self_attn|mlp|input_layernorm|post_attention_layernorm),
    model.norm, lm_head

so state dicts move to and from `transformers` without renaming.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from fgtui.engine.errors import FgError
from fgtui.engine.models.cache import KVCache
from fgtui.engine.models.config import CausalLMConfig
from fgtui.engine.models.loss import causal_lm_loss
from fgtui.engine.models.masks import AttentionMask

CHECKPOINT_POLICIES = ("full", "selective")


@dataclass
class CausalLMOutput:
    """What `CausalLM.forward` returns; fields not computed are None."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: torch.Tensor | None = None
    past_key_values: KVCache | None = None


def positions_from_documents(document_ids: torch.Tensor) -> torch.Tensor:
    """Position ids that restart at 0 where the document id changes along each row."""
    index = torch.arange(document_ids.shape[-1], device=document_ids.device).expand_as(document_ids)
    starts = torch.ones_like(document_ids, dtype=torch.bool)
    starts[:, 1:] = document_ids[:, 1:] != document_ids[:, :-1]
    start_index = torch.where(starts, index, torch.zeros_like(index)).cummax(dim=-1).values
    return index - start_index


class DecoderModel(nn.Module):
    """Embedding, a stack of decoder layers, final norm; the shared positional encoding."""

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        num_hidden_layers: int,
        layer_factory: Callable[..., nn.Module],
        norm_factory: Callable[[int], nn.Module],
        positional_encoding: nn.Module,
        pad_token_id: int | None = None,
    ) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab_size, hidden_size, padding_idx=pad_token_id)
        self.layers = nn.ModuleList(layer_factory(layer_idx=i) for i in range(num_hidden_layers))
        self.norm = norm_factory(hidden_size)
        self.rotary_emb = positional_encoding
        self._checkpoint_context: Callable | None = None
        self._checkpointing = False

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        document_ids: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        batch, seq = input_ids.shape
        past = cache.seq_len if cache is not None else 0
        if attention_mask is not None and attention_mask.shape[-1] != past + seq:
            raise ValueError(
                f"attention_mask covers {attention_mask.shape[-1]} tokens; expected {past + seq} (cached plus new)"
            )
        if position_ids is None:
            if document_ids is not None:
                position_ids = positions_from_documents(document_ids)
            else:
                position_ids = torch.arange(past, past + seq, device=input_ids.device).expand(batch, seq)
        hidden = self.embed_tokens(input_ids)
        position_embeddings = self.rotary_emb(position_ids, hidden.dtype)
        mask = AttentionMask(batch, seq, past + seq, input_ids.device, attention_mask, document_ids)
        # Flex layers share one BlockMask per window, varlen layers one set of sequence
        # bounds (its longest length is a host sync). Built here, eagerly: compiled layers
        # only read them from the mask's cache instead of tracing their construction.
        device_type = input_ids.device.type
        attentions = [getattr(layer, "self_attn", None) for layer in self.layers]
        kernels = [
            (attn.kernel_for(mask, device_type), attn.sliding_window)
            for attn in attentions
            if hasattr(attn, "kernel_for")
        ]
        for window in {window for kernel, window in kernels if kernel == "flex_attention"}:
            mask.block_mask(window)
        if any(kernel == "varlen" for kernel, _ in kernels) and mask.varlen_exact(None):
            mask.varlen_bounds()
        checkpointing = self._checkpointing and self.training and torch.is_grad_enabled() and cache is None
        for layer in self.layers:
            if checkpointing:
                hidden = torch.utils.checkpoint.checkpoint(
                    layer,
                    hidden,
                    position_embeddings,
                    mask,
                    None,
                    use_reentrant=False,
                    **({"context_fn": self._checkpoint_context} if self._checkpoint_context else {}),
                )
            else:
                hidden = layer(hidden, position_embeddings, mask, cache)
        return self.norm(hidden)


class CausalLM(nn.Module):
    """A decoder with a language-model head.

    Batch keys: `input_ids` [B,T]; `labels` [B,T] aligned with inputs (-100 =
    no loss); optional `attention_mask` [B,T(+cached)] (1 = real token),
    `position_ids` [B,T], `document_ids` [B,T] (packed batches: attention stays
    inside a document; positions restart per document if not given).
    """

    def __init__(self, config: CausalLMConfig, model: DecoderModel) -> None:
        super().__init__()
        self.config = config
        self.model = model
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.tie_weights()
        # The loss as one compiled kernel each way (loss.py); off = the eager reference.
        self.fused_pointwise = False

    def tie_weights(self) -> None:
        """Share the input embedding with the output head when the config ties them.

        Call again after `to_empty()` or `load_state_dict(assign=True)`: both replace parameters.
        """
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def new_cache(self) -> KVCache:
        """An empty cache for incremental decoding (what the sampling loop asks every model for)."""
        return KVCache()

    def reset_buffers(self, device: torch.device | str | None = None) -> None:
        """Recompute derived buffers such as RoPE frequencies, on `device` or where they are now.

        Needed after meta construction: non-persistent buffers are in no checkpoint.
        """
        for module in self.modules():
            if module is not self and hasattr(module, "reset_buffers"):
                module.reset_buffers(device) if device is not None else module.reset_buffers()

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        document_ids: torch.Tensor | None = None,
        return_hidden_states: bool = False,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
    ) -> CausalLMOutput:
        """Logits and (with labels) the mean next-token loss.

        With `return_hidden_states=True` the head is skipped: `hidden_states`
        holds the final normed states, `logits` and `loss` are None, and the
        caller computes a fused loss against `lm_head.weight`.
        """
        cache = past_key_values if past_key_values is not None else (KVCache() if use_cache else None)
        hidden = self.model(input_ids, attention_mask, position_ids, document_ids, cache)
        if return_hidden_states:
            return CausalLMOutput(hidden_states=hidden, past_key_values=cache)
        logits = self.lm_head(hidden)
        loss = causal_lm_loss(logits, labels, fused=self.fused_pointwise) if labels is not None else None
        return CausalLMOutput(loss=loss, logits=logits, past_key_values=cache)

    # ------------------------------------------------------------ accounting
    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Parameter count, shared tensors once; `exclude_embeddings` drops the input
        embedding unless it is tied (then it is also the output head and counts)."""
        total = sum(p.numel() for p in self.parameters())
        if exclude_embeddings and not self.config.tie_word_embeddings:
            total -= self.model.embed_tokens.weight.numel()
        return total

    def flops_per_token(self, seq_len: int) -> int:
        """Training FLOPs per token (forward + backward), PaLM appendix B / torchtitan:

            6 * N + 12 * L * H * head_dim * T

        N = parameters without the input embedding (lm_head included, tied counted
        once); the second term is the attention score and value matmuls, with all
        query heads even under GQA and without discounting the causal half.
        Activation recompute is not counted (that would be HFU, not MFU).
        """
        cfg = self.config
        attention = 12 * cfg.num_hidden_layers * cfg.num_attention_heads * cfg.head_dim * seq_len
        return 6 * self.num_parameters(exclude_embeddings=True) + attention

    # ------------------------------------------------- activation checkpointing
    def enable_activation_checkpointing(self, policy: str = "full") -> None:
        """Recompute each decoder layer in backward instead of storing its activations.

        `full` keeps only layer inputs; `selective` also keeps matmul and attention
        outputs, recomputing only cheap element-wise ops (norms, RoPE, SiLU).
        """
        if policy not in CHECKPOINT_POLICIES:
            raise FgError(
                f"unknown activation checkpointing policy {policy!r}", hint="use " + " or ".join(CHECKPOINT_POLICIES)
            )
        self.model._checkpointing = True
        self.model._checkpoint_context = _selective_context() if policy == "selective" else None

    def disable_activation_checkpointing(self) -> None:
        self.model._checkpointing = False
        self.model._checkpoint_context = None


def _selective_context() -> Callable:
    from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

    aten = torch.ops.aten
    saved = {aten.mm.default, aten.bmm.default, aten.addmm.default}
    for name in (
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
    ):
        if hasattr(aten, name):
            saved.add(getattr(aten, name).default)

    def policy(ctx, op, *args, **kwargs):
        return CheckpointPolicy.MUST_SAVE if op in saved else CheckpointPolicy.PREFER_RECOMPUTE

    return partial(create_selective_checkpoint_contexts, policy)
