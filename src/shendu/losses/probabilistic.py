"""Probabilistic regression losses: negative log-likelihoods of Poisson counts and Gaussian predictions.

These are what 'mse' becomes when the model predicts a distribution rather
than a number: a Poisson rate for counts, or a Gaussian mean and variance
when the noise level differs from sample to sample (heteroscedastic
regression), so the model can say how sure it is.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import DataError
from shendu.losses.registry import ERROR_AXIS, LOSSES, check_choice, check_number, check_reduction, check_same_shape


def _poisson_profile(x: torch.Tensor) -> torch.Tensor:
    """'poisson-nll' of a predicted log-rate x against an observed count of 2."""
    return LOSSES.get({"name": "poisson-nll", "reduction": "none"})(x, torch.full_like(x, 2.0))


@LOSSES.register(
    "poisson-nll",
    formula="log_input: loss = exp(z) - y * z; else: loss = lambda - y * log(lambda + eps); "
    "full adds log(y!) ~ y * log(y) - y + 0.5 * log(2 * pi * y)",
    reference="McCullagh & Nelder, Generalized Linear Models (2nd ed., 1989), chapter 6; torch.nn.PoissonNLLLoss",
    kind="regression",
    profile=_poisson_profile,
    profile_axis="predicted log-rate z = log λ (observed count y = 2)",
    profile_range=(-2.0, 3.0),
)
class PoissonNegativeLogLikelihoodLoss(nn.Module):
    """Poisson negative log-likelihood: regression of counts (events, visits, photons) through a predicted rate.

    Use it when the targets are non-negative counts whose spread grows with
    their size: the model predicts the rate lambda of a Poisson distribution
    and the loss is -log P(y | lambda) without the constant log(y!). With
    ``log_input`` (the default) the model outputs z = log(lambda), which is
    unconstrained and makes this Poisson regression (a log-linear model); the
    minimum is at lambda = y.

    Formula: log_input: loss = exp(z) - y * z; otherwise loss = lambda - y * log(lambda + eps).
    ``full`` adds the Stirling approximation of log(y!) for y > 1, so the value
    is the true negative log-likelihood (the gradient is unchanged).

    Shapes: outputs and targets of the same shape; targets are counts (floats or integers).

    Reference: P. McCullagh & J. A. Nelder, "Generalized Linear Models", 2nd ed., 1989, chapter 6.

    Args:
        log_input: True (default): outputs are log-rates; False: outputs are rates lambda >= 0.
        full: add the log(y!) term (Stirling approximation); default False.
        eps: added inside log(lambda + eps) when log_input is False, to avoid log(0).
        reduction: "mean" (default), "sum" or "none" (one loss per element).
    """

    def __init__(self, *, log_input: bool = True, full: bool = False, eps: float = 1e-8, reduction: str = "mean"):
        super().__init__()
        self.log_input = check_choice("poisson-nll", "log_input", log_input, (True, False))
        self.full = check_choice("poisson-nll", "full", full, (False, True))
        self.eps = check_number("poisson-nll", "eps", eps, minimum=0.0, positive=True, example="1e-8")
        self.reduction = check_reduction("poisson-nll", reduction)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check_same_shape("poisson-nll", outputs, targets)
        targets = targets.to(outputs.dtype)
        return F.poisson_nll_loss(
            outputs, targets, log_input=self.log_input, full=self.full, eps=self.eps, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"log_input={self.log_input}, full={self.full}, reduction={self.reduction!r}"


PROFILE_VARIANCES = (0.25, 1.0, 4.0)


def _gaussian_profile(x: torch.Tensor) -> torch.Tensor:
    """'gaussian-nll' of a predicted mean x (target 0) at three fixed predicted variances; (N, 3)."""
    loss = LOSSES.get({"name": "gaussian-nll", "reduction": "none"})
    curves = []
    for variance in PROFILE_VARIANCES:
        outputs = torch.stack([x, torch.full_like(x, math.log(variance))], dim=1)  # (N, 2): mean, log-variance
        curves.append(loss(outputs, torch.zeros_like(x)))
    return torch.stack(curves, dim=1)


@LOSSES.register(
    "gaussian-nll",
    formula="loss = 0.5 * (log(max(var, eps)) + (y - mu)^2 / max(var, eps)) [+ 0.5 * log(2 * pi) if full]; "
    "outputs (..., 2k) = [mu | log var]",
    reference="Nix & Weigend, Estimating the Mean and Variance of the Target Probability Distribution, "
    "ICNN 1994; torch.nn.GaussianNLLLoss",
    kind="regression",
    profile=_gaussian_profile,
    profile_axis=ERROR_AXIS + " (predicted mean minus target)",
    profile_range=(-3.0, 3.0),
    profile_labels=[f"predicted variance {v:g}" for v in PROFILE_VARIANCES],
)
class GaussianNegativeLogLikelihoodLoss(nn.Module):
    """Gaussian negative log-likelihood: regression that predicts a mean and its own uncertainty.

    Use it when the noise differs between inputs (heteroscedastic data) or a
    prediction needs an error bar: the model outputs a mean and a variance per
    target, and the loss is -log N(y | mean, variance). A large error costs
    less where the model admits a large variance, but the log-variance term
    charges for that admission. With a fixed variance it is 'mse' / (2 var).

    Formula: loss = 0.5 * (log(v) + (y - mu)^2 / v), v = max(variance, eps);
    ``full`` adds the constant 0.5 * log(2 * pi).

    Shapes: outputs (..., 2k) and targets (..., k): the first k outputs are the
    means, the last k the log-variances (``log_variance=True``, the default: an
    unconstrained output, variance = exp) or the variances themselves
    (``log_variance=False``: they must be > 0, e.g. after softplus). Targets
    (B,) with outputs (B, 2) are read as k = 1. ``reduction="none"`` gives one
    loss per target, the targets' shape.

    Reference: D. A. Nix & A. S. Weigend, "Estimating the Mean and Variance of the
    Target Probability Distribution", ICNN 1994.

    Args:
        log_variance: True (default): the second half of the outputs is log(variance); False: the variance.
        full: add the constant 0.5 * log(2 * pi); default False.
        eps: the smallest variance used (clamped, for stability); default 1e-6.
        reduction: "mean" (default), "sum" or "none" (one loss per target).
    """

    def __init__(self, *, log_variance: bool = True, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__()
        self.log_variance = check_choice("gaussian-nll", "log_variance", log_variance, (True, False))
        self.full = check_choice("gaussian-nll", "full", full, (False, True))
        self.eps = check_number("gaussian-nll", "eps", eps, minimum=0.0, positive=True, example="1e-6")
        self.reduction = check_reduction("gaussian-nll", reduction)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        received = tuple(targets.shape)
        flat_targets = targets.dim() == outputs.dim() - 1
        if flat_targets:
            targets = targets.unsqueeze(-1)  # (B,) -> (B, 1), k = 1
        self._check(outputs, targets, received)
        size = targets.shape[-1]
        mean, second = outputs[..., :size], outputs[..., size:]
        variance = second.exp() if self.log_variance else second
        loss = F.gaussian_nll_loss(
            mean, targets.to(outputs.dtype), variance, full=self.full, eps=self.eps, reduction=self.reduction
        )
        return loss.squeeze(-1) if flat_targets and self.reduction == "none" else loss

    @staticmethod
    def _check(outputs: torch.Tensor, targets: torch.Tensor, received: tuple[int, ...]) -> None:
        shape, target_shape = tuple(outputs.shape), tuple(targets.shape)
        if outputs.dim() == 0 or shape[:-1] != target_shape[:-1] or shape[-1] != 2 * target_shape[-1]:
            raise DataError(
                f"loss 'gaussian-nll': expected outputs of shape (..., 2k) (k means, then k log-variances) for "
                f"targets of shape (..., k); received outputs of shape {shape} and targets of shape {received}. "
                "Give the model's last layer twice as many outputs as there are target columns."
            )

    def extra_repr(self) -> str:
        return f"log_variance={self.log_variance}, full={self.full}, reduction={self.reduction!r}"
