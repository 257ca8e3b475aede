"""What is live on the GPU at the allocation peak, from a CUDA caching-allocator snapshot.

`torch.cuda.memory._record_memory_history()` logs every allocation and free
with its stack; `summarize_peak` replays that trace, finds the moment the
traced bytes peak, and groups the blocks live then by where they were
allocated (innermost fgtui Python frame plus the innermost ATen/autograd C++
frame), so "what fills the card" is read off rather than guessed. Memory
allocated before recording started (the weights) is not in the trace.
"""

from __future__ import annotations

from collections import defaultdict

_CPP_HINTS = ("at::native::", "autograd::generated::", "at::_ops::", "flash", "efficient_attention", "cudnn")


def _where(frames: list[dict]) -> str:
    py = next(
        (
            f"{f['filename'].rsplit('/', 2)[-1] if '/' in f['filename'] else f['filename']}:{f['line']} {f['name']}"
            for f in frames
            if f["filename"].endswith(".py") and "/torch/" not in f["filename"]
        ),
        "-",
    )
    cpp = next(
        (
            f["name"][:90]
            for f in frames
            if not f["filename"].endswith(".py") and any(h in f["name"] for h in _CPP_HINTS)
        ),
        "-",
    )
    return f"{py} | {cpp}"


def summarize_peak(snapshot: dict, tokens: int, top: int = 25) -> str:
    """A text table of the live blocks at the traced peak, grouped by allocation site."""
    lines = []
    for device, trace in enumerate(snapshot.get("device_traces", [])):
        if not trace:
            continue
        live, total, peak, peak_at = {}, 0, 0, -1
        for i, e in enumerate(trace):
            if e["action"] == "alloc":
                live[e["addr"]] = e["size"]
                total += e["size"]
                if total > peak:
                    peak, peak_at = total, i
            elif e["action"] in ("free_completed",) and e["addr"] in live:
                total -= live.pop(e["addr"])
        # Replay up to the peak, keeping the frames of what is live there.
        blocks: dict[int, dict] = {}
        for e in trace[: peak_at + 1]:
            if e["action"] == "alloc":
                blocks[e["addr"]] = e
            elif e["action"] == "free_completed":
                blocks.pop(e["addr"], None)
        groups: dict[str, list[int]] = defaultdict(list)
        for e in blocks.values():
            groups[_where(e.get("frames", []))].append(e["size"])
        lines.append(
            f"device {device}: traced peak {peak / 2**30:.2f} GiB = {peak / tokens / 1024:.1f} KB/token "
            f"at event {peak_at} of {len(trace)}; {len(blocks)} live blocks"
        )
        lines.append(f"{'GiB':>7} {'KB/tok':>7} {'n':>4}  allocated at")
        for where, sizes in sorted(groups.items(), key=lambda kv: -sum(kv[1]))[:top]:
            s = sum(sizes)
            lines.append(f"{s / 2**30:7.3f} {s / tokens / 1024:7.1f} {len(sizes):>4}  {where}")
    return "\n".join(lines) if lines else "no allocations traced"
