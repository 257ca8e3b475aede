"""Model directories fgtui's own decoder does not read, made offline for tests (the Hub
is unreachable): a GPT-2 from transformers' `from_config`, and a model whose code ships
beside its weights, mapped in config.json's auto_map as Forgather writes it."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

import fgtui

CORPUS = Path(fgtui.__file__).parent / "examples" / "datasets" / "lovecraft" / "data" / "train"


def small_tokenizer(stories: int = 2, vocab_size: int = 300):
    """A byte-level BPE trained on the first `stories` bundled stories."""
    from fgtui.engine.data.tokenizer import train_bpe_tokenizer

    texts = [p.read_text() for p in sorted(CORPUS.glob("*.txt"))[:stories]]
    return train_bpe_tokenizer(texts, vocab_size=vocab_size, show_progress=False)


def save_gpt2(directory: Path, tokenizer, **config) -> Path:
    """A 2-layer GPT-2 of seed 0 and `tokenizer`, saved with save_pretrained."""
    from transformers import AutoModelForCausalLM, GPT2Config

    torch.manual_seed(0)
    shape = dict(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=128)
    AutoModelForCausalLM.from_config(GPT2Config(**shape, **config)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def save_shipped_model(
    directory: Path, file_name: str, source: str, config_class: str, model_class: str, tokenizer, **config
) -> Path:
    """`source` saved as `file_name` in `directory`, its `model_class(config_class(...))` of
    seed 0 saved beside it with `tokenizer`, and config.json's auto_map naming both classes
    (AutoModel only, as Forgather maps its generated model)."""
    directory.mkdir(parents=True)
    (directory / file_name).write_text(source)
    stem = Path(file_name).stem
    spec = importlib.util.spec_from_file_location(f"fgtui_test_{stem}", directory / file_name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # transformers 5.1 looks the model's module up there
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model_config = getattr(module, config_class)(vocab_size=len(tokenizer), **config)
    getattr(module, model_class)(model_config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    data = json.loads((directory / "config.json").read_text())
    data["auto_map"] = {"AutoConfig": f"{stem}.{config_class}", "AutoModel": f"{stem}.{model_class}"}
    (directory / "config.json").write_text(json.dumps(data))
    return directory
