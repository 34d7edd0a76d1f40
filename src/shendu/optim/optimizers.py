"""Optimizers: the rules that turn gradients into weight updates, each by name.

Every entry is ``(params, **options) -> torch.optim.Optimizer`` over torch's
own implementation (``foreach=None`` lets torch pick its fast multi-tensor
path). ``params`` is an iterable of tensors or of param-group dicts.
:func:`build_optimizer` builds one for a model from a config spec and keeps
weight decay off biases and normalisation layers.

In the formulas, g is the gradient, w the weight, lr the learning rate and
wd the weight decay; with L2-style decay (every optimizer but 'adamw'),
g = g + wd * w before the update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from shendu.errors import ConfigError, Problem
from shendu.optim.registry import OPTIMIZERS, check_betas, check_number, default_of

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]
Optimizer = torch.optim.Optimizer
Betas = tuple[float, float]

# Spec options that build_optimizer reads itself; they never reach the optimizer's constructor.
BUILD_OPTIONS = ("decay_biases_and_norms",)

# Norm layers whose weights are scales, not features: decaying them only fights the normalisation.
NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.RMSNorm)


def _common(name: str, lr: Any, weight_decay: Any) -> tuple[float, float]:
    lr = check_number("optimizer", name, "lr", lr, positive=True, example="0.001")
    weight_decay = check_number("optimizer", name, "weight_decay", weight_decay, example="0.0001")
    return lr, weight_decay


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
    lr, weight_decay = _common("sgd", lr, weight_decay)
    momentum = _momentum("sgd", momentum)
    dampening = check_number("optimizer", "sgd", "dampening", dampening, maximum=1.0, example="0.0")
    if not isinstance(nesterov, bool):
        raise ConfigError([Problem("optimizer.nesterov", nesterov, "true or false", "Set nesterov: true.")])
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
    lr, weight_decay = _common("momentum", lr, weight_decay)
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
    lr, weight_decay = _common("nesterov", lr, weight_decay)
    momentum = check_number("optimizer", "nesterov", "momentum", momentum, positive=True, maximum=1.0, example="0.9")
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay, foreach=None)


ADAM_FORMULA = (
    "m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g^2; "
    "m_hat = m / (1 - b1^t); v_hat = v / (1 - b2^t); w -= lr * m_hat / (sqrt(v_hat) + eps)"
)


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
    lr, weight_decay = _common("adam", lr, weight_decay)
    eps = check_number("optimizer", "adam", "eps", eps, positive=True, example="1e-8")
    betas = check_betas("adam", betas)
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=None)


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
    lr, weight_decay = _common("adamw", lr, weight_decay)
    eps = check_number("optimizer", "adamw", "eps", eps, positive=True, example="1e-8")
    betas = check_betas("adamw", betas)
    return torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=None)


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
    lr, weight_decay = _common("amsgrad", lr, weight_decay)
    eps = check_number("optimizer", "amsgrad", "eps", eps, positive=True, example="1e-8")
    betas = check_betas("amsgrad", betas)
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=True, foreach=None)


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
    lr, weight_decay = _common("nadam", lr, weight_decay)
    eps = check_number("optimizer", "nadam", "eps", eps, positive=True, example="1e-8")
    momentum_decay = check_number("optimizer", "nadam", "momentum_decay", momentum_decay, example="0.004")
    return torch.optim.NAdam(
        params,
        lr=lr,
        betas=check_betas("nadam", betas),
        eps=eps,
        weight_decay=weight_decay,
        momentum_decay=momentum_decay,
        foreach=None,
    )


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
    lr, weight_decay = _common("rmsprop", lr, weight_decay)
    alpha = check_number("optimizer", "rmsprop", "alpha", alpha, maximum=1.0, example="0.99")
    if not isinstance(centered, bool):
        raise ConfigError([Problem("optimizer.centered", centered, "true or false", "Set centered: false.")])
    eps = check_number("optimizer", "rmsprop", "eps", eps, positive=True, example="1e-8")
    return torch.optim.RMSprop(
        params,
        lr=lr,
        alpha=alpha,
        eps=eps,
        momentum=_momentum("rmsprop", momentum),
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
    lr, weight_decay = _common("adagrad", lr, weight_decay)
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
    lr, weight_decay = _common("adadelta", lr, weight_decay)
    rho = check_number("optimizer", "adadelta", "rho", rho, maximum=1.0, example="0.9")
    eps = check_number("optimizer", "adadelta", "eps", eps, positive=True, example="1e-6")
    return torch.optim.Adadelta(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, foreach=None)


# -- building for a model ----------------------------------------------------------
def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Split a model's trainable parameters into a decayed group and a ``weight_decay=0`` group.

    Biases, every 1-D parameter and the parameters of normalisation layers
    (BatchNorm, LayerNorm, GroupNorm, InstanceNorm, RMSNorm) are not decayed:
    they set offsets and scales, and shrinking them toward 0 does not
    regularise the function, it only fights the normalisation.
    Empty groups are left out.
    """
    in_norm_layers = {
        id(p) for module in model.modules() if isinstance(module, NORM_LAYERS) for p in module.parameters(recurse=False)
    }
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():  # shared parameters appear once
        if not parameter.requires_grad:
            continue
        exempt = parameter.dim() <= 1 or name.endswith("bias") or id(parameter) in in_norm_layers
        (no_decay if exempt else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def build_optimizer(spec: Any, model: nn.Module) -> torch.optim.Optimizer:
    """Build the optimizer for ``model`` from a name, a mapping or an optimizer object.

    A spec is ``"adam"`` or ``{"name": "adamw", "lr": 3e-4, ...}``; an
    optimizer object is returned unchanged and None means 'adamw'. When the
    weight decay (the spec's, or the optimizer's default) is above 0, biases
    and normalisation parameters go to a group with weight_decay 0 (see
    :func:`parameter_groups`); the spec option ``decay_biases_and_norms: true``
    decays every parameter instead.
    """
    if spec is None:
        spec = "adamw"
    if not isinstance(spec, (str, Mapping)):
        return spec
    name, options = OPTIMIZERS.split_spec(spec)
    decay_all = options.pop("decay_biases_and_norms", False)
    if not isinstance(decay_all, bool):
        raise ConfigError(
            [Problem("optimizer.decay_biases_and_norms", decay_all, "true or false", "Set it to false (the default).")]
        )
    entry = OPTIMIZERS.entry(name)
    OPTIMIZERS.check({"name": name, **options}, "optimizer", supplied=("params",))
    weight_decay = options.get("weight_decay", default_of(entry, "weight_decay", 0.0))
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError(
            [
                Problem(
                    "optimizer",
                    name,
                    "a model with at least one trainable parameter",
                    "Check the model: all of its parameters are frozen (requires_grad=False) or it has none.",
                )
            ]
        )
    split = not decay_all and isinstance(weight_decay, (int, float)) and weight_decay > 0
    params = parameter_groups(model, weight_decay) if split else trainable
    return entry.constructor(params, **options)
