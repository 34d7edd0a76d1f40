"""Cyclical schedules: the learning rate rises and falls, with the momentum moving opposite.

'one-cycle' (one rise and one long fall) and 'cyclic' (repeated triangles),
both over torch's own schedulers, which compute the rate in closed form
from the step count and save plain numbers. When the optimizer has a
momentum (SGD with momentum > 0) or betas (Adam family), they cycle it
opposite to the rate: high momentum while the rate is low. They never
switch momentum on for an optimizer without it.

Neither can follow 'warmup': their rising phase is a warmup.
"""

from __future__ import annotations

from typing import Any

from torch.optim.lr_scheduler import CyclicLR, LRScheduler, OneCycleLR

from shendu.errors import ConfigError, Problem
from shendu.optim.closed_form import base_lrs, check_steps
from shendu.optim.registry import SCHEDULES, check_choice, check_count, check_flag, check_number
from shendu.optim.schedules import Optimizer


def _rates(name: str, key: str, optimizer: Optimizer, value: Any, default: list[float]) -> list[float]:
    """One rate per param group: ``default`` when ``value`` is None, else one number or one per group."""
    if value is None:
        return default
    groups = len(optimizer.param_groups)
    values = list(value) if isinstance(value, (list, tuple)) else [value] * groups
    if len(values) != groups:
        fix = "Give one number, used for every group."
        raise ConfigError([Problem(f"schedule.{key}", value, f"one number or {groups} (one per param group)", fix)])
    return [check_number("schedule", name, key, v, positive=True, example="0.1") for v in values]


def _has_momentum(optimizer: Optimizer) -> bool:
    defaults = optimizer.defaults
    return "betas" in defaults or defaults.get("momentum", 0) > 0


@SCHEDULES.register(
    "one-cycle",
    formula="lr rises from max_lr / div_factor to max_lr over pct_start * T (cosine), "
    "then falls to max_lr / (div_factor * final_div_factor) at T",
    reference="Smith & Topin, Super-Convergence: Very Fast Training of Neural Networks "
    "Using Large Learning Rates, 2018",
    after_warmup="one-cycle warms up by itself: its first pct_start of the steps rise from max_lr / div_factor. "
    "Use {name: one-cycle, pct_start: 0.3} without warmup.",
)
def one_cycle(
    optimizer: Optimizer,
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
    check_steps("one-cycle", total_steps, steps_per_epoch)
    peak = _rates("one-cycle", "max_lr", optimizer, max_lr, base_lrs(optimizer))
    pct_start = check_number(
        "schedule", "one-cycle", "pct_start", pct_start, positive=True, maximum=1.0, example="0.25"
    )
    div_factor = check_number("schedule", "one-cycle", "div_factor", div_factor, positive=True, example="25")
    final = check_number("schedule", "one-cycle", "final_div_factor", final_div_factor, positive=True, example="1e4")
    if cycle_momentum is None:
        cycle_momentum = _has_momentum(optimizer)
    return OneCycleLR(
        optimizer,
        max_lr=peak,
        total_steps=total_steps,
        pct_start=pct_start,
        anneal_strategy="cos",
        cycle_momentum=check_flag("schedule", "one-cycle", "cycle_momentum", cycle_momentum),
        div_factor=div_factor,
        final_div_factor=final,
    )


@SCHEDULES.register(
    "cyclic",
    formula="c = floor(1 + t / (2 s)); x = |t / s - 2 c + 1|; "
    "lr = base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale, "
    "scale = 1 (triangular), 1 / 2^(c - 1) (triangular2), gamma^t (exp_range)",
    reference="Smith, Cyclical Learning Rates for Training Neural Networks, WACV 2017",
    after_warmup="cyclic starts at base_lr and rises for step_size_up steps: that rise is its warmup. "
    "Use cyclic without warmup.",
)
def cyclic(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    max_lr: float | list[float] | None = None,
    base_lr: float | list[float] | None = None,
    step_size_up: int | None = None,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    cycle_momentum: bool | None = None,
    base_momentum: float = 0.8,
    max_momentum: float = 0.9,
) -> LRScheduler:
    """Cyclical learning rate: triangles between base_lr and max_lr, repeated through training.

    Use it to avoid tuning a single rate and to escape sharp minima and
    saddles: the rate sweeps a range found by an LR range test (Smith:
    base_lr about max_lr / 3 to / 4, half-cycle 2-10 epochs). 'triangular2'
    halves the amplitude every cycle; 'exp_range' shrinks it by gamma^t.
    The rate starts at base_lr. With momentum or betas, momentum cycles
    from max_momentum down to base_momentum and back, opposite to the rate.

    Formula: c = floor(1 + t / (2 s)), x = |t / s - 2 c + 1|,
    lr = base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale, with s =
    step_size_up (= step_size_down) and scale 1 (triangular),
    1 / 2^(c - 1) (triangular2) or gamma^t (exp_range).
    Reference: L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017.

    Args:
        max_lr: the top of the cycle; default each param group's configured lr.
        base_lr: the bottom; default max_lr / 4.
        step_size_up: steps from bottom to top; default 2 epochs (2 * steps_per_epoch).
        step_size_down: steps from top to bottom; default step_size_up.
        mode: "triangular", "triangular2" or "exp_range".
        gamma: the per-step amplitude factor of exp_range, in (0, 1].
        cycle_momentum: cycle momentum/beta1; default on when the optimizer has
            betas or a momentum above 0 (never switches momentum on).
        base_momentum: the momentum at the top of the rate's cycle.
        max_momentum: the momentum at the bottom (and at the start).
    """
    check_steps("cyclic", total_steps, steps_per_epoch)
    top = _rates("cyclic", "max_lr", optimizer, max_lr, base_lrs(optimizer))
    bottom = _rates("cyclic", "base_lr", optimizer, base_lr, [rate / 4 for rate in top])
    if any(low >= high for low, high in zip(bottom, top)):
        fix = "Set base_lr below max_lr (Smith: about max_lr / 4), or leave it out."
        raise ConfigError([Problem("schedule.base_lr", base_lr, f"rates below max_lr ({top})", fix)])
    up = 2 * steps_per_epoch if step_size_up is None else step_size_up
    up = check_count("schedule", "cyclic", "step_size_up", up, example="2000")
    down = up if step_size_down is None else step_size_down
    down = check_count("schedule", "cyclic", "step_size_down", down, example="2000")
    gamma = check_number("schedule", "cyclic", "gamma", gamma, positive=True, example="0.99994")
    if gamma > 1:
        raise ConfigError([Problem("schedule.gamma", gamma, "a number in (0, 1]", "Set gamma: 0.99994.")])
    if cycle_momentum is None:
        cycle_momentum = _has_momentum(optimizer)
    elif cycle_momentum and not _has_momentum(optimizer):
        fix = "Set cycle_momentum: false, or use an optimizer with momentum (momentum, nesterov, adam)."
        raise ConfigError([Problem("schedule.cycle_momentum", True, "an optimizer with momentum or betas", fix)])
    low = check_number("schedule", "cyclic", "base_momentum", base_momentum, maximum=1.0, example="0.8")
    high = check_number("schedule", "cyclic", "max_momentum", max_momentum, maximum=1.0, example="0.9")
    return CyclicLR(
        optimizer,
        base_lr=bottom,
        max_lr=top,
        step_size_up=up,
        step_size_down=down,
        mode=check_choice("schedule", "cyclic", "mode", mode, ("triangular", "triangular2", "exp_range")),
        gamma=gamma,
        cycle_momentum=check_flag("schedule", "cyclic", "cycle_momentum", cycle_momentum),
        base_momentum=low,
        max_momentum=high,
    )


__all__ = ["cyclic", "one_cycle"]
