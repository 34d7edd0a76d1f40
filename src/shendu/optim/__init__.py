"""Optimizers and learning-rate schedules, each chosen by name.

``build_optimizer("adamw", model)`` builds an optimizer for a model (weight
decay kept off biases and normalisation layers); ``build_schedule("cosine",
optimizer, total_steps, steps_per_epoch)`` builds a schedule that is stepped
once per optimizer step. ``shendu list optimizers`` and ``shendu list
schedules`` show every entry.
"""

from __future__ import annotations

from shendu.optim import optimizers, schedules
from shendu.optim.optimizers import BUILD_OPTIONS, build_optimizer, parameter_groups
from shendu.optim.registry import OPTIMIZERS, SCHEDULES
from shendu.optim.schedules import build_schedule

__all__ = [
    "BUILD_OPTIONS",
    "OPTIMIZERS",
    "SCHEDULES",
    "build_optimizer",
    "build_schedule",
    "optimizers",
    "parameter_groups",
    "schedules",
]
