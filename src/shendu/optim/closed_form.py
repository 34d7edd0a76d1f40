"""Closed-form schedules: the learning rate as a function of the step count alone.

A closed-form schedule multiplies each param group's base learning rate lr0
by a *factor* f(t) of the number t of optimizer steps taken. Factors are
small callable classes (never lambdas or closures), each a closed-form
function of t, so the rate never drifts by repeated multiplication and the
schedule's whole state is its step count: :class:`FactorSchedule` saves
only plain numbers, and a fresh schedule built from the same config that
loads them continues exactly.

Registering a schedule with :func:`register_closed_form` records its factor
function in the registry entry (tag ``factors``), which is how 'warmup' can
put a linear ramp in front of any of them.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from shendu.optim.registry import SCHEDULES

Factor = Callable[[int], float]
# (optimizer, total_steps, steps_per_epoch, **options) -> one factor per param group
FactorFunction = Callable[..., list[Factor]]
SUPPLIED = SCHEDULES.supplied


# -- factors: multipliers of the base learning rate, closed-form in the step t ------
class ConstantFactor:
    """1 at every step."""

    def __call__(self, step: int) -> float:
        return 1.0


class StepFactor:
    """gamma ** floor(t / step_size)."""

    def __init__(self, step_size: int, gamma: float):
        self.step_size, self.gamma = step_size, gamma

    def __call__(self, step: int) -> float:
        return self.gamma ** (step // self.step_size)


class MultiStepFactor:
    """gamma ** (number of milestones <= t); milestones in steps, increasing."""

    def __init__(self, milestones: Sequence[int], gamma: float):
        self.milestones, self.gamma = list(milestones), gamma

    def __call__(self, step: int) -> float:
        return self.gamma ** bisect.bisect_right(self.milestones, step)


class ExponentialFactor:
    """gamma ** (t / steps_per_epoch): a factor gamma per epoch, spread smoothly over its steps."""

    def __init__(self, steps_per_epoch: int, gamma: float):
        self.steps_per_epoch, self.gamma = steps_per_epoch, gamma

    def __call__(self, step: int) -> float:
        return self.gamma ** (step / self.steps_per_epoch)


class CosineFactor:
    """m + (1 - m) * 0.5 * (1 + cos(pi * t / T)), held at m after T; m = min_ratio."""

    def __init__(self, total_steps: int, min_ratio: float):
        self.total_steps, self.min_ratio = total_steps, min_ratio

    def __call__(self, step: int) -> float:
        progress = min(1.0, step / self.total_steps)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class PolynomialFactor:
    """e + (1 - e) * (1 - t / T) ** power, held at e after T; e = end_ratio."""

    def __init__(self, total_steps: int, power: float, end_ratio: float):
        self.total_steps, self.power, self.end_ratio = total_steps, power, end_ratio

    def __call__(self, step: int) -> float:
        remaining = max(0.0, 1.0 - step / self.total_steps)
        return self.end_ratio + (1.0 - self.end_ratio) * remaining**self.power


class WarmupFactor:
    """(t + 1) / (W + 1) for t < W, then inner(t - W): a linear ramp in front of any factor."""

    def __init__(self, warmup_steps: int, inner: Factor):
        self.warmup_steps, self.inner = warmup_steps, inner

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        return self.inner(step - self.warmup_steps)


class FactorSchedule(LambdaLR):
    """``LambdaLR`` over factor objects, whose saved state is the step count and plain numbers.

    The factors are rebuilt from the config, not saved: ``LambdaLR`` would
    store each factor's attributes, which for a warmup (a factor holding a
    factor) is not JSON. The state is what changes during training:
    ``last_epoch`` (the step count), ``base_lrs``, ``_last_lr``, counters.
    """

    def state_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "lr_lambdas")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # A LambdaLR state from an older checkpoint carries 'lr_lambdas': the config rebuilds them.
        self.__dict__.update({key: value for key, value in state_dict.items() if key != "lr_lambdas"})


# -- helpers for factor functions ---------------------------------------------------------
def check_steps(name: str, total_steps: Any, steps_per_epoch: Any) -> None:
    """The step counts the engine passes: positive integers (a ValueError: not a user setting)."""
    for key, value in (("total_steps", total_steps), ("steps_per_epoch", steps_per_epoch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"schedule {name!r}: expected {key} to be a positive integer; received {value!r}. "
                "The engine passes the number of optimizer steps; check train.epochs and the data size."
            )


def base_lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    """Each param group's configured rate: 'initial_lr' when a schedule already changed 'lr'."""
    return [float(group.get("initial_lr", group["lr"])) for group in optimizer.param_groups]


def per_group(optimizer: torch.optim.Optimizer, factor: Factor) -> list[Factor]:
    """The same factor for every param group (each group scales its own lr0)."""
    return [factor] * len(optimizer.param_groups)


def register_closed_form(name: str, *, formula: str, reference: str) -> Callable[[FactorFunction], FactorFunction]:
    """Register a closed-form schedule from its factor function.

    The factor function is ``(optimizer, total_steps, steps_per_epoch,
    **options) -> [factor per param group]``; the registered constructor
    checks the step counts and wraps the factors in a :class:`FactorSchedule`.
    It takes the factor function's signature and docstring (so option checks
    and ``shendu explain`` see them) and records it as the tag ``factors``.
    """

    def decorate(factors: FactorFunction) -> FactorFunction:
        @functools.wraps(factors)
        def build(optimizer: torch.optim.Optimizer, total_steps: int, steps_per_epoch: int, **options: Any) -> LambdaLR:
            check_steps(name, total_steps, steps_per_epoch)
            return FactorSchedule(optimizer, factors(optimizer, total_steps, steps_per_epoch, **options))

        SCHEDULES.add(name, build, formula=formula, reference=reference, factors=factors)
        return factors

    return decorate


__all__ = [
    "ConstantFactor",
    "CosineFactor",
    "ExponentialFactor",
    "Factor",
    "FactorSchedule",
    "MultiStepFactor",
    "PolynomialFactor",
    "StepFactor",
    "SUPPLIED",
    "WarmupFactor",
    "base_lrs",
    "check_steps",
    "per_group",
    "register_closed_form",
]
