"""Fused kernels for the decoder's pointwise parts: RMSNorm, rotary embeddings, the GLU product
(and, in loss.py, the cross-entropy over the logits).

Run eagerly, each of these is a chain of small kernels that read and write the
whole activation several times (RMSNorm in float32 alone is about ten passes over
a [tokens, hidden] tensor, forward and again in backward). On a 7B model at 16K
tokens that traffic was a fifth of the step: `bench/packed_step_bench.py --profile`
put the compiled-block variant's device time 18% under the eager one's.

Compiling each small function on its own (rather than the whole decoder block)
gives one fused kernel forward and one or two backward, each with its own autograd
node, while attention stays an eager call: nothing of the varlen kernel's
per-batch sequence bounds reaches the compiler, so shapes stay static and nothing
recompiles from batch to batch. The functions are the same formulas the modules
run eagerly (`*_reference`), so a module with `fused_pointwise` off is the reference.

Used only on CUDA tensors and outside a compiled region (inside one, the enclosing
compile fuses the reference formulas itself).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

_compiled: dict[Callable, Callable] = {}


def rms_norm_reference(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """HF Llama's order: float32 statistics, cast back to x's dtype, then the weight."""
    return weight * F.rms_norm(x.float(), (x.shape[-1],), eps=eps).to(x.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) over the two halves of the last dim (HF's rotary layout)."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotary_reference(
    q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """q and k rotated by position; cos/sin already broadcast against them."""
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


def silu_glu_reference(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return F.silu(gate) * up


def gelu_glu_reference(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return F.gelu(gate) * up


def relu_glu_reference(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return F.relu(gate) * up


GLU_REFERENCE = {"silu": silu_glu_reference, "gelu": gelu_glu_reference, "relu": relu_glu_reference}


def applies(x: torch.Tensor) -> bool:
    """Whether the fused kernel runs for this tensor: CUDA, and not already being compiled."""
    return x.is_cuda and not torch.compiler.is_compiling()


def compiled(reference: Callable) -> Callable:
    """`reference` under torch.compile, built once per function (shapes are guarded by torch)."""
    kernel = _compiled.get(reference)
    if kernel is None:
        kernel = _compiled[reference] = torch.compile(reference, fullgraph=True)
    return kernel


def set_fused_pointwise(model: torch.nn.Module, enabled: bool) -> int:
    """Switch the fused kernels on or off for every module of `model` that has them; returns how many."""
    count = 0
    for module in model.modules():
        if hasattr(module, "fused_pointwise"):
            module.fused_pointwise = enabled
            count += 1
    return count
