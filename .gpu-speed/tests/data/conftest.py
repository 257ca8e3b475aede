"""Fixtures for data tests: a small public-domain corpus shipped with the
tests, and one tiny tokenizer trained on it per session."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "lovecraft"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def corpus_texts() -> list[str]:
    return [p.read_text() for p in sorted(FIXTURES.glob("*.txt"))]


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory, corpus_texts):
    from fgtui.engine.data import train_bpe_tokenizer

    return train_bpe_tokenizer(corpus_texts, 700, save_dir=tmp_path_factory.mktemp("tok"), show_progress=False)


@pytest.fixture(scope="session")
def raw_splits(corpus_dir, tmp_path_factory):
    from fgtui.engine.data import load_text_dataset

    return load_text_dataset(
        corpus_dir, {"train": "*.txt", "validation": "polaris.txt"}, cache_dir=str(tmp_path_factory.mktemp("hf"))
    )


@pytest.fixture()
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"
