"""Launching: the torchrun command, run directories, detached processes, a whole run end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fgtui.engine.errors import FgError
from fgtui.engine.launch import jobs, rundir
from fgtui.engine.launch.launcher import launch_run
from fgtui.engine.launch.spawn import spawn_detached
from fgtui.engine.launch.torchrun import build_command, parse_devices
from fgtui.engine.runs.schema import validate_record
from launch_helpers import tiny_config


@pytest.fixture
def runtime(monkeypatch):
    root = tempfile.mkdtemp(prefix="fg")
    monkeypatch.setenv("FGTUI_RUNTIME_DIR", os.path.join(root, "rt"))
    yield Path(root) / "rt"
    shutil.rmtree(root, ignore_errors=True)


def test_devices_and_the_torchrun_command():
    assert parse_devices(None, 0) == (1, None)
    assert parse_devices(None, 4) == (4, None)
    assert parse_devices("0,2", 4) == (2, "0,2")
    assert parse_devices("cpu", 4) == (1, "")
    with pytest.raises(FgError):
        parse_devices("0,9", 4)
    command = build_command("/runs/r", 2, [], python="py")
    assert command == [
        "py",
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "fgtui.engine.train.entry",
        "/runs/r",
    ]
    assert "--standalone" not in build_command("/r", 1, ["--nnodes=2", "--rdzv-endpoint=h:1"])


def test_spawned_process_is_detached(tmp_path):
    probe = "import os, sys; print(os.getsid(0), os.getpgrp(), sys.stdin.read() == '', flush=True)"
    process = spawn_detached(
        [sys.executable, "-c", probe], log_path=tmp_path / "out.log", env=dict(os.environ), cwd=tmp_path
    )
    assert process.wait(timeout=30) == 0
    sid, pgid, empty_stdin = (tmp_path / "out.log").read_text().split()
    assert int(sid) == process.pid == int(pgid) and int(sid) != os.getsid(0)
    assert empty_stdin == "True"


def test_run_dir_snapshot_and_secrets(tmp_path):
    project = tmp_path / "proj"
    (project / "model_src").mkdir(parents=True)
    (project / "model_src" / "net.py").write_text("X = 1\n")
    (project / "helper.py").write_text("Y = 2\n")
    text = (
        "model: !singleton:./model_src/net.py:Net {}\nother: !partial:helper:f {}\nlib: !singleton:torch.nn:Linear {}\n"
    )
    run = rundir.create_run_dir(tmp_path / "out", "r")
    assert rundir.create_run_dir(tmp_path / "out", "r").name == "r-2"
    copied = rundir.snapshot_code(run, text, project)
    assert sorted(p.relative_to(run).as_posix() for p in copied) == ["code/helper.py", "code/model_src/net.py"]
    values, names = rundir.safe_environment(
        {
            "HF_TOKEN": "x",
            "PATH": "/bin",
            "DATABASE_URL": "postgres://u:pw@h",
            "GH_PAT": "ghp_1",
            "OPENAI_KEY": "sk-1",
            "NCCL_DEBUG": "INFO",
        }
    )
    assert values == {"NCCL_DEBUG": "INFO", "PATH": "/bin"}
    assert names == ["DATABASE_URL", "GH_PAT", "HF_TOKEN", "OPENAI_KEY"]


@pytest.mark.slow
def test_launch_runs_through_torchrun_and_entry(runtime, tmp_path):
    from fgtui.engine.commands.headless import follow

    config = tmp_path / "tiny.yaml"
    config.write_text(tiny_config(tmp_path / "out"))
    dry = launch_run(str(config), devices="cpu", dry_run=True)
    assert dry.run_dir is None and dry.command[-1] == str(tmp_path / "out" / "runs" / "tiny")
    launched = launch_run(str(config), devices="cpu", extra_env={"OMP_NUM_THREADS": "1"})
    assert [j.job_id for j in jobs.list_jobs()] == [launched.job_id]
    assert follow(launched.run_dir, launched.job_id, launched.process) == 0
    run = launched.run_dir
    assert (run / "config.yaml").read_text().strip() == config.read_text().strip()
    assert json.loads((run / "command.json").read_text())["argv"] == launched.command
    assert json.loads((run / "job.json").read_text())["job_id"] == launched.job_id
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(validate_record(r) == [] for r in records)
    assert records[0]["job_id"] == launched.job_id and records[-1]["status"] == "completed"
    assert "step 6/6" in (run / "stdout.log").read_text()
    assert (tmp_path / "out" / "checkpoints" / "checkpoint-6" / "model.safetensors").is_file()


def test_a_config_that_fails_to_build_is_logged(tmp_path, capsys):
    from fgtui.engine.train import entry

    run_dir = tmp_path / "out" / "runs" / "bad"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(tiny_config(tmp_path / "out").replace("model: *model", "model: null"))
    assert entry.main([str(run_dir)]) == 2
    assert "builds no model" in capsys.readouterr().err
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["event"] == "error" and "builds no model" in records[0]["message"]
    assert records[-1]["status"] == "failed" and records[-1]["exit_code"] == 2
    assert all(validate_record(r) == [] for r in records)


@pytest.mark.slow
def test_two_cpu_ranks_agree_on_a_control_command(runtime, tmp_path):
    from fgtui.engine.commands.headless import follow
    from fgtui.engine.launch.control import send_control
    from fgtui.engine.runs.reader import read_all

    config = tmp_path / "tiny.yaml"
    config.write_text(tiny_config(tmp_path / "out", max_steps=400, save_steps=1000))
    launched = launch_run(str(config), devices="cpu:2", extra_env={"OMP_NUM_THREADS": "1"})
    metrics = launched.run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if metrics.exists() and any(r["type"] == "train" and r["step"] >= 3 for r in read_all(metrics)[0]):
            break
        assert launched.process.poll() is None, (launched.run_dir / "stdout.log").read_text()
        time.sleep(0.2)
    assert send_control(launched.job_id, "save_stop")["ok"]
    assert follow(launched.run_dir, launched.job_id, launched.process) == 0
    records, _ = read_all(metrics)
    assert records[0]["world_size"] == 2
    end = records[-1]
    assert end["status"] == "stopped" and end["step"] < 400
    saved = tmp_path / "out" / "checkpoints" / f"checkpoint-{end['step']}"
    assert (saved / "rng_state_rank0.pt").is_file() and (saved / "rng_state_rank1.pt").is_file()


@pytest.mark.slow
def test_ctrl_c_in_run_asks_the_job_to_save_and_stop(runtime, tmp_path):
    import signal

    config = tmp_path / "tiny.yaml"
    config.write_text(tiny_config(tmp_path / "out", max_steps=100000, save_steps=100000))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen(
        [sys.executable, "-m", "fgtui.engine.cli", "--run", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    metrics = tmp_path / "out" / "runs" / "tiny" / "metrics.jsonl"
    deadline = time.monotonic() + 90
    while not (metrics.exists() and '"type": "train"' in metrics.read_text()):
        assert time.monotonic() < deadline and run.poll() is None, run.stdout.read() if run.poll() else "timeout"
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=60) == 0, run.stdout.read()
    output = run.stdout.read()
    assert "asking the run to save and stop" in output and "run stopped" in output
    end = json.loads(metrics.read_text().splitlines()[-1])
    assert end["status"] == "stopped"
    assert (tmp_path / "out" / "checkpoints" / f"checkpoint-{end['step']}").is_dir()


@pytest.mark.slow
def test_train_follow_stays_until_the_run_ends_and_returns_its_exit_code(runtime, tmp_path, capsys):
    from fgtui.engine.cli import main

    config = tmp_path / "bad.yaml"
    config.write_text(tiny_config(tmp_path / "out").replace("model: *model", "model: null"))
    assert main(["-t", str(config), "train", "-d", "cpu", "--follow"]) == 2
    out = capsys.readouterr().out
    assert "builds no model" in out
    good = tmp_path / "good.yaml"
    good.write_text(tiny_config(tmp_path / "out2", max_steps=2))
    assert main(["-t", str(good), "train", "-d", "cpu", "-f"]) == 0
    assert "completed at step 2" in capsys.readouterr().out
