"""Multi-label losses: one sigmoid per label, many labels per sample, most of them negative.

'binary-cross-entropy' is the plain choice for (B, L) logits against (B, L)
0/1 targets; 'asymmetric' reshapes it for the usual imbalance of
multi-label data (a picture shows 3 of 80 classes, so 77 terms per sample
are negatives, most of them easy).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import DataError
from shendu.losses.registry import LOSSES, check_number, check_reduction, check_same_shape, reduce

ASYMMETRIC_FORMULA = (
    "loss_i = sum_l [ -y * (1 - p)^gamma_positive * log(p) - (1 - y) * p_m^gamma_negative * log(1 - p_m) ], "
    "p = sigmoid(z), p_m = max(p - clip, 0); summed over the labels of a sample, averaged over samples"
)
PROFILE_LABELS = ["positive label (y = 1)", "negative label (y = 0)"]


def _power(base: torch.Tensor, exponent: float) -> torch.Tensor:
    """base^exponent for base >= 0, with a finite gradient where base = 0 (and 0^0 = 1).

    Plain ``base ** exponent`` has an infinite slope at 0 for exponents in (0, 1),
    which turns into NaN once multiplied by the zero slope of a clamp.
    """
    if exponent == 0:
        return torch.ones_like(base)
    positive = base > 0
    safe = torch.where(positive, base, torch.ones_like(base))
    return torch.where(positive, safe**exponent, torch.zeros_like(base))


def _asymmetric_profile(x: torch.Tensor) -> torch.Tensor:
    """The loss of one logit z = x with a positive label and with a negative label, (N, 2)."""
    loss = LOSSES.get({"name": "asymmetric", "reduction": "none"})
    column = x.unsqueeze(1)  # (N, 1): N samples with one label each
    positive = loss(column, torch.ones_like(column))
    negative = loss(column, torch.zeros_like(column))
    return torch.stack([positive, negative], dim=1)


@LOSSES.register(
    "asymmetric",
    formula=ASYMMETRIC_FORMULA,
    reference="Ridnik, Ben-Baruch, Zamir, Noy, Friedman, Protter & Zelnik-Manor, "
    "Asymmetric Loss For Multi-Label Classification, ICCV 2021",
    kind="classification",
    profile=_asymmetric_profile,
    profile_axis="logit z",
    profile_range=(-4.0, 4.0),
    profile_labels=PROFILE_LABELS,
)
class AsymmetricLoss(nn.Module):
    """Asymmetric loss (ASL): binary cross-entropy per label that focuses hard on negatives and drops easy ones.

    Use it for multi-label classification with many labels and few positives
    per sample (image tagging, MS-COCO, Open Images), where the many easy
    negatives swamp the gradient of the few positives under
    'binary-cross-entropy'. Negatives are down-weighted by p_m^gamma_negative
    (a focal term, as in 'focal', but on negatives only) and shifted by the
    margin ``clip``: a negative predicted with p <= clip costs nothing at all,
    which also discards some mislabelled negatives (a missing tag that the
    model confidently predicts). Positives keep plain cross-entropy with
    gamma_positive = 0 (the paper's setting), so their gradient is not
    reduced. With gamma_negative = gamma_positive = 0 and clip = 0 it is
    binary cross-entropy summed over the labels.

    Formula: p = sigmoid(z), p_m = max(p - clip, 0) (the shifted probability of
    a negative); per label, loss = -(1 - p)^gamma_positive * log(p) where y = 1
    and -p_m^gamma_negative * log(1 - p_m) where y = 0 (soft targets y in
    [0, 1] interpolate the two terms). Probabilities inside the logs are
    floored at eps. The focusing weights are part of the gradient, as in the
    reference code.

    Reduction: the per-sample loss is the SUM over its L labels, as in the
    reference implementation (which returns the sum over the batch as well:
    that is ``reduction="sum"`` here). "mean" (default) averages the
    per-sample sums over the batch, so it does not grow with the batch size
    but is L times the scale of 'binary-cross-entropy' (a mean over all B * L
    elements); "none" gives the (B,) per-sample sums.

    Shapes: outputs (B, L) logits and targets (B, L) of the same shape, 0/1
    (integer or boolean labels are converted to floats). Outputs (B,) are
    read as one label per sample; further axes (B, L, ...) are summed with
    the labels.

    Reference: T. Ridnik, E. Ben-Baruch, N. Zamir, A. Noy, I. Friedman,
    M. Protter & L. Zelnik-Manor, "Asymmetric Loss For Multi-Label
    Classification", ICCV 2021 (gamma_negative = 4, gamma_positive = 0,
    clip = 0.05); code: github.com/Alibaba-MIIL/ASL, losses.py.

    Args:
        gamma_negative: focusing exponent of negatives, >= 0 (default 4).
        gamma_positive: focusing exponent of positives, >= 0 (default 0, the paper's choice;
            the reference class defaults to 1).
        clip: probability margin m in [0, 1) shifting negatives (default 0.05); 0 turns it off.
        eps: floor of the probabilities inside the logs, in [0, 1) (default 1e-8, as in the
            reference): it caps each term at -log(eps) = 18.4, and a label beyond the cap gets no
            gradient; 0 removes the floor.
        reduction: "mean" (default: mean over samples of the per-sample sums), "sum" or "none" ((B,)).
    """

    def __init__(
        self,
        *,
        gamma_negative: float = 4.0,
        gamma_positive: float = 0.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        reduction: str = "mean",
    ):
        super().__init__()
        self.gamma_negative = check_number("asymmetric", "gamma_negative", gamma_negative, minimum=0.0, example="4")
        self.gamma_positive = check_number("asymmetric", "gamma_positive", gamma_positive, minimum=0.0, example="0")
        self.clip = check_number("asymmetric", "clip", clip, minimum=0.0, maximum=1.0, example="0.05")
        self.eps = check_number("asymmetric", "eps", eps, minimum=0.0, maximum=1.0, example="1e-8")
        self.reduction = check_reduction("asymmetric", reduction)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check_same_shape("asymmetric", outputs, targets)
        if outputs.dim() == 0:
            raise DataError(
                "loss 'asymmetric': expected outputs (B, L), one logit per sample and label; received a scalar. "
                "Give a batch of logits, e.g. outputs.view(1, -1) for one sample."
            )
        targets = targets.to(outputs.dtype)
        # log(p) and log(1 - p_m) from the logit, stable where log(sigmoid(z)) is not.
        log_positive = F.logsigmoid(outputs)
        if self.clip > 0:
            log_negative = torch.log((torch.sigmoid(-outputs) + self.clip).clamp(max=1.0))  # log(1 - p_m)
        else:
            log_negative = F.logsigmoid(-outputs)
        if self.eps > 0:
            floor = math.log(self.eps)
            log_positive, log_negative = log_positive.clamp(min=floor), log_negative.clamp(min=floor)
        shifted = (torch.sigmoid(outputs) - self.clip).clamp(min=0.0)  # p_m
        positive = _power(torch.sigmoid(-outputs), self.gamma_positive) * log_positive
        negative = _power(shifted, self.gamma_negative) * log_negative
        per_label = -(targets * positive + (1 - targets) * negative)
        per_sample = per_label.flatten(1).sum(dim=1) if per_label.dim() > 1 else per_label  # (B,)
        return reduce(per_sample, self.reduction)

    def extra_repr(self) -> str:
        return (
            f"gamma_negative={self.gamma_negative}, gamma_positive={self.gamma_positive}, clip={self.clip}, "
            f"eps={self.eps}, reduction={self.reduction!r}"
        )
