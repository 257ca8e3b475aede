"""CPU activation offload with pinned buffers, a side stream and prefetch.

With full activation checkpointing a 7B model still keeps every layer's
input between forward and backward: L·d·2 bytes per token, 256 KiB at
d=4096, L=32 — 26 GiB at 106K tokens. This module moves such saved tensors
to host memory and brings them back just before backward needs them.

How it differs from `torch.autograd.graph.save_on_cpu(pin_memory=True)`
(what Forgather uses), which pins a fresh host tensor per saved tensor and
copies synchronously in both directions:

- host buffers come from a pool of pinned blocks reused across steps (pinned
  allocation is a slow driver call);
- device→host copies run on a side stream after it waits for the compute
  stream, so the forward keeps computing while earlier activations drain; the
  GPU tensor is `record_stream`-ed on the side stream so its memory is
  reused only after the copy finished;
- in backward, unpacking one tensor issues host→device copies of the tensors
  packed just before it (the previous layer's) on another side stream, up
  to `prefetch_bytes` ahead; the compute stream waits on that copy's event
  only when it needs the tensor;
- small tensors (< `min_bytes`), parameters and views of parameters stay
  where they are: copying weights out would only waste bandwidth;
- a tensor saved by several ops (RoPE cos/sin, passed to every layer) is
  copied out once.

Without CUDA there is nothing to offload to. The context then does nothing
and says so (`active`, `status`, a log warning) instead of pretending.
`force=True` runs the whole pack/pool/prefetch/unpack path on CPU tensors,
copying into separate host buffers, so the logic can be tested without a GPU.
"""

from __future__ import annotations

import logging
import weakref
from collections import defaultdict

import torch
from torch import nn

log = logging.getLogger("fgtui.memory")

_MiB = 2**20


class _Block:
    """One host buffer from the pool, and the event after which it may be overwritten."""

    __slots__ = ("data", "ready")

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data
        self.ready: torch.cuda.Event | None = None


class _HostPool:
    """Host buffers by size, handed out again once their last reader is done.

    A request takes the smallest free buffer that holds it, up to twice its size:
    rows of a packed dataset differ in length (best-fit packing makes 11,938- and
    16,254-token rows), and with exact size classes each new length pinned another
    full set of layer inputs (4 GiB at 16K on a 7B shape), seconds of driver calls
    in that step and host memory that grew with every new length.
    """

    def __init__(self, pinned: bool) -> None:
        self.pinned = pinned
        self.free: dict[int, list[_Block]] = defaultdict(list)
        self.allocated_bytes = 0
        self.allocations = 0

    @staticmethod
    def _size_class(nbytes: int) -> int:
        # Round up to 1 MiB so tensors of nearly equal size share blocks.
        return -(-nbytes // _MiB) * _MiB

    def take(self, nbytes: int) -> _Block:
        size = self._size_class(nbytes)
        fits = [free for free in self.free if size <= free <= 2 * size and self.free[free]]
        if fits:
            return self.free[min(fits)].pop()
        self.allocated_bytes += size
        self.allocations += 1
        return _Block(torch.empty(size, dtype=torch.uint8, pin_memory=self.pinned))

    def give(self, block: _Block) -> None:
        self.free[block.data.numel()].append(block)


class _Saved:
    """What autograd keeps instead of an offloaded tensor."""

    __slots__ = (
        "index",
        "shape",
        "stride",
        "dtype",
        "device",
        "nbytes",
        "block",
        "host",
        "d2h_done",
        "device_copy",
        "h2d_done",
        "unpacked",
        "__weakref__",
    )

    def __init__(self, index: int, t: torch.Tensor, block: _Block) -> None:
        self.index = index
        self.shape, self.dtype, self.device = t.shape, t.dtype, t.device
        self.nbytes = t.numel() * t.element_size()
        # Keep the source's memory layout when it is dense (a permutation of
        # contiguous strides), so backward sees the same strides as without offload.
        self.stride = t.stride() if _dense(t) else None
        self.block = block
        flat = block.data[: self.nbytes].view(t.dtype)
        self.host = flat.as_strided(t.shape, self.stride) if self.stride is not None else flat.view(t.shape)
        self.d2h_done: torch.cuda.Event | None = None
        self.device_copy: torch.Tensor | None = None
        self.h2d_done: torch.cuda.Event | None = None
        self.unpacked = False

    def empty_device_tensor(self) -> torch.Tensor:
        if self.stride is not None:
            return torch.empty_strided(self.shape, self.stride, dtype=self.dtype, device=self.device)
        return torch.empty(self.shape, dtype=self.dtype, device=self.device)


def _dense(t: torch.Tensor) -> bool:
    if t.numel() == 0 or any(s == 0 for s in t.stride()):
        return False
    span = 1 + sum((size - 1) * stride for size, stride in zip(t.shape, t.stride()))
    return span == t.numel()


class ActivationOffload(torch.autograd.graph.saved_tensors_hooks):
    """Context manager that offloads tensors saved for backward to host memory.

    Wrap the forward pass (backward may run outside it). `model` lets the
    hooks recognise parameters and views of them by storage; `min_bytes` is
    the smallest tensor worth a copy; `prefetch_bytes` bounds how far ahead
    backward brings tensors back (at least one tensor is prefetched, unless
    `prefetch_bytes` is 0: then each tensor is copied back only when backward
    asks for it, which at long context keeps one layer's input fewer on the
    device). The default is 0: offload exists to save memory, and the 7B
    context sweep (bench/memory_bench.py) reached its longest contexts, at no
    loss of MFU, with prefetch off.
    """

    def __init__(
        self, model: nn.Module | None = None, *, min_bytes: int = _MiB, prefetch_bytes: int = 0, force: bool = False
    ) -> None:
        super().__init__(self._pack, self._unpack)
        self.force = force
        self.cuda = torch.cuda.is_available() and not force
        self.active = self.cuda or force
        if self.cuda:
            self.status = "activation offload on: saved activations go to pinned host memory on a side stream"
        elif force:
            self.status = "activation offload forced on CPU: copies into separate host buffers (test path)"
        else:
            self.status = "activation offload off: no CUDA device, saved activations stay where they are"
            log.warning(self.status)
        self.min_bytes = min_bytes
        self.prefetch_bytes = prefetch_bytes
        self.pool = _HostPool(pinned=self.cuda)
        self._param_storages = (
            {p.untyped_storage().data_ptr() for p in model.parameters()} if model is not None else set()
        )
        self._d2h = torch.cuda.Stream() if self.cuda else None
        self._h2d = torch.cuda.Stream() if self.cuda else None
        self._order: list[weakref.ref] = []
        self._by_source: dict[int, tuple[weakref.ref, weakref.ref]] = {}
        self._cursor: int | None = None
        self._inflight_bytes = 0
        self.stats = {
            "offloaded_tensors": 0,
            "offloaded_bytes": 0,
            "kept_small": 0,
            "kept_parameters": 0,
            "kept_not_cuda": 0,
            "prefetched": 0,
            "fetched_on_demand": 0,
        }

    def __enter__(self):
        # A new forward: its tensors are numbered from 0 again. Buffers of the
        # previous step went back to the pool when autograd dropped them.
        self._order = []
        self._by_source = {}
        self._cursor = None
        self._inflight_bytes = 0
        return super().__enter__()

    def host_bytes(self) -> int:
        """Host memory held by the buffer pool."""
        return self.pool.allocated_bytes

    # -- forward -----------------------------------------------------------
    def _keep(self, t: torch.Tensor) -> bool:
        if not self.active:
            self.stats["kept_not_cuda"] += 1
            return True
        if not self.force and not t.is_cuda:
            self.stats["kept_not_cuda"] += 1
            return True
        if (
            isinstance(t, nn.Parameter)
            or type(t) is not torch.Tensor
            or t.layout != torch.strided
            or t.untyped_storage().data_ptr() in self._param_storages
        ):
            # Parameters (and views sharing their storage) are alive anyway;
            # tensor subclasses (DTensor, quantized) may not survive a raw copy.
            self.stats["kept_parameters"] += 1
            return True
        if t.numel() * t.element_size() < self.min_bytes:
            self.stats["kept_small"] += 1
            return True
        return False

    def _pack(self, t: torch.Tensor):
        if self._keep(t):
            return t
        seen = self._by_source.get(id(t))
        if seen is not None and seen[0]() is t and seen[1]() is not None:
            return seen[1]()
        nbytes = t.numel() * t.element_size()
        block = self.pool.take(nbytes)
        saved = _Saved(len(self._order), t, block)
        if self.cuda:
            compute = torch.cuda.current_stream()
            self._d2h.wait_stream(compute)
            if block.ready is not None:
                self._d2h.wait_event(block.ready)
            with torch.cuda.stream(self._d2h):
                saved.host.copy_(t, non_blocking=True)
                saved.d2h_done = torch.cuda.Event()
                saved.d2h_done.record()
            t.record_stream(self._d2h)
        else:
            saved.host.copy_(t)
        # The block returns to the pool when autograd drops the saved object.
        weakref.finalize(saved, self.pool.give, block)
        self._order.append(weakref.ref(saved))
        self._by_source[id(t)] = (weakref.ref(t), weakref.ref(saved))
        self.stats["offloaded_tensors"] += 1
        self.stats["offloaded_bytes"] += nbytes
        return saved

    # -- backward ----------------------------------------------------------
    def _copy_in(self, saved: _Saved) -> None:
        """Start bringing `saved` back to its device."""
        if self.cuda:
            # Allocated from the compute stream, which uses and frees it. An
            # allocation on the copy stream would need record_stream, and the
            # allocator then holds each freed block until the GPU catches up
            # with the CPU, up to a layer later: one more layer input per layer
            # of lag at the memory peak.
            compute = torch.cuda.current_stream()
            dev = saved.empty_device_tensor()
            # The block may have served compute work that is still queued.
            self._h2d.wait_stream(compute)
            self._h2d.wait_event(saved.d2h_done)
            with torch.cuda.stream(self._h2d):
                dev.copy_(saved.host, non_blocking=True)
                saved.h2d_done = torch.cuda.Event()
                saved.h2d_done.record()
            saved.block.ready = saved.h2d_done
            # A prefetched copy dropped unused (an aborted backward) must not
            # be reused by compute work before its copy lands.
            weakref.finalize(saved, compute.wait_event, saved.h2d_done)
        else:
            dev = saved.empty_device_tensor()
            dev.copy_(saved.host)
        saved.device_copy = dev
        self._inflight_bytes += saved.nbytes

    def _take(self, saved: _Saved) -> torch.Tensor:
        dev = saved.device_copy
        saved.device_copy = None
        self._inflight_bytes -= saved.nbytes
        if self.cuda:
            compute = torch.cuda.current_stream()
            compute.wait_event(saved.h2d_done)
        return dev

    def _unpack(self, saved):
        if isinstance(saved, torch.Tensor):
            return saved
        if saved.device_copy is None:
            self.stats["fetched_on_demand"] += 1
            self._copy_in(saved)
        first_unpack = not saved.unpacked
        saved.unpacked = True
        out = self._take(saved)
        if first_unpack:
            self._prefetch_before(saved.index)
        return out

    def _prefetch_before(self, index: int) -> None:
        # Backward visits tensors in reverse pack order, so the next ones it
        # needs are those packed just before this one.
        # The cursor only moves down, so a whole backward walks the list once.
        if self.prefetch_bytes <= 0:
            return
        self._cursor = index - 1 if self._cursor is None else min(self._cursor, index - 1)
        while self._cursor >= 0:
            saved = self._order[self._cursor]()
            if saved is None or saved.unpacked or saved.device_copy is not None:
                self._cursor -= 1
                continue
            if self._inflight_bytes > 0 and self._inflight_bytes + saved.nbytes > self.prefetch_bytes:
                break
            self._copy_in(saved)
            self.stats["prefetched"] += 1
            self._cursor -= 1
