"""The job-control client behind `fgtui control` and the run monitor's keys.

A local job is reached through its control socket (the protocol is in
control_protocol.py); a SLURM job through a request file in its run directory and
scancel. `abort` ends every process of a job even when its trainer no longer
answers: torchrun and each rank it recorded (engine/launch/liveness.py).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError
from fgtui.engine.launch import slurm
from fgtui.engine.launch.control_protocol import ACTIONS, read_line, send_line, write_request_file
from fgtui.engine.launch.jobs import get_job
from fgtui.engine.launch.liveness import terminate
from fgtui.engine.runs.rundir import inspect_run

# How long `abort` lets the trainer end itself at its next step before ending its processes.
ABORT_GRACE_S = 15.0


def request(socket_file: str | os.PathLike, action: str, timeout: float = 10.0) -> dict[str, Any]:
    """Send one action to a control socket and return the reply."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(socket_file))
        send_line(sock, {"action": action})
        line = read_line(sock)
    except FileNotFoundError:
        raise FgError(f"no control socket at {socket_file}", hint="the job is not running") from None
    except ConnectionRefusedError:
        raise FgError(
            f"control socket {socket_file} refuses connections",
            hint="the job has ended; `fgtui control cleanup` forgets it",
        ) from None
    finally:
        sock.close()
    if not line:
        raise FgError(f"no reply on {socket_file}", hint="the job may be ending")
    return json.loads(line)


def send_control(
    job_id: str | None,
    action: str,
    timeout: float = 10.0,
    *,
    project_dir: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Send `action` ("status", "save", "stop", "save_stop", "abort") to a registered job:
    `job_id`, or without one the running job of `output_dir`, else of `project_dir`."""
    action = action.replace("-", "_")
    if action != "status" and action not in ACTIONS:
        raise FgError(f"unknown control action {action!r}", hint=f"one of status, {', '.join(ACTIONS)}")
    job = get_job(job_id, project_dir=project_dir, output_dir=output_dir)
    if not job.alive:
        raise FgError(f"job {job.job_id} is not running", hint="`fgtui control cleanup` forgets it")
    return control_job(job, action, timeout)


def control_job(job: Any, action: str, timeout: float = 10.0) -> dict[str, Any]:
    """Send `action` to a job (a `jobs.JobRecord`) by the way that reaches it: its socket,
    or for a SLURM job the run directory and scancel. An `abort` the trainer cannot take
    (its socket gone or silent while ranks live on) ends the job's processes instead."""
    if job.scheduler == "slurm":
        return _control_slurm_job(job, action)
    try:
        reply = request(job.socket, action, timeout)
    except (FgError, OSError) as error:
        if action != "abort":
            if isinstance(error, FgError) and job.alive and not Path(job.socket).exists():
                raise FgError(
                    f"job {job.job_id} is still starting: its trainer has not opened the control socket yet",
                    hint="try again in a moment (`fgtui control status` says when it "
                    "answers), or abort it, which needs no answer",
                ) from None
            raise
        killed = terminate(job.pid, job.pgid, job.run_dir)
        if not killed:
            raise
        reason = error.message if isinstance(error, FgError) else str(error)
        return {
            "ok": True,
            "terminated": killed,
            "note": f"the trainer did not answer ({reason}); ended its processes {killed}",
        }
    return reply


def ensure_ended(job: Any, grace: float = ABORT_GRACE_S) -> list[int]:
    """After an abort the trainer accepted: give it `grace` seconds to end at its next step
    (one still preparing its data, or stuck, would not get there soon), then end its
    processes. Returns the pids that had to be ended."""
    if job.scheduler == "slurm":
        return []
    deadline = time.monotonic() + grace
    while job.alive and time.monotonic() < deadline:
        time.sleep(0.2)
    return terminate(job.pid, job.pgid, job.run_dir) if job.alive else []


def _control_slurm_job(job: Any, action: str) -> dict[str, Any]:
    if action == "status":
        info = inspect_run(Path(job.run_dir))
        return {
            "ok": True,
            "status": {
                "slurm_job": job.slurm_job_id,
                "slurm_state": slurm.job_state(job.slurm_job_id),
                "state": info.state,
                "step": info.step,
                "max_steps": info.max_steps,
                "run_dir": job.run_dir,
            },
        }
    if action == "abort":
        slurm.cancel(job.slurm_job_id)
    else:
        write_request_file(job.run_dir, action)
    return {"ok": True}
