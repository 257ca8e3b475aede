"""`fgtui --run CFG`: launch a run detached, then follow its log stream until it ends.

On a terminal progress is a live rich bar; otherwise (CI, a pipe, nohup) a plain
line for every training step the run logs (its `logging_steps` set the pace, as
in its stdout.log). Ctrl-C asks the run to save and stop; a second
Ctrl-C asks it to abort. The exit code is the trainer's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError

POLL_S = 0.5


def as_train_argv(argv: list[str]) -> list[str] | None:
    """`fgtui --run CFG OPTIONS...` as `fgtui train --follow ... OPTIONS...`, when
    options follow CFG: only the train parser knows the config's own options
    (`--max-steps 10`), and checks their values, so `--run` takes them through it.
    None when there is nothing to rewrite."""
    for i, token in enumerate(argv):
        if token == "--":
            return None
        if token == "--run" or token.startswith("--run="):
            config, rest = (
                (token.split("=", 1)[1], argv[i + 1 :])
                if "=" in token
                else (argv[i + 1] if i + 1 < len(argv) else None, argv[i + 2 :])
            )
            if config is None or not rest:
                return None
            where = ["-p", config] if Path(config).is_dir() else ["-t", config]
            return [*argv[:i], "train", "--follow", *where, *rest]
    return None


def run_headless(args: argparse.Namespace) -> int:
    from fgtui.engine.launch.launcher import launch_run

    launched = launch_run(args.run, project_dir=getattr(args, "project_dir", None))
    print(f"job {launched.job_id}: {launched.run_dir}", flush=True)
    return follow(launched.run_dir, launched.job_id, launched.process)


class _Progress:
    """Live bar on a terminal, a plain line per logged step elsewhere."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.bar = self.task = None
        if tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
            )
            self.bar.start()
            self.task = self.bar.add_task("train", total=None, info="starting")

    def note(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text)
        else:
            print(text, flush=True)

    def update(self, record: dict[str, Any], max_steps: int | None) -> None:
        info = f"loss {record['loss']:.4f}  lr {record['lr']:.3g}  {record['tokens_per_s']:,.0f} tok/s"
        if self.bar is not None:
            self.bar.update(self.task, completed=record["step"], total=max_steps, info=info)
        else:
            total = f"/{max_steps}" if max_steps else ""
            print(f"step {record['step']}{total}  {info}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _handle(record: dict[str, Any], progress: _Progress, state: dict[str, Any]) -> None:
    kind = record["type"]
    if kind == "train":
        progress.update(record, state.get("max_steps"))
    elif kind == "eval":
        progress.note(f"step {record['step']}  eval_loss {record['eval_loss']:.4f}")
    elif kind == "sample":
        # One line per sample: the prompt, then what the model wrote, its newlines shown as ⏎.
        text = record["text"].replace("\n", "⏎")
        progress.note(f"step {record['step']}  sample: {record['prompt']} ▸{text}")
    elif kind == "event":
        name = record["event"]
        if name == "start":
            state["max_steps"] = record.get("max_steps")
            progress.note(
                f"started on {record.get('device')} x{record.get('world_size')},"
                f" {record.get('n_params', 0):,} parameters"
            )
        elif name == "checkpoint":
            progress.note(f"step {record['step']}  saved {record['path']}")
        elif name == "stop_requested":
            # A plain save stops nothing: say what was asked, not the event's name.
            asked = {"save": "save", "save_stop": "save and stop", "stop": "stop", "abort": "abort"}
            action = str(record.get("action"))
            progress.note(
                f"step {record['step']}  {asked.get(action, action)} requested"
                + (f" from {record['source']}" if record.get("source") else "")
            )
        elif name in ("resumed", "warning"):
            progress.note(
                f"step {record['step']}  {name}: "
                + str(record.get("path") or record.get("action") or record.get("message"))
            )
        elif name == "error":
            progress.note(f"error: {record['message']}")
        elif name == "end":
            state["end"] = record


def follow(run_dir: Path, job_id: str | None, process: Any = None) -> int:
    """Follow `run_dir/metrics.jsonl` until the run ends; returns its exit code."""
    from fgtui.engine.launch.control import send_control
    from fgtui.engine.launch.jobs import JobRecord
    from fgtui.engine.runs.reader import LogStreamReader

    reader = LogStreamReader(run_dir / "metrics.jsonl")
    job = JobRecord.read(run_dir) if process is None else None  # what to ask whether the run still runs
    progress = _Progress(sys.stdout.isatty())
    state: dict[str, Any] = {}
    interrupts = 0
    try:
        while True:
            try:
                for record in reader.poll():
                    _handle(record, progress, state)
                finished = process.poll() is not None if process is not None else not job.alive
                if finished:
                    for record in reader.poll():
                        _handle(record, progress, state)
                    break
                time.sleep(POLL_S)
            except KeyboardInterrupt:
                interrupts += 1
                action = "save_stop" if interrupts == 1 else "abort"
                progress.note(
                    f"asking the run to {action.replace('_', ' and ')}"
                    + (" (Ctrl-C again to abort)" if interrupts == 1 else "")
                )
                try:
                    send_control(job_id, action)
                except FgError as error:
                    progress.note(f"could not reach the job: {error}")
    finally:
        progress.close()
    end = state.get("end")
    if end is not None:
        print(f"run {end['status']} at step {end['step']} (exit {end['exit_code']}): {run_dir}")
        output_dir = run_dir.parent.parent
        if end["exit_code"] == 0 and (output_dir / "checkpoints").is_dir():
            hint = _generate_hint(output_dir)
            if hint:
                print(f"try it:  {hint}")
        return int(end["exit_code"])
    code = process.returncode if process is not None else 1
    print(f"run ended without an end record (exit {code}); see {run_dir / 'stdout.log'}", file=sys.stderr)
    return code or 1


def _generate_hint(output_dir: Path) -> str | None:
    """The `fgtui generate` line for the run's newest checkpoint, with --trust-remote-code when
    its model is code shipped with it (this run trained that code), or None when none loads."""
    import json

    from fgtui.engine.train.checkpoint import find_model_dir

    try:
        config = json.loads((find_model_dir(output_dir) / "config.json").read_text())
    except (FgError, OSError, ValueError):
        return None
    ships_code = isinstance(config, dict) and bool(config.get("auto_map"))
    return f'fgtui generate {output_dir} "Once upon a time"' + (" --trust-remote-code" if ships_code else "")
