"""RunTail: records, stdout lines (\\r progress included), state, deletion."""

from __future__ import annotations

import json
import os
import shutil
import socket

from fgtui.engine.runs.follow import RunTail, TextTail
from fgtui.engine.runs.synthetic import run_records, write_run


def test_tail_gathers_records_lines_and_state(tmp_path):
    job = {
        "job_id": "j",
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "socket": "",
        "host": socket.gethostname(),
        "started": 1.0,
    }
    run = write_run(tmp_path / "runs" / "r", 5, end_status=None, job=job, stdout="a\nb")
    tail = RunTail(run)
    batch = tail.poll()
    assert len([r for r in batch.records if r["type"] == "train"]) == 5
    assert batch.log_lines == ["a"]  # "b" has no newline yet
    assert batch.info.state == "running" and batch.info.step == 5
    with open(run / "stdout.log", "a") as handle:
        handle.write("\n 10%\r 20%\r 30%\n")
    with open(run / "metrics.jsonl", "a") as handle:
        handle.write(
            json.dumps({"type": "event", "event": "end", "time": 9.0, "step": 5, "status": "completed", "exit_code": 0})
            + "\n"
        )
    batch = tail.poll()
    assert batch.log_lines == ["b", " 10%", " 20%", " 30%"]
    assert batch.info.state == "completed"
    shutil.rmtree(run)
    assert tail.poll().deleted


def test_text_tail_starts_near_the_end_of_a_big_log(tmp_path):
    path = tmp_path / "stdout.log"
    path.write_text("".join(f"line {i}\n" for i in range(100_000)))
    lines = TextTail(path, backlog=1000).poll()
    assert lines[-1] == "line 99999" and len(lines) < 200


def test_tail_notices_a_rewritten_log(tmp_path):
    run = write_run(tmp_path / "runs" / "r", 50)
    tail = RunTail(run)
    tail.poll()
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in list(run_records(3, end_status=None))))
    batch = tail.poll()
    assert batch.reset
    assert batch.info.state == "unknown" and batch.info.step == 3
