"""Run controls go through the job's control socket (engine.launch.control)."""

from __future__ import annotations

import os
import socket
import tempfile
import time

from fgtui.app.app import Workbench
from fgtui.app.screens.dialogs import ConfirmScreen
from fgtui.engine.launch.control_protocol import ControlServer
from fgtui.engine.runs.synthetic import write_run

from apphelpers import NOW, run_async, wait_for


def test_save_stop_and_confirmed_abort_reach_the_job(tmp_path):
    received: list[tuple[str, str]] = []
    # AF_UNIX paths are short; pytest's tmp_path may be too long for one.
    sock_dir = tempfile.mkdtemp(prefix="fgc")
    server = ControlServer(
        os.path.join(sock_dir, "c.sock"),
        on_action=lambda action, source: received.append((action, source)),
        status=lambda: {"step": 1},
    )
    server.start()
    job = {
        "job_id": "j",
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "socket": str(server.path),
        "host": socket.gethostname(),
        "started": time.time(),
    }
    run = write_run(tmp_path / "runs" / "live", 20, end_status=None, job=job)

    async def scenario():
        app = Workbench(run, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.tail is not None, "the run")
            assert screen.info.state == "running"
            await pilot.press("s")
            await wait_for(pilot, lambda: len(received) == 1, "save to arrive")
            await pilot.press("X")
            await wait_for(pilot, lambda: len(received) == 2, "save_stop to arrive")
            await pilot.press("ctrl+k")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            await pilot.press("escape")  # declined: nothing sent
            await pilot.pause(0.2)
            assert len(received) == 2
            await pilot.press("ctrl+k")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            await pilot.press("y")
            await wait_for(pilot, lambda: len(received) == 3, "abort to arrive")
            await wait_for(pilot, lambda: any("abort requested" in n.message for n in app._notifications), "the notice")

    try:
        run_async(scenario())
    finally:
        server.stop()
        os.rmdir(sock_dir)
    assert [action for action, _source in received] == ["save", "save_stop", "abort"]
