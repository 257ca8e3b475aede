"""The checkpoints one run saved, read from its own log stream.

Several runs share an output directory's `checkpoints/`, so "the newest
checkpoint there" may belong to another run. A run's `checkpoint` events name
what it saved; each checkpoint's manifest names the run that saved it last (a
later run saving the same step replaces it), and rotation may have deleted some
since, so only complete ones that are still the run's own count. A resumed run
that has not saved yet started from its `resumed` checkpoint, which then stands
for its weights.
"""

from __future__ import annotations

from pathlib import Path

from fgtui.engine.errors import FgError


def _event_path(run_dir: Path, recorded: str) -> Path:
    path = Path(recorded)
    # Paths are logged as the trainer saw them; relative ones are relative to the output dir.
    return path if path.is_absolute() else run_dir.parent.parent / path


def run_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints this run saved that still exist, oldest first."""
    from fgtui.engine.runs.reader import LogStreamReader
    from fgtui.engine.train.checkpoint import checkpoint_run, is_complete

    run_dir = Path(run_dir)
    saved: list[Path] = []
    for record in LogStreamReader(run_dir / "metrics.jsonl").poll():
        if record.get("type") == "event" and record.get("event") in ("checkpoint", "resumed") and record.get("path"):
            path = _event_path(run_dir, str(record["path"]))
            if path in saved:
                saved.remove(path)
            # A later run that saved the same step replaced the directory: its manifest
            # names that run now. (The resumed-from checkpoint is another run's by nature.)
            if record["event"] == "resumed" or checkpoint_run(path) in (None, run_dir.name):
                saved.append(path)
    return [path for path in saved if path.is_dir() and is_complete(path)]


def newest_run_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint `g` and friends load for a run: its own newest one."""
    found = run_checkpoints(run_dir)
    if not found:
        raise FgError(
            f"run {Path(run_dir).name} has no checkpoint of its own yet",
            hint="it saves at its save steps; press s in the monitor to save one now",
        )
    return found[-1]
