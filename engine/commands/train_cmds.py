"""Training commands: train, control, logs, tb.

fgtui [-t CFG] train [-d DEVICES] [--dry-run] [config options] [-- torchrun args]
fgtui [-t CFG] train --slurm [--nodes N] [--gpus-per-node G] [--time T] ...
fgtui control list|status|stop|save|save-stop|abort|cleanup [JOB]
fgtui logs list|summary|plot [RUN ...]
fgtui tb [--output-dir DIR] [-- tensorboard args]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from fgtui.engine.errors import FgError

CONTROL_ACTIONS = ("list", "status", "stop", "save", "save-stop", "abort", "cleanup")
TB_MISSING = "tensorboard is not installed"
RUNS_CODE = (
    "Unlike listing, previewing, --help and --dry-run, a launch runs the config's code: train only projects you trust."
)
TB_HINT = "pip install 'fgtui[tb]' (or pip install tensorboard)"


def register(subparsers, common: argparse.ArgumentParser) -> None:
    from fgtui.engine.commands.config_parser import add_config_command

    train = add_config_command(
        subparsers,
        "train",
        parents=[common],
        help="launch a training run detached (torchrun, even for one process)",
        description="Launch a training run detached (torchrun, even for one process). " + RUNS_CODE,
    )
    _add_launch_options(train)
    # launch_run hands --output-dir to the template as `output_dir` (tokenizer configs
    # declare the same option for it).
    train.options_setting_variables = {"--output-dir": "output_dir"}
    train.set_defaults(handler=run_train)

    control = subparsers.add_parser("control", parents=[common], help="list and control running jobs")
    control.add_argument("action", choices=CONTROL_ACTIONS)
    control.add_argument(
        "job",
        nargs="?",
        default=None,
        metavar="JOB",
        help="job id or unique prefix (default: the running job of this project, or of -p DIR / --output-dir DIR)",
    )
    control.add_argument(
        "--output-dir", default=None, metavar="DIR", help="act on the running job that writes into DIR"
    )
    control.set_defaults(handler=run_control)

    logs = subparsers.add_parser("logs", parents=[common], help="list, summarise or plot runs' log streams")
    logs.add_argument("action", choices=("list", "summary", "plot"))
    logs.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="run directories, metrics.jsonl files, or directories to search (default: .)",
    )
    logs.add_argument(
        "--metric", action="append", default=None, help="metric to plot (repeatable; default: loss and eval_loss)"
    )
    logs.set_defaults(handler=run_logs)

    from fgtui.engine.train.logstream import tensorboard_available  # find_spec only: no import

    tb_note = None if tensorboard_available() else f"error: {TB_MISSING} ({TB_HINT})"
    tb = subparsers.add_parser(
        "tb", parents=[common], help="start TensorBoard on runs' event files", description=tb_note
    )
    tb.add_argument(
        "--output-dir",
        default=None,
        metavar="DIR",
        help="directory whose runs to show (default: the project directory or .)",
    )
    tb.add_argument("tb_args", nargs="*", metavar="-- ARGS", help="arguments passed to tensorboard")
    tb.set_defaults(handler=run_tb)


def _add_launch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-d",
        "--devices",
        default=None,
        metavar="DEVICES",
        help="GPUs to use, e.g. 0,1 (one process each), cpu, or cpu:N (default: all GPUs, else CPU; "
        "a Forgather config: its meta.nproc_per_node)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the command; start nothing")
    parser.add_argument(
        "--output-dir",
        default=None,
        metavar="DIR",
        help="where run dirs and checkpoints go (default: the config's output_dir)",
    )
    parser.add_argument("--run-name", default=None, metavar="NAME", help="name of the run directory")
    parser.add_argument(
        "--share-group",
        action="store_true",
        default=None,
        help="make the run dir and checkpoints readable by your group (default: owner only; "
        "FGTUI_SHARE_GROUP=1 sets it for every run)",
    )
    parser.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="stay and show progress until the run ends, as `fgtui --run` does "
        "(Ctrl-C asks the run to save and stop; the run never depends on this process)",
    )
    parser.add_argument("torchrun_args", nargs="*", metavar="-- TORCHRUN_ARGS", help="arguments for torchrun, after --")
    slurm = parser.add_argument_group(
        "SLURM", "submit with sbatch instead of starting here (one torchrun per node, c10d rendezvous on the first)"
    )
    slurm.add_argument("--slurm", action="store_true", help="submit the run as a SLURM batch job")
    slurm.add_argument("--nodes", type=int, default=1, metavar="N", help="nodes (default 1)")
    slurm.add_argument(
        "--gpus-per-node",
        type=int,
        default=1,
        metavar="G",
        help="GPUs per node, one rank each; 0 runs one CPU rank per node (default 1)",
    )
    slurm.add_argument("--partition", default=None, help="SLURM partition")
    slurm.add_argument("--time", default=None, metavar="LIMIT", help="time limit, e.g. 12:00:00")
    slurm.add_argument("--account", default=None, help="SLURM account")
    slurm.add_argument(
        "--cpus-per-task",
        type=int,
        default=None,
        metavar="N",
        help="CPUs per node for the ranks and their data loaders (default: the cluster's, "
        "often 1: ask for several per GPU)",
    )
    slurm.add_argument("--mem", default=None, help="memory per node, e.g. 200G (default: the cluster's)")
    slurm.add_argument(
        "--requeue",
        action="store_true",
        help="let SLURM requeue the job after a preemption; it resumes from its latest checkpoint",
    )
    slurm.add_argument(
        "--sbatch-arg",
        action="append",
        default=[],
        metavar="OPT",
        help="another #SBATCH option, e.g. --sbatch-arg=--qos=high (repeatable)",
    )


def run_train(args: argparse.Namespace) -> int:
    from fgtui.engine.launch.launcher import launch_run
    from fgtui.engine.launch.slurm import SlurmOptions

    slurm = None
    if args.slurm:
        slurm = SlurmOptions(
            nodes=args.nodes,
            gpus_per_node=args.gpus_per_node,
            partition=args.partition,
            time=args.time,
            account=args.account,
            requeue=args.requeue,
            cpus_per_task=args.cpus_per_task,
            mem=args.mem,
            extra=args.sbatch_arg,
        )
    launched = launch_run(
        getattr(args, "config_template", None),
        variables=getattr(args, "dynamic_args", None) or {},
        devices=args.devices,
        dry_run=args.dry_run,
        torchrun_args=args.torchrun_args,
        output_dir=args.output_dir,
        run_name=args.run_name,
        project_dir=getattr(args, "project_dir", None),
        slurm=slurm,
        share_group=args.share_group,
    )
    import shlex

    if args.dry_run:
        if slurm:
            sys.stdout.write(launched.sbatch_script)  # it ends in its own newline
        else:
            print(shlex.join(launched.command))
        return 0
    if args.follow:
        from fgtui.engine.commands.headless import follow

        print(f"job {launched.job_id}: {launched.run_dir}", flush=True)
        return follow(launched.run_dir, launched.job_id, launched.process)
    if slurm:
        print(f"job {launched.job_id} submitted (SLURM job {launched.slurm_job_id})")
        print(f"run dir: {launched.run_dir}")
        print(f"script:  {launched.run_dir / 'job.sbatch'}")
        print(f"control: fgtui control status {launched.job_id}")
        return 0
    print(f"job {launched.job_id} started (pid {launched.pid})")
    print(f"run dir: {launched.run_dir}")
    print(f"follow:  tail -f {launched.run_dir / 'stdout.log'}")
    print(f"control: fgtui control status {launched.job_id}")
    return 0


def run_control(args: argparse.Namespace) -> int:
    from fgtui.engine.launch import jobs
    from fgtui.engine.launch.control import ABORT_GRACE_S, control_job, ensure_ended

    if args.action == "list":
        listed = jobs.list_jobs()
        if not listed:
            print("no jobs")
        for job in listed:
            state = "running" if job.alive else "ended"
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(job.started))
            where = f"slurm {job.slurm_job_id:<8}" if job.scheduler == "slurm" else f"pid {job.pid:<7}"
            print(f"{job.job_id}  {state:7}  {where}  {started}  {job.run_dir}")
        return 0
    if args.action == "cleanup":
        removed = jobs.cleanup_jobs()
        print(f"removed {len(removed)} ended job(s)" + (": " + ", ".join(removed) if removed else ""))
        return 0
    project_dir = None
    if args.job is None and args.output_dir is None:
        from fgtui.engine.project.workspace import find_project_dir

        where = getattr(args, "project_dir", None) or os.getcwd()
        found = find_project_dir(where) if os.path.isdir(where) else None
        project_dir = str(found) if found is not None else None
    action = args.action.replace("-", "_")
    job = jobs.get_job(
        args.job, project_dir=project_dir, output_dir=os.path.abspath(args.output_dir) if args.output_dir else None
    )
    if not job.alive:
        raise FgError(f"job {job.job_id} is not running", hint="`fgtui control cleanup` forgets it")
    reply = control_job(job, action)
    if not reply.get("ok"):
        raise FgError(f"the job refused {args.action}: {reply.get('error')}")
    if action == "status":
        for key, value in reply["status"].items():
            print(f"{key:14} {value}")
    elif reply.get("terminated"):
        print(f"abort: {reply['note']}")
    elif action == "abort":
        print(f"abort requested; waiting up to {ABORT_GRACE_S:.0f} s for job {job.job_id} to end", flush=True)
        ended = ensure_ended(job)
        print(f"ended its processes {ended}: the trainer had not stopped" if ended else "the job has ended")
    else:
        print(f"{args.action} requested; the job acts at its next optimizer step")
    return 0


def _run_dirs(paths: list[str]) -> list[Path]:
    from fgtui.engine.runs.rundir import find_runs

    found: list[Path] = []
    for given in paths or ["."]:
        path = Path(given)
        if path.name == "metrics.jsonl":
            path = path.parent
        if not path.exists():
            raise FgError(f"{given} does not exist")
        found += find_runs(path)
    if not found:
        raise FgError(
            f"no runs found under {', '.join(paths or ['.'])}",
            hint="give run directories (…/runs/NAME) or a directory above them",
        )
    return found


def run_logs(args: argparse.Namespace) -> int:
    from fgtui.engine.runs.rundir import inspect_run

    runs = _run_dirs(args.runs)
    if args.action == "list":
        for path in runs:
            info = inspect_run(path)
            total = f"/{info.max_steps}" if info.max_steps else ""
            print(f"{info.state:9} step {info.step}{total:8}  {path}")
        return 0
    if args.action == "summary":
        for path in runs:
            _print_summary(path)
        return 0
    return _plot(runs, args.metric or ["loss", "eval_loss"])


def _print_summary(path: Path) -> None:
    from fgtui.engine.runs.reader import read_all
    from fgtui.engine.runs.rundir import inspect_run

    from fgtui.engine.runs.forgather_logs import is_forgather_run_dir

    readable = (path / "metrics.jsonl").exists() or is_forgather_run_dir(path)
    records, bad = read_all(path / "metrics.jsonl") if readable else ([], 0)
    info = inspect_run(path, records)
    train = [r for r in records if r["type"] == "train"]
    evals = [r for r in records if r["type"] == "eval"]
    print(f"{path}")
    print(f"  state        {info.state}" + (f" (exit {info.end['exit_code']})" if info.end else ""))
    print(f"  step         {info.step}" + (f" of {info.max_steps}" if info.max_steps else ""))
    if train:
        last = train[-1]
        rates = [r["tokens_per_s"] for r in train[len(train) // 2 :]]
        print(f"  tokens       {last['tokens']:,}")
        print(f"  loss         {train[0]['loss']:.4f} -> {last['loss']:.4f}")
        print(f"  tokens/s     {sum(rates) / len(rates):,.0f} (mean of the second half)")
        if last.get("mfu") is not None:
            print(f"  mfu          {last['mfu']:.3f}")
    if evals:
        best = min(evals, key=lambda r: r["eval_loss"])
        print(f"  eval_loss    {evals[-1]['eval_loss']:.4f} last, {best['eval_loss']:.4f} best (step {best['step']})")
    for error in info.errors:
        print(f"  error        {error.get('message')}")
    if bad:
        print(f"  bad lines    {bad}")


def _plot(runs: list[Path], metrics: list[str]) -> int:
    """One terminal plot per metric, every run overlaid (engine/runs/terminal_plot.py)."""
    import shutil

    from fgtui.engine.runs.terminal_plot import plot_metric

    width = min(120, shutil.get_terminal_size((100, 25)).columns)
    for metric in metrics:
        text = plot_metric(runs, metric, width=width, plain=not sys.stdout.isatty())
        print(text if text is not None else f"{metric}: no values")
    return 0


def run_tb(args: argparse.Namespace) -> int:
    import shutil

    from fgtui.engine.train.logstream import tensorboard_available

    if not tensorboard_available():
        raise FgError(TB_MISSING, hint=TB_HINT)
    root = Path(args.output_dir or getattr(args, "project_dir", None) or ".")
    executable = shutil.which("tensorboard") or sys.executable
    command = [executable] if executable.endswith("tensorboard") else [executable, "-m", "tensorboard.main"]
    command += ["--logdir", str(root), *args.tb_args]
    os.execv(command[0], command)
    return 0
