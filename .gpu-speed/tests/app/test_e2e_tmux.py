"""End to end in a real terminal (tmux): open the examples, preview a config,
watch a live run's loss plot move, quit, re-open and re-attach, exit 0.

The run here is written by a background thread in the trainer's log format;
launching the tiny example through the Launch screen and using save/stop on
it needs the trainer and `examples/tutorials/tiny_llama` (see the report).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fgtui.engine.runs.synthetic import train_record, write_run

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Tmux:
    """One detached tmux session on a private server (-L), so other tmux users
    on the machine neither see it nor change its size."""

    def __init__(self, name: str, command: str, cwd: Path, size=(120, 40)) -> None:
        self.name = name
        self.server = ["tmux", "-L", name]
        env = ["-e", "TERM=xterm-256color", "-e", "LANG=C.UTF-8", "-e", "TEXTUAL_ANIMATIONS=none"]
        width, height = str(size[0]), str(size[1])
        # COLUMNS/LINES (set by some pytest plugins) would override the pane size in the app.
        clean_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        # window-size manual: with no client attached, tmux would otherwise fall
        # back to its default 80x24 at the first resize.
        subprocess.run(
            [
                *self.server,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                width,
                "-y",
                height,
                *env,
                "-c",
                str(cwd),
                f"{command}; echo EXIT=$?; sleep 30",
                ";",
                "set-option",
                "-g",
                "window-size",
                "manual",
                ";",
                "resize-window",
                "-t",
                name,
                "-x",
                width,
                "-y",
                height,
            ],
            check=True,
            env=clean_env,
        )

    def screen(self) -> str:
        return subprocess.run(
            [*self.server, "capture-pane", "-t", self.name, "-p"], capture_output=True, text=True
        ).stdout

    def history(self) -> str:
        """The pane with its scroll-back (a traceback can be longer than the screen)."""
        return subprocess.run(
            [*self.server, "capture-pane", "-t", self.name, "-p", "-S", "-500"], capture_output=True, text=True
        ).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.server, "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            if "EXIT=" in screen:  # the app ended: say so now, with what it printed
                raise AssertionError(f"the app exited while waiting for {text!r}:\n{self.history()}")
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([*self.server, "kill-server"], capture_output=True)


def _status_step(screen: str) -> int:
    for line in screen.splitlines():
        if " step " in line and "tok/s" in line:
            return int(line.split(" step ")[1].split("/")[0].split()[0])
    raise AssertionError("no status line:\n" + screen)


@pytest.mark.slow
def test_browse_preview_watch_quit_reattach(tmp_path):
    fgtui = [sys.executable, "-m", "fgtui.entry"]
    run_dir = write_run(
        tmp_path / "out" / "runs" / "live",
        100,
        end_status=None,
        job={
            "job_id": "e2e",
            "pid": os.getpid(),
            "pgid": os.getpgid(0),
            "socket": "",
            "host": os.uname().nodename,
            "started": time.time(),
        },
    )
    stop = threading.Event()

    def trainer() -> None:
        rng, step = random.Random(0), 100
        while not stop.is_set():
            step += 5
            with open(run_dir / "metrics.jsonl", "a") as handle:
                for s in range(step - 4, step + 1):
                    handle.write(json.dumps(train_record(s, rng, max_steps=100_000)) + "\n")
            time.sleep(0.1)

    writer = threading.Thread(target=trainer, daemon=True)
    writer.start()
    session = Tmux(f"fgtui-e2e-{os.getpid()}", " ".join(fgtui + ["examples/template_project"]), ROOT)
    try:
        session.wait_for("Template Project")
        session.wait_for("default.yaml *")
        session.wait_for("search path")  # the cursor has settled on the project
        session.keys("Down")
        session.wait_for("dynamic args", timeout=30)
        session.keys("p")
        session.wait_for("Preprocessed")
        session.wait_for("greeting: hello")
        session.keys("Escape")
        session.wait_for("Template Project")
        session.keys("C-q")
        session.wait_for("EXIT=0")
        session.close()
        # Open the live run directly, watch it move, quit; the run goes on.
        session = Tmux(f"fgtui-e2e2-{os.getpid()}", " ".join(fgtui + [str(run_dir)]), ROOT)
        first = _status_step(session.wait_for("RUNNING"))
        time.sleep(2.0)
        second = _status_step(session.screen())
        assert second > first, "the status line did not move"
        assert "loss" in session.screen()
        session.keys("C-q")
        session.wait_for("EXIT=0")
        session.close()
        # Re-open: it re-attaches from the files and sees the steps written meanwhile.
        session = Tmux(f"fgtui-e2e3-{os.getpid()}", " ".join(fgtui + [str(run_dir)]), ROOT)
        third = _status_step(session.wait_for("RUNNING"))
        assert third > second
        session.keys("C-q")
        session.wait_for("EXIT=0")
    finally:
        stop.set()
        writer.join()
        session.close()


def _job_pgid(run_dir: Path) -> int | None:
    try:
        return json.loads((run_dir / "job.json").read_text())["pgid"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.mark.slow
def test_launch_tiny_example_save_stop_reattach(tmp_path):
    """The whole loop on the real trainer: launch from the form, watch, save, stop, quit, re-open."""
    import signal

    examples = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", examples, ignore=shutil.ignore_patterns("output_models", "__pycache__"))
    project = examples / "tutorials" / "tiny_llama"
    if not project.is_dir():
        pytest.skip("examples/tutorials/tiny_llama is not in the tree")
    fgtui = f"{sys.executable} -m fgtui.entry"
    session = Tmux(f"fgtui-e2e-launch-{os.getpid()}", f"{fgtui} {project}", ROOT)
    run_dir = None
    try:
        session.wait_for("train_tiny_llama.yaml *")
        session.wait_for("search path", timeout=60)  # the cursor has settled on the project
        session.keys("Down")
        session.wait_for("class: type.training_script", timeout=60)
        session.keys("l")
        session.wait_for("Dry run")
        session.wait_for("options", timeout=60)
        session.keys("F5")
        session.wait_for("would run", timeout=60)
        assert "torch.distributed.run" in session.screen() or "torchrun" in session.screen()
        session.keys("F6")
        screen = session.wait_for("RUNNING", timeout=180)
        runs = sorted((project / "output_models").glob("*/runs/*"))
        assert runs, "no run directory was created"
        run_dir = runs[-1]
        first = _status_step(screen)
        deadline = time.time() + 240
        while _status_step(session.screen()) <= first and time.time() < deadline:
            time.sleep(1.0)
        assert _status_step(session.screen()) > first, "the run did not move"
        session.keys("s")
        session.wait_for("save requested", timeout=30)
        session.keys("x")
        session.wait_for("STOPPED", timeout=240)
        session.keys("C-q")
        session.wait_for("EXIT=0")
        session.close()
        session = Tmux(f"fgtui-e2e-reopen-{os.getpid()}", f"{fgtui} {run_dir}", ROOT)
        session.wait_for("STOPPED", timeout=60)
        session.keys("C-q")
        session.wait_for("EXIT=0")
        assert any((run_dir.parent.parent / "checkpoints").glob("checkpoint-*"))
    finally:
        session.close()
        pgid = _job_pgid(run_dir) if run_dir else None
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)  # only if the stop above failed
            except ProcessLookupError:
                pass
