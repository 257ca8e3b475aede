"""Data for the Forgather-style fixture config: a character tokenizer and Lovecraft-like
text built in memory. It imports Forgather the way Forgather projects' Python files do,
so building the config also exercises fgtui's `import forgather...` mapping."""
from __future__ import annotations

from typing import Any

from forgather.ml.loss import CausalLoss  # resolved by fgtui's compatibility layer

TEXT = ("The oldest and strongest emotion of mankind is fear, and the oldest and strongest kind of fear "
        "is fear of the unknown. ") * 8


def tokenizer() -> Any:
    """A character-level transformers tokenizer over TEXT's characters, with pad and eos."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(TEXT))
    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>",
                                   unk_token="<unk>", model_max_length=64)


def dataset(tokenizer, n: int = 48, length: int = 40) -> list[dict]:
    texts = [TEXT[i * 7:i * 7 + length] + tokenizer.eos_token for i in range(n)]
    return [{"input_ids": ids} for ids in tokenizer(texts)["input_ids"]]


def loss_fn() -> CausalLoss:
    """The trainer's loss, made in project code (as a project's own loss module would)."""
    return CausalLoss()
