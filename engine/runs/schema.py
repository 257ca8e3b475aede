"""The log stream: the one contract between the trainer and everything that watches it.

A run directory `<output_dir>/runs/<run_name>/` holds:

    config.yaml       the preprocessed config, frozen at launch
    command.json      {"argv": [...], "cwd": ..., "env": {...}, "env_names": [...], "config": ...,
                      "devices": ...}; "env" holds the variables that shape a run (CUDA_*, NCCL_*,
                      TORCH_*, ...), "env_names" only the names of all the others
    job.json          {"job_id", "pid", "pgid", "socket", "host", "started", "project_dir",
                      "output_dir"} while launched; pid/pgid are torchrun's
    ranks/rank-N.json {"rank", "pid", "start_time", "host"}: each rank, written as it starts;
                      a job is running while torchrun or any of these processes lives
    code/             snapshot of the project's own Python sources the config imports
    git.json, git.diff   the project's commit and uncommitted diff, when it is in git
    stdout.log        everything every rank printed (stdout and stderr)
    metrics.jsonl     the log stream described here

Run dirs are created owner-only (0700 dirs, 0600 files) unless the run was launched with
--share-group (0750 / 0640). `<output_dir>/.fgtui-run.lock` is held (flock) by the one run
writing that output dir; checkpoints' manifest.json names the run that saved them ("run").

`metrics.jsonl` holds one JSON object per line, written by rank 0 only and
flushed after each line. Readers must tolerate a partial last line (the
writer may be mid-write) and skip lines that do not parse, counting them.
Every record has:

    type   one of "train", "eval", "sample", "event"
    time   wall-clock seconds since the epoch (float)
    step   the optimizer step the record belongs to (int, 0 before the first step)

Unknown keys are allowed (newer writers, extra metrics) and must be ignored by
readers; the keys below are the ones the UI and `fgtui logs` rely on.

type "train" — one per logging interval:
    epoch          float, fractional epoch
    tokens         int, tokens trained on so far (labels != -100, all ranks)
    loss           float, mean loss over the interval; a diverged loss is written as
                   the bare tokens NaN / Infinity (Python's json default), which readers accept
    lr             float, learning rate of the first parameter group
    grad_norm      float | null, global gradient norm before clipping (mean over the interval)
    tokens_per_s   float, throughput over the interval, all ranks
    mfu            float | null, model FLOPs utilisation: (6N + attention) FLOPs per token,
                   recompute not counted, over the device's dense bf16 peak; null on CPU.
                   Exactly, over the interval's batches:
                   (6 * N * tokens + 12 * L * H * head_dim * area) / seconds / world_size / peak,
                   N the parameters without the input embedding, L layers, H query heads,
                   tokens every input token (as tokens_per_s counts them) and area the
                   (query, key) pairs attention spans: per row, the sum of its documents'
                   squared lengths (packed rows attend within each document; padding is no
                   document), T^2 for a row that is one sequence of T tokens, which makes the
                   attention term 12 * L * H * head_dim * T per token. Causality and sliding
                   windows are not discounted (fgtui.engine.train.flops: FlopsModel,
                   attention_area). bench/memory_bench.py, bench/train_bench.py and
                   bench/finetune_16k.py (its transformers peer included) compute MFU this way.
    peak_mem_gib   float | null, peak allocated device memory since the last record (GiB)
    step_time_s    float, mean seconds per optimizer step over the interval

type "eval":
    eval_loss      float
    tokens         int (as in train)

type "sample" — text generated from a prompt at evaluation:
    prompt         str
    text           str, the completion (without the prompt)

type "event":
    event          one of EVENT_NAMES
    start:         config (path of config.yaml), world_size (int), max_steps (int | null),
                   run_name (str), job_id (str), device (str), n_params (int)
    checkpoint:    path (str), best (bool, optional)
    resumed:       path (str) of the checkpoint resumed from, from_run (str, optional: the run
                   that saved it, when the checkpoint's manifest records one)
    stop_requested: action (one of "stop", "save", "save_stop", "abort"), source (str)
    eval:          not used; see type "eval"
    error:         message (str), traceback (str)
    end:           status (one of END_STATUSES), exit_code (int)
"""

from __future__ import annotations

import math
from typing import Any

RECORD_TYPES = ("train", "eval", "sample", "event")
EVENT_NAMES = ("start", "checkpoint", "resumed", "stop_requested", "error", "end", "warning")
END_STATUSES = ("completed", "stopped", "aborted", "failed")

_NUMBER = (int, float)

# key -> (types accepted, may be null)
REQUIRED_KEYS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "train": {
        "epoch": (_NUMBER, False),
        "tokens": ((int,), False),
        "loss": (_NUMBER, False),
        "lr": (_NUMBER, False),
        "grad_norm": (_NUMBER, True),
        "tokens_per_s": (_NUMBER, False),
        "mfu": (_NUMBER, True),
        "peak_mem_gib": (_NUMBER, True),
        "step_time_s": (_NUMBER, False),
    },
    "eval": {"eval_loss": (_NUMBER, False), "tokens": ((int,), False)},
    "sample": {"prompt": ((str,), False), "text": ((str,), False)},
    "event": {"event": ((str,), False)},
}

EVENT_KEYS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "start": {
        "config": ((str,), False),
        "world_size": ((int,), False),
        "max_steps": ((int,), True),
        "run_name": ((str,), False),
        "job_id": ((str,), False),
        "device": ((str,), False),
        "n_params": ((int,), False),
    },
    "checkpoint": {"path": ((str,), False)},
    "resumed": {"path": ((str,), False)},
    "stop_requested": {"action": ((str,), False), "source": ((str,), False)},
    "error": {"message": ((str,), False), "traceback": ((str,), False)},
    "end": {"status": ((str,), False), "exit_code": ((int,), False)},
    "warning": {"message": ((str,), False)},
}


def _check_keys(record: dict[str, Any], spec, problems: list[str]) -> None:
    for key, (types, nullable) in spec.items():
        if key not in record:
            problems.append(f"missing key {key!r}")
            continue
        value = record[key]
        if value is None:
            if not nullable:
                problems.append(f"{key!r} is null")
            continue
        # bool is an int subclass; no schema field is a bool-as-number.
        if isinstance(value, bool) or not isinstance(value, types):
            problems.append(f"{key!r} has type {type(value).__name__}")
        elif isinstance(value, float) and not math.isfinite(value) and key != "loss":
            problems.append(f"{key!r} is not finite")


def validate_record(record: Any) -> list[str]:
    """Problems with one log-stream record; an empty list means it conforms."""
    if not isinstance(record, dict):
        return ["record is not a JSON object"]
    problems: list[str] = []
    kind = record.get("type")
    if kind not in RECORD_TYPES:
        return [f"unknown record type {kind!r}"]
    _check_keys(record, {"time": (_NUMBER, False), "step": ((int,), False)}, problems)
    _check_keys(record, REQUIRED_KEYS[kind], problems)
    if kind == "event" and isinstance(record.get("event"), str):
        name = record["event"]
        if name not in EVENT_NAMES:
            problems.append(f"unknown event {name!r}")
        else:
            _check_keys(record, EVENT_KEYS[name], problems)
            if name == "end" and record.get("status") not in END_STATUSES:
                problems.append(f"unknown end status {record.get('status')!r}")
    return problems
