"""Issue 17 item 3: argument mistakes get one clear line; an empty tree says what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Static

from fgtui.app.app import Workbench
from fgtui.entry import main as entry_main

from apphelpers import NOW, run_async, wait_for

TINY = Path(__file__).resolve().parents[2] / "examples" / "tutorials" / "tiny_llama"


def test_a_mistyped_directory_is_no_such_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").mkdir()
    assert entry_main(["examples/tutorial"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "fgtui: error: no such directory: examples/tutorial (examples exists)"
    assert entry_main(["trian"]) == 2
    err = capsys.readouterr().err
    assert "'trian' is neither a command nor a directory" in err and "train" in err
    assert "usage" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--max-steps", "-1", "--dry-run"],
        ["--run", ".", "--max-steps", "-1"],
        ["--run", ".", "--max-steps", "0"],
    ],
)
def test_max_steps_below_one_is_refused_in_one_line(argv):
    if not TINY.is_dir():
        pytest.skip("examples/tutorials/tiny_llama is not in the tree")
    done = subprocess.run(
        [sys.executable, "-m", "fgtui.engine.cli", *argv],
        cwd=TINY,
        capture_output=True,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--max-steps" in lines[0] and "below the minimum 1" in lines[0], done.stderr
    assert not (TINY / "output_models").exists() or done.stdout == ""


def test_run_takes_the_configs_options(tmp_path):
    from fgtui.engine.commands.headless import as_train_argv

    assert as_train_argv(["--run", str(tmp_path), "--max-steps", "3"]) == [
        "train",
        "--follow",
        "-p",
        str(tmp_path),
        "--max-steps",
        "3",
    ]
    assert as_train_argv(["-p", "proj", "--run", "smoke.yaml", "--lr", "1"]) == [
        "-p",
        "proj",
        "train",
        "--follow",
        "-t",
        "smoke.yaml",
        "--lr",
        "1",
    ]
    assert as_train_argv(["--run", "cfg.yaml"]) is None  # nothing to rewrite


def test_an_empty_tree_says_where_the_examples_are(tmp_path):
    async def scenario():
        app = Workbench(tmp_path, now=NOW, poll=False)
        async with app.run_test(size=(100, 30)) as pilot:
            details = app.screen.query_one("#details", Static)
            await wait_for(pilot, lambda: "No projects" in str(details.render()), "the hint")
            await pilot.pause(0.2)
            text = str(details.render())
            assert "No projects" in text and "examples" in text

    run_async(scenario())
