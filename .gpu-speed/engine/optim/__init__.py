"""Optimizers, parameter groups and learning-rate schedules. Importing this imports torch."""

from fgtui.engine.optim.adafactor import Adafactor, stochastic_round_to_bf16
from fgtui.engine.optim.factories import AdamW, create_optimizer, grouped, resolve_optimizer_class
from fgtui.engine.optim.muon import Muon, orthogonalize, split_for_muon
from fgtui.engine.optim.param_groups import NO_DECAY_PATTERNS, make_param_groups
from fgtui.engine.optim.schedules import ConstantWithWarmup, CosineWithWarmup, LinearWithWarmup, WSDScheduler

__all__ = [
    "Adafactor",
    "AdamW",
    "ConstantWithWarmup",
    "CosineWithWarmup",
    "LinearWithWarmup",
    "Muon",
    "NO_DECAY_PATTERNS",
    "WSDScheduler",
    "create_optimizer",
    "grouped",
    "make_param_groups",
    "orthogonalize",
    "resolve_optimizer_class",
    "split_for_muon",
    "stochastic_round_to_bf16",
]
