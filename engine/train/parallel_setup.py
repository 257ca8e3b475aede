"""How the trainer turns on multi-GPU parallelism: the one call in `Trainer.setup`
(`parallelize`) and the few places the hot loop asks the result (`ParallelRuntime`).

Order over the placed model (torchtitan's): tensor parallel, then data parallel
(DDP, or FSDP2 over the TP-sharded parameters); or, for a pipeline run, the split
into stages. Activation checkpointing and block compile were applied before.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from fgtui.engine.train import parallelize as par
from fgtui.engine.train.dist_checkpoint import DistributedCheckpointer, meta_skeleton
from fgtui.engine.train.mesh import ParallelPlan, build_mesh, data_rank, plan_parallelism, submesh


@dataclass
class ParallelRuntime:
    """What the loop needs to know about the layout, once the model is parallelized."""

    plan: ParallelPlan
    mesh: Any = None
    data_rank: int = 0
    data_world: int = 1
    reports_data: bool = True  # this rank counts the tokens of its data-parallel group
    pipeline: Any = None  # a PipelineRunner on pipeline runs
    checkpointer: DistributedCheckpointer | None = None
    full_model: Any = None  # the unsplit model on the meta device (FLOPs, checkpoint names)

    def gradient_sync(self, model: Any, enabled: bool) -> AbstractContextManager:
        """Context for one micro-batch's backward: gradients are reduced on the last only."""
        return par.gradient_sync(model, enabled or self.plan.world_size == 1)

    @property
    def plain_gradients(self) -> bool:
        """Every gradient of this rank is a whole tensor and the global norm is this rank's
        own (one process, or DDP's all-reduced copies): no shards, no pipeline stages."""
        return not (self.plan.sharded or self.pipeline is not None)

    def clip_grad_norm(self, model: Any, max_norm: float | None) -> Any:
        """The global gradient norm, over shards and pipeline stages; the gradients are
        clipped to `max_norm` unless it is None."""
        import torch

        if self.plain_gradients:
            if max_norm is None:
                # Measured only: clip_grad_norm_ would also multiply every gradient by 1.0
                # (its coefficient clamped), a pass over all of them each step for nothing.
                grads = [p.grad for p in model.parameters() if p.grad is not None]
                return torch.nn.utils.get_total_norm(grads, 2.0)
            return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        pp_group = self.pipeline.pp_group if self.pipeline is not None else None
        return par.clip_grad_norm(list(model.parameters()), float("inf") if max_norm is None else max_norm, pp_group)


def parallelize(
    model: Any, args: Any, dist: Any, device: Any, dtype: Any, splitter: Any = None
) -> tuple[Any, ParallelRuntime]:
    """Apply the parallel layout `args` asks for to the placed `model`; returns the model
    to train on this rank (wrapped, sharded, or this rank's pipeline shard) and the runtime.
    `splitter` (pipeline.Splitter) cuts a pipeline run's stages instead of fgtui's cut of
    its own CausalLM: the hook for models that bring their own (Forgather's model_splitter)."""
    plan = plan_parallelism(args, dist.world_size)
    if plan.world_size == 1:
        return model, ParallelRuntime(plan)
    if plan.ddp and plan.tp == 1 and plan.pp == 1:
        # Plain DDP needs no mesh: every rank is a data-parallel rank.
        return par.apply_ddp(model, device), ParallelRuntime(plan, data_rank=dist.rank, data_world=dist.world_size)
    mesh = build_mesh(plan, device.type)
    dp_rank, dp_world = data_rank(plan, mesh, dist.rank)
    tp_mesh, pp_mesh = submesh(mesh, "tp"), submesh(mesh, "pp")
    leader = (tp_mesh is None or tp_mesh.get_local_rank() == 0) and (pp_mesh is None or pp_mesh.get_local_rank() == 0)
    runtime = ParallelRuntime(plan, mesh, dp_rank, dp_world, leader, full_model=meta_skeleton(model))
    if plan.pp > 1:
        from fgtui.engine.train.pipeline import PipelineRunner

        runner = PipelineRunner(
            model,
            pp_group=pp_mesh.get_group(),
            pp_rank=pp_mesh.get_local_rank(),
            pp_size=plan.pp,
            schedule=args.pipeline_schedule,
            microbatches=args.pipeline_microbatches or plan.pp,
            device=device,
            dtype=dtype,
            splitter=splitter,
        )
        runner.release_others(model)
        runtime.pipeline = runner
        runtime.checkpointer = DistributedCheckpointer(
            runner.shard, runtime.full_model, dist.rank, pp_group=runner.pp_group
        )
        return runner.shard, runtime
    if tp_mesh is not None:
        par.apply_tp(model, tp_mesh)
    dp_mesh = submesh(mesh, "dp")
    if plan.fsdp and dp_mesh is not None:
        from fgtui.engine.train.runtime import torch_dtype

        par.apply_fsdp(
            model,
            dp_mesh,
            reshard_after_forward=args.fsdp_reshard_after_forward,
            param_dtype=torch_dtype(args.fsdp_param_dtype) if args.fsdp_param_dtype else None,
            reduce_dtype=torch_dtype(args.fsdp_reduce_dtype) if args.fsdp_reduce_dtype else None,
        )
    runtime.checkpointer = DistributedCheckpointer(model, runtime.full_model, dist.rank)
    return model, runtime
