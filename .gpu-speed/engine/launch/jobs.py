"""The job registry: one JSON file per launched job in a private per-user runtime directory.

The directory is `$FGTUI_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/fgtui`, else
`/tmp/fgtui-<uid>`; it is created 0700 and refused if anyone else owns it or can
read it, because the jobs' control sockets live there too.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from fgtui.engine.errors import FgError
from fgtui.engine.launch import slurm
from fgtui.engine.launch.liveness import live_pids


def runtime_dir() -> Path:
    """The private runtime directory, created on first use."""
    if os.environ.get("FGTUI_RUNTIME_DIR"):
        path = Path(os.environ["FGTUI_RUNTIME_DIR"])
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "fgtui"
    else:
        path = Path(f"/tmp/fgtui-{os.getuid()}")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise FgError(
            f"runtime directory {path} belongs to another user", hint="set FGTUI_RUNTIME_DIR to a directory of your own"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise FgError(
            f"runtime directory {path} is readable by others (mode {stat.S_IMODE(info.st_mode):o})",
            hint=f"chmod 700 {path}",
        )
    (path / "jobs").mkdir(mode=0o700, exist_ok=True)
    return path


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def socket_path(job_id: str) -> Path:
    """Where the job's control socket lives (short: AF_UNIX paths are limited to ~107 bytes)."""
    return runtime_dir() / f"{job_id}.sock"


@dataclass
class JobRecord:
    """A launched job. Local jobs: `pid`/`pgid` are torchrun's, `socket` is the control
    socket, and each rank records its own pid in the run dir (engine/launch/liveness.py).
    SLURM jobs (`scheduler` "slurm") have no local process: `slurm_job_id` names them to
    squeue/scancel. `project_dir`/`output_dir` say whose job it is, so `fgtui control`
    without a job id acts on the current project's job and no other."""

    job_id: str
    pid: int
    pgid: int
    run_dir: str
    socket: str
    host: str
    started: float
    command: list[str] = field(default_factory=list)
    scheduler: str = "local"
    slurm_job_id: str | None = None
    project_dir: str | None = None
    output_dir: str | None = None

    @classmethod
    def from_dict(cls, data: dict, run_dir: str | os.PathLike | None = None) -> "JobRecord":
        """A record from its JSON (a registry file or a run's job.json), ignoring keys it
        does not know; `run_dir` fills in for records written without one."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        if run_dir is not None:
            values.setdefault("run_dir", str(run_dir))
        return cls(**values)

    @classmethod
    def read(cls, run_dir: str | os.PathLike) -> "JobRecord":
        """The job of a run directory, from its job.json."""
        return cls.from_dict(json.loads((Path(run_dir) / "job.json").read_text()), run_dir)

    @property
    def alive(self) -> bool:
        """True while torchrun or any rank of the job lives (for SLURM: while squeue has it)."""
        if self.scheduler == "slurm":
            return slurm.is_active(self.slurm_job_id)
        return bool(self.live_pids())

    def live_pids(self) -> list[int]:
        return live_pids(self.pid, self.run_dir, self.host)

    def belongs_to(
        self, project_dir: str | os.PathLike | None = None, output_dir: str | os.PathLike | None = None
    ) -> bool:
        """Whether the job is the given project's (launched from it, or writing under it) or
        writes into the given output dir."""

        def inside(path: str | None, root: str | os.PathLike) -> bool:
            if not path:
                return False
            path, root = os.path.realpath(path), os.path.realpath(root)
            return path == root or path.startswith(root.rstrip(os.sep) + os.sep)

        if output_dir is not None:
            return inside(self.output_dir, output_dir) or inside(self.run_dir, output_dir)
        if project_dir is not None:
            return os.path.realpath(self.project_dir or "") == os.path.realpath(project_dir) or inside(
                self.run_dir, project_dir
            )
        return False


def _record_path(job_id: str) -> Path:
    return runtime_dir() / "jobs" / f"{job_id}.json"


def register_job(record: JobRecord) -> None:
    path = _record_path(record.job_id)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=1))
    os.replace(tmp, path)


def list_jobs(include_dead: bool = True) -> list[JobRecord]:
    """Registered jobs, oldest first."""
    jobs = []
    for path in sorted((runtime_dir() / "jobs").glob("*.json")):
        try:
            jobs.append(JobRecord.from_dict(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    jobs.sort(key=lambda job: job.started)
    return [job for job in jobs if include_dead or job.alive]


def get_job(
    job_id: str | None, *, project_dir: str | os.PathLike | None = None, output_dir: str | os.PathLike | None = None
) -> JobRecord:
    """A job by id or unique id prefix. Without an id: the one running job of the given
    output dir, else of the given project; never a job of someone else's project."""
    jobs = list_jobs()
    if job_id is None:
        running = [job for job in jobs if job.alive]
        where = f"output dir {output_dir}" if output_dir else f"project {project_dir}" if project_dir else None
        if where is None:
            raise FgError(
                "name the job to control: outside a project there is no job to assume",
                hint=_candidates(running) or "`fgtui control list` shows the jobs",
            )
        mine = [job for job in running if job.belongs_to(project_dir, output_dir)]
        if not mine:
            raise FgError(
                f"no running job of {where}",
                hint=_candidates(running) or "`fgtui control list` shows the jobs launched here",
            )
        if len(mine) > 1:
            raise FgError(f"{len(mine)} jobs of {where} are running; name one", hint=_candidates(mine))
        return mine[0]
    matches = [job for job in jobs if job.job_id == job_id] or [job for job in jobs if job.job_id.startswith(job_id)]
    if len(matches) != 1:
        raise FgError(
            f"no job {job_id!r}" if not matches else f"job id {job_id!r} is ambiguous",
            hint="`fgtui control list` shows the jobs",
        )
    return matches[0]


def _candidates(jobs: list[JobRecord]) -> str:
    if not jobs:
        return ""
    shown = ", ".join(f"{job.job_id} ({job.run_dir})" for job in jobs[:5])
    more = f" and {len(jobs) - 5} more" if len(jobs) > 5 else ""
    return f"running: {shown}{more}"


def remove_job(job_id: str) -> None:
    _record_path(job_id).unlink(missing_ok=True)


def cleanup_jobs() -> list[str]:
    """Forget jobs whose process is gone, and their stale sockets. Returns their ids."""
    removed = []
    for job in list_jobs():
        if not job.alive:
            if job.socket:
                Path(job.socket).unlink(missing_ok=True)
            remove_job(job.job_id)
            removed.append(job.job_id)
    return removed
