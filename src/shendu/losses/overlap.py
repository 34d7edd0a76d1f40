"""Overlap losses for segmentation: soft Dice, soft IoU (Jaccard) and Tversky.

They score the overlap between a predicted mask and the true one, so a class
that covers 1% of the image counts as much as the background, where per-pixel
cross-entropy would let the background dominate. All three take the same
inputs and differ only in how false positives and false negatives are counted.

Inputs (chosen by the shapes):
- multi-class: outputs (B, C, ...) logits and targets (B, ...) int64 class
  indices; probabilities are the softmax over C, targets become one-hot.
- binary or multi-label: outputs and targets of the same shape (B, C, ...)
  (a one-channel mask is (B, 1, H, W)); probabilities are sigmoid(outputs) and
  targets are 0/1 floats. Outputs (B,) are read as (B, 1).

Soft counts per sample b and class c, summed over the spatial positions:
TP = sum p * g, FP = sum p * (1 - g), FN = sum (1 - p) * g. Each loss is
1 - index per (b, c), averaged over the classes, giving one loss per sample.
``smooth`` is added to numerator and denominator: it keeps a class that is
absent from both prediction and target at loss 0 instead of 0 / 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shendu.losses.classification import check_class_targets
from shendu.losses.registry import LOSSES, check_number, check_reduction, check_same_shape, reduce

MASK_PIXELS = 16
MASK_AXIS = f"logit z of every pixel of a {MASK_PIXELS}-pixel mask (all foreground)"


def soft_counts(name: str, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Soft true positives, false positives and false negatives, each (B, C)."""
    if outputs.dim() == 1 and targets.dim() == 1:  # (B,) binary outputs: one channel, one position
        outputs, targets = outputs.unsqueeze(1), targets.unsqueeze(1)
    if outputs.shape == targets.shape:
        probabilities, truth = torch.sigmoid(outputs), targets.to(outputs.dtype)
    else:
        if targets.is_floating_point() and outputs.numel() == targets.numel():
            check_same_shape(name, outputs, targets)  # a float mask of another shape: say how to reshape it
        check_class_targets(name, outputs, targets)
        probabilities = torch.softmax(outputs, dim=1)
        truth = F.one_hot(targets, outputs.shape[1]).movedim(-1, 1).to(outputs.dtype)  # (B, C, ...)
    spatial = tuple(range(2, outputs.dim()))
    true_positives = (probabilities * truth).sum(spatial)  # (B, C)
    false_positives = probabilities.sum(spatial) - true_positives
    false_negatives = truth.sum(spatial) - true_positives
    return true_positives, false_positives, false_negatives


def _mask_profile(name: str):
    """The loss of a 16-pixel all-foreground mask whose every logit is x (sigmoid mode)."""

    def profile(x: torch.Tensor) -> torch.Tensor:
        outputs = x[:, None, None].expand(len(x), 1, MASK_PIXELS)  # (N, 1, pixels)
        return LOSSES.get({"name": name, "reduction": "none"})(outputs, torch.ones_like(outputs))

    return profile


PROFILE = {"profile_axis": MASK_AXIS, "profile_range": (-4.0, 4.0), "kind": "segmentation"}
REFERENCE_DICE = (
    "Milletari, Navab & Ahmadi, V-Net, 3DV 2016; Sudre et al., Generalised Dice Overlap as a Deep "
    "Learning Loss Function for Highly Unbalanced Segmentations, DLMIA 2017"
)


@LOSSES.register(
    "dice",
    formula="loss = mean_c 1 - (2 * TP_c + s) / (2 * TP_c + FP_c + FN_c + s); "
    "2 * TP + FP + FN = sum p + sum g",
    reference=REFERENCE_DICE,
    profile=_mask_profile("dice"),
    **PROFILE,
)
class DiceLoss(nn.Module):
    """Soft Dice loss: one minus the overlap (F1 score) between predicted and true masks.

    Use it for segmentation where the foreground is small (lesions, vessels,
    thin structures): it scores each class by its overlap, not by pixel
    count. Often summed with per-pixel 'cross-entropy', whose gradients are
    better behaved early in training (``loss: {sum: [...]}``).

    Formula: per sample and class, dice = (2 * TP + s) / (2 * TP + FP + FN + s)
    = (2 * sum p * g + s) / (sum p + sum g + s); loss = mean over classes of 1 - dice.
    See this module's docstring for the shapes and soft counts.

    Reference: F. Milletari, N. Navab & S.-A. Ahmadi, "V-Net", 3DV 2016; C. Sudre
    et al., "Generalised Dice Overlap as a Deep Learning Loss Function", DLMIA 2017.

    Args:
        smooth: s >= 0 added to numerator and denominator; default 1.0.
        reduction: "mean" (default) over samples, "sum" or "none" (one loss per sample).
    """

    def __init__(self, *, smooth: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.smooth = check_number("dice", "smooth", smooth, minimum=0.0, example="1.0")
        self.reduction = check_reduction("dice", reduction)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        tp, fp, fn = soft_counts("dice", outputs, targets)
        dice = (2 * tp + self.smooth) / (2 * tp + fp + fn + self.smooth)
        return reduce((1 - dice).mean(1), self.reduction)

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}, reduction={self.reduction!r}"


@LOSSES.register(
    "iou",
    formula="loss = mean_c 1 - (TP_c + s) / (TP_c + FP_c + FN_c + s); "
    "TP + FP + FN = sum p + sum g - sum p * g",
    reference="Rahman & Wang, Optimizing Intersection-Over-Union in Deep Neural Networks for Image "
    "Segmentation, ISVC 2016",
    profile=_mask_profile("iou"),
    **PROFILE,
)
class IoULoss(nn.Module):
    """Soft IoU (Jaccard) loss: one minus intersection over union of predicted and true masks.

    Use it when the reported metric is IoU (mIoU of segmentation benchmarks):
    it optimises a soft version of that metric directly. IoU = dice / (2 - dice),
    so the two rank predictions alike; IoU penalises partial overlaps more.

    Formula: per sample and class, iou = (TP + s) / (TP + FP + FN + s)
    = (sum p * g + s) / (sum p + sum g - sum p * g + s); loss = mean over classes of 1 - iou.
    See this module's docstring for the shapes and soft counts.

    Reference: M. A. Rahman & Y. Wang, "Optimizing Intersection-Over-Union in Deep
    Neural Networks for Image Segmentation", ISVC 2016.

    Args:
        smooth: s >= 0 added to numerator and denominator; default 1.0.
        reduction: "mean" (default) over samples, "sum" or "none" (one loss per sample).
    """

    def __init__(self, *, smooth: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.smooth = check_number("iou", "smooth", smooth, minimum=0.0, example="1.0")
        self.reduction = check_reduction("iou", reduction)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        tp, fp, fn = soft_counts("iou", outputs, targets)
        iou = (tp + self.smooth) / (tp + fp + fn + self.smooth)
        return reduce((1 - iou).mean(1), self.reduction)

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}, reduction={self.reduction!r}"


@LOSSES.register(
    "tversky",
    formula="loss = mean_c 1 - (TP_c + s) / (TP_c + alpha * FP_c + beta * FN_c + s)",
    reference="Salehi, Erdogmus & Gholipour, Tversky Loss Function for Image Segmentation Using 3D Fully "
    "Convolutional Deep Networks, MLMI 2017",
    profile=_mask_profile("tversky"),
    **PROFILE,
)
class TverskyLoss(nn.Module):
    """Tversky loss: an overlap loss that weighs false negatives and false positives differently.

    Use it when missing foreground is worse than over-segmenting (small
    lesions, where recall matters): beta > alpha charges more for false
    negatives. alpha = beta = 0.5 gives 'dice' and alpha = beta = 1 gives
    'iou' (exactly with smooth = 0; dice's smoothing constant counts twice).

    Formula: per sample and class, index = (TP + s) / (TP + alpha * FP + beta * FN + s);
    loss = mean over classes of 1 - index. See this module's docstring for the shapes.

    Reference: S. S. M. Salehi, D. Erdogmus & A. Gholipour, "Tversky Loss Function for
    Image Segmentation Using 3D Fully Convolutional Deep Networks", MLMI 2017 (alpha 0.3, beta 0.7).

    Args:
        alpha: weight >= 0 of false positives; default 0.3.
        beta: weight >= 0 of false negatives; default 0.7.
        smooth: s >= 0 added to numerator and denominator; default 1.0.
        reduction: "mean" (default) over samples, "sum" or "none" (one loss per sample).
    """

    def __init__(self, *, alpha: float = 0.3, beta: float = 0.7, smooth: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.alpha = check_number("tversky", "alpha", alpha, minimum=0.0, example="0.3")
        self.beta = check_number("tversky", "beta", beta, minimum=0.0, example="0.7")
        self.smooth = check_number("tversky", "smooth", smooth, minimum=0.0, example="1.0")
        self.reduction = check_reduction("tversky", reduction)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        tp, fp, fn = soft_counts("tversky", outputs, targets)
        index = (tp + self.smooth) / (tp + self.alpha * fp + self.beta * fn + self.smooth)
        return reduce((1 - index).mean(1), self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}, smooth={self.smooth}, reduction={self.reduction!r}"
