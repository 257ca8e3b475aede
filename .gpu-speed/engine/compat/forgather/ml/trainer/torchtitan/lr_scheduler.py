"""`forgather.ml.trainer.torchtitan.lr_scheduler`: torchtitan's scheduler container with
the scheduler made by a factory (a config's partial, e.g. InfiniteLRScheduler) rather
than torchtitan's own warm-up/decay lambda."""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterator


class LRSchedulersContainer:
    """One scheduler per optimizer of `optimizers`, stepped together.

    All are built by the same factory over optimizers that step together, so they hold
    the same state: the checkpoint keeps the first one's, and loading gives every
    scheduler its own copy of it. torchtitan's checkpointer accepts it as a Stateful
    (state_dict / load_state_dict)."""

    def __init__(self, optimizers: Any, lr_scheduler_factory: Callable) -> None:
        if len(optimizers) == 0:
            raise ValueError("LRSchedulersContainer needs at least one optimizer")
        self.schedulers = [lr_scheduler_factory(optimizer) for optimizer in optimizers]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.schedulers)

    def __len__(self) -> int:
        return len(self.schedulers)

    def step(self) -> None:
        for scheduler in self.schedulers:
            scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return self.schedulers[0].state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for scheduler in self.schedulers:
            scheduler.load_state_dict(copy.deepcopy(state_dict))
