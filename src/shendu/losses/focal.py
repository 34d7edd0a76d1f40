"""Focal loss: cross-entropy that down-weights the examples a model already gets right.

Binary (sigmoid, one logit per label) or multi-class (softmax over C logits),
chosen by the shapes of outputs and targets exactly as in 'binary-cross-entropy'
and 'cross-entropy', of which it is a reweighting.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import ConfigError, DataError, Problem
from shendu.losses.classification import check_class_targets, weights_buffer, weights_on
from shendu.losses.registry import (
    LOSSES,
    MARGIN_AXIS,
    check_choice,
    check_integer,
    check_number,
    check_reduction,
    check_same_shape,
    margin_profile,
    reduce,
)

FOCAL_MODES = ("auto", "binary", "multi-class")
FOCAL_FORMULA = (
    "loss = -alpha_t * (1 - p_t)^gamma * log(p_t); binary: p = sigmoid(z), p_t = p if y = 1 else 1 - p, "
    "alpha_t = alpha if y = 1 else 1 - alpha; multi-class: p_t = softmax(z)[y], alpha_t = alpha[y] (or alpha); "
    "class probabilities q: loss = -sum_c q_c * alpha_c * (1 - p_c)^gamma * log(p_c)"
)


def _check_alpha(alpha: Any) -> float | list[float] | None:
    """None, one number in [0, 1], or a list of non-negative per-class weights."""
    if alpha is None:
        return None
    if isinstance(alpha, (list, tuple)) and alpha and all(
        isinstance(a, (int, float)) and not isinstance(a, bool) and a >= 0 for a in alpha
    ):
        return [float(a) for a in alpha]
    if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
        return check_number("focal", "alpha", alpha, minimum=0.0, maximum=1.0, include_maximum=True, example="0.25")
    raise ConfigError(
        [
            Problem(
                "loss.alpha",
                alpha,
                "null, a number in [0, 1], or a list of non-negative per-class weights",
                "Set {name: focal, alpha: 0.25} (binary, as in the paper) or leave it out.",
            )
        ]
    )


@LOSSES.register(
    "focal",
    formula=FOCAL_FORMULA,
    reference="Lin, Goyal, Girshick, He & Dollár, Focal Loss for Dense Object Detection, ICCV 2017",
    kind="classification",
    profile=margin_profile("focal"),
    profile_axis=MARGIN_AXIS,
    profile_range=(-4.0, 4.0),
)
class FocalLoss(nn.Module):
    """Focal loss: cross-entropy scaled by (1 - p_t)^gamma, so easy, confident examples count little.

    Use it when easy examples swamp the hard ones: dense detection (thousands
    of background anchors per object), segmentation of small structures, or
    strong class imbalance. gamma = 2 cuts the loss of an example classified
    with p_t = 0.9 by a factor 100; gamma = 0 with alpha = None is exactly
    'binary-cross-entropy' (binary) or 'cross-entropy' (multi-class).

    Formula: loss = -alpha_t * (1 - p_t)^gamma * log(p_t). Binary: p =
    sigmoid(z), p_t = p where y = 1 and 1 - p where y = 0, alpha_t = alpha
    where y = 1 and 1 - alpha where y = 0. Multi-class: p_t = softmax(z)[y],
    alpha_t = alpha[y] for a list, or alpha for a number.

    Shapes (chosen by them with mode "auto"): binary when outputs and targets
    have the same shape (logits (B,), (B, L) or masks; targets 0/1, read as
    floats); multi-class when outputs are (B, C, ...) logits and targets
    (B, ...) int64 class indices. Class probabilities of the outputs' shape
    (soft labels from mixup or cutmix) have the binary shape, so they are read
    as probabilities only with mode "multi-class": then
    loss = -sum_c q_c * alpha_c * (1 - p_c)^gamma * log(p_c), which is the
    formula above for one-hot q.

    Reference: T.-Y. Lin, P. Goyal, R. Girshick, K. He & P. Dollár, "Focal Loss
    for Dense Object Detection", ICCV 2017 (alpha = 0.25, gamma = 2 for detection).

    Args:
        alpha: balance of the classes. None (default): no weighting. A number in
            [0, 1]: binary, the weight of positives (negatives get 1 - alpha);
            multi-class, one weight for every class. A list: one weight per
            class (multi-class only).
        gamma: focusing exponent >= 0 (default 2.0); 0 gives plain cross-entropy.
        ignore_index: multi-class targets equal to this are skipped; default -100.
        reduction: "mean" (default; over elements, or over the non-ignored samples),
            "sum" or "none".
        mode: "auto" (default: chosen by the shapes, as above), "binary" (sigmoid, targets of the
            outputs' shape) or "multi-class" (softmax over dim 1; class indices or class probabilities).
    """

    class_alpha: torch.Tensor | None

    def __init__(
        self,
        *,
        alpha: float | list[float] | None = None,
        gamma: float = 2.0,
        ignore_index: int = -100,
        reduction: str = "mean",
        mode: str = "auto",
    ):
        super().__init__()
        self.mode = check_choice("focal", "mode", mode, FOCAL_MODES)
        alpha = _check_alpha(alpha)
        self.alpha = alpha if not isinstance(alpha, list) else None
        self.gamma = check_number("focal", "gamma", gamma, minimum=0.0, example="2.0")
        self.ignore_index = check_integer("focal", "ignore_index", ignore_index, example="-100")
        self.reduction = check_reduction("focal", reduction)
        self.register_buffer("class_alpha", weights_buffer(alpha if isinstance(alpha, list) else None),
                             persistent=False)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.mode == "multi-class":
            return self._multiclass(outputs, targets)
        if self.mode == "binary" or outputs.shape == targets.shape:
            check_same_shape("focal", outputs, targets)
            return self._binary(outputs, targets)
        if targets.is_floating_point():
            raise DataError(
                f"loss 'focal': expected float 0/1 targets of the outputs' shape (binary) or int64 class indices "
                f"(B, ...) for (B, C, ...) logits (multi-class); received outputs of shape {tuple(outputs.shape)} "
                f"and float targets of shape {tuple(targets.shape)}. Use targets.view_as(outputs) for binary "
                "labels, or targets.long() for class indices."
            )
        return self._multiclass(outputs, targets)

    def _binary(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.class_alpha is not None:
            raise DataError(
                f"loss 'focal': expected one number as alpha for binary outputs (same shape as the targets, "
                f"{tuple(outputs.shape)}); received a list of {self.class_alpha.numel()} class weights. "
                "Set alpha to the weight of positives, e.g. 0.25, or give (B, C) logits with class-index targets."
            )
        targets = targets.to(outputs.dtype)
        cross_entropy = F.binary_cross_entropy_with_logits(outputs, targets, reduction="none")
        probabilities = torch.sigmoid(outputs)
        p_true = probabilities * targets + (1 - probabilities) * (1 - targets)
        loss = cross_entropy * (1 - p_true) ** self.gamma
        if self.alpha is not None:
            loss = loss * (self.alpha * targets + (1 - self.alpha) * (1 - targets))
        return reduce(loss, self.reduction)

    def _multiclass(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if check_class_targets("focal", outputs, targets, self.class_alpha, allow_probabilities=True):
            return self._class_probabilities(outputs, targets.to(outputs.dtype))
        valid = targets != self.ignore_index
        safe = torch.where(valid, targets, torch.zeros_like(targets))  # gather needs an index in range
        log_p_true = F.log_softmax(outputs, dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)  # (B, ...)
        loss = -((1 - log_p_true.exp()) ** self.gamma) * log_p_true
        if self.class_alpha is not None:
            loss = loss * weights_on(self, "class_alpha", outputs)[safe]
        elif self.alpha is not None:
            loss = loss * self.alpha
        loss = loss * valid
        if self.reduction == "mean":
            # As cross-entropy: the mean over the samples that are not ignored.
            return loss.sum() / valid.sum().clamp_min(1)
        return reduce(loss, self.reduction)

    def _class_probabilities(self, outputs: torch.Tensor, probabilities: torch.Tensor) -> torch.Tensor:
        """Soft labels q (B, C, ...): loss = -sum_c q_c * alpha_c * (1 - p_c)^gamma * log(p_c)."""
        log_p = F.log_softmax(outputs, dim=1)  # (B, C, ...)
        terms = -probabilities * (1 - log_p.exp()) ** self.gamma * log_p
        if self.class_alpha is not None:
            terms = terms * weights_on(self, "class_alpha", outputs).view(1, -1, *([1] * (outputs.dim() - 2)))
        elif self.alpha is not None:
            terms = terms * self.alpha
        loss = terms.sum(dim=1)  # (B, ...)
        return reduce(loss, self.reduction)

    def extra_repr(self) -> str:
        alpha = self.class_alpha.tolist() if self.class_alpha is not None else self.alpha
        return f"alpha={alpha}, gamma={self.gamma}, reduction={self.reduction!r}, mode={self.mode!r}"
