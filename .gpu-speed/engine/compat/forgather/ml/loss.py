"""`forgather.ml.loss`: the loss functions Forgather's trainers take as `compute_loss_func`.

Both take the model's logits (or final hidden states) and the labels, shift by
one position (token t predicts t+1) and average over labels != -100.
"""

from __future__ import annotations

from typing import Any

IGNORE_INDEX = -100


class CausalLoss:
    """Mean next-token cross-entropy of `logits` [.., seq, vocab] against `labels` [.., seq]."""

    def __init__(self, compile: bool = False) -> None:
        self.compile = compile
        self._fn = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(compile={self.compile})"

    def _loss(self, logits: Any, labels: Any) -> Any:
        import torch.nn.functional as F

        shifted = logits[..., :-1, :].reshape(-1, logits.size(-1))
        targets = labels[..., 1:].reshape(-1).to(shifted.device)
        return F.cross_entropy(shifted.float(), targets, ignore_index=IGNORE_INDEX)

    def __call__(self, logits: Any, labels: Any) -> Any:
        if self._fn is None:
            import torch

            self._fn = torch.compile(self._loss) if self.compile else self._loss
        return self._fn(logits, labels)


class LinearCrossEntropyLoss:
    """The output projection fused with the cross-entropy, so [tokens, vocab] logits are
    never held whole: fgtui's fused linear cross-entropy (engine/memory/linear_ce.py).

    Built from the model's output layer (`fused_loss_factory(output_embeddings)`);
    called with final hidden states and labels, it gives the same mean as `CausalLoss`.
    """

    def __init__(
        self,
        output_embeddings: Any,
        impl: str = "auto",
        chunk_size: int | None = None,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        from fgtui.engine.memory.linear_ce import LinearCrossEntropyLoss as Fused

        impl = "ours" if impl == "pytorch" else impl
        self._fused = Fused(output_embeddings, impl=impl, ignore_index=ignore_index, chunk_size=chunk_size, shift=True)

    def __call__(self, hidden_states: Any, labels: Any) -> Any:
        return self._fused(hidden_states, labels)
