"""Checkpoints of a model spread over ranks (FSDP2 / tensor parallel shards, pipeline stages).

The saved model stays one ordinary, transformers-loadable directory: the full state
dict is gathered to rank 0 (on CPU), loaded into a copy of the unsplit model made on
the meta device before parallelizing, and written by the usual `save_model`. On
resume every rank reads the full weights and keeps its own part.

Optimizer state: FSDP2/TP gather a full, name-keyed state dict (`optimizer.pt`, loadable
at any parallel layout); pipeline ranks each write their stage's state
(`optimizer_pp<r>.pt`, with the parameter names, so a resume with another split is
refused instead of mis-assigned).
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fgtui.engine.errors import FgError


def meta_skeleton(model: nn.Module) -> nn.Module:
    """A copy of `model` whose parameters and buffers live on the meta device (no storage):
    the deep copy is handed meta stand-ins for every tensor, so nothing is copied, and
    tied parameters stay tied."""
    memo: dict[int, Any] = {}
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        meta = torch.empty_like(tensor, device="meta")
        memo[id(tensor)] = (
            nn.Parameter(meta, requires_grad=tensor.requires_grad) if isinstance(tensor, nn.Parameter) else meta
        )
    return copy.deepcopy(model, memo)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    weights: dict[str, torch.Tensor] = {}
    for file in sorted(Path(path).glob("*.safetensors")):
        weights.update(load_file(str(file)))
    return weights


class DistributedCheckpointer:
    """Save/load hooks `checkpoint.save_checkpoint` / `load_checkpoint` call on every rank.

    `model` is what trains on this rank: the FSDP2/TP-parallelized model, or a
    pipeline's `PipelineShard` (then `pp_group` is the pipeline's process group).
    """

    def __init__(self, model: nn.Module, skeleton: nn.Module, rank: int, pp_group: Any = None) -> None:
        self.model, self.skeleton, self.rank, self.pp_group = model, skeleton, rank, pp_group

    @property
    def pipeline(self) -> bool:
        return self.pp_group is not None

    def gather_model(self) -> nn.Module | None:
        """Collective: rank 0 gets a CPU copy of the whole model with the trained weights."""
        if self.pipeline:
            local = {k: v.detach().to("cpu") for k, v in self.model.state_dict().items()}
            parts: list[Any] = [None] * torch.distributed.get_world_size(self.pp_group) if self.rank == 0 else None
            torch.distributed.gather_object(local, parts, dst=0, group=self.pp_group)
            full = {k: v for part in (parts or []) for k, v in part.items()}
        else:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            full = get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if self.rank != 0:
            return None
        copy_ = meta_skeleton(self.skeleton)
        result = copy_.load_state_dict(full, strict=False, assign=True)
        if result.unexpected_keys:
            raise FgError(f"gathered weights do not match the model: unexpected {result.unexpected_keys[:5]}")
        if hasattr(copy_, "tie_weights"):
            copy_.tie_weights()
        return copy_

    def save_optimizer(self, optimizer: Any, directory: Path) -> None:
        """Collective: write the optimizer state (see the module docstring)."""
        if self.pipeline:
            names = [n for n, _ in self.model.named_parameters()]
            rank = torch.distributed.get_rank(self.pp_group)
            torch.save({"names": names, "state": optimizer.state_dict()}, directory / f"optimizer_pp{rank}.pt")
            return
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        state = get_optimizer_state_dict(
            self.model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
        )
        if self.rank == 0:
            torch.save(state, directory / "optimizer.pt")

    def load_model(self, path: Path) -> None:
        """Every rank reads the full weights and keeps its part."""
        weights = read_weights(path)
        if self.pipeline:
            wanted = self.model.state_dict()
            missing = [k for k in wanted if k not in weights]
            if missing:
                raise FgError(f"checkpoint {path} lacks {missing[:5]}")
            self.model.load_state_dict({k: weights[k] for k in wanted})
            return
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        every = {n for n, _ in self.skeleton.named_parameters(remove_duplicate=False)}
        unique = {n for n, _ in self.skeleton.named_parameters()}
        # A tied head is saved once (under the embedding's name); derived buffers not at all.
        missing = [n for n in unique if n not in weights]
        if missing:
            raise FgError(f"checkpoint {path} lacks {missing[:5]}")
        weights = {k: v for k, v in weights.items() if k in every or k in self.skeleton.state_dict()}
        set_model_state_dict(self.model, weights, options=StateDictOptions(full_state_dict=True, strict=False))

    def load_optimizer(self, optimizer: Any, path: Path) -> None:
        if self.pipeline:
            rank = torch.distributed.get_rank(self.pp_group)
            file = path / f"optimizer_pp{rank}.pt"
            if not file.is_file():
                raise FgError(
                    f"checkpoint {path} has no optimizer state for pipeline rank {rank}",
                    hint="resume with the pipeline_parallel_size that wrote it",
                )
            saved = torch.load(file, weights_only=False)
            names = [n for n, _ in self.model.named_parameters()]
            if saved["names"] != names:
                raise FgError(
                    f"checkpoint {path} was written with another pipeline split",
                    hint="resume with the pipeline_parallel_size and schedule that wrote it",
                )
            optimizer.load_state_dict(saved["state"])
            return
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        file = path / "optimizer.pt"
        if not file.is_file():
            raise FgError(
                f"checkpoint {path} has no optimizer.pt",
                hint="a pipeline run's checkpoint resumes only as a pipeline run",
            )
        state = torch.load(file, weights_only=False)
        set_optimizer_state_dict(
            self.model, optimizer, optim_state_dict=state, options=StateDictOptions(full_state_dict=True)
        )
