"""templatelib/trainers/trainer.yaml: rendered in a project, built, trained."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import fgtui
import tiny

EXAMPLES = Path(fgtui.__file__).parent / "examples"
TINY = tiny.__file__

CONFIG = f"""-- extends 'trainers/trainer.yaml'

[config_metadata]
    == super()
    -- set ns.config_name = "Tiny"
    -- set ns.model_name = "tiny"
    -- set ns.seq_len = seq_len | default(16)
    -- set ns.per_device_train_batch_size = batch_size | default(4)
    -- set ns.logging_steps = 1
    -- set ns.eval_steps = 2

[model_definition]
tokenizer: &tokenizer null
model: &model !singleton:{TINY}:TinyLM {{}}

[datasets_definition]
train_dataset: &train_dataset !singleton:{TINY}:dataset {{}}
eval_dataset: &eval_dataset !singleton:{TINY}:dataset {{ n: 8, seed: 2 }}

[datacollator]
data_collator: &data_collator !partial:{TINY}:collate {{}}
"""


@pytest.fixture
def project(tmp_path):
    workspace = tmp_path / "ws"
    shutil.copytree(EXAMPLES / "forgather_workspace", workspace / "forgather_workspace")
    project = workspace / "tiny"
    (project / "templates" / "configs").mkdir(parents=True)
    (project / "meta.yaml").write_text(
        '-- extends "meta_defaults.yaml"\n\n[configs]\nname: "Tiny"\n'
        'config_prefix: "configs"\ndefault_config: "train.yaml"\n'
    )
    (project / "templates" / "configs" / "train.yaml").write_text(CONFIG)
    return project


def _build(project, **variables):
    from fgtui.engine.config import build, load_graph
    from fgtui.engine.project.project import Project

    rendered = Project.open(project).render(None, variables)
    return build(load_graph(rendered.text, rendered.source), "main")


def test_token_budget_and_lr_scaling_reach_the_trainer(project):
    trainer = _build(project, total_tokens=0.001, world_size=2, lr=1e-3, warmup_tokens=0.0002, annealing_tokens=0.0003)
    tokens_per_step = 16 * 4 * 1 * 2
    assert trainer.args.max_steps == 1000 // tokens_per_step == 7
    assert trainer.optimizer_factory.keywords["lr"] == pytest.approx(1e-3 * (tokens_per_step / 4096) ** 0.5)
    assert trainer.lr_scheduler_factory.func.__name__ == "WSDScheduler"
    assert trainer.lr_scheduler_factory.keywords == {"warmup_steps": 1, "decay_steps": 2, "decay_start_step": 5}
    assert trainer.args.output_dir == str(project / "output_models" / "tiny")


def test_the_template_trains(project):
    trainer = _build(project, max_steps=3, save_strategy="no")
    assert trainer.train() == 0
    records = tiny.read_records(next((project / "output_models" / "tiny" / "runs").iterdir()))
    assert [r["step"] for r in records if r["type"] == "train"] == [1, 2, 3]
    assert [r["step"] for r in records if r["type"] == "eval"] == [2]
