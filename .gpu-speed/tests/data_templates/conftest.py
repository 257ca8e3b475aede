"""Fixtures for the dataset and tokenizer templates: a copy of the example
workspace (so histograms and tokenizers are written to tmp, not the repo),
with every cache pointed at tmp as well."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dtpl_helpers import DATASET_PROJECT, EXAMPLES, TOKENIZER_PROJECT


@pytest.fixture(scope="session")
def cache_env(tmp_path_factory):
    """Environment for fgtui subprocesses and in-process builds: HF and fgtui
    caches in tmp, no network."""
    root = tmp_path_factory.mktemp("caches")
    env = {
        "HF_DATASETS_CACHE": str(root / "hf"),
        "FGTUI_CACHE_DIR": str(root / "fgtui"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    patch = pytest.MonkeyPatch()
    for key, value in env.items():
        patch.setenv(key, value)
    yield env
    patch.undo()


@pytest.fixture(scope="session")
def workspace(tmp_path_factory, cache_env) -> Path:
    """The example workspace with the Lovecraft dataset and tokenizer projects."""
    root = tmp_path_factory.mktemp("ws") / "examples"
    shutil.copytree(EXAMPLES / "forgather_workspace", root / "forgather_workspace")
    for project in (DATASET_PROJECT, TOKENIZER_PROJECT):
        shutil.copytree(EXAMPLES / project, root / project, ignore=shutil.ignore_patterns("output_tokenizers", "*.svg"))
    return root


@pytest.fixture(scope="session")
def tokenizer_dir(workspace) -> Path:
    """The example tokenizer project's `main`: trained once, saved in HF format."""
    from fgtui.engine.config import build
    from fgtui.engine.project import Project

    project = Project.open(workspace / TOKENIZER_PROJECT)
    build(project.load())
    out = workspace / TOKENIZER_PROJECT / "output_tokenizers" / "lovecraft_bpe"
    assert (out / "tokenizer.json").is_file()
    return out


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir):
    from fgtui.engine.data import load_tokenizer

    return load_tokenizer(tokenizer_dir)
