"""What torchrun runs in every rank: `python -m fgtui.engine.train.entry RUN_DIR [--resume SPEC]`.

Reads the config frozen at launch (`RUN_DIR/config.yaml`; no rank renders
templates), builds its `main` target (a trainer) and calls `.train(run)` with the
run context the launcher's process was given (run dir, job id, resume). The exit
code is the trainer's; a failure before the trainer starts is still written to the
log stream, so watchers learn why a run ended.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError
from fgtui.engine.train.runtime import RunContext


def build_main(run_dir: Path) -> Any:
    """Build the frozen config's `main` target with the run's context variables."""
    import torch

    from fgtui.engine.config import build, load_graph

    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise FgError(f"{config_path} not found", hint="launch runs with `fgtui train`")
    graph = load_graph(config_path.read_text(), str(config_path))
    if "main" not in graph.targets:
        raise FgError(
            f"{config_path} has no `main` target",
            hint="the config's main: should build a trainer (e.g. from templatelib trainers)",
        )
    seed = graph.root.get("seed") if isinstance(graph.root, dict) else None
    # Seeded before building so the model's initial weights depend only on the config.
    torch.manual_seed(seed if isinstance(seed, int) else 42)
    context = {
        "run_dir": str(run_dir),
        "rank": int(os.environ.get("RANK", 0)),
        "local_rank": int(os.environ.get("LOCAL_RANK", 0)),
        "world_size": int(os.environ.get("WORLD_SIZE", 1)),
    }
    main = build(graph, target="main", context=context)
    if not callable(getattr(main, "train", None)):
        raise FgError(
            f"the config's main target built a {type(main).__name__}, which has no train()",
            hint="main: should build a trainer",
        )
    return main


def _log_early_failure(run_dir: Path, error: BaseException) -> None:
    """Record a failure that happened before the trainer opened the log stream."""
    if int(os.environ.get("RANK", 0)) != 0:
        return
    from fgtui.engine.train.logstream import LogStreamWriter

    message = error.one_line() if isinstance(error, FgError) else f"{type(error).__name__}: {error}"
    code = error.exit_code if isinstance(error, FgError) else 1
    with LogStreamWriter(run_dir / "metrics.jsonl") as writer:
        writer.event("error", 0, message=message, traceback=traceback.format_exc())
        writer.event("end", 0, status="failed", exit_code=code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    resume = None
    if len(argv) == 2 and argv[1].startswith("--resume="):
        argv, resume = argv[:1], argv[1].split("=", 1)[1]
    if len(argv) != 1:
        print("usage: python -m fgtui.engine.train.entry RUN_DIR [--resume=latest|if-any|CHECKPOINT]", file=sys.stderr)
        return 2
    run_dir = Path(argv[0]).resolve()
    # What the launcher decided, handed to the trainer explicitly; a resume given here
    # overrides the frozen config's choice (a requeued SLURM job resumes).
    run = RunContext(run_dir, job_id=os.environ.get("FGTUI_JOB_ID"), resume=resume)
    trainer = None
    try:
        from fgtui.engine.train.rank_guard import bind_rank_to_job

        bind_rank_to_job(run_dir, int(os.environ.get("RANK", 0)))
        trainer = build_main(run_dir)
        return int(trainer.train(run) or 0)
    except Exception as raised:
        from fgtui.engine.compat.forgather.model_code import explain

        # Forgather's model code failing on a transformers too new for it is the user's to fix.
        error = raised if isinstance(raised, FgError) else explain(raised) or raised
        if getattr(trainer, "runtime", None) is None:  # failed before setup opened the log stream
            _log_early_failure(run_dir, error)
        if isinstance(error, FgError):
            print(f"fgtui: error: {error}", file=sys.stderr, flush=True)
            return error.exit_code
        traceback.print_exc()
        return 1
    finally:
        _destroy_process_group()


def _destroy_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
