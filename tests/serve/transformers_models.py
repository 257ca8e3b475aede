"""Model directories fgtui's own decoder does not read, made offline for the serve tests:
a GPT-2 from transformers' `from_config`, and a model whose code ships in its directory
as Forgather's does (a `DynamicCasualLM` class mapped as AutoModel only, transformers'
`DynamicCache` for its keys and values)."""

from __future__ import annotations

from pathlib import Path

import model_dirs
import torch
from model_dirs import save_shipped_model, small_tokenizer
from serve_helpers import CHAT_TEMPLATE

DYNAMIC_LM_SOURCE = '''
import torch
from transformers import DynamicCache, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast


class TinyDynamicConfig(PretrainedConfig):
    model_type = "fgtui-test-dynamic"

    def __init__(self, vocab_size=64, hidden_size=32, num_hidden_layers=2, max_position_embeddings=128, **kwargs):
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        self.num_hidden_layers, self.max_position_embeddings = num_hidden_layers, max_position_embeddings
        super().__init__(**kwargs)


class DynamicCasualLM(PreTrainedModel):
    """Single-head causal attention layers, keys and values in transformers' DynamicCache."""

    config_class = TinyDynamicConfig

    def __init__(self, config):
        super().__init__(config)
        h = config.hidden_size
        self.embed = torch.nn.Embedding(config.vocab_size, h)
        self.positions = torch.nn.Embedding(config.max_position_embeddings, h)
        self.qkv = torch.nn.ModuleList(torch.nn.Linear(h, 3 * h) for _ in range(config.num_hidden_layers))
        self.out = torch.nn.ModuleList(torch.nn.Linear(h, h) for _ in range(config.num_hidden_layers))
        self.head = torch.nn.Linear(h, config.vocab_size)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None,
                use_cache=None, return_dict=None, logits_to_keep=0, **kwargs):
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache()
        seen = past_key_values.get_seq_length() if past_key_values is not None else 0
        steps = input_ids.shape[1]
        if position_ids is None:
            position_ids = torch.arange(seen, seen + steps, device=input_ids.device)[None]
        x = self.embed(input_ids) + self.positions(position_ids)
        queries_at = torch.arange(seen, seen + steps, device=x.device)[:, None]
        allowed = torch.arange(seen + steps, device=x.device)[None, :] <= queries_at
        for layer, (qkv, out) in enumerate(zip(self.qkv, self.out)):
            q, k, v = (t[:, None] for t in qkv(x).chunk(3, dim=-1))
            if past_key_values is not None and use_cache:
                k, v = past_key_values.update(k, v, layer)
            attended = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
            x = x + out(attended[:, 0])
        logits = self.head(x[:, -logits_to_keep:] if logits_to_keep else x)
        return CausalLMOutputWithPast(logits=logits, past_key_values=past_key_values if use_cache else None)
'''


def tokenizer_with_chat_template():
    tokenizer = small_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def save_gpt2(directory: Path) -> Path:
    tokenizer = tokenizer_with_chat_template()
    return model_dirs.save_gpt2(
        directory, tokenizer, bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id
    )


def save_dynamic_lm(directory: Path) -> Path:
    """The model's code as `dynamic_lm.py` beside its weights; config.json's auto_map names it."""
    tokenizer = tokenizer_with_chat_template()
    return save_shipped_model(
        directory,
        "dynamic_lm.py",
        DYNAMIC_LM_SOURCE,
        "TinyDynamicConfig",
        "DynamicCasualLM",
        tokenizer,
        eos_token_id=tokenizer.eos_token_id,
    )


def greedy_without_cache(model, tokenizer, prompt: str, n: int) -> str:
    """The reference: transformers' model itself, the whole context every step, no cache."""
    from fgtui.engine.models.generate import decode_continuation

    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    new: list[int] = []
    with torch.no_grad():
        for _ in range(n):
            token = int(model(input_ids=ids, return_dict=True).logits[0, -1].argmax())
            if token == tokenizer.eos_token_id:
                break
            new.append(token)
            ids = torch.cat((ids, torch.tensor([[token]])), dim=1)
    return decode_continuation(tokenizer, tokenizer(prompt)["input_ids"], new)
