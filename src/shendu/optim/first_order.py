"""First-order optimizers of the SGD family: steps along the (averaged) negative gradient.

Every entry is ``(params, **options) -> torch.optim.Optimizer`` over torch's
own implementation (``foreach=None`` lets torch pick its fast multi-tensor
path); ``params`` is an iterable of tensors or of param-group dicts.

In the formulas, g is the gradient, w the weight, lr the learning rate and
wd the weight decay (L2-style: g = g + wd * w before the update).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from shendu.errors import ConfigError, Problem
from shendu.optim.registry import OPTIMIZERS, check_flag, check_lr_and_decay, check_number

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]
Optimizer = torch.optim.Optimizer


def _momentum(name: str, momentum: Any) -> float:
    return check_number("optimizer", name, "momentum", momentum, maximum=1.0, example="0.9")


@OPTIMIZERS.register(
    "sgd",
    formula="w -= lr * g; with momentum mu: v = mu * v + g, w -= lr * v; "
    "with nesterov: w -= lr * (g + mu * v)",
    reference="Robbins & Monro, A Stochastic Approximation Method, 1951",
)
def sgd(
    params: Params,
    lr: float = 0.01,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    dampening: float = 0.0,
) -> Optimizer:
    """Stochastic gradient descent: step against the gradient of a mini-batch.

    The baseline every other optimizer is compared with, and still the best
    generaliser for image classification with a tuned schedule. Plain SGD
    is slow in ravines (directions of very different curvature); momentum
    fixes that (see 'momentum' and 'nesterov').

    Formula: w -= lr * g; with momentum mu: v = mu * v + (1 - dampening) * g,
    w -= lr * v; with nesterov: w -= lr * (g + mu * v).
    Reference: H. Robbins & S. Monro, "A Stochastic Approximation Method", 1951.

    Args:
        params: tensors or param-group dicts to optimise.
        lr: learning rate (> 0).
        momentum: momentum factor mu in [0, 1); 0 turns momentum off.
        nesterov: use Nesterov's look-ahead momentum (needs momentum > 0, dampening 0).
        weight_decay: L2 penalty wd (>= 0).
        dampening: fraction of the gradient held back from the velocity.
    """
    lr, weight_decay = check_lr_and_decay("sgd", lr, weight_decay)
    momentum = _momentum("sgd", momentum)
    dampening = check_number("optimizer", "sgd", "dampening", dampening, maximum=1.0, example="0.0")
    check_flag("optimizer", "sgd", "nesterov", nesterov)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ConfigError(
            [
                Problem(
                    "optimizer.nesterov",
                    nesterov,
                    "momentum > 0 and dampening 0 when nesterov is on",
                    "Set momentum: 0.9 and dampening: 0, or use the 'nesterov' optimizer.",
                )
            ]
        )
    return torch.optim.SGD(
        params,
        lr=lr,
        momentum=momentum,
        dampening=dampening,
        nesterov=nesterov,
        weight_decay=weight_decay,
        foreach=None,
    )


@OPTIMIZERS.register(
    "momentum",
    formula="v = mu * v + g; w -= lr * v (mu = 0.9)",
    reference="Polyak, Some methods of speeding up the convergence of iteration methods, 1964",
)
def momentum(params: Params, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0) -> Optimizer:
    """SGD with (heavy-ball) momentum 0.9: a running velocity smooths and speeds the steps.

    Use it as the default SGD for deep networks: the velocity averages
    gradients over about 1 / (1 - mu) steps, which damps oscillation across
    ravines and speeds progress along them. The effective step is about
    lr / (1 - mu), so the learning rate is usually 10x lower than plain SGD's.

    Formula: v = mu * v + g; w -= lr * v
    Reference: B. T. Polyak, "Some methods of speeding up the convergence of
    iteration methods", 1964; Rumelhart, Hinton & Williams, Nature 1986.

    Args:
        params: tensors or param-group dicts to optimise.
        lr: learning rate (> 0).
        momentum: momentum factor mu in [0, 1).
        weight_decay: L2 penalty wd (>= 0).
    """
    lr, weight_decay = check_lr_and_decay("momentum", lr, weight_decay)
    momentum = _momentum("momentum", momentum)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, foreach=None)


@OPTIMIZERS.register(
    "nesterov",
    formula="v = mu * v + g; w -= lr * (g + mu * v) (mu = 0.9)",
    reference="Sutskever, Martens, Dahl & Hinton, On the importance of initialization "
    "and momentum in deep learning, ICML 2013",
)
def nesterov(params: Params, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0) -> Optimizer:
    """SGD with Nesterov momentum 0.9: momentum that corrects itself with a look-ahead.

    Use it instead of 'momentum' for the same cost: it evaluates the step as
    if the velocity had already been applied, which reacts sooner when the
    gradient turns and oscillates less.

    Formula: v = mu * v + g; w -= lr * (g + mu * v)
    Reference: Y. Nesterov, "A method for solving the convex programming problem
    with convergence rate O(1/k^2)", 1983; Sutskever et al., ICML 2013.

    Args:
        params: tensors or param-group dicts to optimise.
        lr: learning rate (> 0).
        momentum: momentum factor mu in (0, 1).
        weight_decay: L2 penalty wd (>= 0).
    """
    lr, weight_decay = check_lr_and_decay("nesterov", lr, weight_decay)
    momentum = check_number("optimizer", "nesterov", "momentum", momentum, positive=True, maximum=1.0, example="0.9")
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay, foreach=None)


__all__ = ["momentum", "nesterov", "sgd"]
