"""One profiled training step, summarised: device time by kernel family and the top kernels.

Shared by the benches' `--profile` options (packed_step_bench.py, train_bench.py).
"""

from __future__ import annotations

# Kernel families, tried in order on a kernel's lowercased name.
KERNEL_GROUPS = (
    ("attention", ("flash", "fmha", "flex", "attention", "varlen", "triton_tem_fused", "cudnn")),
    ("matmul", ("gemm", "nvjet", "cutlass", "xmma", "matmul", "addmm", "aten::mm", "aten::bmm", "cublas")),
    ("copy h<->d", ("memcpy htod", "memcpy dtoh", "memcpy (htod", "memcpy (dtoh", "pinned")),
    # fgtui's Triton Adafactor kernels; torch's optimizers run foreach (multi-tensor) kernels
    ("optimizer", ("factored_", "vector_stats", "vector_apply", "adafactor", "multi_tensor_apply", "_foreach_")),
)


def device_times(profiler) -> dict[str, float]:
    """Self milliseconds per kernel name of a profiled step; on CPU, where there are no
    kernels, the self CPU time of the ops.

    On a GPU only the device's own events count (kernels, copies), as in the footer of
    torch's profiler table: a CPU op also carries the device time of the kernels it
    launched, so counting it too would count every kernel twice, under the op's name."""
    import torch
    from torch.autograd import DeviceType

    on_device = torch.cuda.is_available()
    times: dict[str, float] = {}
    for event in profiler.key_averages():
        if on_device:
            if event.device_type == DeviceType.CPU or event.is_user_annotation:
                continue
            micros = event.self_device_time_total
        else:
            micros = event.self_cpu_time_total
        if micros:
            times[event.key] = times.get(event.key, 0.0) + micros / 1000
    return times


def kernel_groups(profiler) -> dict[str, float]:
    """Self device milliseconds of a profiled step by kernel family (KERNEL_GROUPS, else "other")."""
    groups = {name: 0.0 for name, _ in KERNEL_GROUPS} | {"other": 0.0}
    for key, millis in device_times(profiler).items():
        name = key.lower()
        group = next((g for g, needles in KERNEL_GROUPS if any(n in name for n in needles)), "other")
        groups[group] += millis
    return groups


def top_kernels(profiler, n: int = 25) -> list[tuple[str, float]]:
    """The `n` kernels with the most self device milliseconds, names cut to 90 characters."""
    ranked = sorted(device_times(profiler).items(), key=lambda item: -item[1])[:n]
    return [(key[:90], millis) for key, millis in ranked]


def profiler_for_one_step():
    import torch

    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    return torch.profiler.profile(activities=activities)


def last_step_profile(steps: int):
    """A trainer callback that profiles the last of `steps` optimizer steps (a profile of
    the first would show compile and allocator warm-up, not the step); its `groups` and
    `top` are kernel_groups and top_kernels of that step once it is done."""
    import torch

    from fgtui.engine.train.callbacks import TrainerCallback

    class LastStepProfile(TrainerCallback):
        def __init__(self) -> None:
            self.done, self.profiler, self.groups, self.top = 0, None, None, None

        def _start_if_the_last_is_next(self) -> None:
            if self.done == steps - 1 and self.profiler is None:
                self.profiler = profiler_for_one_step()
                self.profiler.__enter__()

        def on_train_begin(self, trainer) -> None:
            self._start_if_the_last_is_next()

        def after_step(self) -> None:
            self.done += 1
            if self.profiler is not None and self.groups is None:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                self.profiler.__exit__(None, None, None)
                self.groups = kernel_groups(self.profiler)
                self.top = top_kernels(self.profiler)
            self._start_if_the_last_is_next()

    return LastStepProfile()
