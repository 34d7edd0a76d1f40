"""Learning-rate schedules: how the step size changes over training, each by name.

Every entry is ``(optimizer, total_steps, steps_per_epoch, **options) ->
LRScheduler`` and is **stepped once per optimizer step** (the engine calls
``scheduler.step()`` after every ``optimizer.step()``), so epochs in options
are converted to steps with ``steps_per_epoch``.

Schedules are ``LambdaLR`` over small factor classes (or torch's
``OneCycleLR``), never lambdas or closures: ``LambdaLR.state_dict()`` stores a
callable object's attributes, so the whole state is plain numbers that
survive ``json.dumps``, and a fresh scheduler that loads it continues exactly.
Each factor is a closed-form function of the step count, so the learning rate
never drifts by repeated multiplication.

In the formulas, t is the number of optimizer steps taken, T = total_steps,
W = warmup steps and lr0 the learning rate the optimizer was built with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from shendu.errors import ConfigError, Problem
from shendu.optim.registry import SCHEDULES, check_number

SUPPLIED = ("optimizer", "total_steps", "steps_per_epoch")


# -- factors: picklable, JSON-able multipliers of the base learning rate ----------
class ConstantFactor:
    """Multiplier 1 at every step."""

    def __call__(self, step: int) -> float:
        return 1.0


class StepDecayFactor:
    """gamma ** floor(step / step_size)."""

    def __init__(self, step_size: int, gamma: float):
        self.step_size, self.gamma = step_size, gamma

    def __call__(self, step: int) -> float:
        return self.gamma ** (step // self.step_size)


class ExponentialFactor:
    """gamma ** (step / steps_per_epoch): a factor gamma per epoch, spread smoothly over its steps."""

    def __init__(self, steps_per_epoch: int, gamma: float):
        self.steps_per_epoch, self.gamma = steps_per_epoch, gamma

    def __call__(self, step: int) -> float:
        return self.gamma ** (step / self.steps_per_epoch)


class WarmupCosineFactor:
    """Linear warmup to 1 over warmup_steps, then half a cosine down to min_ratio at total_steps."""

    def __init__(self, warmup_steps: int, total_steps: int, min_ratio: float):
        self.warmup_steps, self.total_steps, self.min_ratio = warmup_steps, total_steps, min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupLinearFactor:
    """Linear warmup to 1 over warmup_steps, then a straight line down to 0 at total_steps."""

    def __init__(self, warmup_steps: int, total_steps: int):
        self.warmup_steps, self.total_steps = warmup_steps, total_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps))


# -- checks ----------------------------------------------------------------------
def _check_steps(name: str, total_steps: Any, steps_per_epoch: Any) -> None:
    for key, value in (("total_steps", total_steps), ("steps_per_epoch", steps_per_epoch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"schedule {name!r}: expected {key} to be a positive integer; received {value!r}. "
                "The engine passes the number of optimizer steps; check train.epochs and the data size."
            )


def _warmup_steps(name: str, total_steps: int, warmup_steps: Any, warmup_fraction: Any) -> int:
    """Warmup length in steps, from ``warmup_steps`` if given, else ``warmup_fraction`` of the total."""
    if warmup_steps is None:
        fraction = check_number("schedule", name, "warmup_fraction", warmup_fraction, maximum=1.0, example="0.05")
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


def _ratio(name: str, key: str, value: Any, example: str) -> float:
    return check_number("schedule", name, key, value, maximum=1.0, example=example)


def _gamma(name: str, gamma: Any) -> float:
    gamma = check_number("schedule", name, "gamma", gamma, positive=True, example="0.1")
    if gamma > 1:
        fix = f"Set {{name: {name}, gamma: 0.1}}."
        raise ConfigError([Problem("schedule.gamma", gamma, "a number in (0, 1]", fix)])
    return gamma


# -- the schedules -------------------------------------------------------------------
@SCHEDULES.register("constant", formula="lr = lr0", reference="-")
def constant(optimizer: torch.optim.Optimizer, total_steps: int, steps_per_epoch: int) -> LRScheduler:
    """Constant: keep the optimizer's learning rate for the whole run.

    The baseline, and the right choice for adaptive optimizers on short runs
    or when you want to see what a schedule adds.

    Formula: lr = lr0
    """
    _check_steps("constant", total_steps, steps_per_epoch)
    return LambdaLR(optimizer, ConstantFactor())


@SCHEDULES.register(
    "step-decay",
    formula="lr = lr0 * gamma^floor(epoch / step_epochs)",
    reference="Krizhevsky, Sutskever & Hinton, ImageNet Classification with Deep CNNs, NeurIPS 2012; "
    "He et al., Deep Residual Learning, CVPR 2016",
)
def step_decay(
    optimizer: torch.optim.Optimizer, total_steps: int, steps_per_epoch: int, step_epochs: int = 10, gamma: float = 0.1
) -> LRScheduler:
    """Step decay: multiply the learning rate by gamma every step_epochs epochs.

    The classic schedule of AlexNet and ResNet (divide by 10 when the
    validation error plateaus, at fixed epochs). Simple and strong for SGD
    with momentum; the drops show as steps in the loss curve.

    Formula: lr = lr0 * gamma^floor(t / (step_epochs * steps_per_epoch))
    Reference: Krizhevsky et al., NeurIPS 2012; He et al., CVPR 2016.

    Args:
        step_epochs: epochs between drops (a positive integer).
        gamma: the factor of each drop, in (0, 1].
    """
    _check_steps("step-decay", total_steps, steps_per_epoch)
    if isinstance(step_epochs, bool) or not isinstance(step_epochs, int) or step_epochs < 1:
        raise ConfigError(
            [Problem("schedule.step_epochs", step_epochs, "a positive integer", "Set step_epochs: 10.")]
        )
    return LambdaLR(optimizer, StepDecayFactor(step_epochs * steps_per_epoch, _gamma("step-decay", gamma)))


@SCHEDULES.register("exponential", formula="lr = lr0 * gamma^(t / steps_per_epoch)", reference="-")
def exponential(
    optimizer: torch.optim.Optimizer, total_steps: int, steps_per_epoch: int, gamma: float = 0.9
) -> LRScheduler:
    """Exponential decay: the learning rate shrinks by a factor gamma every epoch.

    Use it for a smooth, steady decay without choosing drop epochs. The
    decay is spread over the steps of each epoch, so the rate is exactly
    lr0 * gamma^e at the start of epoch e and falls smoothly in between.

    Formula: lr = lr0 * gamma^(t / steps_per_epoch)

    Args:
        gamma: the factor per epoch, in (0, 1].
    """
    _check_steps("exponential", total_steps, steps_per_epoch)
    return LambdaLR(optimizer, ExponentialFactor(steps_per_epoch, _gamma("exponential", gamma)))


@SCHEDULES.register(
    "cosine",
    formula="lr = lr0 * (m + (1 - m) * 0.5 * (1 + cos(pi * t / T))), m = min_lr_ratio",
    reference="Loshchilov & Hutter, SGDR: Stochastic Gradient Descent with Warm Restarts, ICLR 2017",
)
def cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, steps_per_epoch: int, min_lr_ratio: float = 0.0
) -> LRScheduler:
    """Cosine annealing: half a cosine wave from the base learning rate down to min_lr_ratio of it.

    A strong default with no drop epochs to tune: the rate stays high for
    long, then falls smoothly to the minimum at the last step.

    Formula: lr = lr0 * (m + (1 - m) * 0.5 * (1 + cos(pi * t / T))), m = min_lr_ratio
    Reference: I. Loshchilov & F. Hutter, "SGDR: Stochastic Gradient Descent with
    Warm Restarts", ICLR 2017 (one cycle, no restarts).

    Args:
        min_lr_ratio: the final learning rate as a fraction of lr0, in [0, 1).
    """
    _check_steps("cosine", total_steps, steps_per_epoch)
    minimum = _ratio("cosine", "min_lr_ratio", min_lr_ratio, "0.0")
    return LambdaLR(optimizer, WarmupCosineFactor(0, total_steps, minimum))


@SCHEDULES.register(
    "warmup-cosine",
    formula="lr = lr0 * (t + 1) / (W + 1) for t < W, "
    "then lr0 * (m + (1 - m) * 0.5 * (1 + cos(pi * (t - W) / (T - W))))",
    reference="Goyal et al., Accurate, Large Minibatch SGD, 2017 (warmup); Loshchilov & Hutter, ICLR 2017 (cosine)",
)
def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    warmup_steps: int | None = None,
    warmup_fraction: float = 0.05,
    min_lr_ratio: float = 0.0,
) -> LRScheduler:
    """Linear warmup then cosine annealing: the usual schedule for transformers and large batches.

    Early gradients of a fresh network are large and Adam's moment
    estimates are noisy; ramping the rate up over the first steps avoids a
    divergent start, then the cosine anneals it.

    Formula: lr = lr0 * (t + 1) / (W + 1) for t < W;
    then lr = lr0 * (m + (1 - m) * 0.5 * (1 + cos(pi * (t - W) / (T - W))))
    Reference: P. Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet
    in 1 Hour", 2017; Loshchilov & Hutter, ICLR 2017.

    Args:
        warmup_steps: warmup length W in optimizer steps; default from warmup_fraction.
        warmup_fraction: W as a fraction of total_steps when warmup_steps is not given.
        min_lr_ratio: the final learning rate as a fraction of lr0, in [0, 1).
    """
    _check_steps("warmup-cosine", total_steps, steps_per_epoch)
    warmup = _warmup_steps("warmup-cosine", total_steps, warmup_steps, warmup_fraction)
    minimum = _ratio("warmup-cosine", "min_lr_ratio", min_lr_ratio, "0.0")
    return LambdaLR(optimizer, WarmupCosineFactor(warmup, total_steps, minimum))


@SCHEDULES.register(
    "warmup-linear",
    formula="lr = lr0 * (t + 1) / (W + 1) for t < W, then lr0 * (T - t) / (T - W)",
    reference="Devlin et al., BERT: Pre-training of Deep Bidirectional Transformers, NAACL 2019",
)
def warmup_linear(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    warmup_steps: int | None = None,
    warmup_fraction: float = 0.05,
) -> LRScheduler:
    """Linear warmup then linear decay to zero: BERT's schedule, common for fine-tuning.

    Formula: lr = lr0 * (t + 1) / (W + 1) for t < W; then lr = lr0 * (T - t) / (T - W)
    Reference: J. Devlin et al., "BERT: Pre-training of Deep Bidirectional
    Transformers for Language Understanding", NAACL 2019.

    Args:
        warmup_steps: warmup length W in optimizer steps; default from warmup_fraction.
        warmup_fraction: W as a fraction of total_steps when warmup_steps is not given.
    """
    _check_steps("warmup-linear", total_steps, steps_per_epoch)
    warmup = _warmup_steps("warmup-linear", total_steps, warmup_steps, warmup_fraction)
    return LambdaLR(optimizer, WarmupLinearFactor(warmup, total_steps))


@SCHEDULES.register(
    "one-cycle",
    formula="lr rises from max_lr / div_factor to max_lr over pct_start * T (cosine), "
    "then falls to max_lr / (div_factor * final_div_factor) at T",
    reference="Smith & Topin, Super-Convergence: Very Fast Training of Neural Networks "
    "Using Large Learning Rates, 2018",
)
def one_cycle(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    max_lr: float | list[float] | None = None,
    pct_start: float = 0.25,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    cycle_momentum: bool | None = None,
) -> LRScheduler:
    """One-cycle: one rise to a large learning rate and one long fall, for fast training.

    Use it to train in few epochs with SGD or Adam: the high middle phase
    acts as a regulariser and the long anneal settles the weights. The
    momentum (or Adam's beta1) moves opposite to the rate, 0.95 -> 0.85 -> 0.95.
    The schedule ends at total_steps: stepping past it is an error.

    Formula: lr rises from max_lr / div_factor to max_lr over the first
    pct_start * T steps, then falls to max_lr / (div_factor * final_div_factor)
    at T, both along cosines.
    Reference: L. N. Smith & N. Topin, "Super-Convergence", 2018.

    Args:
        max_lr: the peak rate; default each param group's configured lr.
        pct_start: the fraction of the steps spent rising, in (0, 1).
        div_factor: the starting rate is max_lr / div_factor.
        final_div_factor: the final rate is the starting rate / final_div_factor.
        cycle_momentum: cycle momentum/beta1; default on when the optimizer has
            betas or a momentum above 0 (never switches momentum on).
    """
    _check_steps("one-cycle", total_steps, steps_per_epoch)
    peak = _max_lr(optimizer, max_lr)
    pct_start = check_number(
        "schedule", "one-cycle", "pct_start", pct_start, positive=True, maximum=1.0, example="0.25"
    )
    div_factor = check_number("schedule", "one-cycle", "div_factor", div_factor, positive=True, example="25")
    final = check_number("schedule", "one-cycle", "final_div_factor", final_div_factor, positive=True, example="1e4")
    if cycle_momentum is None:
        defaults = optimizer.defaults
        cycle_momentum = "betas" in defaults or defaults.get("momentum", 0) > 0
    return OneCycleLR(
        optimizer,
        max_lr=peak,
        total_steps=total_steps,
        pct_start=pct_start,
        anneal_strategy="cos",
        cycle_momentum=bool(cycle_momentum),
        div_factor=div_factor,
        final_div_factor=final,
    )


def _max_lr(optimizer: torch.optim.Optimizer, max_lr: Any) -> list[float]:
    groups = optimizer.param_groups
    if max_lr is None:
        # 'initial_lr' is the configured lr even when another scheduler already changed 'lr'.
        return [float(group.get("initial_lr", group["lr"])) for group in groups]
    values = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
    if len(values) != len(groups):
        raise ConfigError(
            [Problem("schedule.max_lr", max_lr, f"one number or {len(groups)} (one per group)", "Give one number.")]
        )
    return [check_number("schedule", "one-cycle", "max_lr", v, positive=True, example="0.1") for v in values]


def build_schedule(spec: Any, optimizer: torch.optim.Optimizer, total_steps: int, steps_per_epoch: int) -> LRScheduler:
    """Build a schedule from a name, a ``{"name": ..., **options}`` mapping or a scheduler object.

    None means 'constant'; a scheduler object is returned unchanged. The
    schedule must be stepped once per optimizer step.
    """
    if spec is None:
        spec = "constant"
    if not isinstance(spec, (str, Mapping)):
        return spec
    name, options = SCHEDULES.split_spec(spec)
    SCHEDULES.check({"name": name, **options}, "schedule", supplied=SUPPLIED)
    return SCHEDULES.get(spec, optimizer=optimizer, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
