"""Forgather's own example projects under fgtui: a tokenizer project trains its tokenizer, a
training config trains a few steps (CPU), with local stand-ins for the Hub (see compat_helpers).
Needs ../shared (skipped without it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from compat_helpers import SHARED, forgather_tree, hub_stand_in  # noqa: E402

pytestmark = pytest.mark.skipif(SHARED is None, reason="needs ../shared (Forgather's tree and the corpora)")


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("FGTUI_RUN_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_tokenizer_project_trains_its_tokenizer(offline):
    from fgtui.engine.compat.forgather.project import from_project

    tree = forgather_tree(offline, ["tokenizers/tiny_stories_bpe"])
    hub_stand_in(offline, "roneneldan/TinyStories", train=600, validation=20)
    tokenizer = from_project(tree / "examples" / "tokenizers" / "tiny_stories_bpe", "2k.yaml")
    assert len(tokenizer) == 2000
    assert (tree / "tokenizers" / "tiny_stories_2k" / "tokenizer.json").is_file()
    ids = tokenizer("The oldest and strongest emotion of mankind")["input_ids"]
    assert (
        ids[0] == tokenizer.bos_token_id
        and tokenizer.decode(ids[1:]).strip() == "The oldest and strongest emotion of mankind"
    )


@pytest.mark.slow
def test_tiny_llama_hf_config_trains(offline, capsys):
    from fgtui.engine.compat.forgather.project import from_project

    tree = forgather_tree(offline, ["tutorials/tiny_llama", "models/llama", "datasets", "tokenizers/tiny_stories_bpe"])
    hub_stand_in(offline, "roneneldan/TinyStories", train=700, validation=16)
    main = from_project(
        tree / "examples" / "tutorials" / "tiny_llama", "train_hf_llama.yaml", pp_kwargs={"max_steps": 2}
    )
    assert type(main).__name__ == "TrainingScript"
    assert main.train() == 0
    assert "training completed at step 2" in capsys.readouterr().out
    output = tree / "examples" / "tutorials" / "tiny_llama" / "output_models" / "hf_llama"
    [log] = list((output / "runs").glob("*/metrics.jsonl"))
    train = [json.loads(line) for line in log.read_text().splitlines() if '"train"' in line]
    assert train and train[-1]["step"] == 2
