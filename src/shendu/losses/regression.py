"""Regression losses: squared, absolute, Huber and smooth L1 error between predictions and targets.

Each constructor takes keyword options and returns an ``nn.Module`` whose
``forward(outputs, targets)`` returns the loss (a scalar with the default
``reduction="mean"``). Outputs and targets must have exactly the same shape:
a model that outputs (B, 1) for targets (B,) is an error, not a broadcast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import DataError
from shendu.losses.registry import ERROR_AXIS, LOSSES, check_number, check_reduction, check_same_shape, error_profile


def _prepare(loss: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Check shapes and return the targets in the outputs' dtype."""
    if not outputs.is_floating_point():
        raise DataError(
            f"loss {loss!r}: expected floating-point outputs; received dtype {outputs.dtype}. "
            "Regression losses need the model's raw real-valued outputs."
        )
    check_same_shape(loss, outputs, targets)
    # Targets read from CSV are often float64 or integers; compute in the model's precision.
    return targets if targets.dtype == outputs.dtype else targets.to(outputs.dtype)


@LOSSES.register(
    "mse",
    formula="loss = mean((y_hat - y)^2)",
    reference="Goodfellow, Bengio & Courville, Deep Learning (2016), section 5.1.4",
    kind="regression",
    profile=error_profile("mse"),
    profile_axis=ERROR_AXIS,
    profile_range=(-3.0, 3.0),
)
class MeanSquaredErrorLoss(nn.Module):
    """Mean squared error: the default loss for regression.

    Use it to predict real numbers when errors are roughly Gaussian: it is
    the negative log-likelihood of a Gaussian with fixed variance, so its
    minimiser is the conditional mean. Large errors dominate it, so outliers
    in the targets pull hard; prefer 'huber' or 'mae' when they are common.

    Formula: loss = mean((y_hat - y)^2)
    Reference: Goodfellow, Bengio & Courville, Deep Learning (2016), 5.1.4 and 5.5.1.

    Args:
        reduction: "mean" (default), "sum" or "none" (one loss per element).
    """

    def __init__(self, *, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction("mse", reduction)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = _prepare("mse", outputs, targets)
        return F.mse_loss(outputs, targets, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


@LOSSES.register(
    "mae",
    formula="loss = mean(|y_hat - y|)",
    reference="Goodfellow, Bengio & Courville, Deep Learning (2016), section 6.2.1.2",
    kind="regression",
    profile=error_profile("mae"),
    profile_axis=ERROR_AXIS,
    profile_range=(-3.0, 3.0),
)
class MeanAbsoluteErrorLoss(nn.Module):
    """Mean absolute error (L1 loss): regression that is robust to outliers.

    Use it when some targets are far off (bad labels, heavy tails): each
    error counts in proportion to its size, and the minimiser is the
    conditional median. Its gradient has the same size for every error, so
    it converges less precisely near the optimum than 'mse'.

    Formula: loss = mean(|y_hat - y|)
    Reference: Goodfellow, Bengio & Courville, Deep Learning (2016), 6.2.1.2.

    Args:
        reduction: "mean" (default), "sum" or "none" (one loss per element).
    """

    def __init__(self, *, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction("mae", reduction)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = _prepare("mae", outputs, targets)
        return F.l1_loss(outputs, targets, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


@LOSSES.register(
    "huber",
    formula="loss = mean(0.5 * e^2 if |e| <= delta else delta * (|e| - 0.5 * delta)), e = y_hat - y",
    reference="Huber, Robust Estimation of a Location Parameter, Annals of Mathematical Statistics 1964",
    kind="regression",
    profile=error_profile("huber"),
    profile_axis=ERROR_AXIS,
    profile_range=(-3.0, 3.0),
)
class HuberLoss(nn.Module):
    """Huber loss: squared error for small errors, absolute error for large ones.

    Use it for regression with occasional outliers: it behaves like 'mse'
    near the optimum (smooth, precise) and like 'mae' far from it (bounded
    gradient), with ``delta`` the error size where it switches. It is the
    loss of DQN's temporal-difference updates and of box regression in
    object detectors (as smooth L1, which is Huber divided by delta).

    Formula: e = y_hat - y; loss = mean(0.5 * e^2 if |e| <= delta else delta * (|e| - 0.5 * delta))
    Reference: P. J. Huber, "Robust Estimation of a Location Parameter",
    Annals of Mathematical Statistics, 1964.

    Args:
        delta: the error size (> 0) where the loss turns from quadratic to linear.
        reduction: "mean" (default), "sum" or "none" (one loss per element).
    """

    def __init__(self, *, delta: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.delta = check_number("huber", "delta", delta, minimum=0.0, positive=True, example="1.0")
        self.reduction = check_reduction("huber", reduction)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = _prepare("huber", outputs, targets)
        return F.huber_loss(outputs, targets, reduction=self.reduction, delta=self.delta)

    def extra_repr(self) -> str:
        return f"delta={self.delta}, reduction={self.reduction!r}"


@LOSSES.register(
    "smooth-l1",
    formula="loss = mean(0.5 * e^2 / beta if |e| < beta else |e| - 0.5 * beta), e = y_hat - y; "
    "huber(delta) = delta * smooth-l1(beta = delta)",
    reference="Girshick, Fast R-CNN, ICCV 2015",
    kind="regression",
    profile=error_profile("smooth-l1"),
    profile_axis=ERROR_AXIS,
    profile_range=(-3.0, 3.0),
)
class SmoothL1Loss(nn.Module):
    """Smooth L1 loss: Huber's loss divided by its threshold, so the linear part has slope 1.

    Use it where 'mae' is the natural loss but its kink at zero hurts, as in
    bounding-box regression (Fast R-CNN): quadratic for errors below ``beta``,
    absolute error minus a constant above. It relates to 'huber' exactly by
    huber(delta) = delta * smooth-l1(beta = delta): the same minimiser and the
    same shape, with gradients scaled by 1 / beta, so the large-error slope is
    1 whatever beta is (Huber's is delta). beta = 1 makes the two identical.

    Formula: e = y_hat - y; loss = mean(0.5 * e^2 / beta if |e| < beta else |e| - 0.5 * beta)
    Reference: R. Girshick, "Fast R-CNN", ICCV 2015 (equation 3).

    Args:
        beta: the error size (> 0) where the loss turns from quadratic to linear (torch's smooth_l1 beta).
        reduction: "mean" (default), "sum" or "none" (one loss per element).
    """

    def __init__(self, *, beta: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.beta = check_number("smooth-l1", "beta", beta, minimum=0.0, positive=True, example="1.0")
        self.reduction = check_reduction("smooth-l1", reduction)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = _prepare("smooth-l1", outputs, targets)
        return F.smooth_l1_loss(outputs, targets, reduction=self.reduction, beta=self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, reduction={self.reduction!r}"
