"""A batch sampler whose position can be saved and restored exactly.

The order of epoch `e` is a permutation drawn from `seed + e`, so it depends on
nothing but the seed and the epoch; resuming mid-epoch skips the batches already
consumed without loading them. Ranks take interleaved slices of the permutation.
"""

from __future__ import annotations

from collections.abc import Iterator


class ResumableBatchSampler:
    """Yields lists of dataset indices, one list per micro-batch."""

    def __init__(
        self,
        dataset_len: int,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
    ) -> None:
        self.dataset_len = dataset_len
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.epoch = 0
        self.start_batch = 0

    def set_position(self, epoch: int, start_batch: int) -> None:
        """Make the next iteration cover epoch `epoch` from micro-batch `start_batch`."""
        self.epoch = epoch
        self.start_batch = start_batch

    def _rank_indices(self) -> list[int]:
        import torch

        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.dataset_len, generator=generator).tolist()
        else:
            order = list(range(self.dataset_len))
        per_rank = self.dataset_len // self.world_size
        # Equal counts on every rank, or the ranks would disagree on the number of steps.
        return order[self.rank : per_rank * self.world_size : self.world_size]

    def __len__(self) -> int:
        per_rank = self.dataset_len // self.world_size
        if self.drop_last:
            return per_rank // self.batch_size
        return -(-per_rank // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        indices = self._rank_indices()
        for batch in range(self.start_batch, len(self)):
            yield indices[batch * self.batch_size : (batch + 1) * self.batch_size]
