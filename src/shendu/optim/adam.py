"""The Adam family: momentum plus a per-weight step size from the squared-gradient average.

Adam, AdamW, AMSGrad, NAdam, RAdam and Adamax, each over torch's own
implementation (``foreach=None`` lets torch pick its fast multi-tensor path).

In the formulas, g is the gradient, w the weight, t the step count, lr the
learning rate and wd the weight decay (L2-style, g = g + wd * w, except in
'adamw' and in 'radam' with decoupled_weight_decay).
"""

from __future__ import annotations

from typing import Any

import torch

from shendu.optim.first_order import Optimizer, Params
from shendu.optim.registry import OPTIMIZERS, check_betas, check_flag, check_lr_and_decay, check_number

Betas = tuple[float, float]

ADAM_FORMULA = (
    "m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g^2; "
    "m_hat = m / (1 - b1^t); v_hat = v / (1 - b2^t); w -= lr * m_hat / (sqrt(v_hat) + eps)"
)


def _adam_options(name: str, lr: Any, betas: Any, eps: Any, weight_decay: Any) -> dict[str, Any]:
    """The checked options every member of the family shares, as keyword arguments of its torch class."""
    lr, weight_decay = check_lr_and_decay(name, lr, weight_decay)
    eps = check_number("optimizer", name, "eps", eps, positive=True, example="1e-8")
    return {"lr": lr, "betas": check_betas(name, betas), "eps": eps, "weight_decay": weight_decay, "foreach": None}


@OPTIMIZERS.register(
    "adam", formula=ADAM_FORMULA, reference="Kingma & Ba, Adam: A Method for Stochastic Optimization, ICLR 2015"
)
def adam(
    params: Params, lr: float = 1e-3, betas: Betas = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0
) -> Optimizer:
    """Adam: momentum plus a per-weight step size from the running mean of squared gradients.

    The most common default: it works with little tuning across models
    (lr = 1e-3 is a good start), because each weight's step is scaled by its
    own gradient history. Bias correction makes the first steps the right
    size. For weight decay prefer 'adamw'.

    Formula: m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g^2;
    m_hat = m / (1 - b1^t); v_hat = v / (1 - b2^t); w -= lr * m_hat / (sqrt(v_hat) + eps)
    Reference: D. P. Kingma & J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.

    Args:
        params: tensors or param-group dicts to optimise.
        lr: learning rate (> 0).
        betas: decay rates (b1, b2) of the first and second moment averages.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty wd (>= 0), added to the gradient.
    """
    return torch.optim.Adam(params, **_adam_options("adam", lr, betas, eps, weight_decay))


@OPTIMIZERS.register(
    "adamw",
    formula=ADAM_FORMULA.replace("w -= lr", "w -= lr * wd * w; w -= lr"),
    reference="Loshchilov & Hutter, Decoupled Weight Decay Regularization, ICLR 2019",
)
def adamw(
    params: Params, lr: float = 1e-3, betas: Betas = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01
) -> Optimizer:
    """AdamW: Adam with weight decay applied to the weights directly, not through the gradient.

    Use it whenever you want Adam and regularisation (the default for
    transformers): in Adam, an L2 term in the gradient is divided by sqrt(v)
    and so decays rarely-updated weights less; decoupled decay shrinks every
    weight by the same fraction lr * wd each step.

    Formula: w -= lr * wd * w; then the Adam step: m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g^2; w -= lr * m_hat / (sqrt(v_hat) + eps)
    Reference: I. Loshchilov & F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.

    Args:
        params: tensors or param-group dicts to optimise.
        lr: learning rate (> 0).
        betas: decay rates (b1, b2) of the first and second moment averages.
        eps: added to the denominator for numerical stability.
        weight_decay: decoupled decay wd (>= 0); default 0.01.
    """
    return torch.optim.AdamW(params, **_adam_options("adamw", lr, betas, eps, weight_decay))


@OPTIMIZERS.register(
    "amsgrad",
    formula=ADAM_FORMULA.replace("sqrt(v_hat)", "sqrt(v_max)") + "; v_max = max(v_max, v_hat)",
    reference="Reddi, Kale & Kumar, On the Convergence of Adam and Beyond, ICLR 2018",
)
def amsgrad(
    params: Params, lr: float = 1e-3, betas: Betas = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0
) -> Optimizer:
    """AMSGrad: Adam whose denominator never shrinks, which restores its convergence proof.

    Use it when Adam's loss plateaus or spikes late in training: Adam can
    forget a rare large gradient as v decays and then take too large a step;
    AMSGrad divides by the largest v seen so far.

    Formula: as Adam, with v_max = max(v_max, v_hat) and w -= lr * m_hat / (sqrt(v_max) + eps)
    Reference: S. J. Reddi, S. Kale & S. Kumar, "On the Convergence of Adam and Beyond", ICLR 2018.

    Args:
        params: tensors or param-group dicts to optimise.
        lr: learning rate (> 0).
        betas: decay rates (b1, b2) of the first and second moment averages.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty wd (>= 0).
    """
    return torch.optim.Adam(params, amsgrad=True, **_adam_options("amsgrad", lr, betas, eps, weight_decay))


@OPTIMIZERS.register(
    "nadam",
    formula="as Adam, with the Nesterov look-ahead numerator "
    "m_bar = b1 * m_hat + (1 - b1) * g / (1 - b1^t); w -= lr * m_bar / (sqrt(v_hat) + eps)",
    reference="Dozat, Incorporating Nesterov Momentum into Adam, ICLR 2016 workshop",
)
def nadam(
    params: Params,
    lr: float = 2e-3,
    betas: Betas = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum_decay: float = 4e-3,
) -> Optimizer:
    """NAdam: Adam with Nesterov momentum, which looks one step ahead along the momentum.

    Use it where Adam works and you want slightly faster early progress; it
    behaves like Adam otherwise. torch's version also warms the momentum up
    with ``momentum_decay`` as in Dozat's paper.

    Formula: as Adam, with the look-ahead numerator
    m_bar = b1 * m_hat + (1 - b1) * g / (1 - b1^t); w -= lr * m_bar / (sqrt(v_hat) + eps)
    Reference: T. Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop.

    Args:
        params: tensors or param-group dicts to optimise.
        lr: learning rate (> 0); default 2e-3 as in the paper.
        betas: decay rates (b1, b2) of the first and second moment averages.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty wd (>= 0).
        momentum_decay: the psi of the paper's momentum warm-up schedule.
    """
    options = _adam_options("nadam", lr, betas, eps, weight_decay)
    momentum_decay = check_number("optimizer", "nadam", "momentum_decay", momentum_decay, example="0.004")
    return torch.optim.NAdam(params, momentum_decay=momentum_decay, **options)


@OPTIMIZERS.register(
    "radam",
    formula="as Adam while the variance estimate is unreliable (rho_t <= 5): w -= lr * m_hat; "
    "then w -= lr * r_t * m_hat / (sqrt(v_hat) + eps), with the rectification "
    "r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)), "
    "rho_inf = 2 / (1 - b2) - 1, rho_t = rho_inf - 2 t b2^t / (1 - b2^t)",
    reference="Liu et al., On the Variance of the Adaptive Learning Rate and Beyond, ICLR 2020",
)
def radam(
    params: Params,
    lr: float = 1e-3,
    betas: Betas = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
) -> Optimizer:
    """RAdam: Adam with its adaptive step switched in gradually, a built-in warmup.

    Use it where Adam needs a learning-rate warmup to start stably: in the
    first steps v_hat averages only a few squared gradients, so Adam's
    per-weight step has a large variance. RAdam takes plain momentum steps
    until the estimate is reliable (rho_t > 5: after about 5 steps for b2 = 0.999),
    then scales the adaptive step by a rectification r_t that rises to 1.

    Formula: rho_inf = 2 / (1 - b2) - 1; rho_t = rho_inf - 2 t b2^t / (1 - b2^t);
    if rho_t > 5: r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)),
    w -= lr * r_t * m_hat / (sqrt(v_hat) + eps); else w -= lr * m_hat.
    Reference: L. Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020.

    Args:
        params: tensors or param-group dicts to optimise.
        lr: learning rate (> 0).
        betas: decay rates (b1, b2) of the first and second moment averages.
        eps: added to the denominator for numerical stability.
        weight_decay: weight decay wd (>= 0); L2 in the gradient unless decoupled.
        decoupled_weight_decay: shrink the weights directly as AdamW does (w -= lr * wd * w).
    """
    options = _adam_options("radam", lr, betas, eps, weight_decay)
    decoupled = check_flag("optimizer", "radam", "decoupled_weight_decay", decoupled_weight_decay)
    return torch.optim.RAdam(params, decoupled_weight_decay=decoupled, **options)


@OPTIMIZERS.register(
    "adamax",
    formula="m = b1 * m + (1 - b1) * g; u = max(b2 * u, |g| + eps); w -= lr / (1 - b1^t) * m / u",
    reference="Kingma & Ba, Adam: A Method for Stochastic Optimization, ICLR 2015, section 7.1",
)
def adamax(
    params: Params, lr: float = 2e-3, betas: Betas = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0
) -> Optimizer:
    """Adamax: Adam with the infinity norm, a running maximum of |g| in place of the RMS.

    Use it where rare, large gradients (embeddings, sparse inputs) make
    Adam's squared average jumpy: the maximum decays geometrically and needs
    no bias correction, so the step is bounded by lr. Default lr 2e-3 as in
    the paper.

    Formula: m = b1 * m + (1 - b1) * g; u = max(b2 * u, |g| + eps);
    w -= lr / (1 - b1^t) * m / u
    Reference: D. P. Kingma & J. Ba, "Adam: A Method for Stochastic Optimization",
    ICLR 2015, section 7.1.

    Args:
        params: tensors or param-group dicts to optimise.
        lr: learning rate (> 0); default 2e-3 as in the paper.
        betas: decay rates (b1 of the mean, b2 of the running maximum).
        eps: added to |g| so the maximum is never 0.
        weight_decay: L2 penalty wd (>= 0).
    """
    return torch.optim.Adamax(params, **_adam_options("adamax", lr, betas, eps, weight_decay))


__all__ = ["adam", "adamax", "adamw", "amsgrad", "nadam", "radam"]
