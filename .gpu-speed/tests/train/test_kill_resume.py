"""Training processes killed at the worst moments, then resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tiny
from fgtui.engine.train import checkpoint as ckpt

SCRIPT = str(Path(tiny.__file__))


def _start(output_dir, run_name, *options):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, SCRIPT, str(output_dir), run_name, *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(predicate, process, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"process ended early: {process.stdout.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_gives_the_uninterrupted_losses(tmp_path):
    # The uninterrupted run and the victim run side by side (two cores).
    full = _start(tmp_path / "full", "full", "max_steps=12")
    out = tmp_path / "killed"
    victim = _start(out, "first", "max_steps=12", "slow=0.3")
    _wait_for(lambda: (ckpt.latest_checkpoint(out / "checkpoints") or Path("x")).name == "checkpoint-8", victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not any(r["type"] == "event" and r["event"] == "end" for r in tiny.read_records(out / "runs" / "first"))

    resumed = _start(out, "second", "max_steps=12", "resume_from_checkpoint=True")
    assert resumed.wait(timeout=120) == 0, resumed.stdout.read()
    assert full.wait(timeout=120) == 0, full.stdout.read()
    expected = tiny.losses_by_step(tmp_path / "full" / "runs" / "full")
    second = tiny.losses_by_step(out / "runs" / "second")
    assert sorted(second) == [9, 10, 11, 12]
    assert second == {step: expected[step] for step in second}


@pytest.mark.slow
def test_kill_during_a_save_leaves_the_previous_checkpoint_latest_and_loadable(tmp_path):
    victim = _start(tmp_path, "first", "max_steps=12", "hang_save_at=8")
    _wait_for(lambda: (tmp_path / "HANGING").exists(), victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    checkpoints = tmp_path / "checkpoints"
    assert (checkpoints / ".tmp-checkpoint-8").is_dir()
    assert not (checkpoints / "checkpoint-8").exists()
    assert ckpt.latest_checkpoint(checkpoints).name == "checkpoint-4"

    resumed = _start(tmp_path, "second", "max_steps=6", "resume_from_checkpoint=True", "save_steps=100")
    assert resumed.wait(timeout=120) == 0, resumed.stdout.read()
    records = tiny.read_records(tmp_path / "runs" / "second")
    assert records[1]["event"] == "resumed" and records[1]["path"].endswith("checkpoint-4")
    assert sorted(tiny.losses_by_step(tmp_path / "runs" / "second")) == [5, 6]
    assert not (checkpoints / ".tmp-checkpoint-8").exists()


def test_sigterm_saves_and_exits_cleanly(tmp_path):
    victim = _start(tmp_path, "r", "max_steps=200", "slow=0.05", "save_steps=1000")
    _wait_for(
        lambda: (
            len(tiny.losses_by_step(tmp_path / "runs" / "r")) >= 3
            if (tmp_path / "runs" / "r" / "metrics.jsonl").exists()
            else False
        ),
        victim,
    )
    victim.send_signal(signal.SIGTERM)
    assert victim.wait(timeout=60) == 0, victim.stdout.read()
    records = tiny.read_records(tmp_path / "runs" / "r")
    events = {r["event"]: r for r in records if r["type"] == "event"}
    assert events["stop_requested"]["source"] == "SIGTERM"
    assert events["end"]["status"] == "stopped"
    step = events["end"]["step"]
    assert 3 <= step < 200
    assert ckpt.latest_checkpoint(tmp_path / "checkpoints").name == f"checkpoint-{step}"
