"""A launchable config around the tiny trainer of tests/train/tiny.py, shared by the launch tests
(a module, since tests/ is not a package)."""

from __future__ import annotations

import json
from pathlib import Path

TINY = str(Path(__file__).parent.parent / "train" / "tiny.py")


def tiny_config(out: Path, *, dataset: dict | None = None, sleep: float | None = None, **args) -> str:
    """YAML for a Trainer of tiny.TinyLM writing to `out`; `args` override the trainer
    arguments, `dataset` tiny.dataset's, `sleep` slows each step (tiny.SleepEachStep)."""
    trainer_args = {
        "output_dir": str(out),
        "max_steps": 6,
        "logging_steps": 1,
        "save_steps": 3,
        "per_device_train_batch_size": 4,
        **args,
    }
    lines = "\n".join(f"    {k}: {json.dumps(v)}" for k, v in trainer_args.items())
    callbacks = "" if sleep is None else f"  callbacks:\n    - !singleton:{TINY}:SleepEachStep {{seconds: {sleep}}}\n"
    return f"""output_dir: {json.dumps(str(out))}
run_name: tiny
model: &model !singleton:{TINY}:TinyLM {{}}
main: !singleton:fgtui.engine.train:Trainer
  model: *model
  args: !singleton:fgtui.engine.train:TrainingArguments
{lines}
  train_dataset: !singleton:{TINY}:dataset {json.dumps(dataset or {})}
  data_collator: !partial:{TINY}:collate {{}}
  optimizer_factory: !partial:torch.optim:AdamW
    lr: 0.01
{callbacks}"""
