"""Optimizers and learning-rate schedules, each chosen by name.

``build_optimizer("adamw", model)`` builds an optimizer for a model (weight
decay kept off biases and normalisation layers); ``build_schedule("cosine",
optimizer, total_steps, steps_per_epoch)`` builds a schedule that is stepped
once per optimizer step. ``shendu list optimizers`` and ``shendu list
schedules`` show every entry.

Two contracts for the training loop:

* ``needs_closure(optimizer)``: lbfgs and newton are stepped with
  ``optimizer.step(closure)``, ``closure(backward: bool = True) -> loss``.
* ``is_metric_schedule(schedule)``: reduce-on-plateau is not stepped per
  batch but once per epoch, ``schedule.step(value)``, with the validation
  value of ``schedule_monitor(schedule)`` (None: the run's monitor, bound
  once with ``schedule.bind_monitor(run_monitor)``).
"""

from __future__ import annotations

# The family modules register the built-in optimizers and schedules on import.
from shendu.optim import adam, adaptive, cycles, first_order, optimizers, plateau, schedules, second_order, warmup
from shendu.optim.optimizers import BUILD_OPTIONS, build_optimizer, needs_closure, parameter_groups
from shendu.optim.plateau import PlateauSchedule, is_metric_schedule, schedule_monitor
from shendu.optim.registry import OPTIMIZERS, SCHEDULES
from shendu.optim.schedules import build_schedule
from shendu.optim.second_order import Newton

__all__ = [
    "BUILD_OPTIONS",
    "OPTIMIZERS",
    "SCHEDULES",
    "Newton",
    "PlateauSchedule",
    "adam",
    "adaptive",
    "build_optimizer",
    "build_schedule",
    "cycles",
    "first_order",
    "is_metric_schedule",
    "needs_closure",
    "optimizers",
    "parameter_groups",
    "plateau",
    "schedule_monitor",
    "schedules",
    "second_order",
    "warmup",
]
