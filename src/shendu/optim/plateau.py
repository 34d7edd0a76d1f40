"""Metric-driven schedules: lower the learning rate when a validation metric stops improving.

Contract with the training loop: a schedule for which
:func:`is_metric_schedule` is True is **not** stepped per batch. Once per
epoch, after validation, the loop calls ``schedule.step(value)`` with the
validation value of :func:`schedule_monitor` (None: the run's monitor; the
loop then calls ``schedule.bind_monitor(run_monitor)`` once, so that with
``mode: auto`` the direction follows that metric).
"""

from __future__ import annotations

import math
from typing import Any

from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from shendu.errors import ConfigError, Problem, UnknownComponentError
from shendu.metrics import higher_is_better
from shendu.optim.closed_form import check_steps
from shendu.optim.registry import SCHEDULES, check_choice, check_count, check_number
from shendu.optim.schedules import Optimizer


def _direction(monitor: str | None) -> str:
    """'max' for metrics where higher is better, else 'min' (also when no monitor is named)."""
    if monitor is None:
        return "min"
    try:
        return "max" if higher_is_better(monitor) else "min"
    except UnknownComponentError as error:
        fix = f"{error} Or leave monitor out to follow the run's monitor."
        raise ConfigError([Problem("schedule.monitor", monitor, "a metric name such as 'val.loss'", fix)]) from None


class PlateauSchedule(ReduceLROnPlateau):
    """torch's ReduceLROnPlateau that names the metric it watches, with a strict-JSON state.

    ``monitor`` is a metric name ('val.loss', 'val.accuracy') or None for
    the run's monitor. ``state_dict()`` is strict JSON: the infinite
    starting 'best' is saved as None and the derived 'mode_worse' is left out.
    """

    def __init__(self, optimizer: Optimizer, monitor: str | None, mode: str, **options: Any):
        self.monitor = monitor
        self.auto_mode = mode == "auto"
        super().__init__(optimizer, mode=_direction(monitor) if self.auto_mode else mode, **options)

    def bind_monitor(self, monitor: str) -> None:
        """Watch ``monitor`` (the run's, for a schedule built with monitor=None); resets the plateau count.

        With mode 'auto' the direction becomes that of the metric: 'max' for
        accuracy-like metrics, 'min' for losses and errors.
        """
        self.monitor = monitor
        if self.auto_mode:
            self._init_is_better(mode=_direction(monitor), threshold=self.threshold, threshold_mode=self.threshold_mode)
        self._reset()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.pop("mode_worse")  # load_state_dict derives it from mode
        if math.isinf(state["best"]):  # nothing seen yet; strict JSON has no Infinity
            state["best"] = None
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        best = state.pop("best")
        super().load_state_dict(state)
        self.best = self.mode_worse if best is None else best


def is_metric_schedule(schedule: LRScheduler | None) -> bool:
    """Whether ``schedule`` is stepped once per epoch with a metric value, not once per optimizer step."""
    return isinstance(schedule, ReduceLROnPlateau)


def schedule_monitor(schedule: LRScheduler | None) -> str | None:
    """The metric a metric schedule watches; None means the run's monitor (and for other schedules)."""
    return schedule.monitor if isinstance(schedule, PlateauSchedule) else None


@SCHEDULES.register(
    "reduce-on-plateau",
    formula="after more than `patience` epochs without improving on the best value by `threshold`, "
    "lr = max(lr * factor, min_lr); then `cooldown` epochs without counting",
    reference="torch.optim.lr_scheduler.ReduceLROnPlateau; Keras ReduceLROnPlateau callback",
    after_warmup="reduce-on-plateau is stepped once per epoch by the validation metric, so there is no per-step "
    "schedule to put after a warmup. Use it alone, or {name: warmup, then: {name: cosine}}.",
)
def reduce_on_plateau(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    monitor: str | None = None,
    mode: str = "auto",
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: str = "rel",
    cooldown: int = 0,
    min_lr: float = 0.0,
) -> LRScheduler:
    """Reduce on plateau: cut the learning rate when the validation metric stops improving.

    Use it when you do not know how long training should take: the rate
    stays put while the monitored metric improves and drops by ``factor``
    once it stalls. Stepped once per epoch with the validation value, not
    per batch. An epoch improves when its value beats the best so far by
    more than ``threshold`` (relative: best * (1 - threshold) for 'min');
    the rate drops at the (patience + 1)-th epoch in a row without improvement,
    then ``cooldown`` epochs pass before bad epochs count again.

    Formula: if more than patience epochs pass without improvement:
    lr = max(lr * factor, min_lr)
    Reference: torch.optim.lr_scheduler.ReduceLROnPlateau; the Keras
    ReduceLROnPlateau callback.

    Args:
        monitor: the metric to watch ('val.loss', 'val.accuracy'); None: the run's monitor.
        mode: "auto" (the metric's direction: max for accuracy-like, min for
            losses and for monitor None until the loop binds the run's), "min" or "max".
        factor: the multiplier of each cut, in (0, 1).
        patience: epochs without improvement tolerated before a cut (>= 0).
        threshold: the least improvement that counts (>= 0).
        threshold_mode: "rel" (a fraction of the best) or "abs".
        cooldown: epochs after a cut before bad epochs count again (>= 0).
        min_lr: the rate is never cut below this (>= 0).
    """
    check_steps("reduce-on-plateau", total_steps, steps_per_epoch)
    if monitor is not None and not isinstance(monitor, str):
        fix = "Set monitor: val.loss, or leave it out for the run's monitor."
        raise ConfigError([Problem("schedule.monitor", monitor, "a metric name or null", fix)])
    factor = check_number("schedule", "reduce-on-plateau", "factor", factor, positive=True, maximum=1.0, example="0.1")
    return PlateauSchedule(
        optimizer,
        monitor,
        check_choice("schedule", "reduce-on-plateau", "mode", mode, ("auto", "min", "max")),
        factor=factor,
        patience=check_count("schedule", "reduce-on-plateau", "patience", patience, minimum=0, example="10"),
        threshold=check_number("schedule", "reduce-on-plateau", "threshold", threshold, example="1e-4"),
        threshold_mode=check_choice("schedule", "reduce-on-plateau", "threshold_mode", threshold_mode, ("rel", "abs")),
        cooldown=check_count("schedule", "reduce-on-plateau", "cooldown", cooldown, minimum=0, example="0"),
        min_lr=check_number("schedule", "reduce-on-plateau", "min_lr", min_lr, example="1e-6"),
    )


__all__ = ["PlateauSchedule", "is_metric_schedule", "reduce_on_plateau", "schedule_monitor"]
