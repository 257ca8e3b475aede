"""Issue 17 item 1: the dataset view at 80x24."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Static, Switch

from fgtui.app.app import Workbench
from fgtui.app.dataset_probe import _column_problem
from fgtui.app.screens.dataset import DatasetScreen, resolve_tokenizer

from apphelpers import NOW, run_async, wait_for

TINY = Path(__file__).resolve().parents[2] / "examples" / "tutorials" / "tiny_llama"


def test_tokenizer_paths_resolve_from_where_fgtui_started(tmp_path):
    (tmp_path / "tok").mkdir()
    assert resolve_tokenizer("tok", tmp_path) == str((tmp_path / "tok").resolve())
    assert resolve_tokenizer("config:tokenizer", tmp_path) == "config:tokenizer"
    assert resolve_tokenizer("org/model", tmp_path) == "org/model"  # a Hub name
    with pytest.raises(ValueError, match=f"no such directory: ./nope \\(relative paths start from {tmp_path}\\)"):
        resolve_tokenizer("./nope", tmp_path)


def test_the_probe_speaks_of_the_screens_boxes_not_cli_flags():
    # A packed split asked for its text is measured as tokenized, not refused.
    assert _column_problem(["input_ids", "document_starts"], "text", False) == (None, True)
    problem, _ = _column_problem(["story"], "text", False)
    assert '"text feature"' in problem and "--" not in problem
    problem, _ = _column_problem(["text"], "text", True)
    assert '"tokenized" box' in problem and "--" not in problem


def _project_with_slow_dataset(workspace: Path) -> Path:
    project = workspace / "tiny"
    (project / "templates" / "configs" / "slow.yaml").write_text(
        'tokenizer: !var [ "tokenizer", "toks/bpe" ]\ntrain_dataset: !singleton:time:sleep [ 60 ]\n'
    )
    return project


def test_form_layout_prefill_tab_order_and_cancel_at_80x24(workspace, tmp_path):
    project = _project_with_slow_dataset(workspace)

    async def scenario():
        app = Workbench(workspace, now=NOW, poll=False)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = DatasetScreen(project, "slow.yaml", started_in=tmp_path)
            app.push_screen(screen)
            await pilot.pause()
            tokenizer = screen.query_one("#ds-tokenizer", Input)
            await wait_for(pilot, lambda: tokenizer.value == "toks/bpe", "the config's tokenizer")
            # Usable widths at 80 columns.
            for field in ("#ds-target", "#ds-tokenizer", "#ds-feature"):
                assert screen.query_one(field, Input).size.width >= 20, field
            # Column by column: target, tokenizer, then text feature, tokenized, Measure.
            order = ["#ds-target", "#ds-tokenizer", "#ds-feature", "#ds-tokenized", "#ds-measure"]
            assert app.focused is screen.query_one(order[0])
            for widget_id in order[1:]:
                await pilot.press("tab")
                assert app.focused is screen.query_one(widget_id), widget_id
            # A relative path that names nothing is said at once, from where fgtui started.
            tokenizer.value = "./missing"
            await pilot.press("ctrl+r")
            stats = screen.query_one("#dataset-stats", Static)
            assert "no such directory: ./missing" in str(stats.render()) and screen.process is None
            # Long work: progress with the time so far, then Escape cancels it.
            tokenizer.value = ""
            await pilot.press("ctrl+r")
            assert screen.process is not None
            assert str(screen.query_one("#ds-measure", Button).label) == "Cancel"
            await wait_for(pilot, lambda: "building train_dataset" in str(stats.render()), "the stage line")
            assert "building the dataset…" in str(stats.render()) and "Escape cancels" in str(stats.render())
            child = screen.process
            started = time.monotonic()
            await pilot.press("escape")
            await wait_for(pilot, lambda: screen.process is None, "the cancel")
            assert child.poll() is not None and time.monotonic() - started < 10
            assert "cancelled" in str(stats.render())
            assert app.screen is screen  # Escape cancelled; it did not leave
            await pilot.press("escape")
            assert app.screen is not screen

    run_async(scenario())


def test_a_training_configs_tokenizer_is_prefilled():
    if not TINY.is_dir():
        pytest.skip("examples/tutorials/tiny_llama is not in the tree")

    async def scenario():
        app = Workbench(TINY, now=NOW, poll=False)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = DatasetScreen(TINY, "train_tiny_llama.yaml")
            app.push_screen(screen)
            await pilot.pause()
            field = screen.query_one("#ds-tokenizer", Input)
            await wait_for(pilot, lambda: field.value == "config:tokenizer", "the config's tokenizer")
            assert screen.query_one("#ds-tokenized", Switch).value is False

    run_async(scenario())


def test_engine_hints_are_told_in_the_screens_controls():
    from fgtui.app.dataset_probe import in_screen_words

    text = in_screen_words("block tokenizing needs a tokenizer — pass -T TOKENIZER or set tokenizer in the config")
    assert "-T" not in text and 'fill in "tokenizer"' in text
    text = in_screen_words("the dataset has no column 'text' — pick the text column with --feature")
    assert "--" not in text and '"text feature"' in text


def test_examples_are_shown_from_the_first_one(tmp_path):
    """Examples longer than the screen: the view starts at example 0, not at the last one's tail."""
    from textual.widgets import RichLog

    from fgtui.app.screens.dataset import ProbeDone

    story = "\n".join(f"line {i} of a long story" for i in range(60))
    stats = {
        **dict(count=3, min=60, max=60, mean=60.0, median=60.0, std=0.0, p90=60.0, p99=60.0),
        **dict(fill_ratio=1.0, max_length=60, bin_edges=[59.5, 60.5], bin_counts=[3]),
    }

    async def scenario():
        app = Workbench(tmp_path, now=NOW, poll=False)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = DatasetScreen(tmp_path, "nothing.yaml")
            app.push_screen(screen)
            await pilot.pause()
            screen.post_message(ProbeDone({"stats": stats, "examples": [story] * 3, "columns": ["text"]}))
            log = screen.query_one("#dataset-examples", RichLog)
            await wait_for(pilot, lambda: len(log.lines) > 150, "the examples")
            await pilot.pause(0.2)
            assert log.scroll_y == 0 and log.max_scroll_y > 0
            assert "example 0" in log.lines[0].text

    run_async(scenario())
