"""`forgather.ml.trainer.torchtitan.validate`: torchtitan's validator, its loader built by a
config's `build_dataloader_fn` (the validation split and collator of the config) instead of
torchtitan's Hub loader.

`Validator` subclasses torchtitan's own, so it exists once torchtitan can be imported:
the class is made on first use, and without torchtitan that use is an error naming it.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable


@functools.cache
def _validator_class() -> type:
    from fgtui.engine.compat.forgather.ml.trainer.torchtitan.requirement import torchtitan_module

    base = torchtitan_module("torchtitan.components.validate", "Validator").Validator

    class Validator(base):
        def __init__(
            self,
            job_config: Any,
            dp_world_size: int,
            dp_rank: int,
            tokenizer: Any,
            parallel_dims: Any,
            loss_fn: Callable,
            build_dataloader_fn: Callable,
            validation_context: Any,
            maybe_enable_amp: Any,
            metrics_processor: Any,
            pp_schedule: Any = None,
            pp_has_first_stage: bool | None = None,
            pp_has_last_stage: bool | None = None,
        ) -> None:
            # torchtitan's own __init__ builds a Hub loader from the job config; this one
            # takes the config's loader instead, so the base initializer is not called.
            self.job_config = job_config
            self.parallel_dims = parallel_dims
            self.loss_fn = loss_fn
            steps = job_config.validation.steps
            self.validation_dataloader = build_dataloader_fn(
                job_config=job_config,
                dp_world_size=dp_world_size,
                dp_rank=dp_rank,
                tokenizer=tokenizer,
                infinite=steps != -1,
            )
            self.validation_context = validation_context
            self.maybe_enable_amp = maybe_enable_amp
            self.metrics_processor = metrics_processor
            self.pp_schedule = pp_schedule
            self.pp_has_first_stage = pp_has_first_stage
            self.pp_has_last_stage = pp_has_last_stage
            if steps == -1:
                warnings.warn(
                    "validation.steps -1 runs each rank to the end of its share: ranks with unequal "
                    "shares can hang waiting for each other",
                    stacklevel=2,
                )

    Validator.__module__ = __name__
    Validator.__qualname__ = "Validator"
    return Validator


def __getattr__(name: str) -> Any:
    if name == "Validator":
        return _validator_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
