from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from fgtui.engine.errors import FgError
from fgtui.engine.memory.checkpointing import apply_activation_checkpointing
from fgtui.engine.memory.chunked_mlp import apply_chunked_mlp, find_swiglu_mlps, remove_chunked_mlp
from memory_helpers import assert_grads_close, batch, grads, hf_loss, tiny_llama

INTERMEDIATE = 72  # distinct from batch*seq (64) so no other tensor matches


class _LargestIntermediate(TorchDispatchMode):
    """Largest number of rows of any [*, intermediate]-wide tensor produced."""

    def __init__(self):
        super().__init__()
        self.rows = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            # [hidden, intermediate] is down_proj's weight gradient, not an activation.
            if (
                isinstance(t, torch.Tensor)
                and t.dim() >= 2
                and t.shape[-1] == INTERMEDIATE
                and tuple(t.shape) != (32, INTERMEDIATE)
            ):
                self.rows = max(self.rows, t.numel() // INTERMEDIATE)
        return out


def _run(model):
    ids, labels = batch(length=32)
    probe = _LargestIntermediate()
    with probe:
        loss = hf_loss(model, ids, labels)
        loss.backward()
    return loss.detach(), grads(model), probe.rows


@pytest.fixture(scope="module")
def plain():
    return _run(tiny_llama(intermediate=INTERMEDIATE))


@pytest.mark.parametrize("n_chunks", [2, 4, 5])
@pytest.mark.parametrize("with_ac", [False, True])
def test_equal_to_plain_and_smaller(plain, n_chunks, with_ac):
    model = tiny_llama(intermediate=INTERMEDIATE)
    if with_ac:
        apply_activation_checkpointing(model, "full")
    assert apply_chunked_mlp(model, n_chunks) == 2
    loss, g, rows = _run(model)
    torch.testing.assert_close(loss, plain[0])
    assert_grads_close(g, plain[1], rtol=1e-5, atol=1e-6)
    # plain path materialises [batch*seq, intermediate]; chunks only [batch*seq/n, ...]
    assert plain[2] == 2 * 32
    assert rows <= 2 * -(-32 // n_chunks)


def test_remove_and_refusals():
    model = tiny_llama()
    assert len(find_swiglu_mlps(model)) == 2
    apply_chunked_mlp(model, 2)
    with pytest.raises(FgError, match="already"):
        apply_chunked_mlp(model, 2)
    remove_chunked_mlp(model)
    apply_chunked_mlp(model, 3)
    with pytest.raises(FgError, match="at least 2"):
        apply_chunked_mlp(tiny_llama(), 1)
    with pytest.raises(FgError, match="SwiGLU"):
        apply_chunked_mlp(torch.nn.Linear(2, 2), 2)
