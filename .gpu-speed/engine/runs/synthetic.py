"""Schema-conforming run directories with made-up numbers.

Tests, snapshot fixtures and `bench/tui_bench.py` need runs of any length
without training anything. Everything is seeded and time-stamped from a
fixed origin, so two calls with the same arguments write identical files.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any, Iterator

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC: a fixed clock keeps snapshots stable


def train_record(
    step: int,
    rng: random.Random,
    *,
    max_steps: int,
    t0: float = T0,
    step_time: float = 0.25,
    tokens_per_step: int = 4096,
) -> dict[str, Any]:
    progress = step / max(1, max_steps)
    loss = 2.0 + 8.0 * math.exp(-6.0 * progress) + rng.gauss(0.0, 0.05)
    warm = min(1.0, step / max(1, max_steps // 20))
    return {
        "type": "train",
        "time": t0 + step * step_time,
        "step": step,
        "epoch": round(step / max(1, max_steps) * 2.0, 6),
        "tokens": step * tokens_per_step,
        "loss": round(loss, 5),
        "lr": round(3e-4 * warm * (0.5 + 0.5 * math.cos(math.pi * progress)), 10),
        "grad_norm": round(abs(1.0 + rng.gauss(0.0, 0.2)), 5),
        "tokens_per_s": round(tokens_per_step / step_time * (1 + rng.gauss(0.0, 0.01)), 1),
        "mfu": 0.41,
        "peak_mem_gib": 11.5,
        "step_time_s": step_time,
    }


def run_records(
    steps: int,
    *,
    max_steps: int | None = None,
    eval_every: int = 0,
    end_status: str | None = "completed",
    seed: int = 0,
    run_name: str = "demo",
    spike_at: int | None = None,
) -> Iterator[dict[str, Any]]:
    """The records of a run of `steps` train steps, in the order a trainer writes them."""
    rng = random.Random(seed)
    max_steps = max_steps or steps
    yield {
        "type": "event",
        "event": "start",
        "time": T0,
        "step": 0,
        "config": "config.yaml",
        "world_size": 1,
        "max_steps": max_steps,
        "run_name": run_name,
        "job_id": f"job-{seed}",
        "device": "cpu",
        "n_params": 1_234_567,
    }
    for step in range(1, steps + 1):
        record = train_record(step, rng, max_steps=max_steps)
        if step == spike_at:
            record["loss"] = 42.0
        yield record
        if eval_every and step % eval_every == 0:
            when = record["time"] + 0.01
            yield {
                "type": "eval",
                "time": when,
                "step": step,
                "eval_loss": round(record["loss"] + 0.1, 5),
                "tokens": record["tokens"],
            }
            yield {
                "type": "sample",
                "time": when,
                "step": step,
                "prompt": "The old house on the hill",
                "text": f" stood silent at step {step}.",
            }
            yield {
                "type": "event",
                "event": "checkpoint",
                "time": when,
                "step": step,
                "path": f"checkpoints/checkpoint-{step}",
            }
    if end_status is not None:
        yield {
            "type": "event",
            "event": "end",
            "time": T0 + steps * 0.25 + 1.0,
            "step": steps,
            "status": end_status,
            "exit_code": 0 if end_status == "completed" else 1,
        }


def write_run(
    run_dir: str | Path, steps: int, *, job: dict[str, Any] | None = None, stdout: str | None = None, **kwargs: Any
) -> Path:
    """Write `run_dir/metrics.jsonl` (and job.json, stdout.log when given)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "metrics.jsonl", "w") as handle:
        for record in run_records(steps, **kwargs):
            handle.write(json.dumps(record) + "\n")
    (run_dir / "config.yaml").write_text("# synthetic run\nmax_steps: %d\n" % steps)
    if job is not None:
        (run_dir / "job.json").write_text(json.dumps(job))
    if stdout is not None:
        (run_dir / "stdout.log").write_text(stdout)
    return run_dir
