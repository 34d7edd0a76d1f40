"""Warmup: a linear ramp of the learning rate in front of any closed-form schedule.

``{name: warmup, warmup_steps: 500, then: {name: cosine, min_lr_ratio: 0.1}}``
ramps the rate up over the first W steps, then runs the inner schedule as if
training began at step W: it gets T - W steps, and its epoch options
(step_epochs, milestones) count from the end of the warmup. 'warmup-cosine'
and 'warmup-linear' are shortcuts for the two common pairs.

What warmup can precede: the closed-form schedules (constant, step,
multi-step, exponential, cosine, polynomial). It refuses, with a
ConfigError naming the reason, 'one-cycle' and 'cyclic' (both already rise
from a low rate: that rise is their warmup) and 'reduce-on-plateau' (it is
stepped once per epoch by the validation metric, so there is no per-step
schedule to shift).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch.optim.lr_scheduler import LRScheduler

from shendu.errors import ConfigError, Problem
from shendu.optim.closed_form import SUPPLIED, FactorSchedule, WarmupFactor, check_steps
from shendu.optim.registry import SCHEDULES, check_number
from shendu.optim.schedules import Optimizer

WARMUP_FORMULA = (
    "lr = lr0 * (t + 1) / (W + 1) for t < W, then lr0 * f(t - W), f the inner schedule's factor over T - W steps"
)
WARMUP_REFERENCE = "Goyal et al., Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour, 2017"


def warmup_length(name: str, total_steps: int, warmup_steps: Any, warmup_fraction: Any) -> int:
    """W in steps: ``warmup_steps``, else ``warmup_fraction`` (default 0.05) of the total; never both."""
    if warmup_steps is not None and warmup_fraction is not None:
        raise ConfigError(
            [
                Problem(
                    "schedule.warmup_fraction",
                    warmup_fraction,
                    "either warmup_steps or warmup_fraction, not both",
                    f"Remove one (received warmup_steps={warmup_steps!r}).",
                )
            ]
        )
    if warmup_steps is None:
        fraction = 0.05 if warmup_fraction is None else warmup_fraction
        fraction = check_number("schedule", name, "warmup_fraction", fraction, maximum=1.0, example="0.05")
        return min(int(round(fraction * total_steps)), total_steps - 1)
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or not 0 <= warmup_steps < total_steps:
        raise ConfigError(
            [
                Problem(
                    "schedule.warmup_steps",
                    warmup_steps,
                    f"an integer in [0, {total_steps}) (fewer than the run's {total_steps} optimizer steps)",
                    f"Set {{name: {name}, warmup_steps: {max(1, total_steps // 20)}}} or use warmup_fraction.",
                )
            ]
        )
    return warmup_steps


def _inner_factors(then: Any, optimizer: Optimizer, total_steps: int, steps_per_epoch: int) -> list[Any]:
    """The factors of the schedule after the warmup, built for its ``total_steps``."""
    if not isinstance(then, (str, Mapping)):
        raise ConfigError(
            [Problem("schedule.then", then, "a schedule name or {name: ..., options}", "Set then: {name: cosine}.")]
        )
    problems = SCHEDULES.problems(then, "schedule.then", supplied=SUPPLIED)
    if problems:
        raise ConfigError(problems)
    name, options = SCHEDULES.split_spec(then)
    entry = SCHEDULES.entry(name)
    factors = entry.tags.get("factors")
    if factors is None:
        closed = [e.name for e in SCHEDULES.entries() if e.tags.get("factors") is not None]
        reason = entry.tags.get(
            "after_warmup", f"{name!r} is not a closed-form schedule: use one of those, or {name!r} without warmup."
        )
        raise ConfigError(
            [Problem("schedule.then", name, f"a closed-form schedule: {', '.join(closed)}", reason)]
        )
    return factors(optimizer, total_steps, steps_per_epoch, **options)


@SCHEDULES.register("warmup", formula=WARMUP_FORMULA, reference=WARMUP_REFERENCE,
                    explain_options={"warmup_fraction": 0.1, "then": {"name": "cosine"}})
def warmup(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    warmup_steps: int | None = None,
    warmup_fraction: float | None = None,
    then: str | Mapping[str, Any] = "constant",
) -> LRScheduler:
    """Linear warmup, then any closed-form schedule: ramp the rate up over the first steps.

    Early gradients of a fresh network are large and Adam's moment
    estimates are noisy; ramping the rate from lr0 / (W + 1) up to lr0
    avoids a divergent start (needed for transformers and large batches).
    The inner schedule ('then', default constant) starts when the ramp
    ends and gets the remaining T - W steps; its epoch options count from
    there. It cannot be one-cycle or cyclic (they rise from a low rate
    themselves) nor reduce-on-plateau (stepped per epoch by a metric).

    Formula: lr = lr0 * (t + 1) / (W + 1) for t < W; then lr = lr0 * f(t - W),
    f the inner schedule's factor over T - W steps.
    Reference: P. Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet
    in 1 Hour", 2017.

    Args:
        warmup_steps: W, the ramp's length in optimizer steps, in [0, T).
        warmup_fraction: W as a fraction of T when warmup_steps is not set; default 0.05.
        then: the schedule after the ramp: a name or {name: ..., options}.
    """
    check_steps("warmup", total_steps, steps_per_epoch)
    ramp = warmup_length("warmup", total_steps, warmup_steps, warmup_fraction)
    inner = _inner_factors(then, optimizer, total_steps - ramp, steps_per_epoch)
    return FactorSchedule(optimizer, [WarmupFactor(ramp, factor) for factor in inner])


@SCHEDULES.register(
    "warmup-cosine",
    formula="lr = lr0 * (t + 1) / (W + 1) for t < W, "
    "then lr_min + 0.5 * (lr0 - lr_min) * (1 + cos(pi * (t - W) / (T - W)))",
    reference="Goyal et al., 2017 (warmup); Loshchilov & Hutter, SGDR, ICLR 2017 (cosine)",
)
def warmup_cosine(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    warmup_steps: int | None = None,
    warmup_fraction: float | None = None,
    min_lr_ratio: float | None = None,
    min_lr: float | None = None,
) -> LRScheduler:
    """Linear warmup then cosine annealing: the usual schedule for transformers and large batches.

    A shortcut for {name: warmup, then: {name: cosine, ...}}.

    Formula: lr = lr0 * (t + 1) / (W + 1) for t < W;
    then lr = lr_min + 0.5 * (lr0 - lr_min) * (1 + cos(pi * (t - W) / (T - W)))
    Reference: P. Goyal et al., 2017; I. Loshchilov & F. Hutter, ICLR 2017.

    Args:
        warmup_steps: W, the ramp's length in optimizer steps; default from warmup_fraction.
        warmup_fraction: W as a fraction of T when warmup_steps is not set; default 0.05.
        min_lr_ratio: the final rate as a fraction of lr0, in [0, 1).
        min_lr: the final rate (set this or min_lr_ratio).
    """
    then = {"name": "cosine", "min_lr_ratio": min_lr_ratio, "min_lr": min_lr}
    return warmup(optimizer, total_steps, steps_per_epoch, warmup_steps, warmup_fraction, then)


@SCHEDULES.register(
    "warmup-linear",
    formula="lr = lr0 * (t + 1) / (W + 1) for t < W, then lr0 * (T - t) / (T - W)",
    reference="Devlin et al., BERT: Pre-training of Deep Bidirectional Transformers, NAACL 2019",
)
def warmup_linear(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    warmup_steps: int | None = None,
    warmup_fraction: float | None = None,
) -> LRScheduler:
    """Linear warmup then linear decay to zero: BERT's schedule, common for fine-tuning.

    A shortcut for {name: warmup, then: {name: polynomial, power: 1}}.

    Formula: lr = lr0 * (t + 1) / (W + 1) for t < W; then lr = lr0 * (T - t) / (T - W)
    Reference: J. Devlin et al., "BERT: Pre-training of Deep Bidirectional
    Transformers for Language Understanding", NAACL 2019.

    Args:
        warmup_steps: W, the ramp's length in optimizer steps; default from warmup_fraction.
        warmup_fraction: W as a fraction of T when warmup_steps is not set; default 0.05.
    """
    then = {"name": "polynomial", "power": 1.0, "end_lr": 0.0}
    return warmup(optimizer, total_steps, steps_per_epoch, warmup_steps, warmup_fraction, then)


__all__ = ["warmup", "warmup_cosine", "warmup_length", "warmup_linear"]
