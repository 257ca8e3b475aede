"""Packing documents into fixed-size blocks: pure functions over lengths.

The planners here see only document lengths and return *plans*: for every
output block, the list of `Segment(doc, start, end)` slices of documents that
fill it, in order. Turning a plan into tokens is a separate, cheap step
(`pack_documents` for Python lists; `engine.data.preprocess` gathers straight
from Arrow buffers with numpy), so the same plan logic serves a `datasets.map`
batch and a whole split, and is easy to test without any tokenizer.

Semantics shared by all strategies (documents already carry their BOS/EOS):

- A document is never given a token it does not have: a block that starts in
  the middle of a document starts with that document's next tokens, not with
  an inserted BOS (Forgather inserts one; that teaches the model that stories
  begin mid-sentence).
- `stride` > 0: a piece that continues a split document starts `stride`
  tokens before where the previous piece ended, so it has some context. Every
  piece adds at least one new token, so no piece repeats another.
- `overflow=False`: a document longer than `max_length` is truncated to
  `max_length`; the plan counts how many were.

Strategies (`packed=True`):

- ``greedy`` concatenates documents in order and cuts every `max_length`
  tokens; with `stride=0` it reaches the minimum block count
  ceil(total / max_length). With `overflow=False` it is next-fit.
- ``best_fit`` / ``first_fit`` keep every document that fits in a block whole
  and place those in decreasing order of length, into the fullest block that
  still has room (best fit) or the first one that does (first fit). Documents
  longer than a block must be split anyway, so their pieces are cut to fill
  the gaps the whole documents leave (largest gap first) before opening full
  blocks; only gaps too small for a useful piece (`min_fragment` new tokens)
  stay empty. Both run in O(n log n) through a max segment tree.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

STRATEGIES = ("greedy", "best_fit", "first_fit")

# Pieces of a split document shorter than this (in new tokens) are not used to
# fill gaps: a few dozen tokens cut out of a story teach little and cost a
# document boundary.
DEFAULT_MIN_FRAGMENT = 32


class Segment(NamedTuple):
    """Tokens `[start, end)` of document `doc` (its index in the input)."""

    doc: int
    start: int
    end: int


@dataclass
class PackPlan:
    """Blocks as lists of segments, plus what the planner had to give up."""

    max_length: int
    blocks: list[list[Segment]] = field(default_factory=list)
    truncated: int = 0  # documents cut to max_length because overflow=False

    def block_lengths(self) -> list[int]:
        return [sum(s.end - s.start for s in block) for block in self.blocks]

    def tokens(self) -> int:
        return sum(self.block_lengths())

    def fill(self) -> float:
        """Tokens placed / capacity of the emitted blocks (0.0 when empty)."""
        if not self.blocks:
            return 0.0
        return self.tokens() / (len(self.blocks) * self.max_length)


def plan_blocks(
    lengths: Sequence[int],
    max_length: int,
    *,
    packed: bool = False,
    strategy: str = "greedy",
    overflow: bool = True,
    stride: int = 0,
    min_fragment: int = DEFAULT_MIN_FRAGMENT,
    progress: Callable[[int], None] | None = None,
) -> PackPlan:
    """Plan how documents of the given lengths fill blocks of `max_length`.

    `progress(n)`, when given, is called as documents are placed (n at a time)."""
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    if not 0 <= stride < max_length:
        raise ValueError(f"stride must be in [0, max_length), got {stride}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown packing strategy {strategy!r}; expected one of {STRATEGIES}")
    if not packed:
        plan = _plan_unpacked(lengths, max_length, overflow, stride)
    elif strategy == "greedy":
        plan = _plan_greedy(lengths, max_length, overflow, stride)
    else:
        return _plan_fit(lengths, max_length, overflow, stride, strategy, max(1, min_fragment), progress)
    if progress is not None:  # the linear planners are too quick to need finer steps
        progress(len(lengths))
    return plan


def windows(length: int, max_length: int, stride: int = 0) -> list[tuple[int, int]]:
    """Sliding windows `[start, end)` over a document; consecutive windows
    overlap by `stride` and the last one ends at the document's end."""
    out = []
    start = 0
    while True:
        end = min(start + max_length, length)
        out.append((start, end))
        if end >= length:
            return out
        start = end - stride


def finalize(plan: PackPlan, *, min_len: int = 1, shuffle_output: bool = False, seed: int | None = 42) -> PackPlan:
    """Drop blocks shorter than `min_len` and optionally shuffle block order."""
    blocks = [b for b, n in zip(plan.blocks, plan.block_lengths()) if n >= min_len]
    if shuffle_output:
        random.Random(seed).shuffle(blocks)
    return PackPlan(plan.max_length, blocks, plan.truncated)


@dataclass
class PackedBlocks:
    """Materialised blocks: token lists and, per block, where each segment starts."""

    input_ids: list[list[int]]
    document_starts: list[list[int]]
    truncated: int = 0


def materialize(plan: PackPlan, docs: Sequence[Sequence[int]]) -> PackedBlocks:
    """Cut the planned segments out of `docs` (token lists)."""
    input_ids: list[list[int]] = []
    starts: list[list[int]] = []
    for block in plan.blocks:
        ids: list[int] = []
        offsets: list[int] = []
        for doc, start, end in block:
            offsets.append(len(ids))
            ids.extend(docs[doc][start:end])
        input_ids.append(ids)
        starts.append(offsets)
    return PackedBlocks(input_ids, starts, plan.truncated)


def pack_documents(
    docs: Sequence[Sequence[int]],
    max_length: int,
    *,
    packed: bool = True,
    strategy: str = "greedy",
    overflow: bool = True,
    stride: int = 0,
    min_len: int = 1,
    shuffle_output: bool = False,
    seed: int | None = 42,
    min_fragment: int = DEFAULT_MIN_FRAGMENT,
) -> PackedBlocks:
    """Plan, filter and materialise in one call (token lists in, blocks out)."""
    plan = plan_blocks(
        [len(d) for d in docs],
        max_length,
        packed=packed,
        strategy=strategy,
        overflow=overflow,
        stride=stride,
        min_fragment=min_fragment,
    )
    return materialize(finalize(plan, min_len=min_len, shuffle_output=shuffle_output, seed=seed), docs)


# -- planners ---------------------------------------------------------------


def _plan_unpacked(lengths, max_length, overflow, stride) -> PackPlan:
    plan = PackPlan(max_length)
    for doc, n in enumerate(lengths):
        if n == 0:
            continue
        if n <= max_length:
            plan.blocks.append([Segment(doc, 0, n)])
        elif overflow:
            plan.blocks.extend([Segment(doc, s, e)] for s, e in windows(n, max_length, stride))
        else:
            plan.truncated += 1
            plan.blocks.append([Segment(doc, 0, max_length)])
    return plan


def _plan_greedy(lengths, max_length, overflow, stride) -> PackPlan:
    plan = PackPlan(max_length)
    block: list[Segment] = []
    fill = 0
    for doc, n in enumerate(lengths):
        if n == 0:
            continue
        if not overflow:
            if n > max_length:
                plan.truncated += 1
                n = max_length
            if fill + n > max_length:  # next fit: the document cannot be split
                plan.blocks.append(block)
                block, fill = [], 0
            block.append(Segment(doc, 0, n))
            fill += n
            continue
        space = max_length - fill
        if stride and fill and n > space and space <= stride:
            # The piece left in this block would be no longer than the overlap,
            # so the continuation would repeat it whole: start a fresh block.
            plan.blocks.append(block)
            block, fill = [], 0
        pos = 0
        while pos < n:
            take = min(max_length - fill, n - pos)
            block.append(Segment(doc, pos, pos + take))
            fill += take
            pos += take
            if fill == max_length:
                plan.blocks.append(block)
                block, fill = [], 0
                if pos < n:
                    pos -= stride  # the continuation re-reads `stride` tokens of context
    if block:
        plan.blocks.append(block)
    return plan


def _plan_fit(lengths, max_length, overflow, stride, strategy, min_fragment, progress=None) -> PackPlan:
    plan = PackPlan(max_length)
    index = _BestFitIndex(max_length) if strategy == "best_fit" else _FirstFitIndex()
    fills: list[int] = []

    def place(segment: Segment) -> None:
        """Put a piece that must stay whole into a bin chosen by the strategy."""
        size = segment.end - segment.start
        bin_id = index.take_fit(size)
        if bin_id is None:
            bin_id = len(plan.blocks)
            plan.blocks.append([])
            fills.append(0)
        plan.blocks[bin_id].append(segment)
        fills[bin_id] += size
        index.add(bin_id, max_length - fills[bin_id])

    whole: list[tuple[int, int]] = []
    split: list[tuple[int, int]] = []
    for doc, n in enumerate(lengths):
        if n == 0:
            continue
        if n <= max_length:
            whole.append((n, doc))
        elif overflow:
            split.append((n, doc))
        else:
            plan.truncated += 1
            whole.append((max_length, doc))
    # Decreasing length; ties keep input order so plans are reproducible.
    whole.sort(key=lambda item: (-item[0], item[1]))
    split.sort(key=lambda item: (-item[0], item[1]))

    step = 4096  # report progress in chunks: a call per document would cost more than placing it
    for i, (n, doc) in enumerate(whole):
        place(Segment(doc, 0, n))
        if progress is not None and i % step == step - 1:
            progress(step)
    if progress is not None:
        progress(len(whole) % step + len(lengths) - len(whole) - len(split))

    for n, doc in split:
        pos = 0  # first token not yet emitted
        while True:
            start = pos - stride if pos else 0  # a continuation re-reads `stride` tokens
            if n - start <= max_length:
                place(Segment(doc, start, n))
                break
            gap = index.take_largest()
            # A piece no longer than the overlap would be repeated whole by
            # the next piece, so the gap must hold more than `stride` tokens.
            if gap is not None and gap[1] - (pos - start) >= min_fragment and gap[1] > stride:
                bin_id, free = gap
            else:
                if gap is not None:
                    index.add(*gap)
                bin_id, free = len(plan.blocks), max_length
                plan.blocks.append([])
                fills.append(0)
            end = start + free
            plan.blocks[bin_id].append(Segment(doc, start, end))
            fills[bin_id] += free
            pos = end
        if progress is not None:
            progress(1)
    return plan


# -- bin indexes ------------------------------------------------------------


class _MaxTree:
    """Max segment tree over positions 0..n-1 (grows on demand).

    `leftmost(t)` finds the smallest position whose value is >= t in
    O(log n), which is all best fit and first fit need."""

    def __init__(self, size: int = 64) -> None:
        self.size = 1
        while self.size < size:
            self.size *= 2
        self.tree = [0] * (2 * self.size)

    def set(self, pos: int, value: int) -> None:
        if pos >= self.size:
            self._grow(pos + 1)
        i = pos + self.size
        tree = self.tree
        tree[i] = value
        i //= 2
        while i:
            left, right = tree[2 * i], tree[2 * i + 1]
            tree[i] = left if left > right else right
            i //= 2

    def max(self) -> int:
        return self.tree[1]

    def leftmost(self, threshold: int) -> int:
        tree = self.tree
        if tree[1] < threshold:
            return -1
        i = 1
        while i < self.size:
            i = 2 * i if tree[2 * i] >= threshold else 2 * i + 1
        return i - self.size

    def _grow(self, needed: int) -> None:
        leaves = self.tree[self.size :]
        while self.size < needed:
            self.size *= 2
        self.tree = [0] * self.size + leaves + [0] * (self.size - len(leaves))
        for i in range(self.size - 1, 0, -1):
            self.tree[i] = max(self.tree[2 * i], self.tree[2 * i + 1])


class _BestFitIndex:
    """Open bins bucketed by free space; the tree over free-space values finds
    the smallest free space that still holds an item."""

    def __init__(self, max_length: int) -> None:
        self.tree = _MaxTree(max_length + 1)
        self.buckets: dict[int, list[int]] = defaultdict(list)

    def add(self, bin_id: int, free: int) -> None:
        if free > 0:
            self.buckets[free].append(bin_id)
            self.tree.set(free, free)

    def _pop(self, free: int) -> int:
        bucket = self.buckets[free]
        bin_id = bucket.pop()
        if not bucket:
            self.tree.set(free, 0)
        return bin_id

    def take_fit(self, size: int) -> int | None:
        free = self.tree.leftmost(size)
        return None if free < 0 else self._pop(free)

    def take_largest(self) -> tuple[int, int] | None:
        free = self.tree.max()
        return None if free <= 0 else (self._pop(free), free)


class _FirstFitIndex:
    """Free space per bin in bin order; the leftmost bin with room wins."""

    def __init__(self) -> None:
        self.tree = _MaxTree()

    def add(self, bin_id: int, free: int) -> None:
        self.tree.set(bin_id, free)

    def take_fit(self, size: int) -> int | None:
        bin_id = self.tree.leftmost(size)
        if bin_id < 0:
            return None
        self.tree.set(bin_id, 0)
        return bin_id

    def take_largest(self) -> tuple[int, int] | None:
        free = self.tree.max()
        if free <= 0:
            return None
        bin_id = self.tree.leftmost(free)
        self.tree.set(bin_id, 0)
        return bin_id, free
