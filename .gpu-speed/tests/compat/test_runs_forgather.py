"""Runs that Forgather itself wrote (trainer_logs.json, TensorBoard events) show like fgtui's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fgtui.engine.runs.forgather_logs import ForgatherLogReader, parse_trainer_logs, read_records
from fgtui.engine.runs.rundir import find_runs, inspect_run
from fgtui.engine.runs.schema import validate_record
from fgtui.engine.runs.series import load_series

T0 = 1_790_000_000.0


def entry(step: int, **metrics) -> dict:
    return {"timestamp": T0 + step, "global_step": step, "epoch": step / 100, **metrics}


def train_entry(step: int, loss: float) -> dict:
    return entry(
        step,
        loss=loss,
        grad_norm=1.5,
        max_grad_norm=2.0,
        learning_rate=1e-3,
        tokens=512,
        total_tokens=512 * step,
        total_flos=1.0e9 * step,
    )


def write_log(run_dir: Path, entries: list[dict], *, closed: bool, partial: str = "") -> None:
    """As Forgather's JsonLogger writes it: '[' then entries joined by ',\\n', ']' at the end."""
    run_dir.mkdir(parents=True, exist_ok=True)
    body = "[\n" + ",\n".join(json.dumps(e) for e in entries)
    if partial:
        body += ",\n" + partial
    (run_dir / "trainer_logs.json").write_text(body + ("\n]" if closed else ""))


def test_a_finished_forgather_run_lists_and_reads_as_a_run(tmp_path):
    run = tmp_path / "output_models" / "m" / "runs" / "log_2026-01-01T00-00-00"
    write_log(
        run, [train_entry(10, 5.0), train_entry(20, 4.0), entry(20, eval_loss=4.2), train_entry(30, 3.5)], closed=True
    )
    assert find_runs(tmp_path) == [run]
    records = read_records(run)
    assert all(validate_record(r) == [] for r in records), [validate_record(r) for r in records]
    train = [r for r in records if r["type"] == "train"]
    assert [(r["step"], r["loss"], r["tokens"]) for r in train] == [(10, 5.0, 5120), (20, 4.0, 10240), (30, 3.5, 15360)]
    assert train[1]["tokens_per_s"] == pytest.approx(51.2) and train[1]["step_time_s"] == pytest.approx(1.0)
    assert [(r["step"], r["eval_loss"]) for r in records if r["type"] == "eval"] == [(20, 4.2)]
    info = inspect_run(run)
    assert info.state == "completed" and info.step == 30
    series, reader = load_series(run / "metrics.jsonl")
    assert list(series.train["step"].values) == [10, 20, 30]
    assert reader.poll() == []


def test_a_running_forgather_log_is_followed_and_a_partial_entry_waits(tmp_path):
    run = tmp_path / "runs" / "live"
    write_log(run, [train_entry(10, 5.0)], closed=False, partial='{"timestamp": 1, "global_st')
    reader = ForgatherLogReader(run)
    first = reader.poll()
    assert [r["type"] for r in first] == ["event", "train"]
    assert inspect_run(run).state == "unknown"  # no end yet, and no job fgtui knows of
    write_log(run, [train_entry(10, 5.0), train_entry(20, 4.5)], closed=True)
    fresh = reader.poll()
    assert [(r["type"], r["step"]) for r in fresh] == [("train", 20), ("event", 20)]
    assert fresh[-1]["event"] == "end" and fresh[-1]["status"] == "completed"


def test_unterminated_and_empty_logs_parse():
    assert parse_trainer_logs("[\n") == ([], False)
    assert parse_trainer_logs("") == ([], False)
    entries, closed = parse_trainer_logs('[\n{"global_step": 1, "loss": 2.0},\n{"glob')
    assert entries == [{"global_step": 1, "loss": 2.0}] and not closed


def test_logs_command_summarises_a_forgather_run(tmp_path, capsys):
    from fgtui.engine.cli import main

    run = tmp_path / "runs" / "log_x"
    write_log(run, [train_entry(10, 5.0), entry(10, eval_loss=4.9)], closed=True)
    assert main(["logs", "list", str(tmp_path)]) == 0
    assert "log_x" in capsys.readouterr().out
    assert main(["logs", "summary", str(run)]) == 0
    out = capsys.readouterr().out
    assert "completed" in out and "step         10" in out and "eval_loss" in out


def test_tensorboard_only_run_reads_its_scalars(tmp_path):
    tensorboard = pytest.importorskip("torch.utils.tensorboard")
    run = tmp_path / "runs" / "tb_only"
    writer = tensorboard.SummaryWriter(str(run))
    for step, loss in ((5, 3.0), (10, 2.5)):
        writer.add_scalar("train-loss", loss, step)
        writer.add_scalar("learning-rate", 1e-3, step)
    writer.add_scalar("eval-loss", 2.7, 10)
    writer.close()
    records = read_records(run)
    assert [(r["step"], r["loss"]) for r in records if r["type"] == "train"] == [(5, 3.0), (10, 2.5)]
    assert [r["eval_loss"] for r in records if r["type"] == "eval"] == [pytest.approx(2.7)]


def test_a_run_forgather_wrote_reads_whole(tmp_path):
    """trainer_logs.json and TensorBoard events from Forgather's own 30-step run of the fixture."""
    import shutil

    shutil.copytree(Path(__file__).parent / "forgather_fixture" / "forgather_run", tmp_path / "out")
    [run] = find_runs(tmp_path)
    info = inspect_run(run)
    assert info.state == "completed" and info.step == 30
    records = read_records(run)
    assert all(validate_record(r) == [] for r in records)
    golden = json.loads((Path(__file__).parent / "forgather_fixture" / "forgather_losses.json").read_text())["losses"]
    train = {r["step"]: r["loss"] for r in records if r["type"] == "train"}
    assert train == {int(k): v for k, v in golden.items()}
    assert len([r for r in records if r["type"] == "eval"]) == 7
