"""Divergence losses: KL divergence to a target distribution, and knowledge distillation built on it.

Both compare the softmax of the model's logits over the class axis (axis 1)
with a distribution given per sample, rather than with a single true class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import DataError
from shendu.losses.classification import check_class_targets
from shendu.losses.registry import LOSSES, check_choice, check_number, check_reduction, reduce

PROFILE_TARGET = (0.7, 0.3)


def _kl_profile(x: torch.Tensor) -> torch.Tensor:
    """'kl-divergence' of logits (x, 0) from the target distribution (0.7, 0.3)."""
    logits = torch.stack([x, torch.zeros_like(x)], dim=1)  # (N, 2)
    targets = torch.tensor(PROFILE_TARGET, dtype=x.dtype).expand(len(x), 2)
    return LOSSES.get({"name": "kl-divergence", "reduction": "none"})(logits, targets)


def check_distribution_shapes(name: str, outputs: torch.Tensor, targets: torch.Tensor, what: str) -> None:
    """Raise a DataError unless outputs are (B, C, ...) logits and ``targets`` have their shape."""
    if outputs.dim() < 2 or outputs.shape != targets.shape:
        raise DataError(
            f"loss {name!r}: expected outputs (B, C) logits and {what} of the same shape; received outputs of "
            f"shape {tuple(outputs.shape)} and {what} of shape {tuple(targets.shape)}. Give one value per class "
            "for every sample (class probabilities, not class indices)."
        )


@LOSSES.register(
    "kl-divergence",
    formula="loss_i = sum_c p_ic * (log p_ic - log softmax(z_i)_c); mean over samples (torch's 'batchmean')",
    reference="Kullback & Leibler, On Information and Sufficiency, Annals of Mathematical Statistics 1951",
    kind="distribution",
    profile=_kl_profile,
    profile_axis=f"logit difference z_1 − z_2 (target distribution {PROFILE_TARGET})",
    profile_range=(-3.0, 4.0),
)
class KLDivergenceLoss(nn.Module):
    """Kullback-Leibler divergence KL(p ‖ softmax(z)) from a target distribution p to the model's.

    Use it when each sample's target is a whole distribution over classes:
    soft labels from annotators, a teacher model's predictions, a smoothed
    label, a policy to imitate. It is cross-entropy with soft targets minus
    the targets' own entropy, so it has the same gradient but is 0 exactly
    when the model matches the targets.

    Formula: loss_i = sum_c p_ic * (log p_ic - log softmax(z_i)_c) (0 * log 0 = 0);
    "mean" is the mean over samples of the per-sample sum over classes, the
    true KL divergence (torch's reduction="batchmean", not its "mean").

    Shapes: outputs (B, C) logits (or (B, C, d1, ...), classes on axis 1);
    targets of the same shape, probabilities summing to 1 over axis 1 (or
    log-probabilities with ``log_target=True``).

    Reference: S. Kullback & R. A. Leibler, "On Information and Sufficiency",
    Annals of Mathematical Statistics, 1951.

    Args:
        log_target: False (default): targets are probabilities; True: log-probabilities
            (more precise when they come from a log_softmax).
        reduction: "mean" (default, over samples), "sum" or "none" (one loss per sample).
    """

    def __init__(self, *, log_target: bool = False, reduction: str = "mean"):
        super().__init__()
        self.log_target = check_choice("kl-divergence", "log_target", log_target, (False, True))
        self.reduction = check_reduction("kl-divergence", reduction)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check_distribution_shapes("kl-divergence", outputs, targets, "targets")
        log_model = F.log_softmax(outputs, dim=1)
        pointwise = F.kl_div(log_model, targets.to(outputs.dtype), reduction="none", log_target=self.log_target)
        return reduce(pointwise.sum(1), self.reduction)  # (B, ...) per sample, then reduced

    def extra_repr(self) -> str:
        return f"log_target={self.log_target}, reduction={self.reduction!r}"


def _distillation_profile(x: torch.Tensor) -> torch.Tensor:
    """'distillation' of student logits (x, 0) with label 0 and teacher logits (1, 0)."""
    student = torch.stack([x, torch.zeros_like(x)], dim=1)  # (N, 2)
    teacher = torch.tensor([1.0, 0.0], dtype=x.dtype).expand(len(x), 2)
    labels = torch.zeros(len(x), dtype=torch.long)
    return LOSSES.get({"name": "distillation", "reduction": "none"})(student, (labels, teacher))


def split_distillation_targets(targets: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(labels, teacher_logits)`` from a tuple/list or a mapping with those two keys."""
    if isinstance(targets, Mapping) and {"labels", "teacher_logits"} <= set(targets):
        return targets["labels"], targets["teacher_logits"]
    if isinstance(targets, (tuple, list)) and len(targets) == 2:
        return targets[0], targets[1]
    received = sorted(targets) if isinstance(targets, Mapping) else type(targets).__name__
    raise DataError(
        f"loss 'distillation': expected targets as (labels, teacher_logits) or {{'labels': ..., "
        f"'teacher_logits': ...}}; received {received}. Run the teacher on the batch in the step function "
        "and pass loss(student_logits, (labels, teacher_logits))."
    )


@LOSSES.register(
    "distillation",
    formula="loss = alpha * CE(z_s, y) + (1 - alpha) * T^2 * KL(softmax(z_t / T) ‖ softmax(z_s / T))",
    reference="Hinton, Vinyals & Dean, Distilling the Knowledge in a Neural Network, NIPS 2014 Deep Learning Workshop",
    kind="distribution",
    profile=_distillation_profile,
    profile_axis="student logit difference z_1 − z_2 (label: class 1; teacher logits (1, 0))",
    profile_range=(-4.0, 6.0),
)
class DistillationLoss(nn.Module):
    """Knowledge distillation: learn the labels and, softened by a temperature, the teacher's predictions.

    Use it to train a small student model from a large trained teacher: the
    teacher's full output distribution ("dark knowledge": which wrong classes
    look alike) carries more information per sample than the label. The
    temperature T > 1 softens both distributions so small probabilities
    matter; the T^2 factor keeps the soft term's gradients the same size
    whatever T is. alpha = 1 is plain 'cross-entropy' on the labels.

    Formula: loss_i = alpha * CE(z_s_i, y_i) + (1 - alpha) * T^2 *
    KL(softmax(z_t_i / T) ‖ softmax(z_s_i / T)); the teacher's logits are
    detached (no gradient flows into the teacher).

    Interface: ``forward(outputs, targets)`` with ``outputs`` the student's
    logits (B, C) and ``targets`` either the tuple ``(labels, teacher_logits)``
    or the mapping ``{"labels": ..., "teacher_logits": ...}``: labels (B,)
    int64 class indices, teacher_logits (B, C) from the teacher on the same
    batch (run it under ``torch.no_grad()`` in the step function).

    Reference: G. Hinton, O. Vinyals & J. Dean, "Distilling the Knowledge in a
    Neural Network", NIPS 2014 Deep Learning Workshop.

    Args:
        alpha: weight in [0, 1] of the label term; 1 - alpha weighs the teacher term. Default 0.5.
        temperature: T > 0 dividing both logits in the teacher term; default 4.0.
        reduction: "mean" (default, over samples), "sum" or "none" (one loss per sample).
    """

    def __init__(self, *, alpha: float = 0.5, temperature: float = 4.0, reduction: str = "mean"):
        super().__init__()
        self.alpha = check_number(
            "distillation", "alpha", alpha, minimum=0.0, maximum=1.0, include_maximum=True, example="0.5"
        )
        self.temperature = check_number(
            "distillation", "temperature", temperature, minimum=0.0, positive=True, example="4.0"
        )
        self.reduction = check_reduction("distillation", reduction)

    def forward(self, outputs: torch.Tensor, targets: Any) -> torch.Tensor:
        labels, teacher = split_distillation_targets(targets)
        check_class_targets("distillation", outputs, labels)
        check_distribution_shapes("distillation", outputs, teacher, "teacher_logits")
        hard = F.cross_entropy(outputs, labels, reduction="none")  # (B, ...)
        temperature = self.temperature
        soft_teacher = F.log_softmax(teacher.detach().to(outputs.dtype) / temperature, dim=1)
        soft_student = F.log_softmax(outputs / temperature, dim=1)
        soft = F.kl_div(soft_student, soft_teacher, reduction="none", log_target=True).sum(1)
        return reduce(self.alpha * hard + (1 - self.alpha) * temperature**2 * soft, self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, temperature={self.temperature}, reduction={self.reduction!r}"
