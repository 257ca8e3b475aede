"""Every Forgather name fgtui provides, and the fgtui object behind it. Data only.

Keys are Forgather specs (`module:Name`) as configs write them; values are the fgtui
specs they resolve to. The modules under `fgtui.engine.compat.forgather` mirror
Forgather's module layout and expose exactly these names, so `import forgather...`
in a project's Python files finds the same objects (tests check the two agree).
"""

from __future__ import annotations

_C = "fgtui.engine.compat.forgather"

PROVIDED: dict[str, str] = {
    # projects
    "forgather:from_project": f"{_C}.project:from_project",
    "forgather.project:from_project": f"{_C}.project:from_project",
    # the training script and trainers (one fgtui Trainer behind all of them)
    "forgather.ml.training_script:TrainingScript": f"{_C}.ml.training_script:TrainingScript",
    "forgather.ml:Trainer": f"{_C}.ml.trainer.trainer:Trainer",
    "forgather.ml:TrainingArguments": f"{_C}.ml.trainer.trainer:TrainingArguments",
    "forgather.ml.trainer:Trainer": f"{_C}.ml.trainer.trainer:Trainer",
    "forgather.ml.trainer:TrainingArguments": f"{_C}.ml.trainer.trainer:TrainingArguments",
    "forgather.ml.trainer.trainer:Trainer": f"{_C}.ml.trainer.trainer:Trainer",
    "forgather.ml.trainer.trainer:TrainingArguments": f"{_C}.ml.trainer.trainer:TrainingArguments",
    "forgather.ml.trainer.ddp:DDPTrainer": f"{_C}.ml.trainer.ddp:DDPTrainer",
    "forgather.ml.trainer.ddp:DDPTrainingArguments": f"{_C}.ml.trainer.ddp:DDPTrainingArguments",
    "forgather.ml.trainer.accelerate:AccelTrainer": f"{_C}.ml.trainer.accelerate:AccelTrainer",
    "forgather.ml.trainer.accelerate:AccelTrainingArguments": f"{_C}.ml.trainer.accelerate:AccelTrainingArguments",
    "forgather.ml.trainer.accelerate:AccelDistEnv": f"{_C}.ml.trainer.accelerate:AccelDistEnv",
    "forgather.ml.trainer.pipeline:PipelineTrainer": f"{_C}.ml.trainer.pipeline:PipelineTrainer",
    "forgather.ml.trainer.pipeline:PipelineTrainingArguments": f"{_C}.ml.trainer.pipeline:PipelineTrainingArguments",
    "forgather.ml.trainer.pipeline:create_manual_causal_lm_splitter": (
        f"{_C}.ml.trainer.pipeline:create_manual_causal_lm_splitter"
    ),
    # callbacks
    "forgather.ml.trainer.callbacks:ProgressCallback": f"{_C}.ml.trainer.callbacks:ProgressCallback",
    "forgather.ml.trainer.callbacks:InfoCallback": f"{_C}.ml.trainer.callbacks:InfoCallback",
    "forgather.ml.trainer.callbacks:JsonLogger": f"{_C}.ml.trainer.callbacks:JsonLogger",
    "forgather.ml.trainer.callbacks:TBLogger": f"{_C}.ml.trainer.callbacks:TBLogger",
    "forgather.ml.trainer.callbacks:ResumableSummaryWriter": f"{_C}.ml.trainer.callbacks:ResumableSummaryWriter",
    "forgather.ml.trainer.callbacks:TrainerControlCallback": f"{_C}.ml.trainer.callbacks:TrainerControlCallback",
    "forgather.ml.trainer.callbacks:PeakMemory": f"{_C}.ml.trainer.callbacks:PeakMemory",
    "forgather.ml.trainer.callbacks:TextgenCallback": f"{_C}.ml.trainer.callbacks:TextgenCallback",
    "forgather.ml.trainer.callbacks:DiLoCoCallback": f"{_C}.ml.trainer.callbacks:DiLoCoCallback",
    # torchtitan glue (torchtitan's own Trainer runs these configs)
    **{
        f"forgather.ml.trainer.torchtitan.helpers:{name}": f"{_C}.ml.trainer.torchtitan.helpers:{name}"
        for name in ("build_optimizers", "build_lr_schedulers", "build_dataloader", "build_tokenizer", "build_loss_fn")
    },
    "forgather.ml.trainer.torchtitan.lr_scheduler:LRSchedulersContainer": (
        f"{_C}.ml.trainer.torchtitan.lr_scheduler:LRSchedulersContainer"
    ),
    "forgather.ml.trainer.torchtitan.validate:Validator": f"{_C}.ml.trainer.torchtitan.validate:Validator",
    # loss, distributed environment
    "forgather.ml.loss:CausalLoss": f"{_C}.ml.loss:CausalLoss",
    "forgather.ml.loss:LinearCrossEntropyLoss": f"{_C}.ml.loss:LinearCrossEntropyLoss",
    "forgather.ml.distributed:DistributedEnvironment": f"{_C}.ml.distributed:DistributedEnvironment",
    # optimizers and schedules
    "forgather.ml.optim.infinite_lr_scheduler:InfiniteLRScheduler": (
        f"{_C}.ml.optim.infinite_lr_scheduler:InfiniteLRScheduler"
    ),
    "forgather.ml.optim.adafactor:Adafactor": f"{_C}.ml.optim.adafactor:Adafactor",
    # model and tokenizer construction (the output dir's generated code, config, tokenizer)
    "forgather.codegen:generate_code": f"{_C}.codegen:generate_code",
    "forgather.ml.construct:build_rule": f"{_C}.ml.construct:build_rule",
    "forgather.ml.construct:write_file": f"{_C}.ml.construct:write_file",
    "forgather.ml.construct:copy_package_files": f"{_C}.ml.construct:copy_package_files",
    "forgather.ml.construct:dependency_list": f"{_C}.ml.construct:dependency_list",
    "forgather.ml.construct:load_from_config": f"{_C}.ml.construct:load_from_config",
    "forgather.ml.construct:add_special_tokens": f"{_C}.ml.construct:add_special_tokens",
    "forgather.ml.tokenizer:train_tokenizer": f"{_C}.ml.tokenizer:train_tokenizer",
    # data
    "forgather.ml.datasets:preprocess_dataset": f"{_C}.ml.datasets:preprocess_dataset",
    "forgather.ml.datasets:block_tokenize_fn": f"{_C}.ml.datasets:block_tokenize_fn",
    "forgather.ml.dataset.block_tokenizer:block_tokenize_fn": f"{_C}.ml.datasets:block_tokenize_fn",
    "forgather.ml.datasets:default_tokenize_map_fn": f"{_C}.ml.datasets:default_tokenize_map_fn",
    "forgather.ml.datasets:fast_load_iterable_dataset": f"{_C}.ml.datasets:fast_load_iterable_dataset",
    "forgather.ml.data_collator:DataCollatorForCausalLM": f"{_C}.ml.data_collator:DataCollatorForCausalLM",
}


def split_spec(spec: str) -> tuple[str, str]:
    """(module, attribute path) of `module:Name` or dotted `module.Name`."""
    if ":" in spec:
        module, attrs = spec.split(":", 1)
        return module, attrs
    module, _, attr = spec.rpartition(".")
    return module, attr


def is_forgather_spec(spec: str) -> bool:
    module = split_spec(spec)[0] if (":" in spec or "." in spec) else spec
    return module == "forgather" or module.startswith("forgather.")


def lookup(spec: str) -> str | None:
    """The fgtui spec a Forgather spec resolves to, or None when fgtui does not provide it."""
    module, attrs = split_spec(spec)
    head, _, rest = attrs.partition(".")
    target = PROVIDED.get(f"{module}:{head}")
    if target is None:
        return None
    return f"{target}.{rest}" if rest else target


def module_names(module: str) -> dict[str, str]:
    """Name -> fgtui spec for everything provided in Forgather module `module`."""
    prefix = module + ":"
    return {key[len(prefix) :]: value for key, value in PROVIDED.items() if key.startswith(prefix)}
