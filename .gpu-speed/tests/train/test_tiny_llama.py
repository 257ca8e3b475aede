"""The README's main job, shortened: examples/tutorials/tiny_llama builds and trains."""

from __future__ import annotations

from pathlib import Path

import pytest

import fgtui
import tiny

PROJECT = Path(fgtui.__file__).parent / "examples" / "tutorials" / "tiny_llama"


@pytest.mark.slow
def test_tiny_llama_trains_a_few_steps_and_samples_text(tmp_path):
    from fgtui.engine.config import build, load_graph
    from fgtui.engine.project.project import Project
    from fgtui.engine.train.runtime import RunContext

    rendered = Project.open(PROJECT).render(
        None, {"max_steps": 3, "seq_len": 128, "eval_steps": 3, "eval_max_new_tokens": 8, "save_strategy": "no"}
    )
    trainer = build(load_graph(rendered.text, rendered.source), "main")
    # Keep the repository clean: the run goes to tmp_path.
    trainer.args.output_dir = str(tmp_path)
    run_dir = tmp_path / "runs" / "r"
    assert trainer.train(RunContext(run_dir)) == 0
    records = tiny.read_records(run_dir)
    assert [r["step"] for r in records if r["type"] == "train"] == [3]
    samples = [r for r in records if r["type"] == "sample"]
    assert len(samples) == 2 and all(s["text"] for s in samples)
    assert records[0]["n_params"] > 3_000_000
