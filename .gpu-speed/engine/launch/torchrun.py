"""The torchrun command line that starts a run's ranks."""

from __future__ import annotations

import sys

from fgtui.engine.errors import FgError

ENTRY_MODULE = "fgtui.engine.train.entry"
# Options that mean the user set up rendezvous themselves (multi-node, SLURM).
_RENDEZVOUS_OPTIONS = ("--rdzv", "--nnodes", "--master", "--node-rank", "--node_rank", "--standalone")


def parse_devices(devices: str | None, cuda_count: int) -> tuple[int, str | None]:
    """`-d` value -> (processes per node, CUDA_VISIBLE_DEVICES or None).

    None: every visible GPU, or one CPU process. "cpu": one CPU process (also on a GPU box);
    "cpu:N": N CPU processes (gloo). "0,2": those GPUs, one process each.
    """
    if devices is None:
        return max(1, cuda_count), None
    if devices == "cpu":
        return 1, ""
    if devices.startswith("cpu:"):
        count = devices[4:]
        if not count.isdigit() or int(count) < 1:
            raise FgError(f"bad device list {devices!r}", hint="cpu:N takes a positive process count")
        return int(count), ""
    ids = [d.strip() for d in devices.split(",") if d.strip()]
    if not ids or not all(d.isdigit() for d in ids):
        raise FgError(f"bad device list {devices!r}", hint="use GPU indices like 0,1, or cpu")
    if cuda_count and any(int(d) >= cuda_count for d in ids):
        raise FgError(f"device list {devices!r} names a GPU beyond the {cuda_count} present")
    return len(ids), ",".join(ids)


def build_command(run_dir: str, nproc: int, torchrun_args: list[str] = (), python: str = sys.executable) -> list[str]:
    """`python -m torch.distributed.run ... -m fgtui.engine.train.entry RUN_DIR`.

    Even one process goes through torchrun so that every run sees the same
    environment (RANK, WORLD_SIZE, ...) and the same signal handling.
    """
    command = [python, "-m", "torch.distributed.run"]
    if not any(arg.startswith(_RENDEZVOUS_OPTIONS) for arg in torchrun_args):
        # A random free port per job: several jobs can run on one machine.
        command.append("--standalone")
    command += [f"--nproc-per-node={nproc}", *torchrun_args, "-m", ENTRY_MODULE, str(run_dir)]
    return command
