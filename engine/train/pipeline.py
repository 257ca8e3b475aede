"""Pipeline parallel: fgtui's CausalLM cut into stages by decoder layers, or any model
cut by a splitter the trainer is given (`StageSplit`), run by a
`torch.distributed.pipelining` schedule.

Stage 0 holds the embedding and the first layers, the last stage the last layers,
the final norm and lm_head. Each rank keeps its layers under their original names
(`model.layers.<i>...`) in a `PipelineShard`, so optimizer parameter groups and
checkpoints see the same names as an unsplit run. Interleaved 1F1B gives each rank
two stages (rank r holds stages r and r + pp).

The loss of a step is the per-token mean over the whole global batch: each
micro-batch's loss is its token-summed cross-entropy divided by the step's loss
tokens, and the schedule does not rescale gradients (`scale_grads=False`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from fgtui.engine.errors import FgError
from fgtui.engine.models.loss import IGNORE_INDEX
from fgtui.engine.models.masks import AttentionMask
from fgtui.engine.train.runtime import count_loss_tokens

STAGES_PER_RANK = {"gpipe": 1, "1f1b": 1, "interleaved_1f1b": 2}


@dataclass
class StageSplit:
    """Stages a model's own splitter cut (instead of fgtui's cut of its CausalLM): this
    rank's stage modules and their `PipelineStage`s. Each module keeps the unsplit
    model's parameter names (a copy of the model with the other stages' parts removed),
    so checkpoints and optimizer groups see an unsplit run's names. A first stage takes
    token ids, the last returns logits. `mask_fn(input_ids=...)`, when given, makes the
    attention mask every stage is handed (Forgather's convention: a mask cannot travel
    between stages)."""

    modules: list[nn.Module]
    stages: list[Any]
    stage_ids: list[int]
    num_stages: int
    mask_fn: Callable | None = None


# What a splitter hook is: (model, pp_group, pp_rank, pp_size, stages_per_rank, device) -> StageSplit
Splitter = Callable[[nn.Module, Any, int, int, int, torch.device], StageSplit]


class CausalLMStage(nn.Module):
    """Layers `[start, stop)` of a CausalLM, plus the embedding on the first stage and the
    norm and head on the last. Input: token ids (first stage) or hidden states; output:
    hidden states, or logits on the last stage. Attention is plain causal: the positions
    are 0..T-1 in every row (no padding or packed-document masks)."""

    def __init__(self, lm: nn.Module, start: int, stop: int, is_first: bool, is_last: bool) -> None:
        super().__init__()
        decoder = lm.model
        self.embed_tokens = decoder.embed_tokens if is_first else None
        self.layers = nn.ModuleList(decoder.layers[i] for i in range(start, stop))
        self.rotary_emb = decoder.rotary_emb
        self.norm = decoder.norm if is_last else None
        self.lm_head = lm.lm_head if is_last else None
        self.layer_ids = list(range(start, stop))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.embed_tokens(x) if self.embed_tokens is not None else x
        batch, seq = hidden.shape[:2]
        position_ids = torch.arange(seq, device=hidden.device).expand(batch, seq)
        position_embeddings = self.rotary_emb(position_ids, hidden.dtype)
        mask = AttentionMask(batch, seq, seq, hidden.device)
        for layer in self.layers:
            hidden = layer(hidden, position_embeddings, mask, None)
        if self.lm_head is None:
            return hidden
        return self.lm_head(self.norm(hidden))


class PipelineShard(nn.Module):
    """This rank's part of the model, under the unsplit model's parameter names."""

    def __init__(self, lm: nn.Module, stages: list[CausalLMStage]) -> None:
        super().__init__()
        self.model = nn.Module()
        if any(s.embed_tokens is not None for s in stages):
            self.model.embed_tokens = lm.model.embed_tokens
        self.model.layers = nn.ModuleDict({str(i): lm.model.layers[i] for s in stages for i in s.layer_ids})
        if any(s.lm_head is not None for s in stages):
            self.model.norm = lm.model.norm
            self.lm_head = lm.lm_head
        self.stages = stages  # a plain list: the stages' modules are registered above, once


def split_layers(num_layers: int, num_stages: int) -> list[tuple[int, int]]:
    """Contiguous layer ranges `[start, stop)`, sizes differing by at most one (earlier
    stages take the remainder)."""
    if num_layers < num_stages:
        raise FgError(
            f"a pipeline of {num_stages} stages needs at least as many decoder layers, the model has {num_layers}",
            hint="lower pipeline_parallel_size, or use 1f1b instead of interleaved_1f1b",
        )
    base, extra = divmod(num_layers, num_stages)
    bounds, start = [], 0
    for stage in range(num_stages):
        size = base + (1 if stage < extra else 0)
        bounds.append((start, start + size))
        start += size
    return bounds


def _check_model(lm: nn.Module) -> None:
    from fgtui.engine.models.model import CausalLM

    if not isinstance(lm, CausalLM):
        raise FgError(
            f"pipeline parallel splits fgtui's CausalLM, not {type(lm).__name__}",
            hint="build the model with a fgtui model template (fgtui.engine.models)",
        )
    if lm.config.tie_word_embeddings:
        raise FgError(
            "pipeline parallel with tied input/output embeddings is not supported: the first and"
            " last stages would share one weight",
            hint="set tie_word_embeddings: false",
        )
    if lm.model._checkpointing:
        raise FgError(
            "activation checkpointing is not applied inside pipeline stages yet",
            hint="turn gradient_checkpointing off for a pipeline run",
        )


class SplitShard(nn.Module):
    """A splitter's stage modules of this rank as one module, under the unsplit model's
    parameter and buffer names (the stages' own names: they are copies of the model)."""

    def __init__(self, modules: list[nn.Module]) -> None:
        super().__init__()
        for module in modules:
            for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
                *path, leaf = name.split(".")
                parent = self
                for part in path:
                    if part not in parent._modules:
                        parent.add_module(part, nn.Module())
                    parent = parent._modules[part]
                if isinstance(tensor, nn.Parameter):
                    parent.register_parameter(leaf, tensor)
                else:
                    parent.register_buffer(leaf, tensor)
        self.stages = modules  # a plain list: their tensors are registered above, once


class PipelineRunner:
    """Builds this rank's stages and schedule and runs training / evaluation steps on them."""

    def __init__(
        self,
        lm: nn.Module,
        *,
        pp_group: Any,
        pp_rank: int,
        pp_size: int,
        schedule: str,
        microbatches: int,
        device: torch.device,
        dtype: torch.dtype,
        splitter: Splitter | None = None,
    ) -> None:
        from torch.distributed import pipelining

        per_rank = STAGES_PER_RANK[schedule]
        self.mask_fn = None
        if splitter is not None:
            split = splitter(lm, pp_group, pp_rank, pp_size, per_rank, device)
            modules, stage_ids, num_stages = split.modules, split.stage_ids, split.num_stages
            for module in modules:
                module.to(device=device, dtype=dtype)
            self.shard: nn.Module = SplitShard(modules)
            self.mask_fn = split.mask_fn
            stages = split.stages
        else:
            _check_model(lm)
            num_stages = pp_size * per_rank
            bounds = split_layers(len(lm.model.layers), num_stages)
            stage_ids = [pp_rank + k * pp_size for k in range(per_rank)]
            modules = [CausalLMStage(lm, *bounds[s], s == 0, s == num_stages - 1) for s in stage_ids]
            for module in modules:
                module.to(device=device, dtype=dtype)
            self.shard = PipelineShard(lm, modules)
            stages = [
                pipelining.PipelineStage(m, s, num_stages, device, group=pp_group) for m, s in zip(modules, stage_ids)
            ]
        self.has_first = 0 in stage_ids
        self.has_last = num_stages - 1 in stage_ids
        self.microbatches = microbatches
        self.pp_group = pp_group
        self._denominator = 1.0
        if schedule == "interleaved_1f1b":
            self.schedule = pipelining.ScheduleInterleaved1F1B(
                stages, microbatches, loss_fn=self._loss, scale_grads=False
            )
        else:
            kind = pipelining.ScheduleGPipe if schedule == "gpipe" else pipelining.Schedule1F1B
            self.schedule = kind(stages[0], microbatches, loss_fn=self._loss, scale_grads=False)

    def release_others(self, lm: nn.Module) -> None:
        """Free the device memory of the layers other ranks run: they move to the meta device
        (the unsplit model object is not used for training after the split)."""
        if isinstance(self.shard, SplitShard):
            if not any(p is q for p in lm.parameters() for q in self.shard.parameters()):
                lm.to("meta")  # the splitter's stages are copies: nothing of the model is used
            return
        mine = {id(p) for p in self.shard.parameters()}
        for module in [lm.model.embed_tokens, lm.model.norm, lm.lm_head, *lm.model.layers]:
            if not any(id(p) in mine for p in module.parameters()):
                module.to("meta")

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        shifted = F.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:]
        total = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            shifted.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        return total / self._denominator

    def _inputs(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        extra = set(batch) - {"input_ids", "labels", "attention_mask"}
        # A splitter's stages take the mask its mask_fn makes, causal over the whole row:
        # right padding, whose labels are ignored, changes no other token (Forgather's way).
        mask = batch.get("attention_mask") if self.mask_fn is None else None
        if extra or (mask is not None and not bool(mask.all())):
            raise FgError(
                "pipeline stages run plain causal attention; this batch has "
                + (", ".join(sorted(extra)) if extra else "padding in attention_mask"),
                hint="pack without document_ids or pad-free batches for a pipeline run",
            )
        input_ids = batch["input_ids"]
        if input_ids.shape[0] % self.microbatches:
            raise FgError(
                f"the batch of {input_ids.shape[0]} rows does not split into pipeline_microbatches {self.microbatches}",
                hint="make per_device_train_batch_size a multiple of pipeline_microbatches",
            )
        return input_ids, batch.get("labels", input_ids)

    def _run(self, batch: dict[str, Any], denominator: float, train: bool) -> torch.Tensor:
        input_ids, labels = self._inputs(batch)
        self._denominator = float(denominator)
        losses: list[torch.Tensor] = []
        run = self.schedule.step if train else self.schedule.eval
        extra = {}
        if self.mask_fn is not None:
            mask = self.mask_fn(input_ids=input_ids)
            if mask is not None:  # None: the stages' attention is plain causal
                extra["attention_mask"] = mask
        run(input_ids, target=labels, losses=losses, return_outputs=False, **extra)
        loss = torch.stack(losses).sum().detach().float() if self.has_last else torch.zeros((), device=input_ids.device)
        # Only the last stage saw the loss; every rank reports it.
        torch.distributed.all_reduce(loss, group=self.pp_group)
        return loss

    def forward_backward(self, batch: dict[str, Any], weight: float) -> torch.Tensor:
        """Forward and backward of one batch through the pipeline, the loss scaled by `weight`
        (as `Trainer.forward_backward_step`); gradients accumulate into the shard's
        parameters. Returns the batch's per-token mean loss (unscaled)."""
        tokens = max(1, count_loss_tokens(batch))
        # Summed token losses / (tokens / weight) = weight * the batch's mean loss.
        denominator = tokens / weight if weight > 0 else 1.0
        return self._run(batch, denominator, train=True) * (denominator / tokens)

    def eval_loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """The per-token mean loss of one batch (forward only)."""
        return self._run(batch, max(1, count_loss_tokens(batch)), train=False)
