"""`forgather.ml.trainer.pipeline`: Forgather's pipeline-parallel trainer on fgtui's pipeline
support (engine/train/pipeline.py).

Forgather's `PipelineTrainer` cuts the model into one stage per rank with its
`model_splitter` and runs a `torch.distributed.pipelining` schedule over micro-batches.
Here the arguments map onto fgtui's: pipeline_parallel_size = the number of ranks,
pipeline_microbatches = n_microbatches, the schedule from `pipe_schedule_factory`
(ScheduleGPipe, Schedule1F1B, ScheduleInterleaved1F1B). fgtui splits its own CausalLM
by decoder layers; a run of one process trains the whole model as the single stage,
which is what a one-rank pipeline computes. Over several ranks a model that is not
fgtui's CausalLM is refused when training starts (fgtui's stages are cut from its own
decoder), naming the model.

`create_manual_causal_lm_splitter` is Forgather's splitter for its CasualLM-shaped
models (input_encoder, layer_stack.layers.N, layer_stack.layer_norm, output_decoder):
it gives each stage the modules Forgather's weighting assigns it and builds the
`PipelineStage`s, following Forgather's ModelSplitter call convention.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any, Callable

from fgtui.engine.compat.forgather.ml.trainer.trainer import Trainer, TrainingArguments
from fgtui.engine.errors import FgError

# torch.distributed.pipelining schedule classes -> fgtui's pipeline_schedule names
SCHEDULES = {"ScheduleGPipe": "gpipe", "Schedule1F1B": "1f1b", "ScheduleInterleaved1F1B": "interleaved_1f1b"}


@dataclass(kw_only=True)
class PipelineTrainingArguments(TrainingArguments):
    debug_pipeline: bool = False
    debug_split_model: bool = False
    debug_model_params: bool = False
    debug_model_init: bool = False
    n_microbatches: int = 4
    stages_per_rank: int = 1
    pp_stage_type: str = "loop"
    is_multistage: bool = False


def schedule_name(factory: Any) -> str:
    """fgtui's name for the schedule class `factory` makes (a class or a partial of one)."""
    target = getattr(factory, "func", factory)
    name = getattr(target, "__name__", type(target).__name__)
    if name not in SCHEDULES:
        raise FgError(
            f"pipe_schedule_factory {name} is not one of fgtui's pipeline schedules ({', '.join(SCHEDULES)})",
            hint="use ScheduleGPipe, Schedule1F1B or ScheduleInterleaved1F1B",
        )
    return SCHEDULES[name]


class PipelineTrainer(Trainer):
    arguments_class = PipelineTrainingArguments

    def __init__(
        self,
        *,
        args: Any,
        model_splitter: Callable | None = None,
        pipe_schedule_factory: Any = None,
        **kwargs: Any,
    ) -> None:
        from fgtui.engine.compat.forgather.ml.trainer.trainer import as_arguments

        forgather_args = as_arguments(args, PipelineTrainingArguments)
        if kwargs.get("model") is not None or kwargs.get("model_init") is None:
            raise FgError(
                "the pipeline trainer builds its model itself: give it model_init (a constructor), not model",
                hint="Forgather's pipeline configs pass the model factory as model_init",
            )
        if forgather_args.mixed_precision == "fp16":
            raise FgError("the pipeline trainer does not take fp16 mixed precision", hint="use bf16")
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size"):
            size = getattr(forgather_args, name)
            if size % forgather_args.n_microbatches:
                raise FgError(
                    f"{name} {size} does not split into n_microbatches {forgather_args.n_microbatches}",
                    hint="make the batch sizes multiples of n_microbatches",
                )
        if forgather_args.stages_per_rank != 1 and not forgather_args.is_multistage:
            raise FgError("stages_per_rank above 1 needs a multi-stage schedule (is_multistage: true)")
        # Every micro-batch must have one shape, as in Forgather.
        forgather_args.dataloader_drop_last = True
        self.model_splitter = model_splitter
        self.schedule = schedule_name(pipe_schedule_factory) if pipe_schedule_factory is not None else "gpipe"
        super().__init__(args=forgather_args, **kwargs)
        ranks = int(os.environ.get("WORLD_SIZE", "1"))
        if ranks > 1:
            self.args.data_parallel = "none"
            self.args.pipeline_parallel_size = ranks
            self.args.pipeline_schedule = self.schedule
            self.args.pipeline_microbatches = forgather_args.n_microbatches

    def compute_loss(self, batch: dict[str, Any]) -> Any:
        # Forgather's pipeline batches carry no attention mask (fixed-shape rows, causal
        # attention; padding sits on the right and its labels are ignored).
        return super().compute_loss({k: v for k, v in batch.items() if k != "attention_mask"})


def create_manual_causal_lm_splitter(
    num_layers: int | None = None, input_weight: int = 1, output_weight: int = 1
) -> Callable:
    """A ModelSplitter for Forgather's CasualLM-shaped models. The returned function takes
    (model, example_args, example_kwargs, stage_indices, train, device, rank, pp_group) and
    returns (all stage modules, this rank's stage modules, this rank's PipelineStages, the
    model's external attention-mask function or None); modules stay where the model is
    (Forgather builds it on the meta device and materialises the stages afterwards)."""

    def split(
        model: Any,
        example_args: tuple,
        example_kwargs: dict,
        stage_indices: list[tuple[int, ...]],
        train: bool,
        device: Any,
        rank: int,
        pp_group: Any,
    ) -> tuple[list, list, list, Callable | None]:
        from torch.distributed.pipelining import PipelineStage

        layers = num_layers
        if layers is None:
            config = getattr(model, "config", None)
            if config is None or not hasattr(config, "num_hidden_layers"):
                raise FgError(
                    "create_manual_causal_lm_splitter: the model's config has no num_hidden_layers",
                    hint="pass num_layers to create_manual_causal_lm_splitter",
                )
            layers = int(config.num_hidden_layers)
        num_stages = sum(len(indices) for indices in stage_indices)
        plan = stage_modules(num_stages, layers, input_weight, output_weight)
        stages = []
        for names in plan:
            stage = copy.deepcopy(model)
            keep_only(stage, names)
            stages.append(stage)
        mine = [stages[i] for i in stage_indices[rank]]
        pipeline_stages = [PipelineStage(stages[i], i, num_stages, device, group=pp_group) for i in stage_indices[rank]]
        mask_fn = model.get_attn_mask_fn() if hasattr(model, "get_attn_mask_fn") else None
        return stages, mine, pipeline_stages, mask_fn

    return split


def stage_modules(num_stages: int, num_layers: int, input_weight: int = 1, output_weight: int = 1) -> list[list[str]]:
    """The modules of each stage: the input encoder counts as `input_weight` layers on the
    first stage, the final norm and output decoder as `output_weight` on the last; the
    weighted layers are dealt out evenly, earlier stages taking the remainder."""
    layer_names = [f"layer_stack.layers.{i}" for i in range(num_layers)]
    if num_stages < 1:
        raise FgError("a pipeline needs at least one stage")
    if num_stages == 1:
        return [["input_encoder", *layer_names, "layer_stack.layer_norm", "output_decoder"]]
    weighted = num_layers + input_weight + output_weight
    base, extra = divmod(weighted, num_stages)
    if base == 0:
        raise FgError(
            f"{num_stages} pipeline stages over {num_layers} layers (+{input_weight} input, +{output_weight} output "
            "weight) leave empty stages",
            hint="use fewer stages or lower the weights",
        )
    plan, next_layer = [], 0
    for stage in range(num_stages):
        share = base + (1 if stage < extra else 0)
        names = []
        if stage == 0:
            names.append("input_encoder")
            share -= input_weight
        elif stage == num_stages - 1:
            share -= output_weight
        take = max(0, min(share, num_layers - next_layer))
        names += layer_names[next_layer : next_layer + take]
        next_layer += take
        if stage == num_stages - 1:
            names += layer_names[next_layer:]  # anything the rounding left goes last
            next_layer = num_layers
            names += ["layer_stack.layer_norm", "output_decoder"]
        plan.append(names)
    return plan


def keep_only(model: Any, names: list[str]) -> None:
    """Drop (set to None / delete) the parts of a CasualLM-shaped model not in `names`."""
    from torch import nn

    keep = set(names)
    causal_lm = model.causal_lm
    if "input_encoder" not in keep:
        causal_lm.input_encoder = None
    if "output_decoder" not in keep:
        model.lm_head = None
    stack = causal_lm.layer_stack
    if stack is None:
        return
    kept_layers = {name.split(".", 2)[2] for name in keep if name.startswith("layer_stack.layers.")}
    for key in list(stack.layers.keys()):
        if key not in kept_layers:
            del stack.layers[key]
    if not kept_layers:
        stack.layers = nn.ModuleDict()
    if "layer_stack.layer_norm" not in keep:
        stack.layer_norm = None
    if len(stack.layers) == 0 and stack.layer_norm is None:
        causal_lm.layer_stack = None
