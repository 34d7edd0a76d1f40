"""Margin losses: the hinge loss of support vector machines and its squared form.

Both read the shapes to decide between binary and multi-class: one score per
sample with targets of the same shape is binary (labels 0/1 or -1/+1); C
scores per sample with int64 class indices is multi-class, Weston-Watkins
style, computed by torch's ``multi_margin_loss``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import DataError
from shendu.losses.classification import check_class_targets
from shendu.losses.registry import LOSSES, MARGIN_AXIS, check_number, check_reduction, margin_profile, reduce

HINGE_FORMULA = (
    "binary: loss = max(0, m - y * z), y in {-1, +1} (0 read as -1); "
    "multi-class (Weston-Watkins): loss_i = (1 / C) * sum_{j != y_i} max(0, m - z_i[y_i] + z_i[j])"
)
SQUARED_HINGE_FORMULA = (
    "binary: loss = max(0, m - y * z)^2, y in {-1, +1} (0 read as -1); "
    "multi-class (Weston-Watkins): loss_i = (1 / C) * sum_{j != y_i} max(0, m - z_i[y_i] + z_i[j])^2"
)
HINGE_REFERENCE = (
    "Cortes & Vapnik, Support-Vector Networks, Machine Learning 1995; multi-class: Weston & Watkins, "
    "Support Vector Machines for Multi-Class Pattern Recognition, ESANN 1999"
)


def hinge(outputs: torch.Tensor, targets: torch.Tensor, margin: float, power: int, reduction: str, name: str):
    """The hinge loss raised to ``power`` (1 or 2), binary or multi-class by the shapes."""
    if outputs.shape == targets.shape:
        # Labels 0/1 and -1/+1 both map to -1/+1 without reading the values back (no device sync).
        signs = torch.where(targets > 0, 1.0, -1.0).to(outputs.dtype)
        return reduce(F.relu(margin - signs * outputs) ** power, reduction)
    if outputs.dim() != 2 or targets.is_floating_point():
        raise DataError(
            f"loss {name!r}: expected outputs and targets of the same shape (binary: one score per label, "
            f"targets 0/1 or -1/+1) or outputs (B, C) with int64 class indices (B,) (multi-class); received "
            f"outputs of shape {tuple(outputs.shape)} and targets of shape {tuple(targets.shape)} "
            f"({targets.dtype}). Use targets.view_as(outputs) for binary labels or targets.long() for classes."
        )
    check_class_targets(name, outputs, targets)
    return F.multi_margin_loss(outputs, targets, p=power, margin=margin, reduction=reduction)


@LOSSES.register(
    "hinge",
    formula=HINGE_FORMULA,
    reference=HINGE_REFERENCE,
    kind="classification",
    profile=margin_profile("hinge"),
    profile_axis=MARGIN_AXIS,
    profile_range=(-3.0, 3.0),
)
class HingeLoss(nn.Module):
    """Hinge loss: the support vector machine's loss, zero once a sample is classified with a margin.

    Use it for maximum-margin classifiers (a linear layer trained with it and
    weight decay is a linear SVM), or when only the decision matters, not
    calibrated probabilities: samples beyond the margin contribute nothing,
    so training concentrates on the ones near the boundary.

    Formula: binary: loss = max(0, m - y * z) with y in {-1, +1} (labels 0 are
    read as -1). Multi-class, the Weston-Watkins form (every wrong class must
    trail the true one by m; Crammer-Singer would penalise only the largest
    wrong score), divided by C as in torch's multi_margin_loss:
    loss_i = (1 / C) * sum_{j != y_i} max(0, m - z_i[y_i] + z_i[j]).

    Shapes (chosen by them): binary when outputs and targets have the same
    shape (one score per label); multi-class when outputs are (B, C) scores
    and targets (B,) int64 class indices.

    Reference: C. Cortes & V. Vapnik, "Support-Vector Networks", Machine Learning
    1995; J. Weston & C. Watkins, "Support Vector Machines for Multi-Class Pattern
    Recognition", ESANN 1999.

    Args:
        margin: the margin m > 0 a score must clear; default 1.0.
        reduction: "mean" (default), "sum" or "none" (one loss per element, or per sample when multi-class).
    """

    power = 1

    def __init__(self, *, margin: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.name = "hinge" if self.power == 1 else "squared-hinge"
        self.margin = check_number(self.name, "margin", margin, minimum=0.0, positive=True, example="1.0")
        self.reduction = check_reduction(self.name, reduction)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return hinge(outputs, targets, self.margin, self.power, self.reduction, self.name)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


@LOSSES.register(
    "squared-hinge",
    formula=SQUARED_HINGE_FORMULA,
    reference=HINGE_REFERENCE + "; squared (L2-SVM): Lee & Mangasarian, SSVM, 2001",
    kind="classification",
    profile=margin_profile("squared-hinge"),
    profile_axis=MARGIN_AXIS,
    profile_range=(-3.0, 3.0),
)
class SquaredHingeLoss(HingeLoss):
    """Squared hinge loss: the hinge squared, smooth at the margin and harder on large violations.

    Use it in place of 'hinge' when a differentiable loss helps the optimiser
    (the L2-SVM): it has a continuous gradient at the margin, and a sample far
    on the wrong side costs quadratically rather than linearly, so it is more
    sensitive to outliers.

    Formula: binary: loss = max(0, m - y * z)^2 with y in {-1, +1} (0 read as -1);
    multi-class (Weston-Watkins, divided by C as in torch's multi_margin_loss with p = 2):
    loss_i = (1 / C) * sum_{j != y_i} max(0, m - z_i[y_i] + z_i[j])^2.

    Shapes: as 'hinge': same shapes for binary, (B, C) with (B,) int64 for multi-class.

    Reference: Cortes & Vapnik 1995; Weston & Watkins 1999; Y.-J. Lee & O. L. Mangasarian,
    "SSVM: A Smooth Support Vector Machine for Classification", 2001.

    Args:
        margin: the margin m > 0 a score must clear; default 1.0.
        reduction: "mean" (default), "sum" or "none" (one loss per element, or per sample when multi-class).
    """

    power = 2
