"""Token budgets as first-class options: tokens -> steps, and LR scaled by global batch.

Tutorial 004's finetune_v2 computes these with Jinja arithmetic in every project;
here they are one function each, so templates and code agree. Budgets are given
in tokens (not millions: callers that take millions on the command line multiply
once, at the edge).
"""

from __future__ import annotations

from dataclasses import dataclass

from fgtui.engine.errors import FgError


@dataclass(frozen=True)
class StepBudget:
    """Step counts derived from a token budget."""

    tokens_per_step: int
    total_steps: int
    warmup_steps: int
    annealing_steps: int

    @property
    def decay_start_step(self) -> int:
        """Where a warmup-stable-decay schedule starts decaying."""
        return max(self.warmup_steps, self.total_steps - self.annealing_steps)


def tokens_per_step(seq_len: int, per_device_batch_size: int, grad_accum: int, world_size: int) -> int:
    """Tokens one optimizer step consumes across all ranks."""
    value = seq_len * per_device_batch_size * grad_accum * world_size
    if value <= 0:
        raise FgError(
            f"tokens per step is {value} (seq_len {seq_len} x batch {per_device_batch_size}"
            f" x accumulation {grad_accum} x world size {world_size})",
            hint="all four must be positive",
        )
    return value


def steps_from_tokens(
    total_tokens: int,
    step_tokens: int,
    warmup_tokens: int = 0,
    annealing_tokens: int = 0,
) -> StepBudget:
    """Convert a token budget to optimizer steps (floor, at least one step)."""
    if total_tokens < step_tokens:
        raise FgError(
            f"a budget of {total_tokens:,} tokens is less than one step ({step_tokens:,} tokens)",
            hint="raise --total-tokens or lower --batch-size / --seq-len",
        )
    total = total_tokens // step_tokens
    warmup = min(total, warmup_tokens // step_tokens)
    annealing = min(total, annealing_tokens // step_tokens)
    return StepBudget(step_tokens, total, warmup, annealing)


def scale_lr(base_lr: float, step_tokens: int, base_batch_tokens: int, alpha: float = 0.5) -> float:
    """LR for a global batch of `step_tokens`, given `base_lr` tuned at `base_batch_tokens`.

    Power-law rule: lr = base_lr * (step_tokens / base_batch_tokens) ** alpha;
    alpha 0.5 is square-root scaling (the Adam rule of thumb), 1.0 linear scaling.
    """
    if base_batch_tokens <= 0:
        raise FgError("base batch size for LR scaling must be positive")
    return base_lr * (step_tokens / base_batch_tokens) ** alpha
