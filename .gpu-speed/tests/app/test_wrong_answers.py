"""Issue 17's wrong answers in the workbench: event labels and the compare table's step count."""

from __future__ import annotations

import json

from textual.widgets import DataTable

from fgtui.app.app import Workbench
from fgtui.app.screens.compare import CompareScreen
from fgtui.app.widgets.events import describe_event
from fgtui.engine.runs.synthetic import run_records

from apphelpers import NOW, run_async, wait_for


def test_a_plain_save_is_labelled_a_save_not_a_stop():
    save = describe_event(
        {"type": "event", "event": "stop_requested", "step": 40, "action": "save", "source": "tui"}
    ).plain
    assert "stop" not in save and "save_requested" in save and "from tui" in save
    stop = describe_event(
        {"type": "event", "event": "stop_requested", "step": 40, "action": "save_stop", "source": "cli"}
    ).plain
    assert "stop_requested" in stop and "save and stop" in stop
    abort = describe_event(
        {"type": "event", "event": "stop_requested", "step": 4, "action": "abort", "source": "cli"}
    ).plain
    assert "abort_requested" in abort


def _sparse_run(run_dir, steps: int, every: int):
    """A run that logged a train record every `every` steps, as logging_steps does."""
    run_dir.mkdir(parents=True)
    with open(run_dir / "metrics.jsonl", "w") as handle:
        for record in run_records(steps, max_steps=100):
            if record["type"] != "train" or record["step"] % every == 0 or record["step"] == steps:
                handle.write(json.dumps(record) + "\n")
    return run_dir


def test_compare_steps_column_shows_steps_not_logged_points(tmp_path):
    a = _sparse_run(tmp_path / "runs" / "a", 97, 5)  # 20 logged points, 97 steps
    b = _sparse_run(tmp_path / "runs" / "b", 40, 10)

    async def scenario():
        app = Workbench(tmp_path, now=NOW, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            app.compare_runs([a, b])
            await pilot.pause()
            table = app.screen.query_one(DataTable)
            assert isinstance(app.screen, CompareScreen)
            await wait_for(pilot, lambda: table.row_count == 2, "the compare table")
            steps = [str(table.get_row_at(i)[2]) for i in range(2)]
            assert steps == ["97/100", "40/100"]

    run_async(scenario())


def test_run_output_labels_a_plain_save_as_a_save(capsys):
    from fgtui.engine.commands.headless import _handle, _Progress

    _handle(
        {"type": "event", "event": "stop_requested", "step": 12, "action": "save", "source": "tui"},
        _Progress(False),
        {},
    )
    out = capsys.readouterr().out
    assert out.strip() == "step 12  save requested from tui" and "stop" not in out
