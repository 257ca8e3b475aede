"""Job control: the registry, the owner-only socket, and a training process driven from outside."""

from __future__ import annotations

import json
import os
import socket
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fgtui.engine.errors import FgError
from fgtui.engine.launch import control, control_protocol, jobs

TINY = str(Path(__file__).parent.parent / "train" / "tiny.py")


@pytest.fixture
def runtime(monkeypatch):
    # Short path: AF_UNIX socket paths are limited to ~107 bytes.
    root = tempfile.mkdtemp(prefix="fg")
    monkeypatch.setenv("FGTUI_RUNTIME_DIR", os.path.join(root, "rt"))
    yield Path(root) / "rt"
    shutil.rmtree(root, ignore_errors=True)


def test_runtime_dir_is_private_and_refused_when_open(runtime, monkeypatch):
    path = jobs.runtime_dir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    path.chmod(0o755)
    with pytest.raises(FgError, match="readable by others"):
        jobs.runtime_dir()


def test_server_answers_status_and_queues_actions(runtime):
    queued = []
    server = control_protocol.ControlServer(
        jobs.socket_path("j1"), on_action=lambda a, s: queued.append((a, s)), status=lambda: {"step": 7}
    )
    server.start()
    try:
        assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
        assert control.request(server.path, "status") == {"ok": True, "status": {"step": 7}}
        assert control.request(server.path, "save_stop") == {"ok": True, "queued": "save_stop"}
        assert control.request(server.path, "explode")["ok"] is False
        assert queued == [("save_stop", "control socket")]
    finally:
        server.stop()
    assert not server.path.exists()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as a second user")
def test_a_second_user_cannot_open_the_socket(runtime):
    server = control_protocol.ControlServer(jobs.socket_path("j2"), on_action=lambda a, s: None, status=dict)
    server.start()
    try:
        probe = (
            "import os, socket, sys\n"
            "os.setgid(65534); os.setuid(65534)\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    sys.exit(13)\n"
            "sys.exit(0)\n"
        )
        result = subprocess.run([sys.executable, "-c", probe, str(server.path)])
        assert result.returncode == 13
        # Even with the directory and socket opened up, the uid check refuses the peer.
        os.chmod(runtime.parent, 0o755)
        os.chmod(runtime, 0o777)
        os.chmod(server.path, 0o777)
        probe_reply = probe.replace("sys.exit(0)\n", "sys.exit(0 if b'permission denied' in s.recv(100) else 1)\n")
        assert subprocess.run([sys.executable, "-c", probe_reply, str(server.path)]).returncode == 0
    finally:
        server.stop()


def test_registry_lists_and_cleans_up(runtime):
    record = jobs.JobRecord(
        job_id="20260101-000000-abcd",
        pid=os.getpid(),
        pgid=os.getpgid(0),
        run_dir="/x",
        socket=str(jobs.socket_path("x")),
        host=socket.gethostname(),
        started=1.0,
    )
    dead = jobs.JobRecord(**{**record.__dict__, "job_id": "20260101-000000-dead", "pid": 2**22 + 17})
    jobs.register_job(record)
    jobs.register_job(dead)
    assert [j.job_id for j in jobs.list_jobs(include_dead=False)] == [record.job_id]
    assert jobs.get_job("20260101-000000-ab").job_id == record.job_id
    with pytest.raises(FgError, match="ambiguous"):
        jobs.get_job("2026")
    assert jobs.cleanup_jobs() == [dead.job_id]
    assert [j.job_id for j in jobs.list_jobs()] == [record.job_id]


@pytest.mark.slow
def test_a_training_process_obeys_control_from_another_process(runtime, tmp_path):
    job_id = jobs.new_job_id()
    sock = jobs.socket_path(job_id)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FGTUI_CONTROL_SOCKET": str(sock), "FGTUI_JOB_ID": job_id}
    process = subprocess.Popen(
        [sys.executable, TINY, str(tmp_path), "r", "max_steps=500", "slow=0.05", "save_steps=1000"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    jobs.register_job(
        jobs.JobRecord(
            job_id=job_id,
            pid=process.pid,
            pgid=process.pid,
            run_dir=str(tmp_path),
            socket=str(sock),
            host=socket.gethostname(),
            started=time.time(),
        )
    )
    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline:
        try:
            status = control.send_control(job_id, "status")
            if status["status"].get("step", 0) >= 2:
                break
        except FgError:
            pass
        time.sleep(0.1)
    assert status and status["ok"] and status["status"]["job_id"] == job_id
    assert control.send_control(job_id, "save")["queued"] == "save"
    assert control.send_control(job_id, "save-stop")["queued"] == "save_stop"
    assert process.wait(timeout=60) == 0, process.stdout.read()
    records = [json.loads(line) for line in open(tmp_path / "runs" / "r" / "metrics.jsonl")]
    requested = [r["action"] for r in records if r.get("event") == "stop_requested"]
    assert requested in (["save", "save_stop"], ["save_stop"])
    assert records[-1]["status"] == "stopped"
    assert not sock.exists()
