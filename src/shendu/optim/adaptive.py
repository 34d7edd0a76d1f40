"""Adaptive optimizers: a step size per weight from that weight's gradient history.

RMSprop, Adagrad and Adadelta; the Adam family (which adds momentum) is in
``shendu.optim.adam``. Every entry is ``(params, **options) ->
torch.optim.Optimizer`` over torch's own implementation.

In the formulas, g is the gradient, w the weight, lr the learning rate and
wd the weight decay (L2-style: g = g + wd * w before the update).
"""

from __future__ import annotations

import torch

from shendu.optim.first_order import Optimizer, Params
from shendu.optim.registry import OPTIMIZERS, check_flag, check_lr_and_decay, check_number


@OPTIMIZERS.register(
    "rmsprop",
    formula="v = alpha * v + (1 - alpha) * g^2; w -= lr * g / (sqrt(v) + eps)",
    reference="Tieleman & Hinton, Neural Networks for Machine Learning, lecture 6.5, 2012",
)
def rmsprop(
    params: Params,
    lr: float = 0.01,
    alpha: float = 0.99,
    eps: float = 1e-8,
    momentum: float = 0.0,
    centered: bool = False,
    weight_decay: float = 0.0,
) -> Optimizer:
    """RMSprop: divide each weight's gradient by a running root-mean-square of its gradients.

    Use it for recurrent networks and reinforcement learning (DQN, A3C),
    where gradient scales drift: like Adagrad it adapts each weight's step,
    but it forgets old gradients, so steps do not shrink to zero. ``centered``
    divides by the estimated standard deviation instead.

    Formula: v = alpha * v + (1 - alpha) * g^2; w -= lr * g / (sqrt(v) + eps)
    Reference: T. Tieleman & G. Hinton, "Neural Networks for Machine Learning",
    Coursera lecture 6.5, 2012.

    Args:
        params: tensors or param-group dicts to optimise.
        lr: learning rate (> 0).
        alpha: decay rate of the squared-gradient average, in [0, 1).
        eps: added to the denominator for numerical stability.
        momentum: momentum factor in [0, 1) on the scaled step.
        centered: subtract the squared running mean gradient from v.
        weight_decay: L2 penalty wd (>= 0).
    """
    lr, weight_decay = check_lr_and_decay("rmsprop", lr, weight_decay)
    alpha = check_number("optimizer", "rmsprop", "alpha", alpha, maximum=1.0, example="0.99")
    check_flag("optimizer", "rmsprop", "centered", centered, example="false")
    eps = check_number("optimizer", "rmsprop", "eps", eps, positive=True, example="1e-8")
    return torch.optim.RMSprop(
        params,
        lr=lr,
        alpha=alpha,
        eps=eps,
        momentum=check_number("optimizer", "rmsprop", "momentum", momentum, maximum=1.0, example="0.9"),
        centered=centered,
        weight_decay=weight_decay,
        foreach=None,
    )


@OPTIMIZERS.register(
    "adagrad",
    formula="s = s + g^2; w -= lr * g / (sqrt(s) + eps)",
    reference="Duchi, Hazan & Singer, Adaptive Subgradient Methods for Online Learning "
    "and Stochastic Optimization, JMLR 2011",
)
def adagrad(
    params: Params,
    lr: float = 0.01,
    lr_decay: float = 0.0,
    eps: float = 1e-10,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
) -> Optimizer:
    """Adagrad: per-weight steps that shrink with the sum of that weight's squared gradients.

    Use it for sparse features (word embeddings, click models): rare
    features keep large steps while frequent ones slow down. Because the sum
    only grows, the steps eventually become too small for long training of
    deep networks; RMSprop and Adam fix that by forgetting.

    Formula: s = s + g^2; w -= lr * g / (sqrt(s) + eps)
    Reference: J. Duchi, E. Hazan & Y. Singer, "Adaptive Subgradient Methods for
    Online Learning and Stochastic Optimization", JMLR 2011.

    Args:
        params: tensors or param-group dicts to optimise.
        lr: learning rate (> 0).
        lr_decay: lr is divided by (1 + (t - 1) * lr_decay) at step t.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty wd (>= 0).
        initial_accumulator_value: starting value of s.
    """
    lr, weight_decay = check_lr_and_decay("adagrad", lr, weight_decay)
    return torch.optim.Adagrad(
        params,
        lr=lr,
        lr_decay=check_number("optimizer", "adagrad", "lr_decay", lr_decay, example="0.0"),
        eps=check_number("optimizer", "adagrad", "eps", eps, positive=True, example="1e-10"),
        weight_decay=weight_decay,
        initial_accumulator_value=check_number(
            "optimizer", "adagrad", "initial_accumulator_value", initial_accumulator_value, example="0.1"
        ),
        foreach=None,
    )


@OPTIMIZERS.register(
    "adadelta",
    formula="v = rho * v + (1 - rho) * g^2; d = sqrt(u + eps) / sqrt(v + eps) * g; "
    "u = rho * u + (1 - rho) * d^2; w -= lr * d",
    reference="Zeiler, ADADELTA: An Adaptive Learning Rate Method, arXiv:1212.5701, 2012",
)
def adadelta(
    params: Params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0
) -> Optimizer:
    """Adadelta: steps sized by the ratio of recent update and gradient magnitudes, no learning rate needed.

    Use it to avoid tuning a learning rate: the step's units come from the
    running RMS of past updates, so lr = 1.0 is the paper's method. It
    starts slowly (the update average begins at zero) and is mostly of
    historical and teaching interest next to Adam.

    Formula: v = rho * v + (1 - rho) * g^2; d = sqrt(u + eps) / sqrt(v + eps) * g;
    u = rho * u + (1 - rho) * d^2; w -= lr * d
    Reference: M. D. Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701, 2012.

    Args:
        params: tensors or param-group dicts to optimise.
        lr: scale on the update (> 0); 1.0 is the original method.
        rho: decay rate of both running averages, in [0, 1).
        eps: added inside both square roots; it also sets the size of the first steps.
        weight_decay: L2 penalty wd (>= 0).
    """
    lr, weight_decay = check_lr_and_decay("adadelta", lr, weight_decay)
    rho = check_number("optimizer", "adadelta", "rho", rho, maximum=1.0, example="0.9")
    eps = check_number("optimizer", "adadelta", "eps", eps, positive=True, example="1e-6")
    return torch.optim.Adadelta(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, foreach=None)


__all__ = ["adadelta", "adagrad", "rmsprop"]
