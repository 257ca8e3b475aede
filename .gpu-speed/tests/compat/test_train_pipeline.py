"""Forgather's pipeline trainer and manual splitter under fgtui."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from compat_helpers import fixture_config  # noqa: E402

from fgtui.engine.compat.forgather.ml.trainer.pipeline import stage_modules  # noqa: E402
from fgtui.engine.errors import FgError  # noqa: E402

PIPELINE = {
    "forgather.ml.trainer:Trainer@trainer": "forgather.ml.trainer.pipeline:PipelineTrainer@trainer",
    "    fused_loss_factory: null\n": (
        "    fused_loss_factory: null\n"
        "    pipe_schedule_factory: !partial:torch.distributed.pipelining:ScheduleGPipe\n"
        "    model_splitter: !call:forgather.ml.trainer.pipeline:create_manual_causal_lm_splitter\n"
    ),
    "    seed: 42\n": "    seed: 42\n    n_microbatches: 4\n",
}


def test_stage_plan_weights_the_encoder_and_decoder():
    assert stage_modules(2, 4) == [
        ["input_encoder", "layer_stack.layers.0", "layer_stack.layers.1"],
        ["layer_stack.layers.2", "layer_stack.layers.3", "layer_stack.layer_norm", "output_decoder"],
    ]
    plan = stage_modules(3, 6, input_weight=2, output_weight=1)
    assert plan[0] == ["input_encoder", "layer_stack.layers.0"]
    assert [n for names in plan for n in names if n.startswith("layer_stack.layers.")] == [
        f"layer_stack.layers.{i}" for i in range(6)
    ]
    assert stage_modules(1, 2) == [
        ["input_encoder", "layer_stack.layers.0", "layer_stack.layers.1", "layer_stack.layer_norm", "output_decoder"]
    ]
    with pytest.raises(FgError, match="leave empty stages"):
        stage_modules(5, 1, 0, 0)


def casual_lm_shaped(layers: int = 4):
    """A model laid out as Forgather's CasualLM (the names its splitter works on)."""
    from types import SimpleNamespace

    from torch import nn

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleDict({str(i): nn.Linear(4, 4) for i in range(layers)})
            self.layer_norm = nn.LayerNorm(4)

    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_encoder = nn.Embedding(10, 4)
            self.layer_stack = Stack()

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = SimpleNamespace(num_hidden_layers=layers)
            self.causal_lm = Inner()
            self.lm_head = nn.Linear(4, 10)

        def get_attn_mask_fn(self):
            return "mask-fn"

    return Model()


@pytest.fixture
def one_rank_group():
    import torch.distributed as dist

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield dist.group.WORLD
    dist.destroy_process_group()


def test_manual_splitter_cuts_stages_and_builds_this_ranks(one_rank_group):
    import torch

    from fgtui.engine.config import specs

    splitter = specs.resolve("forgather.ml.trainer.pipeline:create_manual_causal_lm_splitter")()
    model = casual_lm_shaped()
    stages, mine, pipeline_stages, mask_fn = splitter(
        model, (), {}, [(0, 2), (1,)], True, torch.device("cpu"), 0, one_rank_group
    )
    assert len(stages) == 3 and mine == [stages[0], stages[2]] and mask_fn == "mask-fn"
    assert [s.stage_index for s in pipeline_stages] == [0, 2]
    first, middle, last = stages
    assert first.causal_lm.input_encoder is not None and first.lm_head is None
    assert list(first.causal_lm.layer_stack.layers) == ["0"] and first.causal_lm.layer_stack.layer_norm is None
    assert middle.causal_lm.input_encoder is None and list(middle.causal_lm.layer_stack.layers) == ["1", "2"]
    assert list(last.causal_lm.layer_stack.layers) == ["3"] and last.lm_head is not None
    assert len(model.causal_lm.layer_stack.layers) == 4  # the model itself is untouched


def test_pipeline_config_trains_in_one_process(tmp_path, capsys, monkeypatch):
    from fgtui.engine.config import build, load_graph

    monkeypatch.delenv("FGTUI_RUN_DIR", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    config = fixture_config(tmp_path, max_steps=4, replace=PIPELINE)
    main = build(load_graph(config.read_text(), str(config)), "main")
    assert type(main.trainer).__name__ == "PipelineTrainer"
    assert main.trainer.args.dataloader_drop_last is True
    assert main.train() == 0
    assert "training completed at step 4" in capsys.readouterr().out


def test_several_ranks_map_onto_fgtuis_pipeline(tmp_path, monkeypatch):
    from fgtui.engine.config import build, load_graph

    monkeypatch.setenv("WORLD_SIZE", "2")
    config = fixture_config(
        tmp_path,
        replace={
            **PIPELINE,
            "ScheduleGPipe": "ScheduleInterleaved1F1B",
        },
    )
    args = build(load_graph(config.read_text(), str(config)), "main").trainer.args
    assert (args.pipeline_parallel_size, args.pipeline_schedule, args.pipeline_microbatches) == (
        2,
        "interleaved_1f1b",
        4,
    )
    assert args.data_parallel == "none"


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"n_microbatches: 4": "n_microbatches: 3"}, "does not split into n_microbatches 3"),
        ({"ScheduleGPipe": "ScheduleZBVZeroBubble"}, "ScheduleZBVZeroBubble is not one of"),
        ({"    model_init: *model_preprocessor\n": "    model: !call:call [ *model ]\n"}, "give it model_init"),
    ],
)
def test_pipeline_arguments_forgather_refuses_are_refused(tmp_path, replace, message):
    from fgtui.engine.config import build, load_graph

    config = fixture_config(tmp_path, replace=PIPELINE)
    text = config.read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    config.write_text(text)
    with pytest.raises(FgError, match=message):
        build(load_graph(text, str(config)), "main")
