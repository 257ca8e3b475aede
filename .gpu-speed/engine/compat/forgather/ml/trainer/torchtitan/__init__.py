"""Mirrors Forgather's `forgather.ml.trainer.torchtitan`: the glue its torchtitan project
templates hand to torchtitan's own Trainer (names: see ../../../names.py).

The builders take torchtitan's calling convention (job config, parallel dims ...) and
return what the config's own factories make. The dataloader and the validator are
torchtitan classes, so those two need torchtitan installed, as the configs naming
them do anyway (their `main` is `torchtitan.train:Trainer`).
"""
