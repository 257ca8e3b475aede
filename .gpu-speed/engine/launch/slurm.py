"""Runs on a SLURM cluster: an sbatch script per run, submitted from the login node.

The script runs one torchrun per node (`srun --ntasks-per-node=1`) with a c10d
rendezvous on the first node (a port from the job id, or $FGTUI_RDZV_PORT), so the ranks
see the same environment as a local launch. The run directory (on the shared
filesystem) holds the script, the log stream and stdout. Two minutes before the
time limit SLURM sends SIGTERM to the batch script, which leaves a save-and-stop
request in the run directory; the trainer takes it at its next step, saves and
exits cleanly.
(A preemption signals every task: the trainer saves on SIGTERM too, but
torchrun kills its workers 30 s after one, so a save longer than that is cut;
checkpoints are written atomically, so the previous one stays the latest.)

Control goes through the run directory, because a job's control socket lives
on its compute node: `fgtui control stop|save|save-stop` leave a request file
that rank 0 reads at the next step; abort is `scancel`. A job SLURM requeues
(`--requeue`, after a preemption) resumes from its latest checkpoint.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass, field

from fgtui.engine.errors import FgError
from fgtui.engine.launch.control_protocol import REQUEST_FILE
from fgtui.engine.launch.torchrun import build_command

# squeue states in which the job still holds or waits for its nodes (UNKNOWN: squeue failed).
ACTIVE_STATES = (
    "UNKNOWN",
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "RESV_DEL_HOLD",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
)
# The rendezvous port: PORT_BASE + job id % PORT_SPAN, unless $FGTUI_RDZV_PORT is set.
PORT_BASE, PORT_SPAN = 20000, 20000
GRACE_S = 120


@dataclass
class SlurmOptions:
    """What `fgtui train --slurm` asks of the scheduler."""

    nodes: int = 1
    gpus_per_node: int = 1
    partition: str | None = None
    time: str | None = None
    account: str | None = None
    requeue: bool = False
    cpus_per_task: int | None = None  # CPUs per node (one task per node); None: the cluster's default
    mem: str | None = None  # memory per node, e.g. 200G; None: the cluster's default
    extra: list[str] = field(default_factory=list)  # more `#SBATCH` options, e.g. --qos=high

    def __post_init__(self) -> None:
        if self.nodes < 1:
            raise FgError(f"--nodes must be at least 1, not {self.nodes}")
        if self.gpus_per_node < 0:
            raise FgError(f"--gpus-per-node must be 0 (CPU) or more, not {self.gpus_per_node}")
        if self.cpus_per_task is not None and self.cpus_per_task < 1:
            raise FgError(f"--cpus-per-task must be at least 1, not {self.cpus_per_task}")
        for option in self.extra:
            if not option.startswith("--"):
                raise FgError(
                    f"--sbatch-arg {option!r} is not an sbatch option",
                    hint="give long options with their value, e.g. --sbatch-arg=--qos=high",
                )

    @property
    def procs_per_node(self) -> int:
        return max(1, self.gpus_per_node)

    @property
    def world_size(self) -> int:
        return self.nodes * self.procs_per_node


def sbatch_script(
    *,
    run_dir: str,
    run_name: str,
    options: SlurmOptions,
    env: dict[str, str],
    cwd: str,
    torchrun_args: list[str] = (),
    umask: int = 0o077,
) -> str:
    """The batch script: directives, the run's environment, one torchrun per node (the
    launcher's own torchrun command, with a c10d rendezvous on the first node)."""
    rendezvous = [
        f"--nnodes={options.nodes}",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=$head_node:$port",
        "--rdzv-id=$SLURM_JOB_ID",
    ]
    torchrun = build_command(run_dir, options.procs_per_node, [*rendezvous, *torchrun_args])
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={_directive_value(run_name)}",
        f"#SBATCH --nodes={options.nodes}",
        "#SBATCH --ntasks-per-node=1",
    ]
    if options.gpus_per_node:
        lines.append(f"#SBATCH --gpus-per-node={options.gpus_per_node}")
    if options.cpus_per_task:
        lines.append(f"#SBATCH --cpus-per-task={options.cpus_per_task}")
    for name in ("mem", "partition", "time", "account"):
        value = getattr(options, name)
        if value:
            lines.append(f"#SBATCH --{name}={_directive_value(value)}")
    # sbatch expands %j and friends in --output: a literal % in the path is %%.
    output = _directive_value(f"{run_dir}/stdout.log".replace("%", "%%"))
    lines += [
        f"#SBATCH --output={output}",
        "#SBATCH --open-mode=append",
        # SIGTERM to this script (B:) GRACE_S before the time limit. Not to the tasks:
        # torchrun would SIGKILL its workers 30 s later, maybe mid-save.
        f"#SBATCH --signal=B:TERM@{GRACE_S}",
    ]
    if options.requeue:
        lines.append("#SBATCH --requeue")
    lines += [f"#SBATCH {option}" for option in options.extra]
    # The ranks write the log stream and checkpoints: owner-only unless shared (permissions.py).
    lines += ["", "set -euo pipefail", f"umask {umask:03o}", f"cd {shlex.quote(cwd)}"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    lines += [
        "# A job SLURM requeued (after a preemption) resumes from its latest checkpoint.",
        'resume=""',
        'if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then resume="--resume=if-any"; fi',
        'head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        "# A port of this job's own: two jobs whose first node is shared must not share a store.",
        f'port="${{FGTUI_RDZV_PORT:-$(( {PORT_BASE} + SLURM_JOB_ID % {PORT_SPAN} ))}}"',
        "srun --kill-on-bad-exit=1 " + " ".join(_shell_word(part) for part in torchrun) + " $resume &",
        "srun_pid=$!",
        "# Time limit or scancel --batch --signal=TERM: ask the run to save and stop at its next",
        "# step (rank 0 reads the request from the shared run directory), then wait for it.",
        f'trap \'kill -0 "$srun_pid" 2>/dev/null && printf "save_stop\\n" > "$FGTUI_RUN_DIR/.{REQUEST_FILE}.batch" '
        f'&& mv "$FGTUI_RUN_DIR/.{REQUEST_FILE}.batch" "$FGTUI_RUN_DIR/{REQUEST_FILE}"\' TERM',
        "while true; do",
        '    wait "$srun_pid" && status=0 || status=$?',
        '    kill -0 "$srun_pid" 2>/dev/null || break',
        "done",
        'exit "$status"',
        "",
    ]
    return "\n".join(lines)


def _shell_word(part: str) -> str:
    """A word of the srun line: quoted, but with the script's own $variables expanded."""
    return f'"{part}"' if "$" in part else shlex.quote(part)


def _directive_value(value: str) -> str:
    """A #SBATCH value, quoted when it holds spaces (sbatch splits directives like a shell)."""
    return f'"{value}"' if any(c.isspace() for c in value) else value


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FgError(
            f"{name} is not on PATH: --slurm needs a SLURM login node",
            hint="a dry run (`fgtui train --slurm --dry-run`, F5 in the workbench) shows the batch "
            "script without submitting it",
        )
    return path


def require_sbatch() -> None:
    _tool("sbatch")


def submit(script_path: str) -> str:
    """`sbatch --parsable SCRIPT`; returns SLURM's job id."""
    done = subprocess.run([_tool("sbatch"), "--parsable", script_path], capture_output=True, text=True)
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise FgError(
            f"sbatch refused the job: {message[-1] if message else 'exit ' + str(done.returncode)}",
            hint="fix the SLURM options; `fgtui train --slurm --dry-run` shows the script",
        )
    # --parsable prints "jobid" or "jobid;cluster".
    return done.stdout.strip().split(";")[0]


def job_state(slurm_job_id: str) -> str | None:
    """The job's squeue state (RUNNING, PENDING, ...), None once SLURM no longer lists it,
    or "UNKNOWN" when squeue itself failed (a busy controller): not a reason to think the
    job ended, forget it, or call its run crashed."""
    done = subprocess.run([_tool("squeue"), "-h", "-j", slurm_job_id, "-o", "%T"], capture_output=True, text=True)
    if done.returncode != 0:
        return None if "invalid job id" in done.stderr.lower() else "UNKNOWN"
    state = done.stdout.strip().splitlines()
    return state[0].strip() if state else None


def is_active(slurm_job_id: str) -> bool:
    return job_state(slurm_job_id) in ACTIVE_STATES


def cancel(slurm_job_id: str) -> None:
    """Abort a SLURM job now (`scancel`): no save."""
    done = subprocess.run([_tool("scancel"), slurm_job_id], capture_output=True, text=True)
    if done.returncode != 0:
        raise FgError(f"scancel failed for SLURM job {slurm_job_id}: {done.stderr.strip()}")
