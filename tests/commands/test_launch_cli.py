"""The train/control/logs commands as a user types them."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from fgtui.engine.cli import main

sys.path.insert(0, str(Path(__file__).parent.parent / "train"))
import tiny  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("out")
    for name, lr in (("fast", 3e-2), ("slow", 1e-3)):
        assert tiny.trainer(root, run_name=name, lr=lr, max_steps=4, save_strategy="no", eval_steps=2).train() == 0
    return root


def test_logs_list_summary_and_plot(runs, capsys):
    assert main(["logs", "list", str(runs)]) == 0
    listed = capsys.readouterr().out
    assert "completed" in listed and "fast" in listed and "slow" in listed
    assert main(["logs", "summary", str(runs / "runs" / "fast")]) == 0
    summary = capsys.readouterr().out
    assert "step         4 of 4" in summary and "eval_loss" in summary
    assert main(["logs", "plot", str(runs), "--metric", "loss"]) == 0
    plot = capsys.readouterr().out
    assert "loss" in plot and "fast" in plot and "slow" in plot


def test_logs_of_nothing_is_a_user_error(tmp_path, capsys):
    assert main(["logs", "list", str(tmp_path)]) == 2
    assert "no runs found" in capsys.readouterr().err


def test_control_without_jobs(monkeypatch, capsys):
    root = tempfile.mkdtemp(prefix="fg")
    monkeypatch.setenv("FGTUI_RUNTIME_DIR", os.path.join(root, "rt"))
    try:
        assert main(["control", "list"]) == 0
        assert capsys.readouterr().out.strip() == "no jobs"
        assert main(["control", "stop", "nope"]) == 2
        assert "no job 'nope'" in capsys.readouterr().err
    finally:
        shutil.rmtree(root)


def test_train_dry_run_prints_the_torchrun_command(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"output_dir: {tmp_path}\nrun_name: r\nmain: !singleton:dict {{}}\n")
    assert main(["-t", str(config), "train", "--dry-run", "-d", "cpu", "--", "--max-restarts=0"]) == 0
    out = capsys.readouterr().out
    assert "torch.distributed.run --standalone --nproc-per-node=1 --max-restarts=0" in out
    assert out.strip().endswith(f"fgtui.engine.train.entry {tmp_path}/runs/r")
    assert not (tmp_path / "runs").exists()


def test_an_option_the_config_does_not_take_is_one_line_naming_the_command(tmp_path, capsys):
    """Not argparse's usage block, which for a config command lists every option of the config."""
    config = tmp_path / "c.yaml"
    config.write_text(f"output_dir: {tmp_path}\nrun_name: r\nmain: !singleton:dict {{}}\n")
    with pytest.raises(SystemExit) as stopped:
        main(["-t", str(config), "train", "--dry-run", "--logging-steps=2"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fgtui train: error: unrecognized arguments: --logging-steps=2 (add --help")
    assert "\n" not in err and "usage:" not in err


@pytest.fixture
def tokenizer_project(tmp_path):
    """A workspace with a BPE tokenizer project, as the tutorial writes one."""
    from fgtui.engine.project.scaffold import create_project, create_workspace

    workspace, _ = create_workspace(tmp_path, "ws")
    project = create_project(workspace, "bpe")
    (project / "templates" / "configs" / "default.yaml").write_text(
        "-- extends 'tokenizers/bpe.yaml'\n"
        "[training_data]\n"
        "training_data: &training_data ['one story', 'another story']\n"
    )
    return project


def test_train_help_in_a_tokenizer_project_has_one_output_dir_and_no_warning(tokenizer_project, capsys):
    with pytest.raises(SystemExit):
        main(["-p", str(tokenizer_project), "train", "--help"])
    captured = capsys.readouterr()
    # The config's --output-dir sets the variable train's own --output-dir sets: not a clash.
    assert captured.err == ""
    assert captured.out.count("--output-dir DIR") == 2  # the usage line and the option
    assert "--vocab-size" in captured.out


def test_train_refuses_a_config_that_is_not_a_training_script(tokenizer_project, capsys):
    assert main(["-p", str(tokenizer_project), "train", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "default.yaml is a tokenizer config (type.tokenizer.bpe), not a training script" in err
    assert "fgtui construct" in err
    assert not (tokenizer_project.parent / "tokenizers").exists()
