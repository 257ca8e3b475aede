"""A Forgather config's training steps make no host-device sync between logging steps.

On a GPU, reading a device tensor on the host (`.item()`, `bool()`, `.tolist()`, ...)
stops the host until the device has caught up, so the next step's kernels are not
queued ahead: with ~10 ms steps each such read costs steps/s. The loop reads its
figures once per logging interval (loop.py `_flush_interval`); this test runs the
fixture on the CPU with those calls counted and fails when one happens on a
non-logging step anywhere but where the tensor read is on the host on a GPU too:
the batch before it is copied to the device (the collator, `count_loss_tokens`), the
optimizer's step counter (a CPU tensor in torch's optimizers unless capturable) and a
new epoch's data-loader seed.
CUDA-only code (memory statistics) does not run on the CPU and is not seen here.
"""

from __future__ import annotations

import collections
import json
import shutil
import sys
import traceback
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from compat_helpers import fixture_config  # noqa: E402

from fgtui.engine.compat.forgather.resolve import real_forgather_installed  # noqa: E402

pytestmark = pytest.mark.skipif(real_forgather_installed(), reason="a real Forgather is installed: it is used")

SYNC_METHODS = ("item", "tolist", "__bool__", "__int__", "__float__", "cpu", "numpy", "nonzero")
# Where a read is of a tensor that lives on the host in a GPU run as well: (file, function).
HOST_READS = {
    ("runtime.py", "count_loss_tokens"),  # the batch's labels, before forward_backward_step copies them
    ("data_collator.py", "__call__"),  # the compat collator, on the batch it builds
    ("collate.py", "__call__"),
    ("optimizer.py", "_get_value"),  # torch.optim: state["step"] is a CPU tensor
    ("dataloader.py", "__init__"),  # a new epoch's iterator draws its seed from a CPU generator
}
LOGGING_STEPS = 5


def _train_counting_syncs(tmp_path: Path, monkeypatch, **replace: str) -> tuple[dict, list[dict]]:
    """Run the fixture for 10 steps; {step: Counter of 'file:line:function method'} on
    non-logging steps, and the run's train records."""
    from fgtui.engine.train.entry import main
    from fgtui.engine.train.trainer import Trainer

    monkeypatch.delenv("FGTUI_RUN_DIR", raising=False)
    seen: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    current = {"step": None}

    def counted(name: str, original):
        def wrapper(*args, **kwargs):
            if current["step"] is not None:
                frame = traceback.extract_stack(limit=2)[0]  # the caller
                where = (Path(frame.filename).name, frame.name)
                if where not in HOST_READS:
                    seen[current["step"]][f"{where[0]}:{frame.lineno}:{where[1]} {name}"] += 1
            return original(*args, **kwargs)

        return wrapper

    for name in SYNC_METHODS:
        monkeypatch.setattr(torch.Tensor, name, counted(name, getattr(torch.Tensor, name)))
    original_step = Trainer.train_step

    def train_step(self):
        step = self.state.global_step + 1
        current["step"] = step if step % LOGGING_STEPS else None  # logging steps are not watched
        try:
            return original_step(self)
        finally:
            current["step"] = None

    monkeypatch.setattr(Trainer, "train_step", train_step)
    edits = {
        "logging_steps: 2": f"logging_steps: {LOGGING_STEPS}",
        'save_strategy: "steps"': 'save_strategy: "no"',
        'eval_strategy: "steps"': 'eval_strategy: "no"',
        **replace,
    }
    tmp_path.mkdir(exist_ok=True)
    config = fixture_config(tmp_path, max_steps=10, replace=edits)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(config, run_dir / "config.yaml")
    assert main([str(run_dir)]) == 0
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return dict(seen), [r for r in records if r["type"] == "train"]


def test_non_logging_steps_read_nothing_from_the_device(tmp_path, monkeypatch):
    seen, train = _train_counting_syncs(tmp_path, monkeypatch)
    assert [r["step"] for r in train] == [5, 10]
    assert seen == {}, f"device reads on non-logging steps: {seen}"


def test_the_check_sees_a_read_in_the_step(tmp_path, monkeypatch):
    """The probe itself: a callback that reads the loss every step is caught."""
    from fgtui.engine.train import trainer as trainer_module

    original = trainer_module.Trainer.forward_backward_step

    def reading(self, batch, weight):
        loss = original(self, batch, weight)
        float(loss)  # what a progress bar printing every step's loss would do
        return loss

    monkeypatch.setattr(trainer_module.Trainer, "forward_backward_step", reading)
    seen, _ = _train_counting_syncs(tmp_path, monkeypatch)
    assert seen and all(any("reading __float__" in site for site in sites) for sites in seen.values())


def test_the_logged_figures_are_those_of_a_batch_with_its_all_ones_mask(tmp_path, monkeypatch):
    """Leaving out an all-ones attention mask and measuring the gradient norm without the
    no-op clip change no logged value: the run with the mask and with torch's
    clip_grad_norm_(max_norm=inf) logs the same figures, bit for bit."""
    from fgtui.engine.compat.forgather.ml import data_collator
    from fgtui.engine.train import parallel_setup

    _, without = _train_counting_syncs(tmp_path / "a", monkeypatch)
    call = data_collator.DataCollatorForCausalLM.__call__

    def with_mask(self, features):
        batch = call(self, features)
        if "attention_mask" not in batch:
            batch["attention_mask"] = torch.ones_like(batch["input_ids"])
        return batch

    monkeypatch.setattr(data_collator.DataCollatorForCausalLM, "__call__", with_mask)
    monkeypatch.setattr(
        parallel_setup.ParallelRuntime,
        "clip_grad_norm",
        lambda self, model, max_norm: torch.nn.utils.clip_grad_norm_(
            model.parameters(), float("inf") if max_norm is None else max_norm
        ),
    )
    seen, with_both = _train_counting_syncs(tmp_path / "b", monkeypatch)
    assert seen, "the all-ones mask is read on every forward (transformers' masking_utils)"
    keys = ("loss", "grad_norm", "lr", "tokens")
    assert [[r[k] for k in keys] for r in without] == [[r[k] for k in keys] for r in with_both]


def test_an_unclipped_norm_leaves_the_gradients_alone():
    from fgtui.engine.train.parallel_setup import ParallelRuntime
    from fgtui.engine.train.mesh import ParallelPlan

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    model(torch.randn(3, 4)).square().sum().backward()
    runtime = ParallelRuntime(ParallelPlan())
    versions = [p.grad._version for p in model.parameters()]
    norm = runtime.clip_grad_norm(model, None)
    assert [p.grad._version for p in model.parameters()] == versions  # not written
    assert torch.equal(norm, torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf")))
