"""Classification losses: cross-entropy over classes and binary cross-entropy over labels.

Both take raw scores (logits), never probabilities: the log-softmax and
log-sigmoid inside torch's fused kernels are numerically stable where
``log(softmax(x))`` is not. Each constructor takes keyword options and returns
an ``nn.Module`` whose ``forward(outputs, targets)`` returns the loss
(a scalar with the default ``reduction="mean"``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import DataError
from shendu.losses.registry import LOSSES, check_number, check_reduction, check_same_shape, check_weights

CROSS_ENTROPY_FORMULA = (
    "loss_i = -w[y_i] * log(softmax(z_i)[y_i]); mean = sum_i loss_i / sum_i w[y_i]; "
    "with label smoothing e the target is (1 - e) * onehot(y_i) + e / C"
)
BINARY_CROSS_ENTROPY_FORMULA = (
    "loss = -(p * y * log(sigmoid(z)) + (1 - y) * log(1 - sigmoid(z))), p = pos_weight (1 by default)"
)


def _weights_on(weights: torch.Tensor | None, outputs: torch.Tensor) -> torch.Tensor | None:
    """The weights on the outputs' device and in their dtype (torch refuses mixed dtypes)."""
    if weights is None or (weights.device == outputs.device and weights.dtype == outputs.dtype):
        return weights
    return weights.to(device=outputs.device, dtype=outputs.dtype)


@LOSSES.register(
    "cross-entropy",
    formula=CROSS_ENTROPY_FORMULA,
    reference="Goodfellow, Bengio & Courville, Deep Learning (2016), sections 5.5 and 6.2.2.3; "
    "label smoothing: Szegedy et al., Rethinking the Inception Architecture, CVPR 2016",
    kind="classification",
)
class CrossEntropyLoss(nn.Module):
    """Cross-entropy between class logits and the true class: the loss of multi-class classification.

    Use it whenever each sample belongs to exactly one of C classes (digits,
    image categories, next token). It is the negative log-likelihood of the
    true class under the softmax of the logits, so minimising it is maximum
    likelihood estimation. ``class_weights`` counter class imbalance by
    weighting each sample by its class; ``label_smoothing`` moves a little
    target mass to every class, which discourages over-confident logits.

    Formula: loss_i = -w[y_i] * log(softmax(z_i)[y_i]), averaged with the
    weights: mean = sum_i loss_i / sum_i w[y_i]. With label smoothing e the
    one-hot target becomes (1 - e) * onehot(y_i) + e / C.

    Shapes: outputs (B, C) logits (or (B, C, d1, ...) for per-pixel classes);
    targets (B,) int64 class indices (or (B, d1, ...)). Targets of the same
    shape as the outputs and a float dtype are read as class probabilities
    (soft labels, e.g. from mixup).

    Reference: Goodfellow, Bengio & Courville, Deep Learning (2016), 6.2.2.3;
    Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016 (label smoothing).

    Args:
        class_weights: one non-negative weight per class, or None for equal weights.
        label_smoothing: target mass e in [0, 1) spread uniformly over the classes.
        ignore_index: targets equal to this are skipped (e.g. padding); default -100.
        reduction: "mean" (default), "sum" or "none" (one loss per sample).
    """

    class_weights: torch.Tensor | None

    def __init__(
        self,
        *,
        class_weights: list[float] | None = None,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        reduction: str = "mean",
    ):
        super().__init__()
        weights = check_weights("cross-entropy", "class_weights", class_weights)
        self.label_smoothing = check_number(
            "cross-entropy", "label_smoothing", label_smoothing, minimum=0.0, maximum=1.0, example="0.1"
        )
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise DataError(
                f"loss 'cross-entropy': expected an integer ignore_index; received {ignore_index!r}. "
                "Set it to the class index used for padding, or leave the default -100."
            )
        self.ignore_index = ignore_index
        self.reduction = check_reduction("cross-entropy", reduction)
        # A buffer moves with .to(device); not persistent, so it stays out of checkpoints.
        tensor = None if weights is None else torch.tensor(weights, dtype=torch.float32)
        self.register_buffer("class_weights", tensor, persistent=False)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        soft = self._check(outputs, targets)
        if self.class_weights is not None and self.class_weights.device != outputs.device:
            # Moved once and kept, so later steps pay no copy.
            self.class_weights = self.class_weights.to(outputs.device)
        weights = _weights_on(self.class_weights, outputs)
        if soft and targets.dtype != outputs.dtype:
            targets = targets.to(outputs.dtype)
        return F.cross_entropy(
            outputs,
            targets,
            weight=weights,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )

    def _check(self, outputs: torch.Tensor, targets: torch.Tensor) -> bool:
        """Validate shapes; return True when the targets are class probabilities."""
        shape = tuple(outputs.shape)
        if outputs.dim() < 2:
            raise DataError(
                f"loss 'cross-entropy': expected outputs of shape (B, C) with one logit per class; "
                f"received shape {shape}. For one logit per sample use the 'binary-cross-entropy' "
                "loss, or give the model's last layer num_classes outputs."
            )
        num_classes = shape[1]
        if self.class_weights is not None and self.class_weights.numel() != num_classes:
            raise DataError(
                f"loss 'cross-entropy': expected class_weights with one entry per class ({num_classes}); "
                f"received {self.class_weights.numel()} weights. Give {num_classes} weights, in class order."
            )
        if targets.is_floating_point() and targets.shape == outputs.shape:
            return True
        expected = (shape[0], *shape[2:])
        if tuple(targets.shape) != expected:
            fix = "Use targets.squeeze(1)." if tuple(targets.shape) == (shape[0], 1, *shape[2:]) else (
                "Give one class index per sample (not one-hot), or class probabilities of the outputs' shape."
            )
            raise DataError(
                f"loss 'cross-entropy': expected targets of shape {expected} (class indices) for outputs of shape "
                f"{shape}; received targets of shape {tuple(targets.shape)}. {fix}"
            )
        if targets.dtype != torch.int64:
            raise DataError(
                f"loss 'cross-entropy': expected int64 class indices as targets; received dtype {targets.dtype}. "
                "Convert them with targets.long()."
            )
        return False

    def extra_repr(self) -> str:
        return (
            f"label_smoothing={self.label_smoothing}, ignore_index={self.ignore_index}, "
            f"reduction={self.reduction!r}, class_weights={self.class_weights is not None}"
        )


@LOSSES.register(
    "binary-cross-entropy",
    formula=BINARY_CROSS_ENTROPY_FORMULA,
    reference="Goodfellow, Bengio & Courville, Deep Learning (2016), section 6.2.2.2",
    kind="classification",
)
class BinaryCrossEntropyLoss(nn.Module):
    """Binary cross-entropy on logits: the loss of yes/no and multi-label classification.

    Use it when each output is an independent probability: a single yes/no
    label (outputs (B,) or (B, 1)), several labels that can be on together
    (outputs (B, L)), or a per-pixel mask. It is the negative log-likelihood of
    a Bernoulli variable with p = sigmoid(z); computing it from the logit z is
    stable where log(sigmoid(z)) is not. ``pos_weight`` > 1 raises recall on a
    rare positive class by weighting the positive term.

    Formula: loss = -(p * y * log(sigmoid(z)) + (1 - y) * log(1 - sigmoid(z))),
    p = pos_weight (1 by default), averaged over all elements.

    Shapes: outputs and targets of the same shape; targets are floats in [0, 1]
    (integer or boolean labels are converted).

    Reference: Goodfellow, Bengio & Courville, Deep Learning (2016), 6.2.2.2.

    Args:
        pos_weight: weight of the positive term, one number or one per label (last axis).
        reduction: "mean" (default), "sum" or "none" (one loss per element).
    """

    pos_weight: torch.Tensor | None

    def __init__(self, *, pos_weight: float | list[float] | None = None, reduction: str = "mean"):
        super().__init__()
        weights = check_weights("binary-cross-entropy", "pos_weight", pos_weight)
        self.reduction = check_reduction("binary-cross-entropy", reduction)
        tensor = None if weights is None else torch.tensor(weights, dtype=torch.float32)
        self.register_buffer("pos_weight", tensor, persistent=False)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check_same_shape("binary-cross-entropy", outputs, targets)
        if self.pos_weight is not None:
            self._check_pos_weight(outputs)
            if self.pos_weight.device != outputs.device:
                self.pos_weight = self.pos_weight.to(outputs.device)
        if targets.dtype != outputs.dtype:
            targets = targets.to(outputs.dtype)
        return F.binary_cross_entropy_with_logits(
            outputs, targets, pos_weight=_weights_on(self.pos_weight, outputs), reduction=self.reduction
        )

    def _check_pos_weight(self, outputs: torch.Tensor) -> None:
        count = self.pos_weight.numel()
        labels = outputs.shape[-1] if outputs.dim() > 0 else 1
        if count != 1 and (outputs.dim() < 2 or count != labels):
            raise DataError(
                f"loss 'binary-cross-entropy': expected pos_weight with 1 entry or one per label "
                f"(the last axis of outputs of shape {tuple(outputs.shape)}); received {count} entries. "
                "Give one number, or one weight per label column."
            )

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, pos_weight={self.pos_weight is not None}"
