"""`launch_run`: render a config once, prepare its run directory, start torchrun detached, register the job."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError
from fgtui.engine.launch import jobs, output_lock, rundir
from fgtui.engine.launch import slurm as slurm_jobs
from fgtui.engine.compat.forgather.check import check_graph
from fgtui.engine.compat.forgather.nproc import forgather_nproc
from fgtui.engine.launch.memory_env import launch_env
from fgtui.engine.launch.permissions import SHARE_GROUP_ENV, RunPermissions, run_permissions
from fgtui.engine.launch.slurm import SlurmOptions
from fgtui.engine.launch.spawn import spawn_detached
from fgtui.engine.launch.torchrun import build_command, parse_devices


@dataclass
class LaunchedRun:
    """What `launch_run` started (or, for a dry run, would start: run_dir/job_id are None)."""

    run_dir: Path | None
    job_id: str | None
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    process: Any = None
    config_text: str = ""  # the config as rendered for this run
    sbatch_script: str | None = None  # SLURM launches: the batch script submitted (or, dry, to submit)
    slurm_job_id: str | None = None  # SLURM launches: the scheduler's id of the job


@dataclass
class LaunchConfig:
    """A config rendered for launch: preprocessed YAML, where it came from, its project, and
    its graph, parsed once with messages pointing at the template lines the user wrote."""

    text: str
    source: str | None
    project_dir: Path
    graph: Any = None


def render_config_for_launch(
    config: str | None, variables: dict[str, Any] | None = None, project_dir: str | None = None
) -> LaunchConfig:
    """Render `config` once: a config name in a project (None: the project's default),
    a project directory, a template file path, or YAML text.

    Rendering happens here, at launch, never in the ranks: they read the frozen
    text from the run directory. Which template a name means is decided by the
    project layer's `resolve_config` (engine/project/selection.py), as for `fgtui pp`.
    """
    from fgtui.engine.config import load_graph, load_rendered

    if config is not None and "\n" in config:
        return LaunchConfig(config, None, Path(project_dir or os.getcwd()).resolve(), load_graph(config))
    if config and os.path.isdir(config):
        project_dir, config = config, None
    from fgtui.engine.project.selection import resolve_config

    environment, name, resolved = resolve_config(project_dir, config, variables)
    rendered = environment.render(name, resolved)
    where = environment.globals.get("project_dir") or os.path.dirname(rendered.source or "") or os.getcwd()
    return LaunchConfig(rendered.text, rendered.source, Path(where).resolve(), load_rendered(rendered))


def config_setting(graph: Any, key: str) -> str | None:
    """A plain string setting (`output_dir`, `run_name`) at the config's top level or in its
    `meta` target, read as data: a dry run calls nothing the config names."""
    from fgtui.engine.project.static_values import static_value

    root = graph.root
    if not isinstance(root, dict):
        return None
    if isinstance(root.get(key), str):
        return root[key]
    if "meta" in root:
        meta = static_value(root["meta"])
        if isinstance(meta, dict) and isinstance(meta.get(key), str):
            return meta[key]
    return None


# The library's config types that build something other than a trainer
# (templatelib/base/*_type.yaml, and Forgather's alike), with the command that builds
# each. Launched, one would be built in a rank (a tokenizer trained and saved, say)
# before the run failed for want of a train().
BUILT_BY = {"tokenizer": "fgtui construct", "dataset": "fgtui dataset", "model": "fgtui construct"}


def refuse_non_training(prepared: LaunchConfig) -> None:
    """Refuse, before anything is written, a config whose meta says it is not a training script."""
    config_class = config_setting(prepared.graph, "config_class") or ""
    kind = config_class.split(".")[1] if config_class.startswith("type.") else ""
    if kind in BUILT_BY:
        name = os.path.basename(prepared.source) if prepared.source else "the config"
        raise FgError(
            f"{name} is a {kind} config ({config_class}), not a training script: there is nothing to train",
            hint=f"build it with `{BUILT_BY[kind]}`",
        )


def check_calls(prepared: LaunchConfig) -> None:
    """Every call of the `main` target against its callable's signature, before a launch
    writes anything: a typo'd argument is reported at its template line now, not by a
    failed rank later. Imports the modules the config names (a launch runs its code
    anyway); a dry run never calls this."""
    from fgtui.engine.config import Builder  # the package export: a direct submodule import would shadow `build`

    graph = prepared.graph
    if isinstance(graph.root, dict) and "main" in graph.root:
        Builder(graph).check(graph.root["main"])


def launch_run(
    config: str | None,
    *,
    variables: dict[str, Any] | None = None,
    devices: str | None = None,
    dry_run: bool = False,
    torchrun_args: list[str] = (),
    output_dir: str | None = None,
    run_name: str | None = None,
    project_dir: str | None = None,
    extra_env: dict[str, str] | None = None,
    slurm: SlurmOptions | None = None,
    share_group: bool | None = None,
) -> LaunchedRun:
    """Start a training run detached and register it as a job.

    `config` is a config name or template path (rendered once, here) or YAML text.
    `devices` as for `fgtui train -d` ("0,1", "cpu", or None for all GPUs / one CPU
    process). `dry_run` renders and returns the command without writing or starting
    anything. With `slurm` the run is submitted with sbatch instead (engine/launch/slurm.py).
    One run writes an output dir at a time (engine/launch/output_lock.py); the run dir is
    owner-only unless `share_group` (permissions.py).
    """
    if slurm is not None:
        if devices is not None:
            raise FgError(
                "-d/--devices picks local GPUs; a SLURM job gets its GPUs from the scheduler",
                hint="use --gpus-per-node and --nodes with --slurm",
            )
        nproc, visible, world_size = slurm.procs_per_node, None, slurm.world_size
    else:
        nproc, visible = parse_devices(devices, _cuda_count())
        world_size = nproc
    # Templates turn token budgets into steps with the global batch, so they need the
    # number of processes (over all nodes for SLURM; -- torchrun rendezvous args are not read).
    variables = {"world_size": world_size, **(variables or {})}
    if output_dir:
        # One output dir for run dirs and checkpoints: the templates read the
        # `output_dir` variable into ns.output_dir (trainers/trainer.yaml).
        output_dir = os.path.abspath(output_dir)
        variables["output_dir"] = output_dir
    prepared = render_config_for_launch(config, variables, project_dir)
    if slurm is None and devices is None:
        cuda_count = _cuda_count()
        asked = forgather_nproc(prepared.graph, cuda_count)
        if asked is not None and asked != nproc:
            nproc = world_size = asked
            visible = None if cuda_count else ""
            prepared = render_config_for_launch(config, {**variables, "world_size": world_size}, project_dir)
    refuse_non_training(prepared)
    check_graph(prepared.graph)  # unprovided forgather.* names: exit 2 now, at their template line
    configured = config_setting(prepared.graph, "output_dir")
    if configured and not os.path.isabs(configured):
        configured = str((prepared.project_dir / configured).resolve())
    if output_dir and configured and os.path.realpath(configured) != os.path.realpath(output_dir):
        raise FgError(
            f"--output-dir {output_dir} would move the run dir but not the checkpoints: "
            f"the config fixes output_dir to {configured}",
            hint="let the config read the `output_dir` variable (as trainers/trainer.yaml does)",
        )
    output_dir = output_dir or configured
    if not output_dir:
        raise FgError("the config sets no output_dir", hint="add `output_dir: ...` at its top level")
    from fgtui.engine.compat.forgather.run_name import logging_run_name

    run_name = (
        run_name
        or config_setting(prepared.graph, "run_name")
        or logging_run_name(prepared.graph, output_dir)
        or rundir.default_run_name(prepared.source)
    )
    planned = Path(output_dir) / "runs" / run_name
    extra_env = {**launch_env(prepared.graph, os.environ.get("PYTORCH_CUDA_ALLOC_CONF")), **(extra_env or {})}
    refuse_busy_output_dir(output_dir)
    permissions = run_permissions(share_group)
    if slurm is not None:
        return _submit_slurm(
            prepared, output_dir, run_name, slurm, list(torchrun_args), extra_env, dry_run, permissions
        )
    if dry_run:
        return LaunchedRun(
            None,
            None,
            build_command(str(planned), nproc, list(torchrun_args)),
            env=extra_env,
            config_text=prepared.text,
        )
    check_calls(prepared)
    job_id = jobs.new_job_id()
    permissions.mkdir(Path(output_dir), parents=True, exist_ok=True)
    lock_fd = output_lock.acquire(output_dir, {"job_id": job_id, "pid": os.getpid()})
    try:
        run_dir = rundir.create_run_dir(output_dir, run_name, permissions)
        try:
            command = build_command(str(run_dir), nproc, list(torchrun_args))
            sock = jobs.socket_path(job_id)
            env = {
                **os.environ,
                **(extra_env or {}),
                "FGTUI_RUN_DIR": str(run_dir),
                "FGTUI_JOB_ID": job_id,
                "FGTUI_CONTROL_SOCKET": str(sock),
                "PYTHONUNBUFFERED": "1",
            }
            if visible is not None:
                env["CUDA_VISIBLE_DEVICES"] = visible
            _write_run_files(run_dir, prepared, command, env, devices, permissions)
            process = spawn_detached(
                command,
                log_path=run_dir / "stdout.log",
                env=env,
                cwd=prepared.project_dir,
                umask=permissions.umask,
                keep_fds=(lock_fd,),
                log_mode=permissions.file_mode,
            )
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)  # ours, just made: no run started in it
            raise
        output_lock.describe(lock_fd, {"job_id": job_id, "pid": process.pid, "run_dir": str(run_dir)})
    finally:
        os.close(lock_fd)  # torchrun holds its own copy for the life of the job
    record = jobs.JobRecord(
        job_id=job_id,
        pid=process.pid,
        pgid=os.getpgid(process.pid),
        run_dir=str(run_dir),
        socket=str(sock),
        host=socket.gethostname(),
        started=time.time(),
        command=command,
        project_dir=str(prepared.project_dir),
        output_dir=str(output_dir),
    )
    _register(record, run_dir, permissions)
    return LaunchedRun(run_dir, job_id, command, env, process.pid, process, prepared.text)


def refuse_busy_output_dir(output_dir: str) -> None:
    """Refuse a launch into an output dir another run writes (or a queued SLURM job will)."""
    holder = output_lock.holder(output_dir)
    if holder is not None:
        raise output_lock.busy_error(output_dir, holder)
    for job in jobs.list_jobs():
        if job.scheduler == "slurm" and job.belongs_to(output_dir=output_dir) and job.alive:
            raise output_lock.busy_error(
                output_dir, {"job_id": job.job_id, "run_dir": job.run_dir, "pid": f"SLURM job {job.slurm_job_id}"}
            )


def _write_run_files(
    run_dir: Path,
    prepared: LaunchConfig,
    command: list[str],
    env: dict[str, str],
    devices: str | None,
    permissions: RunPermissions,
) -> None:
    """What every run dir holds before its job starts, local or SLURM alike."""
    rundir.write_launch_files(
        run_dir,
        config_text=prepared.text,
        argv=command,
        env=env,
        config_source=prepared.source,
        devices=devices,
        cwd=os.getcwd(),
        permissions=permissions,
    )
    rundir.snapshot_code(run_dir, prepared.text, prepared.project_dir, permissions)
    rundir.record_git_state(run_dir, prepared.project_dir, permissions)


def _register(record: jobs.JobRecord, run_dir: Path, permissions: RunPermissions) -> None:
    jobs.register_job(record)
    permissions.write_text(run_dir / "job.json", json.dumps(asdict(record), indent=1))


def _submit_slurm(
    prepared: LaunchConfig,
    output_dir: str,
    run_name: str,
    options: SlurmOptions,
    torchrun_args: list[str],
    extra_env: dict[str, str],
    dry_run: bool,
    permissions: RunPermissions,
) -> LaunchedRun:
    """Write the run directory and its batch script, submit it, register the SLURM job.
    The job's rank 0 takes the output dir's lock when it starts (the login node cannot hold it)."""
    if not dry_run:
        slurm_jobs.require_sbatch()  # before anything is written
        check_calls(prepared)
    planned = Path(output_dir) / "runs" / run_name
    run_dir = planned if dry_run else rundir.create_run_dir(output_dir, run_name, permissions)
    job_id = None if dry_run else jobs.new_job_id()
    env = {**extra_env, "FGTUI_RUN_DIR": str(run_dir), "PYTHONUNBUFFERED": "1"}
    if job_id:
        env["FGTUI_JOB_ID"] = job_id
    if permissions.umask != 0o077:
        env[SHARE_GROUP_ENV] = "1"
    script = slurm_jobs.sbatch_script(
        run_dir=str(run_dir),
        run_name=run_name,
        options=options,
        env=env,
        cwd=str(prepared.project_dir),
        torchrun_args=torchrun_args,
        umask=permissions.umask,
    )
    script_path = run_dir / "job.sbatch"
    command = ["sbatch", "--parsable", str(script_path)]
    if dry_run:
        return LaunchedRun(None, None, command, env=env, config_text=prepared.text, sbatch_script=script)
    try:
        permissions.write_text(script_path, script)
        script_path.chmod(permissions.dir_mode)  # executable by its owner (and group when shared)
        _write_run_files(run_dir, prepared, command, {**os.environ, **env}, None, permissions)
        slurm_job_id = slurm_jobs.submit(str(script_path))
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # ours, just made: no run started in it
        raise
    record = jobs.JobRecord(
        job_id=job_id,
        pid=0,
        pgid=0,
        run_dir=str(run_dir),
        socket="",
        host=socket.gethostname(),
        started=time.time(),
        command=command,
        scheduler="slurm",
        slurm_job_id=slurm_job_id,
        project_dir=str(prepared.project_dir),
        output_dir=str(output_dir),
    )
    _register(record, run_dir, permissions)
    return LaunchedRun(
        run_dir, job_id, command, env, config_text=prepared.text, sbatch_script=script, slurm_job_id=slurm_job_id
    )


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count()
