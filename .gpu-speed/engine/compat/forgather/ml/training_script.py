"""`forgather.ml.training_script`: the `main` target of Forgather's training configs.

fgtui's train entry calls `train()` on `main`; Forgather's own entry calls `run()`.
Both run the requested steps (train, evaluate, save the model) on the one trainer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fgtui.engine.train.runtime import RunContext


class TrainingScript:
    def __init__(
        self,
        *,
        meta: dict,
        trainer: Any,
        do_save: bool = False,
        do_train: bool = True,
        do_eval: bool = False,
        distributed_env: Any = None,
    ) -> None:
        self.meta = dict(meta or {})
        self.trainer = trainer
        self.do_save, self.do_train, self.do_eval = do_save, do_train, do_eval
        self.distributed_env = distributed_env

    def train(self, run: RunContext | None = None) -> int:
        """Run the script; the exit code is the trainer's (0 when only evaluating/saving).
        `run` is the launcher's run context, passed on to the trainer."""
        code = 0
        if self.do_train:
            code = int(self.trainer.train(run) or 0)
        if code == 0 and self.do_eval:
            if not self.do_train:
                self.trainer.setup(run)
            self.trainer.evaluate()
        if code == 0 and self.do_save:
            output_dir = self.meta.get("output_dir") or self.trainer.args.output_dir
            self.trainer.save_model(output_dir)
            print(f"model saved to {output_dir}", flush=True)
        return code

    def run(self) -> int:
        return self.train()
