"""Runs are owner-only and never trample each other: control acts on the right job, a killed
torchrun takes its ranks with it, one run per output dir, atomic checkpoint deletion."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fgtui.engine.errors import FgError
from fgtui.engine.launch import jobs, liveness, output_lock
from fgtui.engine.launch.launcher import launch_run
from fgtui.engine.launch.permissions import GROUP_READABLE
from fgtui.engine.train import checkpoint as ckpt
from launch_helpers import tiny_config


@pytest.fixture
def runtime(monkeypatch):
    root = tempfile.mkdtemp(prefix="fg")
    monkeypatch.setenv("FGTUI_RUNTIME_DIR", os.path.join(root, "rt"))
    yield Path(root) / "rt"
    shutil.rmtree(root, ignore_errors=True)


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def _register(job_id: str, process: subprocess.Popen, run_dir: Path, project: Path) -> jobs.JobRecord:
    record = jobs.JobRecord(
        job_id=job_id,
        pid=process.pid,
        pgid=process.pid,
        run_dir=str(run_dir),
        socket=str(jobs.socket_path(job_id)),
        host=socket.gethostname(),
        started=time.time(),
        project_dir=str(project),
        output_dir=str(run_dir.parent.parent),
    )
    jobs.register_job(record)
    return record


def test_control_without_a_job_id_acts_only_on_this_projects_job(runtime, tmp_path):
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    sleepers = [_sleeper(), _sleeper()]
    try:
        a = _register("20260101-000000-aaaa", sleepers[0], mine / "out" / "runs" / "r", mine)
        b = _register("20260101-000000-bbbb", sleepers[1], theirs / "out" / "runs" / "r", theirs)
        assert jobs.get_job(None, project_dir=mine).job_id == a.job_id
        assert jobs.get_job(None, output_dir=theirs / "out").job_id == b.job_id
        with pytest.raises(FgError, match=r"no running job of project .*elsewhere") as error:
            jobs.get_job(None, project_dir=tmp_path / "elsewhere")
        assert a.job_id in str(error.value) and b.job_id in str(error.value)  # the candidates
        with pytest.raises(FgError, match="name the job"):
            jobs.get_job(None)
        c = _register("20260101-000000-cccc", _sleeper(), mine / "out2" / "runs" / "r", mine)
        sleepers.append(c)
        with pytest.raises(FgError, match="2 jobs of project .* are running; name one"):
            jobs.get_job(None, project_dir=mine)
    finally:
        for process in sleepers:
            if isinstance(process, subprocess.Popen):
                process.kill()
                process.wait()
            else:
                os.kill(process.pid, signal.SIGKILL)


def test_control_cli_outside_a_project_asks_for_the_job(runtime, tmp_path):
    process = _sleeper()
    try:
        _register("20260101-000000-aaaa", process, tmp_path / "p" / "out" / "runs" / "r", tmp_path / "p")
        result = subprocess.run(
            [sys.executable, "-m", "fgtui.engine.cli", "control", "stop"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2
        assert "name the job to control" in result.stderr and "20260101-000000-aaaa" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        process.kill()
        process.wait()


def test_a_job_is_alive_while_a_recorded_rank_lives(runtime, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    rank = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from fgtui.engine.launch.liveness import "
            "record_rank; record_rank(sys.argv[1], 0); time.sleep(120)",
            str(run_dir),
        ]
    )
    try:
        for _ in range(200):
            if liveness.rank_records(run_dir):
                break
            time.sleep(0.05)
        dead_torchrun = 2**22 + 17
        job = {"job_id": "j", "pid": dead_torchrun, "host": socket.gethostname(), "run_dir": str(run_dir)}
        from fgtui.engine.runs.rundir import state_from

        assert state_from([], job) == "starting"  # not "crashed": its rank still trains
        assert liveness.terminate(dead_torchrun, None, run_dir, grace=5) == [rank.pid]
        assert rank.wait(timeout=10) is not None
        assert state_from([], job) == "crashed"
    finally:
        if rank.poll() is None:
            rank.kill()


def test_a_reused_pid_is_not_the_rank(tmp_path):
    assert liveness.process_alive(os.getpid(), liveness.process_start_time(os.getpid()))
    assert not liveness.process_alive(os.getpid(), (liveness.process_start_time(os.getpid()) or 0) + 1)


def _ps(pids: list[int]) -> str:
    return subprocess.run(
        ["ps", "-o", "pid,pgid,sid,stat,args", "-p", ",".join(map(str, pids))], capture_output=True, text=True
    ).stdout


@pytest.mark.slow
def test_ranks_end_when_torchrun_is_killed(runtime, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(tiny_config(tmp_path / "out", max_steps=100000, save_steps=100000, logging_steps=50))
    launched = launch_run(str(config), devices="cpu:2", extra_env={"OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while len(liveness.rank_records(launched.run_dir)) < 2:
        assert time.monotonic() < deadline, (launched.run_dir / "stdout.log").read_text()
        assert launched.process.poll() is None, (launched.run_dir / "stdout.log").read_text()
        time.sleep(0.2)
    ranks = [record["pid"] for record in liveness.rank_records(launched.run_dir)]
    job = jobs.JobRecord.read(launched.run_dir)
    assert sorted(job.live_pids()) == sorted([launched.pid, *ranks])
    # torchrun puts each rank in a session of its own (ps shows it): a group kill misses them...
    table = _ps([launched.pid, *ranks])
    for pid in ranks:
        assert os.getsid(pid) == pid != os.getsid(launched.pid), table
    os.killpg(os.getpgid(launched.pid), signal.SIGKILL)  # as `kill -9 -PGID` does
    launched.process.wait(timeout=30)
    # ...so each rank asked the kernel to end it with torchrun.
    deadline = time.monotonic() + 10
    while any(liveness.process_alive(pid) for pid in ranks):
        assert time.monotonic() < deadline, "orphaned ranks still run:\n" + _ps(ranks)
        time.sleep(0.1)
    assert not job.alive
    from fgtui.engine.runs.rundir import inspect_run

    assert inspect_run(launched.run_dir).state == "crashed"
    assert output_lock.holder(tmp_path / "out") is None  # the kernel dropped the lock with torchrun


@pytest.mark.slow
def test_one_run_per_output_dir_and_owner_only_files(runtime):
    from fgtui.engine.launch.control import send_control

    # Under a directory every user may enter, so only the run's own modes keep others out.
    tmp_path = Path(tempfile.mkdtemp(prefix="fgtui-share-"))
    os.chmod(tmp_path, 0o755)

    config = tmp_path / "tiny.yaml"
    config.write_text(tiny_config(tmp_path / "out", max_steps=100000, save_steps=100000, logging_steps=50))
    first = launch_run(str(config), devices="cpu", extra_env={"OMP_NUM_THREADS": "1"})
    try:
        with pytest.raises(FgError, match=f"in use by job {first.job_id}"):
            launch_run(str(config), devices="cpu", dry_run=True)
        with pytest.raises(FgError, match=f"in use by job {first.job_id}"):
            launch_run(str(config), devices="cpu", run_name="second")
        assert [p.name for p in (tmp_path / "out" / "runs").iterdir()] == [first.run_dir.name]
        deadline = time.monotonic() + 120
        while not (first.run_dir / "metrics.jsonl").exists():
            assert time.monotonic() < deadline and first.process.poll() is None
            time.sleep(0.2)
        for path in [tmp_path / "out", first.run_dir, *first.run_dir.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o077 == 0, f"{path} is {mode:o}"
        _another_user_cannot_read(first.run_dir)
        env = json.loads((first.run_dir / "command.json").read_text())
        assert "FGTUI_JOB_ID" in env["env"] and "HOME" in env["env_names"]
    finally:
        send_control(first.job_id, "abort")
        first.process.wait(timeout=60)
    assert output_lock.holder(tmp_path / "out") is None
    shutil.rmtree(tmp_path / "out" / "runs" / first.run_dir.name)
    second = launch_run(
        str(config), devices="cpu", run_name="second", extra_env={"OMP_NUM_THREADS": "1"}, share_group=True
    )
    try:
        assert stat.S_IMODE(second.run_dir.stat().st_mode) == GROUP_READABLE.dir_mode
        assert stat.S_IMODE((second.run_dir / "config.yaml").stat().st_mode) == GROUP_READABLE.file_mode
    finally:
        send_control(second.job_id, "abort")
        second.process.wait(timeout=60)
        shutil.rmtree(tmp_path, ignore_errors=True)


def _another_user_cannot_read(run_dir: Path) -> None:
    """As a second local user (nobody, where the tests run as root), the run's files are closed."""
    if os.getuid() != 0:
        return  # only root can become another user; the modes above are the check then
    probe = subprocess.run(
        ["cat", str(run_dir / "command.json")], user=65534, group=65534, capture_output=True, text=True
    )
    assert probe.returncode != 0 and "Permission denied" in probe.stderr, probe


def test_a_rank_zero_without_a_launcher_takes_the_lock_and_refuses_a_busy_dir(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    fd = output_lock.acquire(out, {"job_id": "other-job", "run_dir": "/r", "pid": 1})
    try:
        with pytest.raises(FgError, match="in use by job other-job"):
            output_lock.ensure_held(out, "my-job", {"job_id": "my-job"})
        output_lock.ensure_held(out, "other-job", {"job_id": "other-job"})  # its own launcher holds it
    finally:
        os.close(fd)
    output_lock.ensure_held(out, None, {"job_id": None, "pid": os.getpid()})
    try:
        assert output_lock.holder(out) == {"job_id": None, "pid": os.getpid()}
    finally:
        output_lock.release(out)
    assert output_lock.holder(out) is None


def test_checkpoint_deletion_never_shows_half_a_checkpoint(tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    for step in (1, 2, 3):
        directory = root / f"checkpoint-{step}"
        directory.mkdir(parents=True)
        (directory / "model.safetensors").write_bytes(b"x" * 100)
        (directory / ckpt.MANIFEST).write_text(json.dumps({"step": step, "params": {}}))
    # A kill in the middle of the file removal: the checkpoint has already left the namespace.
    monkeypatch.setattr(ckpt.shutil, "rmtree", lambda *a, **k: None)
    assert ckpt.rotate_checkpoints(root, 1) == [root / "checkpoint-1", root / "checkpoint-2"]
    monkeypatch.undo()
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["checkpoint-3"]
    leftovers = sorted(p.name for p in root.iterdir() if p.name.startswith(".deleting-"))
    assert len(leftovers) == 2 and not any((root / name / ckpt.MANIFEST).exists() for name in leftovers)
    ckpt.remove_partial(root)  # the next start
    assert sorted(p.name for p in root.iterdir()) == ["checkpoint-3"]


@pytest.mark.slow
def test_a_starting_job_says_so_and_abort_ends_it_without_an_answer(runtime, tmp_path, capsys):
    from fgtui.engine.cli import main

    config = tmp_path / "tiny.yaml"
    # Building the trainer takes a minute (as preparing a big dataset would): no socket yet.
    text = tiny_config(tmp_path / "out").replace(
        "  data_collator:", "  callbacks:\n    - !singleton:time:sleep [60]\n  data_collator:"
    )
    config.write_text(text)
    launched = launch_run(str(config), devices="cpu", extra_env={"OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 60
    while not liveness.rank_records(launched.run_dir):
        assert time.monotonic() < deadline and launched.process.poll() is None
        time.sleep(0.2)
    assert main(["control", "stop", launched.job_id]) == 2
    assert "is still starting" in capsys.readouterr().err
    started = time.monotonic()
    assert main(["control", "abort", launched.job_id]) == 0
    assert "ended its processes" in capsys.readouterr().out
    launched.process.wait(timeout=30)
    assert time.monotonic() - started < 30
    assert not jobs.JobRecord.read(launched.run_dir).alive
