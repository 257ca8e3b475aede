"""TensorBoard: runs write event files when the package is installed; `fgtui tb`
says in one line what is missing when it is not."""

from __future__ import annotations

import pytest

import tiny


def test_runs_write_tensorboard_events_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    run = tiny.trainer(tmp_path, max_steps=2, save_strategy="no", eval_data=False, run_name="r")
    assert run.train() == 0
    events = list((run.runtime.run_dir / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars = EventAccumulator(str(run.runtime.run_dir / "tb")).Reload().Tags()["scalars"]
    assert any("loss" in tag for tag in scalars), scalars


def test_tb_without_tensorboard_is_a_one_line_error(monkeypatch, capsys):
    from fgtui.engine.cli import main
    from fgtui.engine.train import logstream

    monkeypatch.setattr(logstream, "tensorboard_available", lambda: False)
    assert main(["tb"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tensorboard is not installed" in err and "fgtui[tb]" in err
    with pytest.raises(SystemExit) as exited:
        main(["tb", "--help"])
    assert exited.value.code == 0
    assert "error: tensorboard is not installed" in capsys.readouterr().out
