"""`fgtui train --slurm`: the batch script, submission, control through the run directory,
and a whole run driven by stand-ins for sbatch/squeue/scancel/srun/scontrol that run the
script on this machine, as one node would."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from fgtui.engine.errors import FgError
from fgtui.engine.launch import control, control_protocol, jobs
from fgtui.engine.launch.launcher import launch_run
from fgtui.engine.launch.slurm import SlurmOptions
from launch_helpers import tiny_config

# Stand-ins: sbatch runs the script detached with the SLURM variables of a one-node
# job, writing its #SBATCH --output; squeue/scancel look at that process.
FAKE_TOOLS = {
    "sbatch": r"""#!/bin/bash
script="${@: -1}"
echo "$@" >> "$FAKE_SLURM/sbatch.calls"
out=$(sed -n 's/^#SBATCH --output=//p' "$script")
SLURM_JOB_ID=4242 SLURM_JOB_NODELIST=node1 SLURM_NNODES=1 setsid bash "$script" >> "$out" 2>&1 < /dev/null &
echo $! > "$FAKE_SLURM/4242.pid"
echo "4242;cluster"
""",
    "squeue": r"""#!/bin/bash
pid=$(cat "$FAKE_SLURM/4242.pid" 2>/dev/null) || exit 0
kill -0 "$pid" 2>/dev/null && echo RUNNING
exit 0
""",
    "scancel": r"""#!/bin/bash
echo "$@" >> "$FAKE_SLURM/scancel.calls"
kill -KILL -- -"$(cat "$FAKE_SLURM/4242.pid")"
""",
    "scontrol": "#!/bin/bash\necho localhost\n",
    "srun": '#!/bin/bash\nshift\nexec "$@"\n',  # drops --kill-on-bad-exit=1
}


@pytest.fixture
def fake_slurm(monkeypatch):
    root = Path(tempfile.mkdtemp(prefix="fgslurm"))
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for name, text in FAKE_TOOLS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(root))
    monkeypatch.setenv("FGTUI_RUNTIME_DIR", str(root / "rt"))
    with socket.socket() as probe:  # a free port for the c10d rendezvous
        probe.bind(("localhost", 0))
        monkeypatch.setenv("FGTUI_RDZV_PORT", str(probe.getsockname()[1]))
    yield root
    pid_file = root / "4242.pid"
    if pid_file.exists():
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(root, ignore_errors=True)


def _config(out: Path, max_steps: int = 400, sleep: float = 0.05) -> str:
    return tiny_config(out, max_steps=max_steps, save_steps=1000, dataset={"n": 2000}, sleep=sleep)


def test_the_batch_script_and_its_options(tmp_path, monkeypatch):
    config = tmp_path / "tiny.yaml"
    config.write_text(_config(tmp_path / "out"))
    options = SlurmOptions(
        nodes=2,
        gpus_per_node=4,
        partition="gpu",
        time="4:00:00",
        requeue=True,
        cpus_per_task=32,
        mem="200G",
        extra=["--qos=high"],
    )
    dry = launch_run(str(config), dry_run=True, slurm=options)
    script = dry.sbatch_script
    run_dir = tmp_path / "out" / "runs" / "tiny"
    for line in (
        "#SBATCH --nodes=2",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=4:00:00",
        "#SBATCH --requeue",
        "#SBATCH --qos=high",
        "#SBATCH --cpus-per-task=32",
        "#SBATCH --mem=200G",
        'port="${FGTUI_RDZV_PORT:-$(( 20000 + SLURM_JOB_ID % 20000 ))}"',
        f"#SBATCH --output={run_dir}/stdout.log",
        "#SBATCH --signal=B:TERM@120",
        "--nproc-per-node=4 --nnodes=2",
        f"-m fgtui.engine.train.entry {run_dir} $resume &",
        'if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then resume="--resume=if-any"; fi',
    ):
        assert line in script, line
    assert not run_dir.exists()  # a dry run writes nothing
    completed = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert completed.returncode == 0, completed.stderr  # the script parses
    with pytest.raises(FgError, match="gets its GPUs from the scheduler"):
        launch_run(str(config), devices="0", slurm=SlurmOptions())
    with pytest.raises(FgError, match="not an sbatch option"):
        SlurmOptions(extra=["qos=high"])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FgError, match="sbatch is not on PATH"):
        launch_run(str(config), slurm=SlurmOptions())
    assert not run_dir.exists()  # refused before anything was written


def test_request_files_are_taken_once_and_the_most_urgent_stays(tmp_path):
    assert control_protocol.take_request_file(tmp_path) is None
    control_protocol.write_request_file(tmp_path, "save")
    assert control_protocol.take_request_file(tmp_path) == "save"
    assert control_protocol.take_request_file(tmp_path) is None
    control_protocol.write_request_file(tmp_path, "save_stop")
    control_protocol.write_request_file(tmp_path, "save")  # must not cancel the stop
    assert control_protocol.take_request_file(tmp_path) == "save_stop"
    control_protocol.write_request_file(tmp_path, "save")
    control_protocol.write_request_file(tmp_path, "abort")
    assert control_protocol.take_request_file(tmp_path) == "abort"
    with pytest.raises(FgError, match="unknown control action"):
        control_protocol.write_request_file(tmp_path, "pause")


def test_a_starting_run_forgets_a_request_left_by_its_last_attempt(tmp_path):
    import torch

    from fgtui.engine.train.control_relay import ControlRelay
    from fgtui.engine.train.runtime import DistInfo

    control_protocol.write_request_file(tmp_path, "save_stop")  # the time limit's, before a requeue
    relay = ControlRelay(DistInfo(), torch.device("cpu"), rank=0, status=dict, run_dir=tmp_path)
    try:
        assert relay.take() is None
        control_protocol.write_request_file(tmp_path, "save")
        assert relay.take() == ("save", "request file")
    finally:
        relay.close()


def test_paths_with_spaces_and_percent_signs_reach_sbatch_intact():
    from fgtui.engine.launch.slurm import sbatch_script

    script = sbatch_script(run_dir="/data/my runs/50%/r", run_name="r", options=SlurmOptions(), env={}, cwd="/p")
    assert '#SBATCH --output="/data/my runs/50%%/r/stdout.log"' in script


def test_squeue_failing_is_not_the_job_ending(tmp_path, monkeypatch):
    from fgtui.engine.launch import slurm

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    squeue = bin_dir / "squeue"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    squeue.write_text("#!/bin/bash\necho 'slurm_load_jobs error: Socket timed out' >&2\nexit 1\n")
    squeue.chmod(0o755)
    assert slurm.job_state("7") == "UNKNOWN" and slurm.is_active("7")
    squeue.write_text("#!/bin/bash\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n")
    assert slurm.job_state("7") is None and not slurm.is_active("7")


def test_a_refused_submission_leaves_no_run_directory(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(
        "#!/bin/bash\necho 'sbatch: error: invalid partition specified: gpux' >&2\nexit 1\n"
    )
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FGTUI_RUNTIME_DIR", str(tmp_path / "rt"))
    config = tmp_path / "tiny.yaml"
    config.write_text(_config(tmp_path / "out"))
    with pytest.raises(FgError, match="invalid partition specified"):
        launch_run(str(config), slurm=SlurmOptions(partition="gpux"))
    assert not (tmp_path / "out" / "runs" / "tiny").exists()


def _wait_for_step(run_dir: Path, step: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists():
            steps = [json.loads(line).get("step", 0) for line in metrics.read_text().splitlines() if line.endswith("}")]
            if steps and max(steps) >= step:
                return
        time.sleep(0.2)
    raise AssertionError(f"no step {step}; stdout:\n{(run_dir / 'stdout.log').read_text()}")


@pytest.mark.slow
def test_a_slurm_job_is_saved_and_stopped_from_the_login_node(fake_slurm, tmp_path, capsys):
    """Submit, watch, save through the run directory, then the time limit's SIGTERM to the
    batch script: the run saves and stops cleanly, and the job ends."""
    from fgtui.engine.cli import main

    config = tmp_path / "tiny.yaml"
    config.write_text(_config(tmp_path / "out"))
    assert main(["-t", str(config), "train", "--slurm", "--gpus-per-node", "0", "--time", "0:10:00"]) == 0
    printed = capsys.readouterr().out
    assert "SLURM job 4242" in printed
    run_dir = tmp_path / "out" / "runs" / "tiny"
    job = json.loads((run_dir / "job.json").read_text())
    assert job["scheduler"] == "slurm" and job["slurm_job_id"] == "4242"
    assert (run_dir / "job.sbatch").is_file()
    assert "--parsable" in (fake_slurm / "sbatch.calls").read_text()

    _wait_for_step(run_dir, 3)
    assert main(["control", "list"]) == 0
    assert "slurm 4242" in capsys.readouterr().out
    assert main(["control", "status", job["job_id"]]) == 0
    status = capsys.readouterr().out
    assert "RUNNING" in status and "running" in status
    assert main(["control", "save", job["job_id"]]) == 0

    deadline = time.monotonic() + 60
    while not list((tmp_path / "out" / "checkpoints").glob("checkpoint-*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list((tmp_path / "out" / "checkpoints").glob("checkpoint-*")), "save was not taken"

    batch_pid = int((fake_slurm / "4242.pid").read_text())
    os.kill(batch_pid, signal.SIGTERM)  # what SLURM does 120 s before the time limit
    from fgtui.engine.commands.headless import follow

    assert follow(run_dir, job["job_id"]) == 0  # follows a SLURM job until squeue drops it
    assert not jobs.get_job(job["job_id"]).alive, (run_dir / "stdout.log").read_text()
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    requested = [(r["action"], r.get("source")) for r in records if r.get("event") == "stop_requested"]
    assert [action for action, _ in requested] == ["save", "save_stop"], requested
    assert records[-1]["event"] == "end" and records[-1]["status"] == "stopped"
    assert records[-1]["step"] < 400
    assert not (run_dir / control_protocol.REQUEST_FILE).exists()


@pytest.mark.slow
def test_abort_cancels_the_slurm_job(fake_slurm, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(_config(tmp_path / "out"))
    launched = launch_run(str(config), slurm=SlurmOptions(gpus_per_node=0))
    _wait_for_step(launched.run_dir, 1)
    assert control.send_control(launched.job_id, "abort") == {"ok": True}
    assert (fake_slurm / "scancel.calls").read_text().split() == ["4242"]
    deadline = time.monotonic() + 30
    while jobs.get_job(launched.job_id).alive and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not jobs.get_job(launched.job_id).alive
    with pytest.raises(FgError, match="is not running"):
        control.send_control(launched.job_id, "save")


@pytest.mark.slow
def test_a_requeued_job_resumes_from_its_latest_checkpoint(fake_slurm, tmp_path):
    """Preempted at the time limit (saved and stopped), then run again by SLURM with
    SLURM_RESTART_COUNT=1: it resumes where it saved and finishes."""
    config = tmp_path / "tiny.yaml"
    config.write_text(_config(tmp_path / "out", max_steps=40, sleep=0.02))
    launched = launch_run(str(config), slurm=SlurmOptions(gpus_per_node=0, requeue=True))
    run_dir = launched.run_dir
    _wait_for_step(run_dir, 3)
    os.kill(int((fake_slurm / "4242.pid").read_text()), signal.SIGTERM)
    deadline = time.monotonic() + 90
    while jobs.get_job(launched.job_id).alive and time.monotonic() < deadline:
        time.sleep(0.2)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    stopped_at = records[-1]["step"]
    assert records[-1]["status"] == "stopped" and stopped_at < 40
    env = {
        **os.environ,
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NODELIST": "node1",
        "SLURM_NNODES": "1",
        "SLURM_RESTART_COUNT": "1",
    }
    with open(run_dir / "stdout.log", "ab") as log:
        done = subprocess.run(
            ["bash", str(run_dir / "job.sbatch")], env=env, stdout=log, stderr=subprocess.STDOUT, timeout=180
        )
    assert done.returncode == 0, (run_dir / "stdout.log").read_text()[-3000:]
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    resumed = [r for r in records if r.get("event") == "resumed"]
    assert len(resumed) == 1 and resumed[0]["path"].endswith(f"checkpoint-{stopped_at}")
    assert records[-1]["status"] == "completed" and records[-1]["step"] == 40
