"""`forgather.ml.trainer.torchtitan.helpers`: torchtitan's `build_*_fn` hooks, answered by
the objects a Forgather config already built (its optimizer and scheduler factories,
tokenizer, loss, dataset and collator) instead of torchtitan's config-driven ones."""

from __future__ import annotations

from typing import Any, Callable


def build_optimizers(
    model_parts: list,
    optimizer_config: Any,
    parallel_dims: Any,
    ft_manager: Any,
    container_factory: Callable,
    **kwargs: Any,
) -> Any:
    """The optimizer container from the config's factory; torchtitan's optimizer section
    is not read (the factory already holds the optimizer and its settings)."""
    return container_factory(model_parts=model_parts)


def build_lr_schedulers(
    optimizers: Any,
    lr_scheduler_config: Any,
    training_steps: int,
    container_factory: Callable,
    **kwargs: Any,
) -> Any:
    """The scheduler container from the config's factory (one scheduler per optimizer)."""
    return container_factory(optimizers=optimizers)


def build_dataloader(
    dp_world_size: int,
    dp_rank: int,
    tokenizer: Any,
    job_config: Any,
    dataset: Any,
    batch_size: int,
    data_collator: Callable,
    infinite: bool = True,
    **kwargs: Any,
) -> Any:
    """torchtitan's data-parallel-aware loader over this rank's share of `dataset`."""
    from datasets.distributed import split_dataset_by_node

    from fgtui.engine.compat.forgather.ml.trainer.torchtitan.requirement import torchtitan_module

    loader_module = torchtitan_module("torchtitan.components.dataloader", "build_dataloader")
    return loader_module.ParallelAwareDataloader(
        dataset=split_dataset_by_node(dataset, dp_rank, dp_world_size),
        dp_rank=dp_rank,
        dp_world_size=dp_world_size,
        batch_size=batch_size,
        collate_fn=data_collator,
    )


def build_tokenizer(job_config: Any, tokenizer: Any, **kwargs: Any) -> Any:
    """The config's tokenizer, unchanged."""
    return tokenizer


def build_loss_fn(job_config: Any, loss_fn: Callable, **kwargs: Any) -> Callable:
    """The config's loss, compiled when the job's compile section lists "loss"."""
    compile_section = getattr(job_config, "compile", None)
    if getattr(compile_section, "enable", False) and "loss" in getattr(compile_section, "components", ()):
        import torch

        return torch.compile(loss_fn)
    return loss_fn
