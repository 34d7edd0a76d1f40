"""Activation functions: the non-linearities between layers, each a named module.

Every entry's constructor takes keyword options and returns a fresh
``torch.nn.Module``, so a model can ask for one per layer by name
(``"relu"``), by mapping (``{"name": "leaky-relu", "negative_slope": 0.2}``)
or be handed a module. PyTorch's own modules are used wherever they exist;
only the Heaviside step, which torch has no module for, is written here.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from shendu.nn.registry import ACTIVATIONS


class _Heaviside(torch.autograd.Function):
    """H(x) with its true derivative: 0 wherever it exists (the Dirac spike at 0 is left out)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(grad_output)


class Step(nn.Module):
    """Heaviside step: 1 where the input is positive, else 0 (as the input's float dtype).

    Its gradient is zero, so backpropagation through a step network stays
    well-defined but learns nothing below it: the reason Rosenblatt's rule,
    not gradient descent, trains perceptrons, and smooth activations replaced it.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        return _Heaviside.apply(x)


def _check_positive(name: str, key: str, value: Any, allow_zero: bool = False) -> None:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or value < 0 or (value == 0 and not allow_zero):
        expected = "a non-negative number" if allow_zero else "a positive number"
        raise ValueError(
            f"activation {name!r}: {key} must be {expected}; received {value!r}. "
            f"Set e.g. {{name: {name}, {key}: 1.0}}."
        )


def _check_dim(name: str, dim: Any) -> None:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise ValueError(
            f"activation {name!r}: dim must be an integer axis; received {dim!r}. "
            "Use dim=-1 for the last (class) axis."
        )


@ACTIVATIONS.register("identity", formula="f(x) = x", reference="-")
def identity() -> nn.Module:
    """Identity: passes the input through unchanged.

    Use it for a linear layer (a regression head, a linear autoencoder) or to
    switch an activation off from a config without changing the model code.

    Formula: f(x) = x
    """
    return nn.Identity()


@ACTIVATIONS.register(
    "step",
    formula="f(x) = 1 if x > 0 else 0",
    reference="Rosenblatt 1958, The Perceptron: a probabilistic model for information storage",
)
def step() -> nn.Module:
    """Heaviside step: outputs 1 for positive inputs and 0 otherwise.

    The threshold unit of McCulloch-Pitts neurons and Rosenblatt's perceptron.
    Its gradient is zero everywhere (undefined at 0), so backpropagation cannot
    train the layers before it: it is for perceptron demonstrations and for
    showing why smooth activations are needed, not for training deep networks.

    Formula: f(x) = 1 if x > 0 else 0
    Reference: F. Rosenblatt, "The Perceptron", Psychological Review, 1958.
    """
    return Step()


@ACTIVATIONS.register(
    "sigmoid",
    formula="f(x) = 1 / (1 + exp(-x))",
    reference="Rumelhart, Hinton & Williams 1986, Learning representations by back-propagating errors",
)
def sigmoid() -> nn.Module:
    """Logistic sigmoid: squashes any input into (0, 1).

    The classic activation of early neural networks and the output of binary
    classifiers and gates (LSTM). It saturates for large |x| (gradient at most
    0.25), so deep sigmoid networks train slowly: prefer relu-like hidden units.

    Formula: f(x) = 1 / (1 + exp(-x))
    Reference: Rumelhart, Hinton & Williams, Nature 1986.
    """
    return nn.Sigmoid()


@ACTIVATIONS.register(
    "tanh",
    formula="f(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x))",
    reference="LeCun, Bottou, Orr & Mueller 1998, Efficient BackProp",
)
def tanh() -> nn.Module:
    """Hyperbolic tangent: a zero-centred sigmoid with outputs in (-1, 1).

    Zero-centred outputs make it train faster than the sigmoid (LeCun's
    Efficient BackProp); it is the default of LeNet-5 and of RNN cells.

    Formula: f(x) = tanh(x) = 2 * sigmoid(2x) - 1
    Reference: LeCun, Bottou, Orr & Mueller, "Efficient BackProp", 1998.
    """
    return nn.Tanh()


@ACTIVATIONS.register(
    "relu",
    formula="f(x) = max(0, x)",
    reference="Nair & Hinton 2010; Glorot, Bordes & Bengio 2011, Deep Sparse Rectifier Neural Networks",
)
def relu() -> nn.Module:
    """Rectified linear unit: zero for negative inputs, identity for positive ones.

    The default hidden activation of modern networks: cheap, non-saturating for
    x > 0, and sparse. Units stuck at x < 0 stop learning ("dying ReLU"); try
    leaky-relu or gelu if that happens. Pair it with He initialisation.

    Formula: f(x) = max(0, x)
    Reference: Nair & Hinton, ICML 2010; Glorot, Bordes & Bengio, AISTATS 2011.
    """
    return nn.ReLU()


@ACTIVATIONS.register(
    "leaky-relu",
    formula="f(x) = x if x > 0 else negative_slope * x",
    reference="Maas, Hannun & Ng 2013, Rectifier Nonlinearities Improve Neural Network Acoustic Models",
)
def leaky_relu(negative_slope: float = 0.01) -> nn.Module:
    """Leaky ReLU: a ReLU with a small slope for negative inputs, so no unit dies.

    Formula: f(x) = x if x > 0 else negative_slope * x
    Reference: Maas, Hannun & Ng, ICML workshop 2013.

    Args:
        negative_slope: slope for x < 0 (0.01; GANs often use 0.2).
    """
    _check_positive("leaky-relu", "negative_slope", negative_slope, allow_zero=True)
    return nn.LeakyReLU(negative_slope=float(negative_slope))


@ACTIVATIONS.register(
    "elu",
    formula="f(x) = x if x > 0 else alpha * (exp(x) - 1)",
    reference="Clevert, Unterthiner & Hochreiter 2016, Fast and Accurate Deep Network Learning by ELUs",
)
def elu(alpha: float = 1.0) -> nn.Module:
    """Exponential linear unit: smooth negative part that saturates at -alpha.

    Negative outputs push mean activations towards zero, which speeds learning.

    Formula: f(x) = x if x > 0 else alpha * (exp(x) - 1)
    Reference: Clevert, Unterthiner & Hochreiter, ICLR 2016.

    Args:
        alpha: the value the negative part saturates to (as -alpha).
    """
    _check_positive("elu", "alpha", alpha)
    return nn.ELU(alpha=float(alpha))


@ACTIVATIONS.register(
    "selu",
    formula="f(x) = scale * (x if x > 0 else alpha * (exp(x) - 1)), scale=1.0507, alpha=1.6733",
    reference="Klambauer, Unterthiner, Mayr & Hochreiter 2017, Self-Normalizing Neural Networks",
)
def selu() -> nn.Module:
    """Scaled ELU: keeps activations at zero mean and unit variance without normalisation layers.

    Self-normalisation holds for plain fully connected stacks initialised with
    lecun-normal (``initialize(..., "auto")`` picks that) and with alpha-dropout.

    Formula: f(x) = scale * (x if x > 0 else alpha * (exp(x) - 1)),
             scale = 1.0507..., alpha = 1.6732...
    Reference: Klambauer et al., NeurIPS 2017.
    """
    return nn.SELU()


@ACTIVATIONS.register(
    "gelu",
    formula="f(x) = x * Phi(x), Phi the standard normal CDF",
    reference="Hendrycks & Gimpel 2016, Gaussian Error Linear Units (GELUs)",
)
def gelu(approximate: str = "none") -> nn.Module:
    """Gaussian error linear unit: weights the input by the probability a normal variable is below it.

    The activation of Transformers (BERT, GPT) and ConvNeXt; a smooth ReLU.

    Formula: f(x) = x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)));
             tanh approximation: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
    Reference: Hendrycks & Gimpel, arXiv:1606.08415, 2016.

    Args:
        approximate: "none" (exact, erf) or "tanh" (the GPT-2 approximation).
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(
            f"activation 'gelu': approximate must be 'none' or 'tanh'; received {approximate!r}. "
            "Use approximate='tanh' for the GPT-2 approximation."
        )
    return nn.GELU(approximate=approximate)


@ACTIVATIONS.register(
    "silu",
    formula="f(x) = x * sigmoid(x)",
    reference="Elfwing, Uchibe & Doya 2018; Ramachandran, Zoph & Le 2017 (Swish)",
)
def silu() -> nn.Module:
    """Sigmoid linear unit, also called swish: the input gated by its own sigmoid.

    Found by automated search to beat ReLU in deep image models (as "swish");
    the activation of EfficientNet and of many diffusion U-Nets.

    Formula: f(x) = x * sigmoid(x)   (swish with beta = 1)
    Reference: Elfwing et al., Neural Networks 2018; Ramachandran et al.,
    "Searching for Activation Functions", arXiv:1710.05941.
    """
    return nn.SiLU()


@ACTIVATIONS.register(
    "softplus",
    formula="f(x) = (1 / beta) * log(1 + exp(beta * x))",
    reference="Dugas et al. 2001, Incorporating Second-Order Functional Knowledge for Better Option Pricing",
)
def softplus(beta: float = 1.0) -> nn.Module:
    """Softplus: a smooth ReLU whose output is always positive.

    Use it where an output must be positive (a standard deviation, a rate).

    Formula: f(x) = (1 / beta) * log(1 + exp(beta * x))
    Reference: Dugas et al., NeurIPS 2001.

    Args:
        beta: sharpness; large beta approaches ReLU.
    """
    _check_positive("softplus", "beta", beta)
    return nn.Softplus(beta=float(beta))


@ACTIVATIONS.register(
    "mish",
    formula="f(x) = x * tanh(softplus(x))",
    reference="Misra 2019, Mish: A Self Regularized Non-Monotonic Activation Function",
)
def mish() -> nn.Module:
    """Mish: a smooth, non-monotonic self-gated activation similar to silu.

    Formula: f(x) = x * tanh(log(1 + exp(x)))
    Reference: D. Misra, arXiv:1908.08681, 2019 (used in YOLOv4).
    """
    return nn.Mish()


@ACTIVATIONS.register(
    "softmax",
    formula="f(x)_i = exp(x_i) / sum_j exp(x_j)",
    reference="Bridle 1990, Probabilistic interpretation of feedforward classification network outputs",
)
def softmax(dim: int = -1) -> nn.Module:
    """Softmax: turns a vector of scores into probabilities that sum to one.

    Use it to read class probabilities from logits; do not put it before
    cross-entropy, which applies log-softmax itself.

    Formula: f(x)_i = exp(x_i) / sum_j exp(x_j)
    Reference: J. Bridle, 1990.

    Args:
        dim: the axis that sums to one (-1, the class axis).
    """
    _check_dim("softmax", dim)
    return nn.Softmax(dim=dim)


@ACTIVATIONS.register(
    "log-softmax",
    formula="f(x)_i = x_i - log(sum_j exp(x_j))",
    reference="Bridle 1990; used with the negative log-likelihood loss",
)
def log_softmax(dim: int = -1) -> nn.Module:
    """Log-softmax: the logarithm of softmax, computed stably.

    Pair it with the negative log-likelihood loss; together they equal cross-entropy.

    Formula: f(x)_i = x_i - log(sum_j exp(x_j))
    Reference: J. Bridle, 1990.

    Args:
        dim: the class axis (-1).
    """
    _check_dim("log-softmax", dim)
    return nn.LogSoftmax(dim=dim)


@ACTIVATIONS.register(
    "hard-sigmoid",
    formula="f(x) = min(max(0, x + 3), 6) / 6",
    reference="Howard et al. 2019, Searching for MobileNetV3",
)
def hard_sigmoid() -> nn.Module:
    """Hard sigmoid: a piecewise-linear sigmoid that is cheap on mobile hardware.

    Formula: f(x) = relu6(x + 3) / 6 = min(max(0, x + 3), 6) / 6
    Reference: Howard et al., "Searching for MobileNetV3", ICCV 2019.
    """
    return nn.Hardsigmoid()


def get_activation(spec: Any) -> nn.Module:
    """Build an activation module from a name, a ``{name: ..., **options}`` mapping or a module.

    A module passed in is copied, so that a model asking once per layer never
    shares one module (and its parameters, e.g. PReLU's) between layers.
    """
    activation = ACTIVATIONS.get(spec)
    if isinstance(activation, nn.Module):
        return copy.deepcopy(activation) if activation is spec else activation
    raise ValueError(
        f"an activation must be a name, a mapping with a 'name' key or a torch.nn.Module; "
        f"received {spec!r}. Use e.g. 'relu' or {{name: leaky-relu, negative_slope: 0.2}} "
        "(see: shendu list activations)."
    )
