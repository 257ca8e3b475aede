"""Run discovery and run state from events, job.json and the pid."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from fgtui.engine.launch.liveness import process_alive as pid_alive
from fgtui.engine.runs.rundir import elapsed_seconds, eta_seconds, find_runs, inspect_run, state_from
from fgtui.engine.runs.synthetic import write_run


def _job(pid: int) -> dict:
    return {
        "job_id": "j1",
        "pid": pid,
        "pgid": pid,
        "socket": "/tmp/x.sock",
        "host": socket.gethostname(),
        "started": 1.0,
    }


def test_find_runs_under_a_project(tmp_path):
    a = write_run(tmp_path / "output_models" / "m1" / "runs" / "a", 5)
    b = write_run(tmp_path / "output_models" / "m2" / "runs" / "b", 5)
    (tmp_path / "output_models" / "m1" / "runs" / "empty").mkdir()
    os.utime(a / "metrics.jsonl", (1, 1))
    assert find_runs(tmp_path) == [b, a]
    assert find_runs(a) == [a]


def test_states_from_end_events(tmp_path):
    for status in ("completed", "stopped", "aborted", "failed"):
        run = write_run(tmp_path / status, 5, end_status=status)
        assert inspect_run(run).state == status


def test_running_starting_and_crashed(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        running = write_run(tmp_path / "running", 5, end_status=None, job=_job(live.pid))
        info = inspect_run(running)
        assert info.state == "running" and info.step == 5 and info.max_steps == 5
        assert state_from([], _job(live.pid)) == "starting"
    finally:
        live.kill()
        live.wait()
    assert inspect_run(running).state == "crashed"


def test_zombie_counts_as_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child_pid = child.pid
    # Wait for exit without reaping: poll /proc until the state is Z.
    import time

    for _ in range(200):
        stat = open(f"/proc/{child_pid}/stat").read()
        if stat[stat.rfind(")") + 2] == "Z":
            break
        time.sleep(0.01)
    assert not pid_alive(child_pid)
    child.wait()


def test_unknown_without_witnesses_or_on_another_host(tmp_path):
    run = write_run(tmp_path / "r", 5, end_status=None)
    assert inspect_run(run).state == "unknown"
    job = dict(_job(os.getpid()), host="some-other-host")
    (run / "job.json").write_text(json.dumps(job))
    assert inspect_run(run).state == "unknown"


def test_restart_after_end_is_running_again(tmp_path):
    events = [{"event": "start"}, {"event": "end", "status": "stopped"}, {"event": "start"}]
    assert state_from(events, _job(os.getpid())) == "running"


def test_half_written_job_json_is_ignored(tmp_path):
    run = write_run(tmp_path / "r", 5, end_status=None)
    (run / "job.json").write_text('{"pid": 12')
    assert inspect_run(run).job is None


def test_big_log_summary_reads_both_ends(tmp_path):
    run = write_run(tmp_path / "r", 20000, end_status="completed")
    info = inspect_run(run)
    assert info.start["max_steps"] == 20000 and info.step == 20000 and info.state == "completed"
    assert elapsed_seconds(info) == info.end["time"] - info.start["time"]


def test_eta():
    assert eta_seconds(90, 100, [0.5] * 30) == 5.0
    assert eta_seconds(100, 100, [0.5]) is None
    assert eta_seconds(5, None, [0.5]) is None
    assert eta_seconds(5, 10, []) is None
