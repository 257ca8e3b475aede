"""What a checkpoint must hold besides weights and optimizer: progress and randomness."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TrainerState:
    """Progress of a run; saved as JSON in every checkpoint.

    `epoch` and `batches_in_epoch` are the data position: the sampler of epoch
    `epoch` resumes after `batches_in_epoch` micro-batches, so a resumed run sees
    exactly the batches the uninterrupted one would have.
    """

    global_step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0
    tokens: int = 0
    input_tokens: int = 0
    max_steps: int = 0
    eval_losses: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["eval_losses"] = {str(k): v for k, v in self.eval_losses.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainerState":
        data = dict(data)
        data["eval_losses"] = {int(k): float(v) for k, v in data.get("eval_losses", {}).items()}
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def capture_rng_state() -> dict[str, Any]:
    """Every generator training draws from: Python, NumPy (if present), torch CPU and CUDA."""
    import torch

    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    try:
        import numpy as np

        state["numpy"] = np.random.get_state()
    except ImportError:
        pass
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        import numpy as np

        np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
