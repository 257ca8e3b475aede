"""templatelib/base: the config-type chain and the block layout children override."""

from __future__ import annotations

import pytest

from fgtui.engine.project import Project
from fgtui.engine.project.scaffold import create_workspace

from fgproj_helpers import write

CHILDREN = {
    "causal_lm.yaml": (
        """\
-- extends 'training_script/causal_lm/causal_lm.yaml'
[config_metadata]
    == super()
    -- set ns.config_name = "LM"
    -- set ns.model_name = "tiny"
[construct_new_model]
tokenizer: &tokenizer !dict { kind: tok }
model: &model !dict { kind: model }
[datasets_definition]
train_dataset: &train_dataset [1, 2]
eval_dataset: &eval_dataset [3]
[trainer_definition]
trainer: &trainer !dict { model: *model, train: *train_dataset }
[main_output]
main: *trainer
""",
        "type.training_script.causal_lm",
    ),
    "model.yaml": (
        """\
-- extends 'models/model_type.yaml'
[model_definition]
tokenizer: &tokenizer tok
model: &model net
""",
        "type.model",
    ),
    "dataset.yaml": (
        """\
-- extends 'datasets/dataset_type.yaml'
[main_body]
train_dataset: &train_dataset [1]
eval_dataset: &eval_dataset [2]
""",
        "type.dataset",
    ),
    "tokenizer.yaml": (
        """\
-- extends 'tokenizers/tokenizer_type.yaml'
[main_body]
tokenizer: &tokenizer !dict { vocab: {{ ns.vocab_size }} }
""",
        "type.tokenizer",
    ),
}


@pytest.fixture
def project(tmp_path, isolated_home):
    root, _ = create_workspace(tmp_path, "W")
    write(root, {"p/meta.yaml": '-- extends "meta_defaults.yaml"\n[configs]\nname: "P"\n'})
    write(root, {f"p/templates/configs/{name}": text for name, (text, _) in CHILDREN.items()})
    return Project.open(root / "p")


@pytest.mark.parametrize("name", sorted(CHILDREN))
def test_config_class_chain_and_meta(project, name):
    from fgtui.engine.config import build

    graph = project.load(name)
    meta = build(graph, target="meta")
    assert meta["config_class"] == CHILDREN[name][1]
    assert meta["project_dir"] == str(project.project_dir)
    assert meta["forgather_dir"] == meta["fgtui_dir"]
    assert {"meta", "main", "dynamic_args"} <= set(graph.targets)
    build(graph, target="main")


def test_training_script_layout_and_options(project):
    from fgtui.engine.config import build

    rendered = project.render("causal_lm.yaml")
    text = rendered.text
    # Anchors must be defined in this order for aliases to resolve.
    assert text.index("model:") < text.index("train_dataset:") < text.index("trainer:")
    assert "# python:" in text  # the header lists versions
    graph = project.load("causal_lm.yaml")
    assert build(graph)["train"] == [1, 2]
    meta = build(graph, target="meta")
    assert meta["output_dir"].endswith("output_models/tiny") and meta["nproc_per_node"] == 1
    assert [s.dest for s in project.dynamic_args("causal_lm.yaml")] == ["max_steps", "save_strategy"]


def test_tokenizer_options_default_to_what_the_template_computes(project):
    specs = {s.dest: s for s in project.dynamic_args("tokenizer.yaml")}
    assert specs["vocab_size"].default == 32000 and specs["model_max_length"].default == 2048
    assert not specs["output_dir"].has_default  # derived from --tokenizer-name
    from fgtui.engine.config import build

    assert build(project.load("tokenizer.yaml", {"vocab_size": 99})) == {"vocab": 99}


def test_a_required_block_left_out_is_reported(project):
    from fgtui.engine.errors import FgError

    (project.config_dir() / "incomplete.yaml").write_text("-- extends 'config_type.yaml'\n")
    with pytest.raises(FgError, match="main_body|main_output|required"):
        project.render("incomplete.yaml")
