"""Classification losses: cross-entropy, binary cross-entropy and negative log-likelihood.

Cross-entropy and binary cross-entropy take raw scores (logits), never
probabilities: the log-softmax and log-sigmoid inside torch's fused kernels
are numerically stable where ``log(softmax(x))`` is not. 'nll' is the same
loss for models that already end in ``log_softmax``. Each constructor takes
keyword options and returns an ``nn.Module`` whose ``forward(outputs,
targets)`` returns the loss (a scalar with the default ``reduction="mean"``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import DataError
from shendu.losses.registry import (
    CLASS_MARGIN_AXIS,
    LOSSES,
    MARGIN_AXIS,
    check_integer,
    check_number,
    check_reduction,
    check_same_shape,
    check_weights,
    class_margin_profile,
    margin_profile,
)

CROSS_ENTROPY_FORMULA = (
    "loss_i = -w[y_i] * log(softmax(z_i)[y_i]); mean = sum_i loss_i / sum_i w[y_i]; "
    "with label smoothing e the target is (1 - e) * onehot(y_i) + e / C"
)
BINARY_CROSS_ENTROPY_FORMULA = (
    "loss = -(p * y * log(sigmoid(z)) + (1 - y) * log(1 - sigmoid(z))), p = pos_weight (1 by default)"
)
NLL_FORMULA = "loss_i = -w[y_i] * x_i[y_i] (x = log-probabilities); mean = sum_i loss_i / sum_i w[y_i]"


def weights_on(module: nn.Module, buffer: str, outputs: torch.Tensor) -> torch.Tensor | None:
    """The module's weight buffer on the outputs' device and in their dtype (torch refuses mixed dtypes).

    A buffer on another device is moved there once and kept, so later steps pay no copy.
    """
    weights = getattr(module, buffer)
    if weights is None:
        return None
    if weights.device != outputs.device:
        weights = weights.to(outputs.device)
        setattr(module, buffer, weights)
    return weights if weights.dtype == outputs.dtype else weights.to(outputs.dtype)


def weights_buffer(values: list[float] | None) -> torch.Tensor | None:
    """Weights as a float32 tensor for a non-persistent buffer (it moves with .to(), stays out of checkpoints)."""
    return None if values is None else torch.tensor(values, dtype=torch.float32)


def check_class_targets(
    loss: str,
    outputs: torch.Tensor,
    targets: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    allow_probabilities: bool = False,
) -> bool:
    """Raise a DataError unless outputs are (B, C, ...) scores and targets (B, ...) int64 class indices.

    With ``allow_probabilities``, float targets of the outputs' shape (class
    probabilities) are accepted too; returns True when that is what they are.
    """
    shape = tuple(outputs.shape)
    if outputs.dim() < 2:
        raise DataError(
            f"loss {loss!r}: expected outputs of shape (B, C) with one score per class; received shape {shape}. "
            "For one logit per sample use the 'binary-cross-entropy' loss, or give the model's last layer "
            "num_classes outputs."
        )
    num_classes = shape[1]
    if class_weights is not None and class_weights.numel() != num_classes:
        raise DataError(
            f"loss {loss!r}: expected class_weights with one entry per class ({num_classes}); "
            f"received {class_weights.numel()} weights. Give {num_classes} weights, in class order."
        )
    if allow_probabilities and targets.is_floating_point() and targets.shape == outputs.shape:
        return True
    expected = (shape[0], *shape[2:])
    if tuple(targets.shape) != expected:
        soft = ", or class probabilities of the outputs' shape" if allow_probabilities else " (not one-hot)"
        fix = "Use targets.squeeze(1)." if tuple(targets.shape) == (shape[0], 1, *shape[2:]) else (
            f"Give one class index per sample{soft}."
        )
        raise DataError(
            f"loss {loss!r}: expected targets of shape {expected} (class indices) for outputs of shape "
            f"{shape}; received targets of shape {tuple(targets.shape)}. {fix}"
        )
    if targets.dtype != torch.int64:
        raise DataError(
            f"loss {loss!r}: expected int64 class indices as targets; received dtype {targets.dtype}. "
            "Convert them with targets.long()."
        )
    return False


@LOSSES.register(
    "cross-entropy",
    formula=CROSS_ENTROPY_FORMULA,
    reference="Goodfellow, Bengio & Courville, Deep Learning (2016), sections 5.5 and 6.2.2.3; "
    "label smoothing: Szegedy et al., Rethinking the Inception Architecture, CVPR 2016",
    kind="classification",
    profile=class_margin_profile("cross-entropy"),
    profile_axis=CLASS_MARGIN_AXIS,
    profile_range=(-4.0, 4.0),
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
    (soft labels, e.g. from mixup): loss_i = -sum_c w[c] * q_ic * log(softmax(z_i)[c]),
    label smoothing still applies on top, and the mean is over samples.

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
        self.ignore_index = check_integer("cross-entropy", "ignore_index", ignore_index, example="-100")
        self.reduction = check_reduction("cross-entropy", reduction)
        self.register_buffer("class_weights", weights_buffer(weights), persistent=False)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        soft = check_class_targets("cross-entropy", outputs, targets, self.class_weights, allow_probabilities=True)
        if soft and targets.dtype != outputs.dtype:
            targets = targets.to(outputs.dtype)
        return F.cross_entropy(
            outputs,
            targets,
            weight=weights_on(self, "class_weights", outputs),
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )

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
    profile=margin_profile("binary-cross-entropy"),
    profile_axis=MARGIN_AXIS,
    profile_range=(-4.0, 4.0),
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
        self.register_buffer("pos_weight", weights_buffer(weights), persistent=False)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check_same_shape("binary-cross-entropy", outputs, targets)
        if self.pos_weight is not None:
            self._check_pos_weight(outputs)
        if targets.dtype != outputs.dtype:
            targets = targets.to(outputs.dtype)
        return F.binary_cross_entropy_with_logits(
            outputs, targets, pos_weight=weights_on(self, "pos_weight", outputs), reduction=self.reduction
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


def _probability_profile(x: torch.Tensor) -> torch.Tensor:
    """'nll' of two-class log-probabilities (log x, log(1 - x)) with true class 0."""
    log_probabilities = torch.stack([x.log(), (1 - x).clamp_min(1e-12).log()], dim=1)  # (N, 2)
    return LOSSES.get({"name": "nll", "reduction": "none"})(log_probabilities, torch.zeros(len(x), dtype=torch.long))


@LOSSES.register(
    "nll",
    formula=NLL_FORMULA,
    reference="Goodfellow, Bengio & Courville, Deep Learning (2016), section 5.5",
    kind="classification",
    profile=_probability_profile,
    profile_axis="probability of the true class",
    profile_range=(0.01, 1.0),
)
class NegativeLogLikelihoodLoss(nn.Module):
    """Negative log-likelihood of the true class, for models whose outputs are already log-probabilities.

    Use it when the model ends in ``log_softmax`` (or outputs log-probabilities
    by design, e.g. a mixture model or a CTC-style head); on raw logits use
    'cross-entropy', which is log_softmax followed by this loss, fused and
    stable. Minimising it is maximum likelihood estimation. The loss does not
    check that the outputs are normalised: feeding logits trains on a wrong
    objective without any error, so choose it deliberately.

    Formula: loss_i = -w[y_i] * x_i[y_i] with x = log-probabilities, averaged
    with the weights: mean = sum_i loss_i / sum_i w[y_i].

    Shapes: outputs (B, C) log-probabilities (or (B, C, d1, ...)); targets (B,)
    int64 class indices (or (B, d1, ...)).

    Reference: Goodfellow, Bengio & Courville, Deep Learning (2016), 5.5 (maximum likelihood).

    Args:
        class_weights: one non-negative weight per class, or None for equal weights.
        ignore_index: targets equal to this are skipped (e.g. padding); default -100.
        reduction: "mean" (default), "sum" or "none" (one loss per sample).
    """

    class_weights: torch.Tensor | None

    def __init__(
        self, *, class_weights: list[float] | None = None, ignore_index: int = -100, reduction: str = "mean"
    ):
        super().__init__()
        weights = check_weights("nll", "class_weights", class_weights)
        self.ignore_index = check_integer("nll", "ignore_index", ignore_index, example="-100")
        self.reduction = check_reduction("nll", reduction)
        self.register_buffer("class_weights", weights_buffer(weights), persistent=False)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check_class_targets("nll", outputs, targets, self.class_weights)
        return F.nll_loss(
            outputs,
            targets,
            weight=weights_on(self, "class_weights", outputs),
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return (
            f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
            f"class_weights={self.class_weights is not None}"
        )
