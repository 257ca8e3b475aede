"""Data for the Forgather-style fixture config: a character tokenizer and Lovecraft-like
text built in memory. It imports Forgather the way Forgather projects' Python files do,
so building the config also exercises fgtui's `import forgather...` mapping."""
from __future__ import annotations

from forgather.ml.datasets import default_tokenize_map_fn  # resolved by fgtui's compatibility layer

TEXT = ("The oldest and strongest emotion of mankind is fear, and the oldest and strongest kind of fear "
        "is fear of the unknown. ") * 8


class CharTokenizer:
    """Bytes as tokens, with pad and eos appended: enough for DataCollatorForCausalLM."""

    vocab_size = 258
    pad_token_id, eos_token_id = 256, 257
    eos_token = "\x00"
    pad_token = "\x01"
    model_max_length = 64
    padding_side = "right"

    def __call__(self, texts, truncation=False, max_length=None, **_):
        ids = [[b for b in text.replace(self.eos_token, "").encode()] + ([self.eos_token_id] if self.eos_token in text
                                                                        else []) for text in texts]
        if truncation and max_length:
            ids = [row[:max_length] for row in ids]
        return {"input_ids": ids}


def tokenizer() -> CharTokenizer:
    return CharTokenizer()


def dataset(tokenizer, n: int = 48, length: int = 40) -> list[dict]:
    texts = [TEXT[i * 7:i * 7 + length] for i in range(n)]
    return [{"input_ids": ids} for ids in default_tokenize_map_fn({"text": texts}, tokenizer, "text", add_eos=True)
            ["input_ids"]]
