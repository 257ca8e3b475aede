"""How the ranks are laid out: data-, tensor- and pipeline-parallel sizes and their device mesh.

The mesh's dims are ordered (pp, dp, tp), outermost first, as torchtitan does: ranks
of one tensor-parallel group are neighbours (one host, the fastest links), pipeline
stages are furthest apart (they exchange only activations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fgtui.engine.errors import FgError

DATA_PARALLEL = ("ddp", "fsdp2", "none")
PIPELINE_SCHEDULES = ("gpipe", "1f1b", "interleaved_1f1b")


@dataclass(frozen=True)
class ParallelPlan:
    """The parallel sizes of one run; `dp * tp * pp == world_size`."""

    world_size: int = 1
    data_parallel: str = "none"
    dp: int = 1
    tp: int = 1
    pp: int = 1

    @property
    def fsdp(self) -> bool:
        return self.data_parallel == "fsdp2"

    @property
    def ddp(self) -> bool:
        return self.data_parallel == "ddp" and self.dp > 1

    @property
    def sharded(self) -> bool:
        """Parameters are DTensors (FSDP2 and/or TP): checkpoints gather full state dicts."""
        return self.fsdp or self.tp > 1

    def describe(self) -> str:
        parts = [f"{self.data_parallel} x{self.dp}" if self.dp > 1 or self.fsdp else ""]
        parts += [f"tp x{self.tp}" if self.tp > 1 else "", f"pp x{self.pp}" if self.pp > 1 else ""]
        return ", ".join(p for p in parts if p) or "single process"


def plan_parallelism(args: Any, world_size: int) -> ParallelPlan:
    """Check the parallel settings of `args` against the world size and return the plan.

    Refuses, naming the reason: sizes that do not divide the world, several data-parallel
    ranks with `data_parallel: none`, and the combinations not implemented here (DDP with
    tensor parallel, pipeline with data or tensor parallel).
    """
    tp, pp = args.tensor_parallel_size, args.pipeline_parallel_size
    mode = args.data_parallel
    if mode is None:
        mode = "ddp" if world_size > 1 else "none"
    if world_size % (tp * pp):
        raise FgError(
            f"tensor_parallel_size {tp} x pipeline_parallel_size {pp} does not divide the {world_size} processes",
            hint="the number of devices (-d) must be a multiple of tp x pp",
        )
    dp = world_size // (tp * pp)
    if mode == "none" and dp > 1:
        raise FgError(
            f"data_parallel is none but {world_size} processes leave {dp} data-parallel ranks",
            hint=f"set data_parallel to ddp or fsdp2, or make tp x pp = {world_size}",
        )
    if mode == "ddp" and tp > 1 and dp > 1:
        raise FgError(
            "data_parallel ddp cannot be combined with tensor parallel",
            hint="use data_parallel: fsdp2 with tensor_parallel_size (2-D parallelism)",
        )
    if pp > 1 and (dp > 1 or tp > 1):
        raise FgError(
            f"pipeline parallel is supported alone; {world_size} processes with pp {pp} leave dp {dp} x tp {tp}",
            hint=f"use pipeline_parallel_size {world_size}, or no pipeline",
        )
    if pp > 1 and mode == "fsdp2":
        raise FgError(
            "data_parallel fsdp2 cannot be combined with pipeline parallel here",
            hint="set data_parallel: none for a pipeline run",
        )
    if mode == "ddp" and dp == 1:
        mode = "none"  # one data-parallel rank: nothing to all-reduce
    return ParallelPlan(world_size, mode, dp, tp, pp)


def build_mesh(plan: ParallelPlan, device_type: str) -> Any:
    """The DeviceMesh with the dims this plan uses (named "pp", "dp", "tp"); None for one process."""
    if plan.world_size == 1:
        return None
    from torch.distributed.device_mesh import init_device_mesh

    dims = [(name, size) for name, size in (("pp", plan.pp), ("dp", plan.dp), ("tp", plan.tp)) if size > 1]
    if not dims:
        return None
    return init_device_mesh(device_type, tuple(s for _, s in dims), mesh_dim_names=tuple(n for n, _ in dims))


def submesh(mesh: Any, name: str) -> Any:
    """The 1-D mesh of dim `name`, or None when the plan has no such dim."""
    if mesh is None or name not in (mesh.mesh_dim_names or ()):
        return None
    return mesh[name]


def data_rank(plan: ParallelPlan, mesh: Any, rank: int) -> tuple[int, int]:
    """(rank, size) of this process among the data-parallel ranks: ranks of one TP group or
    one pipeline read the same batches."""
    dp_mesh = submesh(mesh, "dp")
    if dp_mesh is None:
        return 0, 1
    return dp_mesh.get_local_rank(), plan.dp
