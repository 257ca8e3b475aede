"""Loading the model and tokenizer a fine-tune starts from (templatelib/projects/finetune.yaml).

Both come from one local directory: an fgtui `save_pretrained` directory or an
HF Llama / Mistral / Qwen3 one. Nothing is downloaded; a missing `-M` or a
path that is not a model directory is a user error, said in one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError


def _model_dir(model_id_or_path: str | os.PathLike | None) -> Path:
    if not model_id_or_path:
        raise FgError("no model to fine-tune", hint="pass -M/--model-id-or-path MODEL_DIR")
    path = Path(os.fspath(model_id_or_path)).expanduser()
    if not (path / "config.json").is_file():
        raise FgError(
            f"{path} is not a model directory (no config.json)",
            hint="give a directory written by save_pretrained (fgtui or HF Llama/Mistral/Qwen3); "
            "Hub ids are not downloaded",
        )
    return path


def load_finetune_model(
    model_id_or_path: str | os.PathLike | None, dtype: str | None = None, attn_implementation: str | None = None
) -> Any:
    """The model in `model_id_or_path`, on the CPU (the trainer places it), in `dtype`
    (default: the directory's recorded dtype), with `attn_implementation` when given."""
    from fgtui.engine.models.hf_io import load_pretrained

    overrides = {"attn_implementation": attn_implementation} if attn_implementation else {}
    return load_pretrained(_model_dir(model_id_or_path), device="cpu", dtype=dtype, **overrides)


def load_finetune_tokenizer(model_id_or_path: str | os.PathLike | None) -> Any:
    """The tokenizer saved beside the model."""
    from fgtui.engine.data.tokenizer import load_tokenizer

    return load_tokenizer(_model_dir(model_id_or_path))
