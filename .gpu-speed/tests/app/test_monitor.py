"""The run monitor: loading, following, controls refused when not running, deletion."""

from __future__ import annotations

import json
import shutil

import numpy as np

from fgtui.app.app import Workbench
from fgtui.app.screens.monitor import RunMonitor
from fgtui.app.widgets.plot import MetricPlot
from fgtui.engine.runs.synthetic import run_records, write_run

from apphelpers import NOW, run_async, wait_for


async def _wait_loaded(pilot, screen):
    await wait_for(pilot, lambda: screen.tail is not None and not screen._polling, "the run to load")


def test_monitor_shows_a_finished_run(finished_run):
    async def scenario():
        app = Workbench(finished_run, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            assert isinstance(screen, RunMonitor)
            await _wait_loaded(pilot, screen)
            await pilot.pause()
            assert len(screen.series) == 400
            assert screen.info.state == "completed"
            status = str(screen.query_one("#run-status").render())
            assert "COMPLETED" in status and "step 400/400" in status
            loss = screen.query_one("#plot-loss", MetricPlot)
            assert [s.label for s in loss.series] == ["loss", "smoothed 0.9", "eval"]
            # The spike at step 200 reaches the top of the y axis.
            assert "42" in loss.render_line(0).text
            screen.query_one("#run-tabs").active = "tab-events"
            await pilot.pause()
            events = screen.query_one("#events")
            # start, 4 checkpoints, end
            assert len(events.lines) >= 6
            assert "checkpoint-100" in "\n".join(line.text for line in events.lines)
            # Stop is refused for a finished run, with a message, not an exception.
            await pilot.press("x")
            await pilot.pause()
            assert any("not running" in n.message for n in app._notifications)

    run_async(scenario())


def test_monitor_follows_new_records_and_deletion(tmp_path):
    run = write_run(tmp_path / "runs" / "live", 50, end_status=None)

    async def scenario():
        app = Workbench(run, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            await _wait_loaded(pilot, screen)
            assert len(screen.series) == 50
            more = [r for r in run_records(80, end_status=None) if r["type"] == "train"][50:]
            with open(run / "metrics.jsonl", "a") as handle:
                for record in more:
                    handle.write(json.dumps(record) + "\n")
                handle.write("{broken line\n")
            with open(run / "stdout.log", "a") as handle:
                handle.write("hello from rank 0\n")
            screen.poll_once()
            await _wait_loaded(pilot, screen)
            assert len(screen.series) == 80
            assert screen.bad_lines == 1
            assert "1 bad log lines" in str(screen.query_one("#run-status").render())
            assert "hello from rank 0" in "\n".join(screen.query_one("#stdout").lines)
            shutil.rmtree(run)
            screen.poll_once()
            await _wait_loaded(pilot, screen)
            assert screen.state_override == "deleted"
            assert len(screen.series) == 80  # what was read stays on screen

    run_async(scenario())


def test_plot_modes_and_smoothing_keys(finished_run):
    async def scenario():
        app = Workbench(finished_run, now=NOW, poll=False)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await _wait_loaded(pilot, screen)
            app.plot_mode = "braille"
            await pilot.press("m")
            assert app.plot_mode == "block"
            plot = screen.query_one("#plot-loss", MetricPlot)
            assert plot.mode == "block"
            await pilot.pause()
            text = "".join(plot.render_line(y).text for y in range(plot.content_size.height))
            assert any(ch in text for ch in "▀▄█") and not any(0x2800 < ord(ch) <= 0x28FF for ch in text)
            await pilot.press("m")
            await pilot.pause()
            text = "".join(plot.render_line(y).text for y in range(plot.content_size.height))
            assert text.isascii()
            before = screen.series.smoothing
            await pilot.press("right_square_bracket")
            assert screen.series.smoothing > before
            smoothed = screen.series.metric("loss_smoothed")[1]
            assert np.isfinite(smoothed).all()
            await pilot.press("y")
            assert plot.log_y

    run_async(scenario())


def test_tiny_terminal_does_not_crash(finished_run):
    async def scenario():
        app = Workbench(finished_run, now=NOW, poll=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await _wait_loaded(pilot, app.screen)
            await pilot.resize_terminal(20, 8)
            await pilot.pause()
            await pilot.resize_terminal(5, 3)
            await pilot.pause()
            await pilot.resize_terminal(100, 30)
            await pilot.pause()
            assert isinstance(app.screen, RunMonitor)

    run_async(scenario())


def test_run_that_has_not_written_yet_then_starts(tmp_path):
    """Right after launch there is only job.json; the monitor waits for the log."""
    import os
    import socket

    run = tmp_path / "runs" / "fresh"
    run.mkdir(parents=True)
    (run / "job.json").write_text(
        json.dumps(
            {
                "job_id": "j",
                "pid": os.getpid(),
                "pgid": os.getpgid(0),
                "socket": "",
                "host": socket.gethostname(),
                "started": 1.0,
            }
        )
    )

    async def scenario():
        app = Workbench(run, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            await _wait_loaded(pilot, screen)
            assert screen.info.state == "starting"
            plot = screen.query_one("#plot-loss", MetricPlot)
            assert "no data yet" in "".join(plot.render_line(y).text for y in range(plot.content_size.height))
            with open(run / "metrics.jsonl", "w") as handle:
                for record in run_records(10, end_status=None, max_steps=100):
                    handle.write(json.dumps(record) + "\n")
            screen.poll_once()
            await _wait_loaded(pilot, screen)
            assert screen.info.state == "running" and len(screen.series) == 10
            assert "ETA" in str(screen.query_one("#run-status").render())

    run_async(scenario())


def test_an_empty_memory_plot_says_why_on_a_cpu_run(tmp_path):
    run = write_run(tmp_path / "runs" / "cpu", 30)
    metrics = run / "metrics.jsonl"
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    for record in records:
        if record["type"] == "train":
            record["peak_mem_gib"] = None  # what a CPU run logs
    metrics.write_text("".join(json.dumps(r) + "\n" for r in records))

    async def scenario():
        app = Workbench(run, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.tail is not None, "the run")
            plot = screen.query_one("#plot-peak_mem_gib", MetricPlot)
            assert plot.empty_message == "not measured on CPU"
            await pilot.pause(0.1)
            assert "not measured on CPU" in "".join(
                strip.text for strip in plot._draw(plot.size.width, plot.size.height)
            )

    run_async(scenario())
