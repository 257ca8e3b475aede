"""`forgather.ml.distributed`: the description of the process's place in a distributed run.

fgtui's trainer joins the process group itself (engine/train/runtime.py) when it
sets up, so this object only reads what torchrun exported and carries the
config's choices (backend, no_accelerator) to the trainer.
"""

from __future__ import annotations

import os
from typing import Any


class DistributedEnvironment:
    """Rank, world size and device of this process; environment variables set by a
    launcher win over the arguments, as in Forgather."""

    def __init__(
        self,
        rank: int = 0,
        local_rank: int = 0,
        world_size: int = 1,
        local_world_size: int = 1,
        master_addr: str = "localhost",
        master_port: int = 29501,
        backend: str | None = None,
        log_level: Any = "INFO",
        device_map: dict | None = None,
        always: bool = True,
        no_accelerator: bool = False,
    ) -> None:
        env = os.environ
        self.rank = int(env.get("RANK", rank))
        self.local_rank = int(env.get("LOCAL_RANK", local_rank))
        self.world_size = int(env.get("WORLD_SIZE", world_size))
        self.local_world_size = int(env.get("LOCAL_WORLD_SIZE", local_world_size))
        self.master_addr = env.get("MASTER_ADDR", master_addr)
        self.master_port = int(env.get("MASTER_PORT", master_port))
        self.backend = backend
        self.device_map = device_map
        self.always = always
        self.no_accelerator = no_accelerator

    @property
    def device(self) -> str:
        """The device string this rank trains on (what fgtui's trainer will pick)."""
        import torch

        if self.no_accelerator or not torch.cuda.is_available():
            return "cpu"
        index = self.device_map.get(self.rank, self.local_rank) if self.device_map else self.local_rank
        return f"cuda:{index}"

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    @property
    def use_accelerator(self) -> bool:
        return self.device_type != "cpu"

    def __repr__(self) -> str:
        return (
            f"DistributedEnvironment(rank={self.rank}, local_rank={self.local_rank}, "
            f"world_size={self.world_size}, no_accelerator={self.no_accelerator})"
        )
