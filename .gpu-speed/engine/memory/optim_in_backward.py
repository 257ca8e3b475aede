"""The optimizer step fused into backward, one optimizer per parameter.

Each parameter gets its own optimizer instance and a
`register_post_accumulate_grad_hook` that steps it and drops the gradient the
moment that parameter's gradient is complete. At most a few gradients exist
at once instead of all of them (13.5 GB for a 7B model in bf16).

Forgather's version calls `step()` on one shared optimizer from every hook,
and each call walks every parameter, so one backward costs O(P²) parameter
visits. Here a hook touches only its own parameter: O(P) per backward.

`OptimizerInBackward` is a `torch.optim.Optimizer` whose `param_groups` are
the per-parameter optimizers' own group dicts, so a standard LRScheduler
drives all of them; its `step()` (called by the trainer after backward, as
usual) only closes the step: it turns the sum of squared gradient norms
accumulated by the hooks into the step's grad norm, with one reduction.

Constraints, checked by `check_compatible`:
- no gradient accumulation: each micro-batch's backward would step;
- no global-norm clipping: the global norm is known only after the last
  gradient, when every other parameter has already been updated. Clipping
  each parameter's gradient to its own max norm (`clip_per_param`) is
  allowed because it needs nothing beyond the parameter itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from fgtui.engine.errors import FgError

OptimizerFactory = Callable[[list[dict]], torch.optim.Optimizer]


def check_compatible(gradient_accumulation_steps: int, max_grad_norm: float | None) -> None:
    """Refuse settings that cannot work with the optimizer stepped inside backward."""
    if gradient_accumulation_steps > 1:
        raise FgError(
            f"optimizer_in_backward cannot be combined with gradient_accumulation_steps="
            f"{gradient_accumulation_steps}: each parameter is updated during backward, so every "
            "micro-batch would take its own optimizer step",
            hint="set gradient_accumulation_steps: 1 (raise the batch size instead) or turn optimizer_in_backward off",
        )
    if max_grad_norm is not None and max_grad_norm > 0:
        raise FgError(
            f"optimizer_in_backward cannot clip to a global max_grad_norm={max_grad_norm}: the global norm is "
            "only known after the last gradient, when the other parameters have already been updated",
            hint="set max_grad_norm: null, or use per-parameter clipping (optimizer_in_backward_clip_per_param)",
        )


class OptimizerInBackward(torch.optim.Optimizer):
    """Per-parameter optimizers stepped from post-accumulate-grad hooks.

    `optimizer_factory` is called once per parameter with a one-group list
    `[{"params": [p], **group_hyperparameters}]`, the usual torch optimizer
    constructor argument (e.g. `functools.partial(torch.optim.AdamW, lr=3e-4)`).
    `params` is the model (all trainable parameters, one group), named
    parameters, or a list of param-group dicts whose extra keys (lr,
    weight_decay, ...) are passed to that group's optimizers.
    `clip_per_param`, when set, clips each gradient to that L2 norm before its step.
    """

    def __init__(
        self, params: nn.Module | Iterable, optimizer_factory: OptimizerFactory, *, clip_per_param: float | None = None
    ) -> None:
        groups, self._names = _param_groups(params)
        if clip_per_param is not None and clip_per_param <= 0:
            raise FgError(f"per-parameter clipping needs a positive max norm, got {clip_per_param}")
        self.clip_per_param = clip_per_param
        self.optimizers: list[torch.optim.Optimizer] = []
        self._hooks = []
        self._sq_norm: torch.Tensor | None = None
        self._pending = 0
        self.enabled = True
        self.last_grad_norm: torch.Tensor | None = None
        all_params = []
        for group in groups:
            hyper = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                opt = optimizer_factory([{"params": [p], **hyper}])
                if len(opt.param_groups) != 1 or len(opt.param_groups[0]["params"]) != 1:
                    raise FgError(
                        "the optimizer factory must build an optimizer over exactly the parameter it is given"
                    )
                self.optimizers.append(opt)
                self._hooks.append(p.register_post_accumulate_grad_hook(self._hook(opt)))
                all_params.append(p)
        if not all_params:
            raise FgError("optimizer_in_backward got no trainable parameters")
        super().__init__(all_params, defaults={})
        # The scheduler and the logs see the per-parameter groups themselves:
        # setting group["lr"] here is setting it on the optimizer that steps.
        self.param_groups = [opt.param_groups[0] for opt in self.optimizers]

    def _hook(self, opt: torch.optim.Optimizer):
        def step_now(p: torch.Tensor) -> None:
            if not self.enabled or p.grad is None:
                return
            # vector_norm accumulates in fp32 without an fp32 copy of the gradient
            # (two of them, 180 MB each for a 7B MLP weight, with .float().pow(2)).
            sq = torch.linalg.vector_norm(p.grad.detach(), dtype=torch.float32).square()
            self._sq_norm = sq if self._sq_norm is None else self._sq_norm + sq
            self._pending += 1
            if self.clip_per_param is not None:
                norm = sq.sqrt()
                p.grad.mul_(torch.clamp(self.clip_per_param / (norm + 1e-6), max=1.0).to(p.grad.dtype))
            opt.step()
            p.grad = None

        return step_now

    @torch.no_grad()
    def step(self, closure=None):
        """Close the step: record the grad norm of the gradients the hooks consumed.

        Parameter updates already happened in backward. Returns the closure's
        loss if one is given (it runs forward+backward, which steps).
        """
        loss = closure() if closure is not None else None
        self.last_grad_norm = self._sq_norm.sqrt() if self._sq_norm is not None else None
        self.last_stepped_params = self._pending
        self._sq_norm = None
        self._pending = 0
        return loss

    def grad_norm(self) -> float | None:
        """The last step's total gradient L2 norm (pre-clipping), as a Python float (syncs once)."""
        return None if self.last_grad_norm is None else float(self.last_grad_norm)

    def zero_grad(self, set_to_none: bool = True) -> None:
        # Hooks already dropped every gradient they stepped; this clears any
        # left by a backward run with the hooks disabled.
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def remove_hooks(self) -> None:
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()

    def state_dict(self) -> dict:
        """Per-parameter optimizer states keyed by parameter name (stable across runs)."""
        return {"optimizer_in_backward": {name: opt.state_dict() for name, opt in zip(self._names, self.optimizers)}}

    def load_state_dict(self, state_dict: dict) -> None:
        states = state_dict.get("optimizer_in_backward")
        if states is None:
            raise FgError(
                "this optimizer state was not saved with optimizer_in_backward",
                hint="resume with the same optimizer_in_backward setting the checkpoint was made with",
            )
        missing = set(self._names) - set(states)
        if missing:
            raise FgError(f"optimizer state lacks {len(missing)} parameters, e.g. {sorted(missing)[0]}")
        for name, opt in zip(self._names, self.optimizers):
            opt.load_state_dict(states[name])
        # load_state_dict replaces each optimizer's group dicts; re-share them.
        self.param_groups = [opt.param_groups[0] for opt in self.optimizers]


def _param_groups(params) -> tuple[list[dict], list[str]]:
    """Normalise the accepted `params` forms into groups plus one name per parameter."""
    if isinstance(params, nn.Module):
        named = [(n, p) for n, p in params.named_parameters() if p.requires_grad]
        return [{"params": [p for _, p in named]}], [n for n, _ in named]
    items = list(params)
    if items and isinstance(items[0], tuple):
        named = [(n, p) for n, p in items if p.requires_grad]
        return [{"params": [p for _, p in named]}], [n for n, _ in named]
    if items and isinstance(items[0], dict):
        groups, names = [], []
        for gi, group in enumerate(items):
            plist = [p for p in group["params"] if p.requires_grad]
            groups.append({**group, "params": plist})
            names += group.get("names", [f"group{gi}.{i}" for i in range(len(plist))])
        for group in groups:
            group.pop("names", None)
        return groups, names
    plist = [p for p in items if p.requires_grad]
    return [{"params": plist}], [str(i) for i in range(len(plist))]
