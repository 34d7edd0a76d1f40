"""Learning-rate schedules: how the step size changes over training, each by name.

Every entry is ``(optimizer, total_steps, steps_per_epoch, **options) ->
LRScheduler`` and is **stepped once per optimizer step** (the engine calls
``scheduler.step()`` after every ``optimizer.step()``), so epochs in options
are converted to steps with ``steps_per_epoch``. The one exception is
'reduce-on-plateau' (``shendu.optim.plateau``), stepped once per epoch with
the monitored validation value.

This module holds the closed-form schedules (constant, step, multi-step,
exponential, cosine, polynomial: see ``shendu.optim.closed_form``) and
:func:`build_schedule`. 'warmup' puts a linear ramp in front of any of them
(``shendu.optim.warmup``); 'one-cycle' and 'cyclic' are in
``shendu.optim.cycles``.

In the formulas, t is the number of optimizer steps taken, T = total_steps,
E = steps_per_epoch and lr0 the learning rate the optimizer was built with
(each param group scales its own lr0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from shendu.errors import ConfigError, Problem
from shendu.optim.closed_form import (
    SUPPLIED,
    ConstantFactor,
    CosineFactor,
    ExponentialFactor,
    Factor,
    MultiStepFactor,
    PolynomialFactor,
    StepFactor,
    base_lrs,
    per_group,
    register_closed_form,
)
from shendu.optim.registry import SCHEDULES, check_count, check_number

Optimizer = torch.optim.Optimizer


# -- checks ----------------------------------------------------------------------
def check_gamma(name: str, gamma: Any) -> float:
    """A decay factor in (0, 1]."""
    gamma = check_number("schedule", name, "gamma", gamma, positive=True, example="0.1")
    if gamma > 1:
        fix = f"Set {{name: {name}, gamma: 0.1}}."
        raise ConfigError([Problem("schedule.gamma", gamma, "a number in (0, 1]", fix)])
    return gamma


def floor_ratios(name: str, optimizer: Optimizer, key: str, value: Any) -> list[float]:
    """An absolute floor rate (``min_lr``, ``end_lr``) as a fraction of each group's lr0."""
    rates = base_lrs(optimizer)
    lowest = min(rates)
    value = check_number("schedule", name, key, value, example=f"{lowest / 100:g}")
    if value >= lowest:
        raise ConfigError(
            [
                Problem(
                    f"schedule.{key}",
                    value,
                    f"a rate >= 0 below the optimizer's learning rate ({lowest:g})",
                    f"Set {{name: {name}, {key}: {lowest / 100:g}}}, or raise optimizer.lr.",
                )
            ]
        )
    return [value / rate for rate in rates]


def _epochs_to_steps(name: str, milestones: Any, steps_per_epoch: int) -> list[int]:
    ok = (
        isinstance(milestones, (list, tuple))
        and len(milestones) > 0
        and all(isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in milestones)
        and all(a < b for a, b in zip(milestones, milestones[1:]))
    )
    if not ok:
        raise ConfigError(
            [
                Problem(
                    "schedule.milestones",
                    milestones,
                    "a non-empty, increasing list of positive epoch numbers",
                    f"Set {{name: {name}, milestones: [30, 60, 80]}}.",
                )
            ]
        )
    return [m * steps_per_epoch for m in milestones]


# -- the closed-form schedules ----------------------------------------------------------
@register_closed_form("constant", formula="lr = lr0", reference="-")
def constant(optimizer: Optimizer, total_steps: int, steps_per_epoch: int) -> list[Factor]:
    """Constant: keep the optimizer's learning rate for the whole run.

    The baseline, and the right choice for adaptive optimizers on short runs
    or when you want to see what a schedule adds.

    Formula: lr = lr0
    """
    return per_group(optimizer, ConstantFactor())


@register_closed_form(
    "step",
    formula="lr = lr0 * gamma^floor(t / (step_epochs * E))",
    reference="Krizhevsky, Sutskever & Hinton, ImageNet Classification with Deep CNNs, NeurIPS 2012; "
    "He et al., Deep Residual Learning, CVPR 2016",
)
def step(
    optimizer: Optimizer, total_steps: int, steps_per_epoch: int, step_epochs: int = 10, gamma: float = 0.1
) -> list[Factor]:
    """Step decay: multiply the learning rate by gamma every step_epochs epochs.

    The classic schedule of AlexNet and ResNet (divide by 10 at fixed
    epochs). Simple and strong for SGD with momentum; the drops show as
    steps in the loss curve. For drops at chosen epochs use 'multi-step'.

    Formula: lr = lr0 * gamma^floor(t / (step_epochs * E))
    Reference: Krizhevsky et al., NeurIPS 2012; He et al., CVPR 2016.

    Args:
        step_epochs: epochs between drops (a positive integer).
        gamma: the factor of each drop, in (0, 1].
    """
    step_epochs = check_count("schedule", "step", "step_epochs", step_epochs, example="10")
    return per_group(optimizer, StepFactor(step_epochs * steps_per_epoch, check_gamma("step", gamma)))


@register_closed_form(
    "multi-step",
    formula="lr = lr0 * gamma^(number of milestones m with m * E <= t); default milestones at T/2 and 3T/4",
    reference="He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (drops at epochs 30, 60, 90)",
)
def multi_step(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    milestones: list[int] | None = None,
    gamma: float = 0.1,
) -> list[Factor]:
    """Multi-step decay: multiply the learning rate by gamma at each of the given epochs.

    Use it to reproduce a paper's schedule (ResNet on ImageNet: x0.1 at
    epochs 30, 60 and 90) or to drop where a previous run's validation
    curve flattened. Without milestones it drops at half and three
    quarters of the run, as ResNet on CIFAR-10 did (32k and 48k of 64k steps).

    Formula: lr = lr0 * gamma^k, k = the number of milestones m with m * E <= t
    (default milestones: steps T/2 and 3T/4)
    Reference: K. He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.

    Args:
        milestones: increasing epoch numbers at which the rate drops; default
            half and three quarters of the run.
        gamma: the factor of each drop, in (0, 1].
    """
    if milestones is None:
        steps = [total_steps // 2, 3 * total_steps // 4]
    else:
        steps = _epochs_to_steps("multi-step", milestones, steps_per_epoch)
    return per_group(optimizer, MultiStepFactor(steps, check_gamma("multi-step", gamma)))


@register_closed_form("exponential", formula="lr = lr0 * gamma^(t / E)", reference="-")
def exponential(optimizer: Optimizer, total_steps: int, steps_per_epoch: int, gamma: float = 0.9) -> list[Factor]:
    """Exponential decay: the learning rate shrinks by a factor gamma every epoch.

    Use it for a smooth, steady decay without choosing drop epochs. The
    decay is spread over the steps of each epoch, so the rate is exactly
    lr0 * gamma^e at the start of epoch e and falls smoothly in between.

    Formula: lr = lr0 * gamma^(t / E)

    Args:
        gamma: the factor per epoch, in (0, 1].
    """
    return per_group(optimizer, ExponentialFactor(steps_per_epoch, check_gamma("exponential", gamma)))


@register_closed_form(
    "cosine",
    formula="lr = lr_min + 0.5 * (lr0 - lr_min) * (1 + cos(pi * t / T)); lr_min = min_lr or min_lr_ratio * lr0",
    reference="Loshchilov & Hutter, SGDR: Stochastic Gradient Descent with Warm Restarts, ICLR 2017",
)
def cosine(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    min_lr_ratio: float | None = None,
    min_lr: float | None = None,
) -> list[Factor]:
    """Cosine annealing: half a cosine wave from the base learning rate down to a minimum.

    A strong default with no drop epochs to tune: the rate stays high for
    long, then falls smoothly to the minimum at the last step. The minimum
    is 0 unless set, as a fraction of lr0 (min_lr_ratio) or as a rate
    (min_lr, torch's eta_min); set one, not both.

    Formula: lr = lr_min + 0.5 * (lr0 - lr_min) * (1 + cos(pi * t / T))
    Reference: I. Loshchilov & F. Hutter, "SGDR: Stochastic Gradient Descent with
    Warm Restarts", ICLR 2017 (one cycle, no restarts).

    Args:
        min_lr_ratio: the final rate as a fraction of lr0, in [0, 1).
        min_lr: the final rate, below the optimizer's lr (the same for every group).
    """
    if min_lr is not None and min_lr_ratio is not None:
        raise ConfigError(
            [
                Problem(
                    "schedule.min_lr",
                    min_lr,
                    "either min_lr or min_lr_ratio, not both",
                    f"Remove one: min_lr is a rate (torch's eta_min), min_lr_ratio a fraction of the lr "
                    f"(received min_lr_ratio={min_lr_ratio!r}).",
                )
            ]
        )
    if min_lr is not None:
        ratios = floor_ratios("cosine", optimizer, "min_lr", min_lr)
    else:
        ratio = 0.0 if min_lr_ratio is None else min_lr_ratio
        ratios = [check_number("schedule", "cosine", "min_lr_ratio", ratio, maximum=1.0, example="0.0")]
        ratios *= len(optimizer.param_groups)
    return [CosineFactor(total_steps, ratio) for ratio in ratios]


@register_closed_form(
    "polynomial",
    formula="lr = end_lr + (lr0 - end_lr) * (1 - t / T)^power",
    reference="Chen et al., DeepLab, TPAMI 2018 ('poly', power 0.9); TensorFlow's polynomial_decay",
)
def polynomial(
    optimizer: Optimizer, total_steps: int, steps_per_epoch: int, power: float = 1.0, end_lr: float = 0.0
) -> list[Factor]:
    """Polynomial decay: from lr0 to end_lr along (1 - t / T)^power; power 1 is a straight line.

    Use power 1 (linear decay to 0) for fine-tuning transformers, power 0.9
    ('poly') for semantic segmentation; powers above 1 drop fast early,
    below 1 hold the rate longer.

    Formula: lr = end_lr + (lr0 - end_lr) * (1 - t / T)^power
    Reference: L.-C. Chen et al., "DeepLab: Semantic Image Segmentation with Deep
    Convolutional Nets, Atrous Convolution, and Fully Connected CRFs", TPAMI 2018.

    Args:
        power: the exponent (> 0); 1 is linear.
        end_lr: the final rate, >= 0 and below the optimizer's lr.
    """
    power = check_number("schedule", "polynomial", "power", power, positive=True, example="1.0")
    ratios = floor_ratios("polynomial", optimizer, "end_lr", end_lr)
    return [PolynomialFactor(total_steps, power, ratio) for ratio in ratios]


def build_schedule(spec: Any, optimizer: Optimizer, total_steps: int, steps_per_epoch: int) -> LRScheduler:
    """Build a schedule from a name, a ``{"name": ..., **options}`` mapping or a scheduler object.

    None means 'constant'; a scheduler object is returned unchanged. The
    schedule is stepped once per optimizer step, except a metric schedule
    (:func:`shendu.optim.is_metric_schedule`), stepped once per epoch with
    the monitored value.
    """
    if spec is None:
        spec = "constant"
    if not isinstance(spec, (str, Mapping)):
        return spec
    name, options = SCHEDULES.split_spec(spec)
    SCHEDULES.check({"name": name, **options}, "schedule", supplied=SUPPLIED)
    return SCHEDULES.get(spec, optimizer=optimizer, total_steps=total_steps, steps_per_epoch=steps_per_epoch)


__all__ = [
    "build_schedule",
    "check_gamma",
    "constant",
    "cosine",
    "exponential",
    "floor_ratios",
    "multi_step",
    "polynomial",
    "step",
]
