"""`launch_run`: render a config once, prepare its run directory, start torchrun detached, register the job."""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError
from fgtui.engine.launch import jobs, rundir
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
    """A config rendered for launch: preprocessed YAML, where it came from, its project."""

    text: str
    source: str | None
    project_dir: Path


def render_config_for_launch(config: str | None, variables: dict[str, Any] | None = None,
                             project_dir: str | None = None) -> LaunchConfig:
    """Render `config` once: a config name in a project (None: the project's default),
    a project directory, a template file path, or YAML text.

    Rendering happens here, at launch, never in the ranks: they read the frozen
    text from the run directory. Which template a name means is decided by the
    config layer's `resolve_config` (project-aware), as for `fgtui pp`.
    """
    import argparse

    if config is not None and "\n" in config:
        return LaunchConfig(config, None, Path(project_dir or os.getcwd()).resolve())
    if config and os.path.isdir(config):
        project_dir, config = config, None
    from fgtui.engine.config.resolve import resolve_config

    args = argparse.Namespace(project_dir=project_dir, config_template=config, var=None,
                              dynamic_args=variables or {})
    environment, name, resolved = resolve_config(args)
    rendered = environment.render(name, {**resolved, **(variables or {})})
    where = environment.globals.get("project_dir") or os.path.dirname(rendered.source or "") or os.getcwd()
    return LaunchConfig(rendered.text, rendered.source, Path(where).resolve())


def config_setting(text: str, source: str | None, key: str) -> str | None:
    """A plain string setting (`output_dir`, `run_name`) at the config's top level or in its
    `meta` target (built: it is plain data, `!dict` of strings, and imports nothing)."""
    from fgtui.engine.config import build, load_graph

    graph = load_graph(text, source or "<config>")
    root = graph.root
    if not isinstance(root, dict):
        return None
    if isinstance(root.get(key), str):
        return root[key]
    if "meta" in root:
        meta = build(graph, "meta")
        if isinstance(meta, dict) and isinstance(meta.get(key), str):
            return meta[key]
    return None


def launch_run(config: str | None, *, variables: dict[str, Any] | None = None, devices: str | None = None,
               dry_run: bool = False, torchrun_args: list[str] = (), output_dir: str | None = None,
               run_name: str | None = None, project_dir: str | None = None,
               extra_env: dict[str, str] | None = None, slurm: SlurmOptions | None = None) -> LaunchedRun:
    """Start a training run detached and register it as a job.

    `config` is a config name or template path (rendered once, here) or YAML text.
    `devices` as for `fgtui train -d` ("0,1", "cpu", or None for all GPUs / one CPU
    process). `dry_run` renders and returns the command without writing or starting
    anything. With `slurm` the run is submitted with sbatch instead (engine/launch/slurm.py).
    """
    if slurm is not None:
        if devices is not None:
            raise FgError("-d/--devices picks local GPUs; a SLURM job gets its GPUs from the scheduler",
                          hint="use --gpus-per-node and --nodes with --slurm")
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
    from fgtui.engine.compat.forgather.check import check_config_text  # unprovided forgather.* names: exit 2 now

    check_config_text(prepared.text, prepared.source)
    configured = config_setting(prepared.text, prepared.source, "output_dir")
    if configured and not os.path.isabs(configured):
        configured = str((prepared.project_dir / configured).resolve())
    if output_dir and configured and os.path.realpath(configured) != os.path.realpath(output_dir):
        raise FgError(f"--output-dir {output_dir} would move the run dir but not the checkpoints: "
                      f"the config fixes output_dir to {configured}",
                      hint="let the config read the `output_dir` variable (as trainers/trainer.yaml does)")
    output_dir = output_dir or configured
    if not output_dir:
        raise FgError("the config sets no output_dir", hint="add `output_dir: ...` at its top level")
    run_name = run_name or config_setting(prepared.text, prepared.source, "run_name") \
        or rundir.default_run_name(prepared.source)
    planned = Path(output_dir) / "runs" / run_name
    from fgtui.engine.train.memory_setup import launch_env  # validates the memory switches at launch

    extra_env = {**launch_env(prepared.text, prepared.source, os.environ.get("PYTORCH_CUDA_ALLOC_CONF")),
                 **(extra_env or {})}
    if slurm is not None:
        return _submit_slurm(prepared, output_dir, run_name, slurm, list(torchrun_args), extra_env, dry_run)
    if dry_run:
        return LaunchedRun(None, None, build_command(str(planned), nproc, list(torchrun_args)), env=extra_env,
                           config_text=prepared.text)
    run_dir = rundir.create_run_dir(output_dir, run_name)
    command = build_command(str(run_dir), nproc, list(torchrun_args))
    job_id = jobs.new_job_id()
    sock = jobs.socket_path(job_id)
    env = {**os.environ, **(extra_env or {}), "FGTUI_RUN_DIR": str(run_dir), "FGTUI_JOB_ID": job_id,
           "FGTUI_CONTROL_SOCKET": str(sock), "PYTHONUNBUFFERED": "1"}
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    rundir.write_launch_files(run_dir, config_text=prepared.text, argv=command, env=env,
                              config_source=prepared.source, devices=devices, cwd=os.getcwd())
    rundir.snapshot_code(run_dir, prepared.text, prepared.project_dir)
    rundir.record_git_state(run_dir, prepared.project_dir)
    process = spawn_detached(command, log_path=run_dir / "stdout.log", env=env, cwd=prepared.project_dir)
    record = jobs.JobRecord(job_id=job_id, pid=process.pid, pgid=os.getpgid(process.pid),
                            run_dir=str(run_dir), socket=str(sock), host=socket.gethostname(),
                            started=time.time(), command=command)
    jobs.register_job(record)
    (run_dir / "job.json").write_text(json.dumps(asdict(record), indent=1))
    return LaunchedRun(run_dir, job_id, command, env, process.pid, process, prepared.text)


def _submit_slurm(prepared: LaunchConfig, output_dir: str, run_name: str, options: SlurmOptions,
                  torchrun_args: list[str], extra_env: dict[str, str], dry_run: bool) -> LaunchedRun:
    """Write the run directory and its batch script, submit it, register the SLURM job."""
    from fgtui.engine.launch import slurm

    if not dry_run:
        slurm.require_sbatch()  # before anything is written
    planned = Path(output_dir) / "runs" / run_name
    run_dir = planned if dry_run else rundir.create_run_dir(output_dir, run_name)
    job_id = None if dry_run else jobs.new_job_id()
    env = {**extra_env, "FGTUI_RUN_DIR": str(run_dir), "PYTHONUNBUFFERED": "1"}
    if job_id:
        env["FGTUI_JOB_ID"] = job_id
    script = slurm.sbatch_script(run_dir=str(run_dir), run_name=run_name, options=options, env=env,
                                 cwd=str(prepared.project_dir), torchrun_args=torchrun_args)
    script_path = run_dir / "job.sbatch"
    command = ["sbatch", "--parsable", str(script_path)]
    if dry_run:
        return LaunchedRun(None, None, command, env=env, config_text=prepared.text, sbatch_script=script)
    script_path.write_text(script)
    script_path.chmod(0o755)
    rundir.write_launch_files(run_dir, config_text=prepared.text, argv=command, env={**os.environ, **env},
                              config_source=prepared.source, devices=None, cwd=os.getcwd())
    rundir.snapshot_code(run_dir, prepared.text, prepared.project_dir)
    rundir.record_git_state(run_dir, prepared.project_dir)
    try:
        slurm_job_id = slurm.submit(str(script_path))
    except FgError:
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)  # ours, just made: no run started in it
        raise
    record = jobs.JobRecord(job_id=job_id, pid=0, pgid=0, run_dir=str(run_dir), socket="",
                            host=socket.gethostname(), started=time.time(), command=command,
                            scheduler="slurm", slurm_job_id=slurm_job_id)
    jobs.register_job(record)
    (run_dir / "job.json").write_text(json.dumps(asdict(record), indent=1))
    return LaunchedRun(run_dir, job_id, command, env, config_text=prepared.text, sbatch_script=script,
                       slurm_job_id=slurm_job_id)


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count()
