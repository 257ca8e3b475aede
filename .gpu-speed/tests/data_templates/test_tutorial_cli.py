"""The dataset steps of the H.P. Lovecraft tutorials (seeds 002 and 004),
run as `fgtui` subprocesses: create a workspace and a dataset project from a
shipped template, inspect its splits, block-tokenize with a tokenizer, then
replace the config with tutorial 004's Forgather-spelled lovecraft.yaml and
lovecraft-packed.yaml and check the same commands and the histogram."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dtpl_helpers import EXAMPLES, REPO

FGTUI = Path(sys.executable).parent / "fgtui"
HEADER = "-" * 20 + " example "  # how `fgtui dataset` starts each example it prints
CORPUS = Path("/work/shared/corpora/lovecraft")

# Tutorial 004's lovecraft.yaml, as printed there (Forgather spec names).
LOVECRAFT_YAML = """\
-- extends 'datasets/tokenized_dataset.yaml'

[config_metadata]
    == super()
    -- set ns.config_name = "Lovecraft"
    -- set ns.config_description = "The complete works of H.P. Lovecraft"
    -- set ns.dataset_path = joinpath(project_dir, "../../hp_lovecraft")

[map_function]
.define: &map_function !partial:forgather.ml.datasets:block_tokenize_fn
    max_length: {{ max_length | default(4096) }}
    stride: {{ stride | default(0) }}
    min_len: {{ min_length | default(1) }}

[dataset_dict]
dataset_dict: &dataset_dict !singleton:datasets:load_dataset
    arg0: "text"
    data_dir: {{ ns.dataset_path }}
    sample_by: "document"
    data_files:
        train: "*.txt"                           # train on all files
        validation: "the_call_of_cthulhu.txt"    # validate on this one
        test: "at_the_mountains_of_madness.txt"

[train_dataset]
train_dataset: &train_dataset !singleton:forgather.ml.datasets:preprocess_dataset@train_dataset
    <<: &common_dataset_args
        tokenizer: *tokenizer
        fn_kwargs: !var { name: "preprocess_args", default: null }
        map_fn: *map_function
    dataset: *train_dataset_split
    desc: "Tokenizing train"

[eval_dataset]
eval_dataset: &eval_dataset !singleton:forgather.ml.datasets:preprocess_dataset@eval_dataset
    <<: *common_dataset_args
    dataset: *validation_dataset_split
    desc: "Tokenizing validation"

[test_dataset]
test_dataset: &test_dataset !singleton:forgather.ml.datasets:preprocess_dataset@test_dataset
    <<: *common_dataset_args
    dataset: *validation_dataset_split
    desc: "Tokenizing test"

[dynamic_args]
    == super()
    dataset_path:
        names: "--dataset-path"
        type: path
        help: "Local path to dataset"
    max_length:
        names: "--max-length"
        type: "int"
        help: "Maximum tokens per output block"
    stride:
        names: "--stride"
        type: "int"
        help: "Number of tokens to overlap between blocks"
    min_length:
        names: "--min-length"
        type: "int"
        help: "Minimum example length (tokens)"
"""

LOVECRAFT_PACKED_YAML = """\
-- extends "configs/lovecraft.yaml"

[config_metadata]
    == super()
    -- set ns.config_name = "Lovecraft Packed"
    -- set ns.config_description = "Densely-packed Lovecraft blocks"

[map_function]
.define: &map_function !partial:forgather.ml.datasets:block_tokenize_fn
    max_length: {{ max_length | default(4096) }}
    stride: {{ stride | default(0) }}
    packed: True
    packing_strategy: "best_fit"
    shuffle_output: True
    min_len: {{ min_length | default(64) }}

[train_dataset]
    == super()
    map_kwargs:
        batch_size: 1000    # Larger batches let the packer find better fits.

[eval_dataset]
    == super()
    map_kwargs:
        batch_size: 1000

[test_dataset]
    == super()
    map_kwargs:
        batch_size: 1000
"""

STORIES = {
    "the_call_of_cthulhu.txt": "cthulhu.txt",
    "at_the_mountains_of_madness.txt": "mountains_of_madness.txt",
    "dagon.txt": "dagon.txt",
    "azathoth.txt": "azathoth.txt",
    "memory.txt": "memory.txt",
}


def fgtui(*args: str, cwd: Path, env: dict[str, str]) -> str:
    """Run fgtui; fail the test with its stderr unless it exits 0."""
    result = subprocess.run(
        [str(FGTUI), *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"fgtui {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory, cache_env):
    """A tutorial tree: hp_lovecraft/ (the raw stories) next to a new workspace."""
    if not CORPUS.is_dir():
        pytest.skip("the shared Lovecraft corpus is not available")
    root = tmp_path_factory.mktemp("tutorial")
    corpus = root / "hp_lovecraft"
    corpus.mkdir()
    for name, source in STORIES.items():
        shutil.copy(CORPUS / source, corpus / name)
    fgtui("ws", "create", "--name", "HP Lovecraft Workspace", "-l", "base", cwd=root, env=cache_env)
    return root


@pytest.mark.slow
def test_dataset_project_steps_from_a_shipped_template(tutorial, tokenizer_dir, cache_env):
    workspace = tutorial / "hp_lovecraft_workspace"
    fgtui(
        "project",
        "create",
        "--name",
        "Lovecraft Dataset",
        "--description",
        "The complete works of H.P. Lovecraft",
        "--default-config",
        "lovecraft.yaml",
        str(REPO / "templatelib/datasets/sliding_window.yaml"),
        cwd=workspace,
        env=cache_env,
    )
    project = workspace / "lovecraft_dataset"
    listing = fgtui("ls", cwd=project, env=cache_env)
    assert "PARSE ERROR" not in listing and "[lovecraft.yaml]" in listing

    # Without --dataset-path the template looks in the project's data/ directory.
    built = fgtui(
        "construct", "--target", "dataset_dict", "--var", "dataset_path=../../hp_lovecraft", cwd=project, env=cache_env
    )
    assert "DatasetDict" in built and "num_rows: 5" in built

    story = fgtui(
        "dataset",
        "--target",
        "train_dataset_split",
        "--dataset-path",
        "../../hp_lovecraft",
        "-n",
        "1",
        cwd=project,
        env=cache_env,
    )
    assert story.count(HEADER) == 1 and "characters" in story

    blocks = fgtui(
        "dataset",
        "--target",
        "train_dataset",
        "--dataset-path",
        "../../hp_lovecraft",
        "-T",
        str(tokenizer_dir),
        "--max-length",
        "64",
        "--stride",
        "8",
        "-s",
        "-n",
        "3",
        cwd=project,
        env=cache_env,
    )
    assert blocks.count("64 tokens") == 3


def test_construct_takes_the_configs_dataset_path_option(tutorial, cache_env):
    project = tutorial / "hp_lovecraft_workspace" / "lovecraft_dataset"
    built = fgtui(
        "construct", "--target", "dataset_dict", "--dataset-path", "../../hp_lovecraft", cwd=project, env=cache_env
    )
    assert "DatasetDict" in built


@pytest.mark.slow
def test_tutorial_004_configs_run_unchanged(tutorial, tokenizer_dir, cache_env):
    project = tutorial / "hp_lovecraft_workspace" / "lovecraft_dataset"
    if not project.is_dir():  # when run alone
        fgtui(
            "project",
            "create",
            "--name",
            "Lovecraft Dataset",
            "--default-config",
            "lovecraft.yaml",
            cwd=tutorial / "hp_lovecraft_workspace",
            env=cache_env,
        )
    configs = project / "templates" / "configs"
    (configs / "lovecraft.yaml").write_text(LOVECRAFT_YAML)
    fgtui(
        "project", "new_config", "lovecraft-packed.yaml", "templates/configs/lovecraft.yaml", cwd=project, env=cache_env
    )
    (configs / "lovecraft-packed.yaml").write_text(LOVECRAFT_PACKED_YAML)

    listing = fgtui("ls", cwd=project, env=cache_env)
    assert "PARSE ERROR" not in listing
    assert "Lovecraft Packed : Densely-packed Lovecraft blocks" in listing

    built = fgtui("construct", "--target", "dataset_dict", cwd=project, env=cache_env)
    assert "train" in built and "validation" in built and "test" in built
    story = fgtui("dataset", "--target", "train_dataset_split", "-n", "1", cwd=project, env=cache_env)
    assert story.count(HEADER) == 1
    blocks = fgtui(
        "dataset",
        "--target",
        "train_dataset",
        "-T",
        str(tokenizer_dir),
        "--max-length",
        "64",
        "--stride",
        "8",
        "-s",
        "-n",
        "3",
        cwd=project,
        env=cache_env,
    )
    assert blocks.count("64 tokens") == 3

    packed = fgtui(
        "-t",
        "lovecraft-packed.yaml",
        "dataset",
        "--target",
        "train_dataset",
        "-T",
        str(tokenizer_dir),
        "--max-length",
        "512",
        "-s",
        "-n",
        "2",
        cwd=project,
        env=cache_env,
    )
    assert packed.count("512 tokens") == 2
    histogram = fgtui(
        "-t",
        "lovecraft-packed.yaml",
        "dataset",
        "--target",
        "train_dataset",
        "-T",
        str(tokenizer_dir),
        "--max-length",
        "512",
        "-s",
        "--histogram",
        cwd=project,
        env=cache_env,
    )
    assert "max:    512" in histogram
    # Written where the command ran, never beside the templates.
    assert (project / "lovecraft-packed-train_dataset-lengths.svg").read_text().startswith("<svg")
    assert not list(configs.glob("*.svg"))


def test_ls_lists_the_example_projects_without_parse_errors(cache_env):
    for project in ("datasets/lovecraft", "tokenizers/lovecraft_bpe"):
        listing = fgtui("-p", str(EXAMPLES / project), "ls", cwd=REPO, env=cache_env)
        assert "PARSE ERROR" not in listing and ".yaml" in listing
