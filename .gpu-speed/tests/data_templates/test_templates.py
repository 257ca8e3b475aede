"""The dataset templates in templatelib/datasets and the example dataset
project render, load, declare the tutorials' options and build their targets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dtpl_helpers import DATASET_PROJECT

DATASET_TARGETS = {
    "dataset_dict",
    "train_dataset_split",
    "validation_dataset_split",
    "test_dataset_split",
    "train_dataset",
    "eval_dataset",
    "test_dataset",
    "tokenizer",
    "meta",
    "main",
}
STORIES = ("azathoth.txt", "dagon.txt", "celephais.txt")


def _project(workspace: Path):
    from fgtui.engine.project import Project

    return Project.open(workspace / DATASET_PROJECT)


@pytest.mark.parametrize("config", ["lovecraft.yaml", "lovecraft-packed.yaml"])
def test_example_configs_load_with_all_targets_and_options(workspace, config):
    from fgtui.engine.config import build

    project = _project(workspace)
    graph = project.load(config)
    assert DATASET_TARGETS <= set(graph.targets)
    meta = build(graph, "meta")
    assert meta["config_class"] == "type.dataset"
    assert meta["dataset_path"] == str(workspace / DATASET_PROJECT / "data")
    options = {spec.long_name: spec for spec in project.dynamic_args(config)}
    assert {"--dataset-path", "--max-length", "--stride", "--min-length", "--packed"} <= set(options)
    # The declared defaults are the ones the template uses.
    packed = config == "lovecraft-packed.yaml"
    assert options["--packed"].default_value() is packed and meta["packed"] is packed
    assert options["--stride"].default_value() == (0 if packed else 64)


def test_raw_splits_hold_out_validation_and_test(workspace):
    from fgtui.engine.config import build

    graph = _project(workspace).load("lovecraft.yaml")
    splits = build(graph, ["train_dataset_split", "validation_dataset_split", "test_dataset_split"])
    train, validation, test = (
        splits[name] for name in ("train_dataset_split", "validation_dataset_split", "test_dataset_split")
    )
    assert len(train) == 15 and len(validation) == 1 and len(test) == 1
    assert validation[0]["text"].startswith("THE CALL OF CTHULHU")
    assert not any(row["text"] == validation[0]["text"] for row in train)


def test_sliding_window_blocks_overlap_by_stride(workspace, tokenizer):
    from fgtui.engine.config import build

    graph = _project(workspace).load("lovecraft.yaml", {"max_length": 64, "stride": 8})
    blocks = build(graph, "eval_dataset", context={"tokenizer": tokenizer})
    ids = blocks["input_ids"]
    assert len(blocks) > 10 and all(len(row) <= 64 for row in ids)
    assert all(starts == [0] for starts in blocks["document_starts"])  # one story per block
    assert ids[0][0] == tokenizer.bos_token_id
    for before, after in zip(ids[:5], ids[1:6]):
        assert before[-8:] == after[:8]  # the next window starts with the last 8 tokens of this one


def test_packed_config_fills_blocks_with_several_stories(workspace, tokenizer):
    from fgtui.engine.config import build

    graph = _project(workspace).load("lovecraft-packed.yaml", {"max_length": 256})
    built = build(graph, ["train_dataset", "test_dataset"], context={"tokenizer": tokenizer})
    blocks, test = built["train_dataset"], built["test_dataset"]
    assert len(test) > 5 and max(len(row) for row in test["input_ids"]) == 256
    lengths = [len(row) for row in blocks["input_ids"]]
    assert max(lengths) == 256
    assert any(len(starts) > 1 for starts in blocks["document_starts"])  # short stories share a block
    assert sum(lengths) / (256 * len(lengths)) > 0.95


def test_preprocess_args_from_a_training_project_override_the_template(workspace, tokenizer):
    """What a training project does: from_project with its own seq_len."""
    from fgtui.engine.project import from_project

    blocks = from_project(
        workspace / DATASET_PROJECT,
        "lovecraft.yaml",
        targets="eval_dataset",
        tokenizer=tokenizer,
        preprocess_args={"max_length": 32, "stride": 0},
    )
    assert max(len(row) for row in blocks["input_ids"]) == 32
    assert blocks["input_ids"][1][:8] != blocks["input_ids"][0][-8:]  # stride 0: no overlap


def test_building_blocks_without_a_tokenizer_is_a_user_error(workspace):
    from fgtui.engine.config import build
    from fgtui.engine.errors import FgError

    graph = _project(workspace).load("lovecraft.yaml")
    with pytest.raises(FgError, match="tokenizer"):
        build(graph, "train_dataset")


@pytest.mark.parametrize(
    "template, packed, stride",
    [
        ("datasets/local_text.yaml", False, 0),
        ("datasets/sliding_window.yaml", False, 64),
        ("datasets/packed.yaml", True, 0),
    ],
)
def test_library_templates_as_one_line_configs(workspace, tokenizer, template, packed, stride):
    """Each library template works as a project's config by extending it."""
    from fgtui.engine.config import build
    from fgtui.engine.project import Project

    project_dir = workspace / "datasets" / f"lib_{Path(template).stem}"
    (project_dir / "templates" / "configs").mkdir(parents=True)
    (project_dir / "meta.yaml").write_text('-- extends "meta_defaults.yaml"\n')
    (project_dir / "templates" / "configs" / "default.yaml").write_text(f"-- extends '{template}'\n")
    data = project_dir / "data"
    data.mkdir()
    for story in STORIES:
        shutil.copy(workspace / DATASET_PROJECT / "data" / "train" / story, data)

    project = Project.open(project_dir)
    graph = project.load("default.yaml", {"max_length": 128})
    assert DATASET_TARGETS <= set(graph.targets)
    meta = build(graph, "meta")
    assert meta["packed"] is packed and meta["max_length"] == 128
    split = build(graph, "train_dataset_split")
    assert len(split) == len(STORIES)
    blocks = build(graph, "train_dataset", context={"tokenizer": tokenizer})
    ids = blocks["input_ids"]
    assert all(len(row) <= 128 for row in ids)
    several = any(len(starts) > 1 for starts in blocks["document_starts"])
    assert several is packed
    # Consecutive windows of one story share `stride` tokens.
    overlaps = ids[0][-64:] == ids[1][:64]
    assert overlaps is (stride == 64)
