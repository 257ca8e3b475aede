"""The tokenizer project type (templatelib/tokenizers/bpe.yaml) and the
example tokenizer project that trains on the Lovecraft dataset project."""

from __future__ import annotations

import json
import shutil

import pytest

from dtpl_helpers import TOKENIZER_PROJECT


def test_example_tokenizer_saves_a_hugging_face_tokenizer(tokenizer_dir, tokenizer):
    from transformers import AutoTokenizer

    config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text())
    assert config["model_max_length"] == 2048
    loaded = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    assert len(loaded) == 2048
    assert (loaded.bos_token, loaded.eos_token, loaded.pad_token) == ("<|BOS|>", "<|EOS|>", "<|PAD|>")
    text = "The colour out of space glowed over the blasted heath."
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert len(ids) < len(text) / 2  # merges learned from the stories, not bytes


def test_tokenizer_config_declares_its_options(workspace):
    from fgtui.engine.config import build
    from fgtui.engine.project import Project

    project = Project.open(workspace / TOKENIZER_PROJECT)
    graph = project.load()
    meta = build(graph, "meta")
    assert meta["config_class"] == "type.tokenizer.bpe"
    assert meta["output_dir"] == str(workspace / TOKENIZER_PROJECT / "output_tokenizers" / "lovecraft_bpe")
    options = {spec.long_name: spec for spec in project.dynamic_args()}
    assert options["--vocab-size"].default_value() == 2048
    assert {"--output-dir", "--tokenizer-name", "--model-max-length", "--min-frequency"} <= set(options)


def test_options_change_what_is_trained_and_where(workspace, tmp_path):
    from fgtui.engine.config import build
    from fgtui.engine.project import Project

    project = Project.open(workspace / TOKENIZER_PROJECT)
    out = tmp_path / "tok512"
    tokenizer = build(project.load(None, {"vocab_size": 512, "output_dir": str(out)}))
    assert len(tokenizer) == 512 and (out / "tokenizer.json").is_file()


def test_bpe_template_requires_training_data(workspace, tmp_path):
    from fgtui.engine.errors import FgError
    from fgtui.engine.project import Project

    project_dir = workspace / "tokenizers" / "no_data"
    (project_dir / "templates" / "configs").mkdir(parents=True)
    shutil.copy(workspace / TOKENIZER_PROJECT / "meta.yaml", project_dir)
    (project_dir / "templates" / "configs" / "lovecraft_bpe.yaml").write_text("-- extends 'tokenizers/bpe.yaml'\n")
    with pytest.raises(FgError, match="training_data"):
        Project.open(project_dir).load()


def test_the_default_output_dir_may_not_be_the_project_itself(workspace):
    """A workspace that keeps tokenizer projects in tokenizers/ (as the examples do) makes
    the default output dir, tokenizers/NAME, the project directory: refused before training."""
    from fgtui.engine.config import build
    from fgtui.engine.errors import FgError
    from fgtui.engine.project import Project

    project_dir = workspace / "tokenizers" / "stories_bpe"
    (project_dir / "templates" / "configs").mkdir(parents=True)
    shutil.copy(workspace / TOKENIZER_PROJECT / "meta.yaml", project_dir)
    (project_dir / "templates" / "configs" / "lovecraft_bpe.yaml").write_text(
        "-- extends 'tokenizers/bpe.yaml'\n"
        "[config_metadata]\n"
        "    == super()\n"
        '    -- set ns.tokenizer_name = "stories_bpe"\n'
        "[training_data]\n"
        "training_data: &training_data ['one story', 'another story']\n"
    )
    with pytest.raises(FgError, match="would be saved into the project directory .*stories_bpe"):
        build(Project.open(project_dir).load())
    assert not (project_dir / "tokenizer.json").exists()
