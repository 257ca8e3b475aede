"""Paths shared by the dataset/tokenizer template tests (a uniquely named
module: several test directories have a conftest.py)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
DATASET_PROJECT = Path("datasets/lovecraft")
TOKENIZER_PROJECT = Path("tokenizers/lovecraft_bpe")
