"""templatelib/trainers/parallel.yaml: --trainer-type picks the layout the Trainer gets."""

from __future__ import annotations

import shutil

import pytest

import test_template
from test_template import EXAMPLES

CONFIG = test_template.CONFIG.replace("trainers/trainer.yaml", "trainers/parallel.yaml")


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


def layout(trainer):
    a = trainer.args
    return a.data_parallel, a.tensor_parallel_size, a.pipeline_parallel_size


@pytest.mark.parametrize(
    "variables, expected",
    [
        ({"world_size": 1}, ("none", 1, 1)),
        ({"world_size": 2}, ("ddp", 1, 1)),
        ({"world_size": 4, "trainer_type": "fsdp2", "tp": 2}, ("fsdp2", 2, 1)),
        ({"world_size": 2, "trainer_type": "tp"}, ("none", 2, 1)),
        (
            {"world_size": 4, "trainer_type": "pipeline", "microbatches": 4, "pipeline_schedule": "gpipe"},
            ("none", 1, 4),
        ),
    ],
)
def test_trainer_type_sets_the_layout(project, variables, expected):
    trainer = test_template._build(project, max_steps=3, **variables)
    assert layout(trainer) == expected
    if variables.get("trainer_type") == "pipeline":
        assert (trainer.args.pipeline_microbatches, trainer.args.pipeline_schedule) == (4, "gpipe")


def test_token_budget_counts_data_parallel_ranks_only(project):
    # 1000 tokens at 16 tokens x 4 rows per data rank: 2 data ranks (fsdp2 x tp 2 over 4
    # processes) take 128 tokens a step, so 7 steps; counting all 4 ranks would give 3.
    trainer = test_template._build(project, total_tokens=0.001, world_size=4, trainer_type="fsdp2", tp=2)
    assert trainer.args.max_steps == 7


def test_two_devices_dry_run_starts_two_processes(tmp_path, capsys):
    from fgtui.engine.cli import main

    config = tmp_path / "c.yaml"
    config.write_text(f"output_dir: {tmp_path}\nrun_name: r\nmain: !singleton:dict {{}}\n")
    assert main(["-t", str(config), "train", "--dry-run", "-d", "0,1"]) == 0
    assert (
        "torch.distributed.run --standalone --nproc-per-node=2 -m fgtui.engine.train.entry" in capsys.readouterr().out
    )
