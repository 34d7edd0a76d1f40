"""Augmentations that mix pairs of samples and their labels: mixup and cutmix.

Unlike the other augmentations they change the targets too, so they are
called as ``op(inputs, targets, num_classes) -> (inputs, soft_targets)``:
``targets`` are int64 class indices (B,) or class probabilities (B, C) (the
output of an earlier mixing op), ``soft_targets`` are float32 class
probabilities (B, C) whose rows sum to 1. Cross-entropy reads such targets
directly (label smoothing still applies on top); focal loss reads them with
``mode: multi-class``. They are registered with the tag ``mixes_targets=True``,
which is how ``AugmentationSequence`` and the training step route the
targets through them; they apply to classification only.

Each sample i is mixed with partner j = perm(i) of one random permutation of
the batch, with its own lambda_i ~ Beta(alpha, alpha) (timm's "elem" mode;
the papers draw one lambda per batch, which has the same expectation and
more variance).
"""

from __future__ import annotations

import torch

from shendu.data.augment_checks import check_images, check_number, check_probability
from shendu.data.registry import AUGMENTATIONS
from shendu.errors import DataError


def class_probabilities(targets: torch.Tensor, num_classes: int, name: str, batch_size: int) -> torch.Tensor:
    """Targets as float32 (B, C) class probabilities: one-hot rows for class indices, probabilities unchanged."""
    if targets.ndim == 1 and not targets.is_floating_point() and len(targets) == batch_size:
        probabilities = torch.zeros(batch_size, num_classes, device=targets.device)
        return probabilities.scatter_(1, targets.long().unsqueeze(1), 1.0)
    if targets.is_floating_point() and tuple(targets.shape) == (batch_size, num_classes):
        return targets.float()
    raise DataError(
        f"Augmentation {name!r} expects targets of {batch_size} class indices (B,) as integers, or class "
        f"probabilities ({batch_size}, {num_classes}); received {tuple(targets.shape)} of dtype {targets.dtype}. "
        f"Mixing applies to classification targets only: remove {name!r} from data.augment for other tasks."
    )


def _check_inputs(inputs: torch.Tensor, name: str) -> None:
    if not isinstance(inputs, torch.Tensor) or inputs.ndim < 2 or not inputs.is_floating_point():
        shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise DataError(f"Augmentation {name!r} expects a float batch (B, ...) to mix; received {shape}. "
                        "Token ids cannot be mixed: remove it from data.augment for text data.")


def _check_num_classes(num_classes: int, name: str) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise DataError(f"Augmentation {name!r} needs the number of classes (an integer >= 2) to build soft "
                        f"targets; received {num_classes!r}. Pass num_classes=len(class_names).")


def _lambdas(alpha: float, size: int, p: float, device: torch.device) -> torch.Tensor:
    """(B,) lambda_i ~ Beta(alpha, alpha), set to 1 (no mixing) for samples outside the ``p`` draw."""
    concentration = torch.full((size,), alpha, device=device)
    # validate_args=False: the argument check would cost a host sync every step.
    lambdas = torch.distributions.Beta(concentration, concentration, validate_args=False).sample()
    if p < 1.0:
        lambdas = torch.where(torch.rand(size, device=device) < p, lambdas, torch.ones_like(lambdas))
    return lambdas


@AUGMENTATIONS.register(
    "mixup",
    formula="x' = l*x_i + (1-l)*x_j, y' = l*y_i + (1-l)*y_j, l ~ Beta(alpha, alpha), j = perm(i); y one-hot",
    reference="Zhang, Cisse, Dauphin & Lopez-Paz 2018, 'mixup: Beyond Empirical Risk Minimization', ICLR",
    applies_to=("image", "tabular", "series"),
    mixes_targets=True,
)
class Mixup:
    """Train on convex blends of two samples, with the same blend of their labels.

    Use it to regularise classifiers that overfit or are over-confident:
    mixup smooths the decision boundary between classes and improves
    calibration (ImageNet, CIFAR, speech, tabular data). alpha sets how far
    blends go: 0.2 (the ImageNet setting) keeps most samples close to one
    class; 1.0 (the CIFAR setting) blends uniformly. Classification only.

    Args:
        alpha: Beta(alpha, alpha) concentration of the blend weight, > 0.
        p: probability that a sample is mixed (the others keep lambda = 1).
    """

    def __init__(self, alpha: float = 0.2, p: float = 1.0):
        self.alpha = check_number("mixup", "alpha", alpha, 0.0, example="0.2", include_low=False)
        self.p = check_probability("mixup", p)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
        _check_inputs(inputs, "mixup")
        _check_num_classes(num_classes, "mixup")
        size = inputs.shape[0]
        labels = class_probabilities(targets, num_classes, "mixup", size)  # (B, C)
        lambdas = _lambdas(self.alpha, size, self.p, inputs.device)  # (B,)
        partner = torch.randperm(size, device=inputs.device)
        weight = lambdas.to(inputs.dtype).view(-1, *([1] * (inputs.ndim - 1)))
        mixed = torch.lerp(inputs[partner], inputs, weight)  # l * x_i + (1 - l) * x_j
        return mixed, torch.lerp(labels[partner], labels, lambdas.unsqueeze(1))

    def __repr__(self) -> str:
        return f"Mixup(alpha={self.alpha}, p={self.p})"


@AUGMENTATIONS.register(
    "cutmix",
    formula="paste a box of sample j = perm(i), of sides (H, W)*sqrt(1-l), l ~ Beta(alpha, alpha), at a uniform "
            "centre (clipped), into sample i; y' = l'*y_i + (1-l')*y_j with l' = 1 - box area / (H*W)",
    reference="Yun et al. 2019, 'CutMix: Regularization Strategy to Train Strong Classifiers with Localizable "
              "Features', ICCV",
    applies_to="image",
    mixes_targets=True,
)
class CutMix:
    """Paste a random box from another image into each image, and mix the labels by the box's area.

    Use it for image classifiers: like mixup it regularises and calibrates,
    and like random erasing it forces the network to use the whole object,
    but no pixel is wasted on a blank box. The label weight is the exact
    fraction of pixels kept after the box is clipped to the image.
    Classification only.

    Args:
        alpha: Beta(alpha, alpha) concentration of the kept area, > 0 (1.0: uniform, as in the paper).
        p: probability that a sample gets a box (the others are unchanged).
    """

    def __init__(self, alpha: float = 1.0, p: float = 1.0):
        self.alpha = check_number("cutmix", "alpha", alpha, 0.0, example="1.0", include_low=False)
        self.p = check_probability("cutmix", p)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
        check_images(inputs, "cutmix")
        _check_num_classes(num_classes, "cutmix")
        size, _, height, width = inputs.shape
        device = inputs.device
        labels = class_probabilities(targets, num_classes, "cutmix", size)  # (B, C)
        side = torch.sqrt(1.0 - _lambdas(self.alpha, size, self.p, device))  # box side / image side
        centre = torch.rand(2, size, device=device)  # (y, x) as fractions
        top = ((centre[0] - side / 2) * height).round().clamp(0, height)
        bottom = ((centre[0] + side / 2) * height).round().clamp(0, height)
        left = ((centre[1] - side / 2) * width).round().clamp(0, width)
        right = ((centre[1] + side / 2) * width).round().clamp(0, width)
        rows = torch.arange(height, device=device).view(1, height, 1)
        columns = torch.arange(width, device=device).view(1, 1, width)
        inside = ((rows >= top.view(-1, 1, 1)) & (rows < bottom.view(-1, 1, 1))
                  & (columns >= left.view(-1, 1, 1)) & (columns < right.view(-1, 1, 1)))  # (B, H, W)
        partner = torch.randperm(size, device=device)
        mixed = torch.where(inside.unsqueeze(1), inputs[partner], inputs)
        kept = 1.0 - (bottom - top) * (right - left) / (height * width)  # (B,) the exact lambda
        return mixed, torch.lerp(labels[partner], labels, kept.unsqueeze(1))

    def __repr__(self) -> str:
        return f"CutMix(alpha={self.alpha}, p={self.p})"


__all__ = ["Mixup", "CutMix", "class_probabilities"]
